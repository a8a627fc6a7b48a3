"""Inference: turn a folder of label maps into a video, one frame at a time, in constant memory.

The first frame comes from the generator itself (labels alone, ``prev=None``); every later frame
is generated from the last ``L + 1`` label maps and the last ``L`` outputs, which is all that is
kept, so sequences of any length stream through.

A generator with a feature encoder (``model.feat_nc`` > 0, multimodal synthesis) also needs a feature
map per frame: a :class:`~vid2vid.multimodal.FeatureSource` gives it (``features=``): cluster centres
drawn with a seed, chosen ones, or E of the real frames. Without one, the real frames are encoded
when the input has them (reconstruction), else the maps are zero (with a warning).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vid2vid.config import Config
from vid2vid.data.encoding import encode_labels, image_to_tensor
from vid2vid.data.folder import read_source
from vid2vid.data.layout import (
    IMAGE_EXTENSIONS,
    SOURCE_EXTENSIONS,
    DataError,
    frame_key,
    list_frames,
    read_instance,
    read_label,
    read_rgb,
)
from vid2vid.models import Generator, GeneratorOutput, background_mask
from vid2vid.multimodal import FeatureSource, RealFeatures, frame_keys
from vid2vid.video import label_to_color, side_by_side, to_uint8

__all__ = ["InputFrame", "read_input_frames", "generate_frames", "generate_outputs", "generate_video",
           "side_captions"]


@dataclass
class InputFrame:
    """One frame of semantic input at the model's size: ``label [C_s, H, W]``, ``label_ids [1, H, W]``
    (or None for continuous inputs), the real frame ``[3, H, W]`` in ``[-1, 1]`` when known, a
    picture of the input (``uint8 [H, W, 3]``) for side-by-side videos, and the instance ids
    ``[1, H, W]`` when an instance map was read (the regions of multimodal features)."""

    label: torch.Tensor
    label_ids: torch.Tensor | None
    real: torch.Tensor | None
    picture: np.ndarray
    name: str
    inst: torch.Tensor | None = None


def _resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    kw = {} if mode == "nearest" else {"align_corners": False, "antialias": True}
    return F.interpolate(x[None].float(), size=size, mode=mode, **kw)[0]


def read_input_frames(cfg: Config, labels_dir: str | os.PathLike, inst_dir: str | os.PathLike | None = None,
                      real_dir: str | os.PathLike | None = None) -> Iterator[InputFrame]:
    """Lazily read a sequence folder of label maps (and instance maps / real frames when given).

    Instance maps are looked up in ``inst_dir`` or, by default, in the sibling ``*_inst`` folder of
    the official layout (``test_A/seq`` -> ``test_inst/seq``); without them a configuration that
    uses instance edges gets an all-zero edge channel (stated in a warning).
    """
    labels_dir = Path(labels_dir)
    d = cfg.data
    # continuous maps may be .npy files of any channel count (vid2vid.data.layout)
    names = list_frames(labels_dir, SOURCE_EXTENSIONS if d.label_nc == 0 else IMAGE_EXTENSIONS)
    if not names:
        raise DataError(f"{labels_dir}: no label frames found (expected .png files"
                        f"{' or .npy input maps' if d.label_nc == 0 else ''})")
    size = (d.crop_height or d.height, d.crop_width or d.width)
    if inst_dir is None and d.use_instance and labels_dir.parent.name.endswith("_A"):
        guess = labels_dir.parent.with_name(labels_dir.parent.name[:-2] + "_inst") / labels_dir.name
        inst_dir = guess if guess.is_dir() else None
    if d.use_instance and inst_dir is None:
        import warnings
        warnings.warn(f"{labels_dir}: no instance maps found; the instance-edge channel is zero",
                      stacklevel=2)
    real_names = _pair_by_name(names, real_dir, "real frame") if real_dir is not None else None
    inst_names = _pair_by_name(names, inst_dir, "instance map") if inst_dir is not None else None
    for i, name in enumerate(names):
        path = labels_dir / name
        if d.label_nc > 0:
            ids = torch.from_numpy(read_label(path).astype(np.int64))
            if int(ids.max()) >= d.label_nc:
                raise DataError(f"{path}: label id {int(ids.max())} >= label_nc = {d.label_nc} "
                                f"(frame {i} of {labels_dir.name})")
            ids = _resize(ids[None], size, "nearest").long()  # [1, H, W]
            inst = inst_read = None
            if d.use_instance:
                if inst_dir is not None:
                    raw = torch.from_numpy(read_instance(Path(inst_dir) / inst_names[i]).astype(np.int64))
                    inst = inst_read = _resize(raw[None], size, "nearest").long()[0]
                else:
                    inst = ids[0]
            label = encode_labels(ids[0], d.label_nc, inst, d.use_instance)
            if d.use_instance and inst_dir is None:
                label[-1] = 0
            picture = label_to_color(ids[0].numpy().astype(np.uint8))
        else:
            label = _resize(image_to_tensor(read_source(path, 0, d.input_nc)), size, "bilinear")
            if d.use_instance:
                label = torch.cat([label, torch.zeros_like(label[:1])])
            ids = inst_read = None
            picture = to_uint8(label[: d.input_nc] if d.input_nc in (1, 3) else label[:1])
        real = None
        if real_names is not None:
            real = _resize(image_to_tensor(read_rgb(Path(real_dir) / real_names[i])), size, "bilinear")
        yield InputFrame(label=label, label_ids=ids, real=real, picture=picture, name=name,
                         inst=None if inst_read is None else inst_read[None])


def _pair_by_name(names: list[str], folder: str | os.PathLike, what: str) -> list[str]:
    """The file of ``folder`` for each label frame, matched by frame name (:func:`frame_key`), not by
    position: a missing or extra frame in one folder must not shift every later pair."""
    by_key = {frame_key(n): n for n in list_frames(folder)}
    missing = [n for n in names if frame_key(n) not in by_key]
    if missing:
        raise DataError(f"{folder}: no {what} for label frame(s) {missing[:5]} "
                        f"({len(missing)} of {len(names)} missing; files are paired by frame name)")
    return [by_key[frame_key(n)] for n in names]


@torch.no_grad()
def generate_frames(G: Generator, cfg: Config, frames: Iterator[InputFrame],
                    device: str | torch.device = "cpu", features: FeatureSource | None = None,
                    rewrites: str = "") -> Iterator[tuple[InputFrame, torch.Tensor]]:
    """Yield ``(input, x~_t [3, H, W] in [-1, 1])`` frame by frame; keeps only ``L + 1`` labels and
    ``L`` outputs. ``features``, ``rewrites``: see :func:`generate_outputs`."""
    for frame, out in generate_outputs(G, cfg, frames, device, features, rewrites):
        yield frame, out.x[0].cpu()


@torch.no_grad()
def generate_outputs(G: Generator, cfg: Config, frames: Iterator[InputFrame],
                     device: str | torch.device = "cpu", features: FeatureSource | None = None,
                     rewrites: str = "") -> Iterator[tuple[InputFrame, GeneratorOutput]]:
    """As :func:`generate_frames`, but yield everything G produced for each frame (batch of one,
    on ``device``): the flow ``w``, the occlusion mask ``m``, the hallucinations; ``x`` clamped to
    ``[-1, 1]``, exactly the frame fed back as the next frame's previous output.

    ``features``: with a feature encoder (``G.feat_nc`` > 0), where each frame's feature map comes
    from (:mod:`vid2vid.multimodal`); None: the real frames encoded when the input has them, else
    zeros (with a warning). Ignored without a feature encoder.

    ``rewrites``: speed rewrites applied to G in place first, as ``train.speed_rewrites`` names them
    (``"group_norm,channels_last"``; :mod:`vid2vid.models.speed`): same weights, same frames up to
    rounding; empty: none."""
    G = G.to(device).eval()
    if rewrites:
        from vid2vid.models.speed import apply_speed_rewrites
        apply_speed_rewrites(G, rewrites)
    L = G.n_prev
    if G.feat_nc and features is None:
        features = RealFeatures(missing="zeros")
    labels: deque[torch.Tensor] = deque(maxlen=L + 1)
    feats: deque[torch.Tensor] = deque(maxlen=L + 1)  # the feature maps of the same frames
    prev: deque[torch.Tensor] = deque(maxlen=L)
    for frame in frames:
        s = frame.label.to(device)
        if not labels:  # before frame 0 there are no labels: repeat frame 0's
            labels.extend([s] * L)
        labels.append(s)
        f_t = None
        if G.feat_nc:
            keys = frame_keys(frame.label_ids, frame.inst, s).to(device)
            real = None if frame.real is None else frame.real[None].to(device)
            f = features(G, keys, real)[0].to(s.dtype)  # [feat_nc, H, W]
            if not feats:
                feats.extend([f] * L)
            feats.append(f)
            f_t = torch.stack(list(feats), 0)[None]
        m_B = None
        if G.use_fg_prior and frame.label_ids is not None:
            m_B = background_mask(frame.label_ids[None].to(device), cfg.data.foreground_ids)
        prev_t = torch.stack(list(prev), 0)[None] if prev else None
        out = G(torch.stack(list(labels), 0)[None], prev_t, m_B, f_t)
        out.x = out.x.clamp(-1, 1)
        prev.append(out.x[0])
        yield frame, out


def side_captions(cfg: Config) -> tuple[str, str, str]:
    """The captions of a side-by-side video's panels: the input (``labels`` for label ids, ``input``
    for continuous maps such as edges or pose renderings), ``generated``, ``real``."""
    return ("labels" if cfg.data.label_nc > 0 else "input", "generated", "real")


def generate_video(G: Generator, cfg: Config, labels_dir: str | os.PathLike, out: str | os.PathLike,
                   real_dir: str | os.PathLike | None = None, inst_dir: str | os.PathLike | None = None,
                   side: bool = False, fps: float = 10, max_frames: int | None = None,
                   device: str | torch.device = "cpu", features: FeatureSource | None = None,
                   rewrites: str = "") -> tuple[Path, int]:
    """Generate the video of a label folder and write it (``.mp4`` H.264, ``.gif``, or a folder of
    PNGs); ``side=True`` writes labels | generated | real (when ``real_dir`` is given) side by side,
    each panel captioned (:func:`side_captions`); ``features``, ``rewrites`` as in :func:`generate_outputs`.
    A video or GIF replaces ``out`` only when complete (see :class:`~vid2vid.video.VideoWriter`).
    Returns the path and the number of frames."""
    from itertools import islice

    from vid2vid.video import VideoWriter

    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 (or None for all frames), got {max_frames}")

    stream = read_input_frames(cfg, labels_dir, inst_dir=inst_dir, real_dir=real_dir)
    if max_frames is not None:
        stream = islice(stream, max_frames)
    n = 0
    with VideoWriter(out, fps=fps) as writer:
        for frame, x in generate_frames(G, cfg, stream, device=device, features=features,
                                         rewrites=rewrites):
            picture = to_uint8(x)
            if side:
                panels = [frame.picture, picture]
                if frame.real is not None:
                    panels.append(to_uint8(frame.real))
                picture = side_by_side(*panels, gap=2, captions=side_captions(cfg)[:len(panels)])
            writer.write(picture)
            n += 1
    return Path(out), n
