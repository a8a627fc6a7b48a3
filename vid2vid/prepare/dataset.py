"""Writing a prepared dataset: sequences, the train/test split, flows and ``train.yaml``.

A kind (:mod:`~vid2vid.prepare.edges`, ``face``, ``pose``, ``segmentation``) turns each video into
:class:`Sample` objects, one per output frame; :class:`DatasetWriter` cuts them into sequences of
``seq_len`` frames and writes the official layout (:mod:`vid2vid.data.layout`)::

    <root>/{train,test}_A/<video>_<k>/<frame>.png|.npy   input map s_t (see write_input_map)
    <root>/{train,test}_B/<video>_<k>/<frame>.png        frame x_t, RGB
    <root>/{train,test}_inst/<video>_<k>/<frame>.png     instance ids (segmentation, when given)
    <root>/{train,test}_keypoints/<video>_<k>/<frame>.json  OpenPose-format keypoints (pose)
    <root>/{train,test}_flow/<video>_<k>/<frame>.npy     backward flow (written by the command,
                                                         with python -m vid2vid flow's code)
    <root>/train.yaml, <root>/prepare.json               training config; what was done, per video

A new sequence starts every ``seq_len`` frames and at every shot cut (a window across a cut would
teach a jump; :class:`~vid2vid.prepare.source.CutDetector`). The last piece of a shot, when shorter
than half of ``seq_len``, joins the piece before it (sequences need not have equal lengths); a
whole shot that short stays a short sequence, which training skips once its windows are longer.
The split is by sequence, so no test frame sits in a training window: :func:`held_out`.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from vid2vid.config import Config, get_preset
from vid2vid.data.layout import KINDS, kind_dir, write_instance, write_label, write_rgb
from vid2vid.prepare.source import CutDetector

__all__ = [
    "KEYPOINTS", "Sample", "DatasetWriter", "prepare_out", "held_out", "write_input_map",
    "train_settings", "check_settings", "write_train_config", "next_commands",
]

KEYPOINTS = "keypoints"  # <root>/<split>_keypoints/<sequence>/<frame>.json, OpenPose format
_WRITTEN = ("A", "B", "inst", KEYPOINTS)  # what the writer writes per frame (flow comes after)
SPLITS = ("train", "test")


@dataclass
class Sample:
    """One output frame of a kind: what is written for it.

    ``name``: the frame's file stem (``000017``; Cityscapes keeps ``aachen_000000_000017``).
    ``a``: the input map ``uint8 [H, W]`` or ``[H, W, C]`` (:func:`write_input_map`).
    ``b``: the frame ``uint8 [H, W, 3]`` RGB. ``inst``: instance ids ``[H, W]`` in ``[0, 65535]``.
    ``keypoints``: an OpenPose JSON document (``{"version": .., "people": [..]}``) in the
    coordinates of ``b``. ``cut``: this frame starts a new shot (``None``: the writer decides with
    its :class:`~vid2vid.prepare.source.CutDetector`).
    """

    name: str
    a: np.ndarray
    b: np.ndarray
    inst: np.ndarray | None = None
    keypoints: dict | None = None
    cut: bool | None = None


def _dir(root: Path, split: str, kind: str) -> Path:
    return root / f"{split}_{kind}" if kind == KEYPOINTS else kind_dir(root, split, kind)


def write_input_map(path_without_suffix: Path, a: np.ndarray) -> Path:
    """Write an input map where the folder dataset reads it; returns the path written.

    ``[H, W]`` (one channel: edges, label ids) -> ``.png`` grey; ``[H, W, 3]`` (a pose rendering)
    -> ``.png`` RGB; ``[H, W, C]`` for any other ``C`` (face: 15, pose with DensePose: 6) -> ``.npy``
    holding the ``uint8 [H, W, C]`` array itself (values 0-255, the same stem as the ``_B`` frame).
    """
    a = np.asarray(a)
    if a.dtype != np.uint8:
        raise ValueError(f"{path_without_suffix}: input maps are uint8, got {a.dtype}")
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1):
        path = path_without_suffix.with_suffix(".png")
        write_label(path, a.reshape(a.shape[:2]))
    elif a.ndim == 3 and a.shape[2] == 3:
        path = path_without_suffix.with_suffix(".png")
        write_rgb(path, a)
    elif a.ndim == 3:
        path = path_without_suffix.with_suffix(".npy")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.ascontiguousarray(a), allow_pickle=False)
    else:
        raise ValueError(f"{path_without_suffix}: expected an input map [H, W] or [H, W, C], got {a.shape}")
    return path


def prepare_out(root: str | os.PathLike, overwrite: bool) -> Path:
    """The output folder, created; a non-empty one is refused unless ``overwrite``, which removes
    only what ``prepare`` writes (the split folders, ``train.yaml``, ``prepare.json``)."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{root}: --out must be a folder, found a file")
    if root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{root}: --out folder is not empty; choose an empty or new folder, "
                                  f"or pass --overwrite to replace the dataset in it")
        for split in SPLITS:
            for kind in (*KINDS, KEYPOINTS):
                shutil.rmtree(_dir(root, split, kind), ignore_errors=True)
        for name in ("train.yaml", "prepare.json"):
            (root / name).unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    return root


