"""``prepare segmentation``: semantic label maps as input maps (label-to-video, paper section 4).

Two sources of frames and labels:

* a video (or folder of frames) with a folder of label maps the user already has (``--labels``:
  one PNG of label ids per *source* frame, paired in natural name order; optional ``--instances``
  likewise): :func:`samples`;
* the Cityscapes folder structure (``--cityscapes``)::

      <root>/leftImg8bit_sequence/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
      <root>/<labels>/<split>/<city>/<city>_<seq>_<frame>_<anything>labelIds.png
      <root>/<labels>/<split>/<city>/<city>_<seq>_<frame>_<anything>instanceIds.png   (optional)

  ``<labels>`` is ``gtFine`` or the folder of any segmenter's outputs saved in that naming (gtFine
  itself labels one frame per 30-frame snippet; vid2vid needs every frame labelled). Files pair by
  :func:`vid2vid.data.layout.frame_key` (``aachen_000000_000019``); each ``<city>_<seq>`` snippet
  is a video; ``train`` stays train, ``val`` and ``test`` become test (with ``train`` alone,
  ``--test-fraction`` of the snippets are held out): :func:`cityscapes_videos`.

The input map is the ``uint8 [H, W]`` label id map (resized by nearest neighbour); instance ids
go to ``_inst`` (16-bit PNG).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vid2vid.data.layout import DataError, frame_key, natural_key, read_instance, read_label, read_rgb
from vid2vid.prepare.dataset import Sample
from vid2vid.prepare.source import Fit, FrameSource, fitted, per_frame_files

__all__ = ["CityscapesVideo", "cityscapes_videos", "cityscapes_samples", "samples", "fit_ids"]

CITYSCAPES_LABEL_NC = 35  # labelIds 0..33 (and the preset's one-hot width, 35)
_SPLITS = {"train": "train", "val": "test", "test": "test"}


def fit_ids(ids: np.ndarray, path: Path, frame_size: tuple[int, int], size: tuple[int, int], resize: str
            ) -> np.ndarray:
    """Label or instance ids ``[h, w]`` at ``size`` by nearest neighbour, mapped as the frame is
    (``frame_size``): a map of another size is accepted when its aspect ratio is the frame's."""
    h, w = ids.shape[:2]
    if abs(h / w - frame_size[0] / frame_size[1]) > 0.01:
        raise DataError(f"{path}: map size {(h, w)} has another aspect ratio than its frame {frame_size}")
    return Fit((h, w), size, resize).image(ids, nearest=True)


def _check_ids(label: np.ndarray, path: Path, label_nc: int | None) -> np.ndarray:
    if label_nc is not None and label.size and int(label.max()) >= label_nc:
        bad = sorted(int(v) for v in np.unique(label[label >= label_nc]))
        raise DataError(f"{path}: label ids must lie in [0, {label_nc - 1}] (--label-nc {label_nc}), "
                        f"found {bad[:8]}")
    return label


def _instances(path: Path) -> np.ndarray:
    inst = read_instance(path)
    if inst.min(initial=0) < 0 or inst.max(initial=0) > 65535:
        raise DataError(f"{path}: instance ids must lie in [0, 65535]")
    return inst.astype(np.uint16)


def samples(source: FrameSource, size: tuple[int, int], resize: str, labels: str,
            instances: str | None = None, label_nc: int | None = None) -> Iterator[Sample]:
    """The frames of ``source`` at ``size`` with their label maps (and instance maps)."""
    label_files = per_frame_files(labels, (".png", ".bmp"), "label map", source)
    inst_files = per_frame_files(instances, (".png",), "instance map", source) if instances else None
    for i, (frame, fit) in enumerate(fitted(source, size, resize)):
        path = label_files[frame.index]
        label = _check_ids(fit_ids(read_label(path), path, fit.src, size, resize), path, label_nc)
        inst = None
        if inst_files is not None:
            ipath = inst_files[frame.index]
            inst = fit_ids(_instances(ipath), ipath, fit.src, size, resize)
        yield Sample(f"{i:06d}", label, fit.image(frame.rgb), inst=inst)


