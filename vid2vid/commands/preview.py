"""``python -m vid2vid preview``: look at a dataset sequence before training on it.

Renders one sequence as a side-by-side video, one panel per folder that exists:

    labels s_t (colours) | frame x_t | flow w_t (colour wheel) | occlusion (white = not visible in t-1)

    python -m vid2vid preview --data datasets/synthetic --split train --out preview.mp4

Each panel is captioned with its name in its top-left corner (panels of 32 rows or more). The flow
panel uses one colour scale for the whole sequence (its largest flow magnitude), so colours compare
across frames. The first frame has no flow and no occlusion mask: the flow is backward, from frame t
to frame t - 1, and frame 0 has no frame before it; its flow panel is white (zero flow), captioned
``no flow at frame 0``, its occlusion panel black. Frames stream to the writer one at a time.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vid2vid.commands.generate import fps_value, frame_count
from vid2vid.data.layout import (
    SOURCE_EXTENSIONS,
    DataError,
    kind_dir,
    list_frames,
    list_sequences,
    read_flow,
    read_input_map,
    read_label,
    read_mask,
    read_rgb,
)
from vid2vid.flow.viz import flow_to_color
from vid2vid.video import label_to_color, mask_to_gray, side_by_side, write_video


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset root holding <split>_A, <split>_B, ...")
    parser.add_argument("--split", default="train", help="train or test (default: train)")
    parser.add_argument("--sequence", default=None, help="sequence folder name (default: the first)")
    parser.add_argument("--out", default="preview.mp4", help=".mp4, .gif, or a folder for PNG frames")
    parser.add_argument("--fps", type=fps_value, default=10.0,
                        help="frames per second of the written video or GIF, > 0 (default 10)")
    parser.add_argument("--max-frames", type=frame_count, default=None,
                        help="render at most this many frames")


def _stems(folder: Path, extensions: tuple[str, ...] | None = None) -> dict[str, Path]:
    """``{frame stem: file}`` of one sequence folder (empty when the folder does not exist)."""
    if not folder.is_dir():
        return {}
    names = list_frames(folder) if extensions is None else list_frames(folder, extensions)
    return {Path(n).stem: folder / n for n in names}


def preview_frames(root: str | Path, split: str, sequence: str,
                   max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield the side-by-side panels ``uint8 [H, W_total, 3]`` of one sequence, frame by frame."""
    root = Path(root)
    labels = _stems(kind_dir(root, split, "A") / sequence, SOURCE_EXTENSIONS)
    images = _stems(kind_dir(root, split, "B") / sequence)
    flows = _stems(kind_dir(root, split, "flow") / sequence, (".npy",))
    occlusions = _stems(kind_dir(root, split, "occ") / sequence)
    has_flow = kind_dir(root, split, "flow").joinpath(sequence).is_dir()
    has_occ = kind_dir(root, split, "occ").joinpath(sequence).is_dir()
    timeline = list(images or labels)[:max_frames]
    if not timeline:
        where = f"{kind_dir(root, split, 'A') / sequence} and {kind_dir(root, split, 'B') / sequence}"
        raise DataError(f"{where}: no frames found (expected label maps in _A or RGB frames in _B)")
    # One flow colour scale for the whole sequence; a cheap pre-pass over the small .npy files.
    max_mag = max((float(np.linalg.norm(read_flow(flows[s]), axis=-1).max()) for s in timeline if s in flows),
                  default=0.0)
    for t, stem in enumerate(timeline):
        panels: list[tuple[str, np.ndarray]] = []
        captions: list[str] = []
        for kind, files in (("A", labels), ("B", images)):
            if files:
                if stem not in files:
                    raise DataError(f"{kind_dir(root, split, kind) / sequence}: no frame {stem!r} "
                                    f"(the sequence's other folders have it)")
                picture = _show_a(files[stem]) if kind == "A" else read_rgb(files[stem])
                panels.append((str(files[stem]), picture))
                captions.append(_a_caption(files[stem]) if kind == "A" else "frame")
        h, w = panels[0][1].shape[:2]
        if has_flow:
            flow = read_flow(flows[stem]) if stem in flows else np.zeros((h, w, 2), np.float32)
            colour = flow_to_color(flow, max_magnitude=max_mag or 1.0)
            panels.append((str(flows.get(stem, "zero flow")), colour))
            # the flow is backward (t -> t-1): the first frame has none (layout: no file for it)
            captions.append("flow" if stem in flows else "no flow at frame 0" if t == 0 else "no flow")
        if has_occ:
            occ = read_mask(occlusions[stem]) if stem in occlusions else np.zeros((h, w), bool)
            panels.append((str(occlusions.get(stem, "no occlusion")), mask_to_gray(occ)))
            captions.append("occlusion")
        for where, panel in panels[1:]:
            if panel.shape[:2] != (h, w):
                raise DataError(f"{where}: size {panel.shape[:2]} differs from {(h, w)} of {panels[0][0]} "
                                f"(sequence {sequence!r}, frame {stem!r})")
        yield side_by_side(*(p for _, p in panels), gap=2, captions=captions)


def run(args: argparse.Namespace) -> int:
    root = Path(args.data)
    folders = [kind_dir(root, args.split, k) for k in ("B", "A")]
    source = next((f for f in folders if f.is_dir()), None)
    if source is None:
        raise DataError(f"{kind_dir(root, args.split, 'B')} and {kind_dir(root, args.split, 'A')}: "
                        f"folders not found (expected <root>/<split>_A or _B)")
    sequences = list_sequences(source)
    sequence = args.sequence or (sequences[0] if sequences else None)
    if sequence not in sequences:
        raise DataError(f"{source}: no sequence {sequence!r}; found {sequences}")
    out = write_video(args.out, preview_frames(root, args.split, sequence, args.max_frames), fps=args.fps)
    print(out)
    return 0


def _a_caption(path: Path) -> str:
    """The caption of the A panel: ``labels`` for id maps (PNG), ``input`` for continuous maps
    (``.npy`` maps, JPEG edges); a grey PNG of edges is indistinguishable from ids by its name."""
    return "input" if path.suffix.lower() in (".npy", ".jpg", ".jpeg") else "labels"


def _show_a(path: Path) -> np.ndarray:
    """An A file as a picture: id maps in the label palette; JPEG files, which can only hold
    continuous maps such as edges (id maps must be lossless), in grey; ``.npy`` maps of C channels
    as RGB when C = 3, else their first channel in grey (face maps: the edge map)."""
    if path.suffix.lower() == ".npy":
        array = read_input_map(path)
        return array if array.shape[-1] == 3 else np.repeat(array[..., :1], 3, axis=-1)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        return np.repeat(read_label(path, ids=False)[..., None], 3, axis=-1)
    return label_to_color(read_label(path))