def held_out(n: int, test_fraction: float) -> list[int]:
    """Indices of the test sequences among ``n`` (in writing order): ``round(n * test_fraction)``
    of them, at least one when ``test_fraction > 0`` and ``n >= 2``, never all; spread evenly over
    the list starting from its last sequence (so the end of the last video is always tested, and
    several videos each give some). Deterministic: the same inputs give the same split."""
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test fraction must lie in [0, 1), got {test_fraction}")
    if n < 2 or test_fraction == 0:
        return []
    k = min(n - 1, max(1, round(n * test_fraction)))
    return sorted({n - 1 - math.floor(i * n / k) for i in range(k)})


@dataclass
class _Sequence:
    name: str
    video: str
    split: str | None  # fixed by the source (Cityscapes train / val), else chosen by the fraction
    shot: int  # shots are counted per video
    frames: list[str] = field(default_factory=list)


class DatasetWriter:
    """Writes the samples of one video after another into ``root`` (made by :func:`prepare_out`).

    Usage: ``start_video(name)``, ``add(sample)`` per frame, ``end_video()``; after the last video
    ``finish(test_fraction)`` moves the test sequences into the ``test_*`` folders. ``cuts``: start
    a new sequence at each shot cut (see the module docstring).
    """

    def __init__(self, root: Path, seq_len: int, cuts: bool = True) -> None:
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        self.root, self.seq_len, self.cuts = Path(root), seq_len, cuts
        self.sequences: list[_Sequence] = []
        self.channels: int | None = None  # of the input maps: every frame must have the same
        self._video: str | None = None
        self._split: str | None = None
        self._current: list[_Sequence] = []
        self._names: set[str] = set()
        self._detector = CutDetector()
        self._shot = 0

    def start_video(self, name: str, split: str | None = None) -> str:
        """Begin a video; returns its name made unique among the videos (``clip``, ``clip-2``)."""
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        unique, k = name, 1
        while unique in self._names:
            k += 1
            unique = f"{name}-{k}"
        self._names.add(unique)
        self._video, self._split, self._current = unique, split, []
        self._detector, self._shot = CutDetector(), 0
        return unique

    def _where(self, seq: _Sequence, kind: str) -> Path:
        return _dir(self.root, seq.split or "train", kind) / seq.name

    def add(self, sample: Sample) -> None:
        """Write one frame into the current sequence (a new one every ``seq_len`` frames and at a
        shot cut)."""
        if self._video is None:
            raise RuntimeError("add() before start_video()")
        cut = sample.cut
        if cut is None:
            cut = self._detector(sample.b) if self.cuts else False
        if cut and self._current:
            self._close_shot()
            self._shot += 1
        if cut or not self._current or len(self._current[-1].frames) >= self.seq_len:
            seq = _Sequence(f"{self._video}_{len(self._current):03d}", self._video, self._split, self._shot)
            self._current.append(seq)
        seq = self._current[-1]
        channels = 1 if sample.a.ndim == 2 else sample.a.shape[2]
        if self.channels is None:
            self.channels = channels
        elif channels != self.channels:
            raise ValueError(f"{self._video}, frame {sample.name}: input map has {channels} channels, "
                             f"the earlier frames {self.channels}")
        write_input_map(self._where(seq, "A") / sample.name, sample.a)
        write_rgb(self._where(seq, "B") / f"{sample.name}.png", sample.b)
        if sample.inst is not None:
            write_instance(self._where(seq, "inst") / f"{sample.name}.png", sample.inst)
        if sample.keypoints is not None:
            path = self._where(seq, KEYPOINTS) / f"{sample.name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(sample.keypoints), encoding="utf-8")
        seq.frames.append(sample.name)

    def _close_shot(self) -> None:
        """The last piece of the current shot, when shorter than half of ``seq_len``, joins the
        piece of the same shot before it (its files are moved; names are unique per video)."""
        seqs = self._current
        if (len(seqs) >= 2 and seqs[-2].shot == seqs[-1].shot
                and len(seqs[-1].frames) < math.ceil(self.seq_len / 2)):
            last, prev = seqs.pop(), seqs[-1]
            for kind in _WRITTEN:
                src = self._where(last, kind)
                if src.is_dir():
                    for f in sorted(src.iterdir()):
                        f.rename(self._where(prev, kind) / f.name)
                    src.rmdir()
            prev.frames.extend(last.frames)

    def end_video(self) -> list[str]:
        """Close the current video; returns the names of its sequences (``<video>_000``, ``_001``,
        ... in time order: a merged piece was the last one, so the numbers stay contiguous)."""
        self._close_shot()
        seqs = self._current
        self.sequences.extend(seqs)
        self._video, self._current = None, []
        return [s.name for s in seqs]

    def finish(self, test_fraction: float) -> dict[str, list[str]]:
        """Assign the splits and move the test sequences; returns ``{"train": [..], "test": [..]}``.
        Sequences whose split the source fixed keep it (Cityscapes' val is test); when the sources
        give no test sequence, ``test_fraction`` of all are held out (:func:`held_out`)."""
        if self._video is not None:
            self.end_video()
        if not any(s.split == "test" for s in self.sequences):
            for i in held_out(len(self.sequences), test_fraction):
                seq = self.sequences[i]
                for kind in _WRITTEN:
                    src = self._where(seq, kind)
                    if src.is_dir():
                        dst = _dir(self.root, "test", kind) / seq.name
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        src.rename(dst)
                seq.split = "test"
        for seq in self.sequences:
            seq.split = seq.split or "train"
        for kind in _WRITTEN:  # a split folder emptied by the moves
            folder = _dir(self.root, "train", kind)
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return {split: [s.name for s in self.sequences if s.split == split] for split in SPLITS}

    def lengths(self, split: str) -> list[int]:
        """Frame counts of the sequences of ``split`` (after :meth:`finish`)."""
        return [len(s.frames) for s in self.sequences if s.split == split]

    def window_cap(self) -> int:
        """The longest training window every training sequence of at least half of ``seq_len``
        frames can hold: their shortest length (shorter ones, short shots or short videos, are
        skipped by training once its windows are longer); the longest sequence when all are short."""
        lengths = self.lengths("train") or [self.seq_len]
        long_enough = [n for n in lengths if n >= math.ceil(self.seq_len / 2)]
        return min(long_enough) if long_enough else max(lengths)