@dataclass
class CityscapesVideo:
    """One ``<city>_<seq>`` snippet: its name, split (train / test), and per frame (in time order)
    the frame key with the image, label and instance files (instance ``None`` when absent)."""

    name: str
    split: str
    frames: list[tuple[str, Path, Path, Path | None]] = field(default_factory=list)


def _by_key(folder: Path, suffix: str) -> dict[str, Path]:
    return {frame_key(p.name): p for p in folder.glob(f"*{suffix}")} if folder.is_dir() else {}


def cityscapes_videos(root: str | os.PathLike, labels: str = "gtFine") -> list[CityscapesVideo]:
    """The snippets of a Cityscapes-style folder (see the module docstring), every frame paired with
    its label map; a frame without one raises a :class:`DataError` naming it."""
    root = Path(root)
    images = root / "leftImg8bit_sequence"
    if not images.is_dir():
        raise FileNotFoundError(f"{images}: folder not found (expected the Cityscapes layout "
                                f"leftImg8bit_sequence/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png)")
    label_root = Path(labels) if Path(labels).is_absolute() else root / labels
    if not label_root.is_dir():
        raise FileNotFoundError(f"{label_root}: label folder not found (expected "
                                f"<split>/<city>/<city>_<seq>_<frame>_*labelIds.png)")
    videos: list[CityscapesVideo] = []
    for split_dir in sorted(p for p in images.iterdir() if p.is_dir() and p.name in _SPLITS):
        for city in sorted((p for p in split_dir.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
            label_dir = label_root / split_dir.name / city.name
            label_of = _by_key(label_dir, "labelIds.png")
            inst_of = _by_key(label_dir, "instanceIds.png")
            snippets: dict[str, CityscapesVideo] = {}
            frames = sorted(city.glob("*_leftImg8bit.png"), key=lambda p: natural_key(p.name))
            missing = [f.name for f in frames if frame_key(f.name) not in label_of]
            if missing:
                raise DataError(f"{label_dir}: no *labelIds.png for {len(missing)} of the {len(frames)} "
                                f"frames of {city}, e.g. {missing[0]} (vid2vid needs a label map per "
                                f"frame: gtFine labels one frame per snippet, so run a segmenter over "
                                f"leftImg8bit_sequence and save its outputs in the same naming)")
            has_inst = [frame_key(f.name) in inst_of for f in frames]
            if any(has_inst) and not all(has_inst):
                first = frames[has_inst.index(False)].name
                raise DataError(f"{label_dir}: *instanceIds.png for some frames but not for {first}")
            for f in frames:
                key = frame_key(f.name)
                name = "_".join(key.split("_")[:-1])  # <city>_<seq>
                video = snippets.setdefault(name, CityscapesVideo(name, _SPLITS[split_dir.name]))
                video.frames.append((key, f, label_of[key], inst_of.get(key)))
            videos.extend(snippets.values())
    if not videos:
        raise DataError(f"{images}: no *_leftImg8bit.png frames under <split>/<city>/ "
                        f"(splits looked for: {', '.join(_SPLITS)})")
    return videos


def cityscapes_samples(video: CityscapesVideo, size: tuple[int, int], resize: str,
                       label_nc: int | None = CITYSCAPES_LABEL_NC, max_frames: int | None = None
                       ) -> Iterator[Sample]:
    """The frames of one snippet at ``size``, named by their Cityscapes frame key."""
    fit: Fit | None = None
    for key, image, label_path, inst_path in video.frames[:max_frames]:
        rgb = read_rgb(image)
        if fit is None:
            fit = Fit(rgb.shape[:2], size, resize)
        elif rgb.shape[:2] != fit.src:
            raise DataError(f"{image}: frame size {rgb.shape[:2]} differs from {fit.src} of the first frame")
        label = _check_ids(fit_ids(read_label(label_path), label_path, fit.src, size, resize),
                           label_path, label_nc)
        inst = fit_ids(_instances(inst_path), inst_path, fit.src, size, resize) if inst_path else None
        yield Sample(key, label, fit.image(rgb), inst=inst)
