"""Whole sequences of a dataset folder in memory, and random training windows cut from them.

Future prediction trains on short windows (``K`` observed frames, ``R`` to predict) cut at random
from every training sequence; the sequences of the synthetic benchmark (16 x 30 frames of 64 x 128)
fit in a few megabytes, so they are read once (:func:`load_split`) and windows are sliced from
memory (:func:`sample_windows`). Files are read with :mod:`vid2vid.data.layout`'s readers, so a bad
file is a :class:`~vid2vid.data.layout.DataError` naming it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from vid2vid.data.layout import (
    DataError,
    frame_key,
    kind_dir,
    list_frames,
    list_sequences,
    read_flow,
    read_instance,
    read_label,
    read_mask,
    read_rgb,
)

__all__ = ["Clip", "sibling", "read_sequence", "load_split", "vocabulary", "sample_windows"]


@dataclass
class Clip:
    """One sequence in memory, ``T`` frames at one size (``None`` where the dataset lacks the kind)."""

    name: str  # the sequence folder
    labels: Tensor  # uint8 [T, H, W] label ids
    inst: Tensor | None  # int64 [T, H, W] instance ids
    frames: Tensor | None  # uint8 [T, 3, H, W] RGB
    flow: Tensor | None = None  # float32 [T, 2, H, W] backward flow t -> t-1 in pixels; entry 0 zeros
    occlusion: Tensor | None = None  # bool [T, H, W]: pixel of t not visible in t-1; entry 0 all true

    def __len__(self) -> int:
        return self.labels.shape[0]

    def real(self, start: int = 0, stop: int | None = None) -> Tensor:
        """The RGB frames ``start..stop-1`` as ``float32 [n, 3, H, W]`` in ``[-1, 1]``."""
        if self.frames is None:
            raise DataError(f"{self.name}: no RGB frames were read for this sequence")
        return self.frames[start:stop].float() / 127.5 - 1


def sibling(labels_dir: str | os.PathLike, kind: str) -> Path | None:
    """The folder of another kind of the same sequence in the official layout
    (``<root>/test_A/seq`` -> ``<root>/test_<kind>/seq``), or None when ``labels_dir`` is not in an
    ``_A`` folder."""
    labels_dir = Path(labels_dir)
    parent = labels_dir.parent.name
    if not parent.endswith("_A"):
        return None
    return labels_dir.parent.with_name(parent[:-2] + f"_{kind}") / labels_dir.name


def _paired(names: list[str], folder: Path, what: str,
            extensions: tuple[str, ...] | None = None) -> list[Path]:
    """The file of ``folder`` for every label frame, paired by frame name (not by position)."""
    files = list_frames(folder, extensions) if extensions else list_frames(folder)
    by_key = {frame_key(n): n for n in files}
    missing = [n for n in names if frame_key(n) not in by_key]
    if missing:
        raise DataError(f"{folder}: no {what} for label frame(s) {missing[:5]} ({len(missing)} of "
                        f"{len(names)} missing; files are paired by frame name)")
    return [folder / by_key[frame_key(n)] for n in names]


def _resize(a: np.ndarray, size: tuple[int, int] | None, nearest: bool) -> np.ndarray:
    if size is None or a.shape[:2] == size:
        return a
    mode = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return cv2.resize(a, (size[1], size[0]), interpolation=mode)


def read_sequence(labels_dir: str | os.PathLike, size: tuple[int, int] | None = None, frames: bool = True,
                  instances: bool = True, flow: bool = False, max_frames: int | None = None) -> Clip:
    """Read one sequence folder of label maps and, from its sibling folders of the official layout,
    its RGB frames (``_B``), instance maps (``_inst``), flow (``_flow``) and occlusion (``_occ``).

    Args:
        labels_dir: ``<root>/<split>_A/<sequence>``.
        size: ``(H, W)`` to resize to (nearest for ids, area for RGB, flow scaled); None keeps the files'.
        frames, instances, flow: read these kinds (a missing ``_inst`` folder leaves ``inst`` None;
            missing ``_B`` or ``_flow`` folders asked for are errors).
        max_frames: read only the first ``max_frames`` frames.
    """
    labels_dir = Path(labels_dir)
    if not labels_dir.is_dir():
        raise DataError(f"{labels_dir}: sequence folder of label maps not found")
    names = list_frames(labels_dir)[:max_frames]
    if not names:
        raise DataError(f"{labels_dir}: no label frames found (expected .png files)")
    labels = [_resize(read_label(labels_dir / n), size, True) for n in names]
    shape = labels[0].shape
    for n, lab in zip(names, labels, strict=True):
        if lab.shape != shape:
            raise DataError(f"{labels_dir / n}: frame size {lab.shape} differs from the first frame's "
                            f"{shape}")
    clip = Clip(labels_dir.name, torch.from_numpy(np.stack(labels)), None, None)
    inst_dir = sibling(labels_dir, "inst")
    if instances and inst_dir is not None and inst_dir.is_dir():
        maps = [_resize(read_instance(p), shape, True) for p in _paired(names, inst_dir, "instance map")]
        clip.inst = torch.from_numpy(np.stack(maps)).long()
    if frames:
        rgb_dir = sibling(labels_dir, "B")
        if rgb_dir is None or not rgb_dir.is_dir():
            expected = rgb_dir or "<root>/<split>_B/<sequence> beside <root>/<split>_A/<sequence>"
            raise DataError(f"{labels_dir}: no RGB frames beside it (expected {expected})")
        rgb = [_resize(read_rgb(p), shape, False) for p in _paired(names, rgb_dir, "RGB frame")]
        clip.frames = torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2).contiguous()
    if flow:
        flow_dir, occ_dir = sibling(labels_dir, "flow"), sibling(labels_dir, "occ")
        if flow_dir is None or not flow_dir.is_dir():
            raise DataError(f"{labels_dir}: no flow beside it (expected {flow_dir}; "
                            "`python -m vid2vid flow` writes one)")
        flows = np.zeros((len(names), *shape, 2), np.float32)
        occ = np.ones((len(names), *shape), bool)
        for t, p in enumerate(_paired(names[1:], flow_dir, "flow", (".npy",)), start=1):
            f = read_flow(p)
            if f.shape[:2] != shape:
                sy, sx = shape[0] / f.shape[0], shape[1] / f.shape[1]
                f = cv2.resize(f, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR) * np.float32([sx, sy])
            flows[t] = f
        if occ_dir is not None and occ_dir.is_dir():
            for t, p in enumerate(_paired(names[1:], occ_dir, "occlusion mask"), start=1):
                occ[t] = _resize(read_mask(p).astype(np.uint8), shape, True) > 0
        else:
            occ[1:] = False
        clip.flow = torch.from_numpy(flows).permute(0, 3, 1, 2).contiguous()
        clip.occlusion = torch.from_numpy(occ)
    return clip


def load_split(root: str | os.PathLike, split: str, size: tuple[int, int] | None = None, frames: bool = True,
               flow: bool = False, limit: int | None = None) -> list[Clip]:
    """Every sequence of ``<root>/<split>_A`` (the first ``limit``) with :func:`read_sequence`."""
    folder = kind_dir(root, split, "A")
    if not folder.is_dir():
        raise DataError(f"{folder}: not found; expected a dataset of the official layout "
                        f"(<root>/{split}_A/<sequence>/*.png)")
    names = list_sequences(folder)[:limit]
    if not names:
        raise DataError(f"{folder}: no sequence folders")
    return [read_sequence(folder / n, size, frames=frames, flow=flow) for n in names]


def vocabulary(clips: list[Clip]) -> list[int]:
    """The label ids that occur in ``clips``, ascending: the classes a label model predicts."""
    seen = torch.zeros(256, dtype=torch.bool)
    for c in clips:
        seen[torch.unique(c.labels).long()] = True
    return [int(i) for i in torch.nonzero(seen).flatten()]


def sample_windows(clips: list[Clip], n: int, length: int, generator: torch.Generator,
                   flip: bool = True) -> dict[str, Tensor]:
    """``n`` windows of ``length`` consecutive frames, each from a random sequence at a random start,
    mirrored left-right with probability 1/2 when ``flip``. Returns ``labels`` (int64 ``[n, L, H, W]``),
    ``inst`` (int64, when the clips have instances), ``frames`` (``float32 [n, L, 3, H, W]`` in
    ``[-1, 1]``, when they have RGB), ``flow`` (``[n, L, 2, H, W]``) and ``occlusion`` (bool
    ``[n, L, H, W]``) when they have flow."""
    usable = [c for c in clips if len(c) >= length]
    if not usable:
        raise DataError(f"no training sequence has {length} frames (the longest has "
                        f"{max(len(c) for c in clips)}): shorten the windows (n_past + n_future)")
    out: dict[str, list[Tensor]] = {"labels": [], "inst": [], "frames": [], "flow": [], "occlusion": []}
    for _ in range(n):
        c = usable[int(torch.randint(len(usable), (1,), generator=generator))]
        t0 = int(torch.randint(len(c) - length + 1, (1,), generator=generator))
        mirror = flip and bool(torch.rand((), generator=generator) < 0.5)
        sl = slice(t0, t0 + length)
        parts = {"labels": c.labels[sl].long(), "inst": None if c.inst is None else c.inst[sl],
                 "frames": None if c.frames is None else c.real(sl.start, sl.stop),
                 "flow": None if c.flow is None else c.flow[sl],
                 "occlusion": None if c.occlusion is None else c.occlusion[sl]}
        for key, v in parts.items():
            if v is not None:
                if mirror:
                    v = v.flip(-1)
                    if key == "flow":  # mirrored motion: dx changes sign
                        v = v * torch.tensor([-1.0, 1.0])[:, None, None]
                out[key].append(v)
    return {k: torch.stack(v) for k, v in out.items() if v and len(v) == n}