def train_settings(preset: str, root: Path, data: dict[str, Any], model: dict[str, Any] | None,
                   shortest: int) -> dict[str, Any]:
    """The nested settings of ``train.yaml``: ``preset`` plus what differs for this dataset.

    ``data``: the keys the kind decides (label_nc, input_nc, use_instance, foreground_ids, height,
    width, flow_source, ...). The temporal curriculum is capped at ``shortest`` frames
    (``train.n_frames_total``; :meth:`DatasetWriter.window_cap`), so that no sequence of at least
    half of ``seq_len`` frames is skipped as too short for a window.
    """
    base = get_preset(preset)
    t = base.train
    total = max(1, min(t.n_frames_total, shortest))
    settings: dict[str, Any] = {
        "preset": preset,
        "data": {"root": str(root.resolve()), **data},
        "model": dict(model or {}),
        "train": {"n_frames_start": min(t.n_frames_start, total), "n_frames_total": total},
    }
    if data.get("label_nc") == 0 and base.model.label_occlusion:
        # the preset checks the warp against one-hot labels (synthetic): a continuous map has none
        settings["model"].setdefault("label_occlusion", False)
    d = base.data
    if (d.crop_height, d.crop_width) != (0, 0) and (data["height"], data["width"]) != (d.height, d.width):
        # the preset crops a fixed window out of its own load size; for another size train on
        # whole frames (random_scale needs a crop)
        settings["data"].update(crop_height=0, crop_width=0, random_scale=False)
    return {k: v for k, v in settings.items() if v != {}}


def check_settings(settings: dict[str, Any], where: str = "prepare") -> Config:
    """The :class:`Config` that ``reproduce/train.py --config`` would build from ``settings``
    (:meth:`Config.from_dict`); raises ConfigError naming the key when it is not valid."""
    return Config.from_dict(settings, where=where)


def write_train_config(root: Path, settings: dict[str, Any], header: list[str]) -> Path:
    """Write ``<root>/train.yaml`` (``header`` as comment lines, then ``settings``); returns its path.
    Loaded back through :meth:`Config.from_yaml` first, exactly as ``reproduce/train.py`` loads it."""
    path = root / "train.yaml"
    text = "".join(f"# {line}\n" for line in header) + yaml.safe_dump(settings, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    Config.from_yaml(path)
    return path


def next_commands(root: Path, splits: dict[str, list[str]]) -> tuple[str, str]:
    """The training command and the generation command for the first test sequence (the first
    training sequence when there is no test split)."""
    run = Path("runs") / root.resolve().name
    config = root / "train.yaml"
    train = f"accelerate launch reproduce/train.py --config {shlex.quote(str(config))} --out {run}"
    split = "test" if splits.get("test") else "train"
    seq = (splits.get("test") or splits["train"])[0]
    a, b = kind_dir(root, split, "A") / seq, kind_dir(root, split, "B") / seq
    generate = (f"python -m vid2vid generate --checkpoint {run / 'generator.pt'} "
                f"--input {shlex.quote(str(a))} --real {shlex.quote(str(b))} --side-by-side "
                f"--out {run / (seq + '.mp4')}")
    return train, generate
