"""A study folder: the clips of a two-alternative forced-choice study and the manifest that names them.

    <study>/manifest.json         what each clip shows (read by the server, never sent to participants)
    <study>/clips/0000.mp4 ...    one video per method, input sequence and setting, under neutral names

``manifest.json``::

    {"reference": "vid2vid",                    # optional: compare every method with this one only
     "question": "Which video looks more ...?",  # optional: the question participants see
     "clips": [
       {"file": "clips/0000.mp4", "method": "vid2vid", "sequence": "seq_0000", "setting": "short"},
       {"file": "clips/0001.mp4", "method": "pix2pixHD", "sequence": "seq_0000", "setting": "short"},
       {"file": "clips/0002.mp4", "method": "vid2vid", "sequence": "seq_0000", "setting": "short",
        "check": true},                         # an attention check: a deliberately broken video
       ...]}

A **pair** is two clips of the same sequence and setting by two methods (paper, section 5: the two
videos a subject compares come from the same input). Without ``reference`` every two methods of a
sequence and setting are paired; with it, the reference against each other method (the paper's
"preference for vid2vid" against each baseline and ablation). A **setting** is any name, typically the
paper's ``short`` and ``long`` sequences; the report gives every setting its own score. A clip with
``"check": true`` is an attention check: it is paired with the intact clip of its sequence and
setting (the reference's, else the first), and a participant who prefers the broken one was not
watching.

:func:`write_study` writes such a folder from videos in memory (``reproduce/evaluate.py`` writes one
for the Tables 1-2 models); :func:`read_manifest` reads and checks one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

__all__ = ["StudyError", "Clip", "Pair", "Manifest", "read_manifest", "write_study", "broken_video",
           "MANIFEST", "DEFAULT_QUESTION", "VIDEO_TYPES"]

MANIFEST = "manifest.json"
# Section 5: subjects pick the video that looks more like one captured by a real camera, judging
# image quality and temporal coherence together.
DEFAULT_QUESTION = ("Which video looks more like a real video captured by a camera? "
                    "Judge both how each frame looks and how things move.")
# the containers a browser plays in a <video> element, and the Content-Type each is served with
VIDEO_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".ogv": "video/ogg"}
_CLIP_KEYS = {"file", "method", "sequence", "setting", "check"}
_TOP_KEYS = {"clips", "reference", "question"}


class StudyError(ValueError):
    """A study folder, database, answer or CSV file that is not what was expected; the message names it."""


@dataclass(frozen=True)
class Clip:
    file: str  # path inside the study folder, '/'-separated (clips/0000.mp4)
    method: str  # the method that generated it (for a check clip: the one whose video was broken)
    sequence: str  # the input it was generated from: the two clips of a pair share it
    setting: str  # e.g. "short" / "long" (the paper's two studies); scored separately
    check: bool = False  # an attention check: deliberately broken


@dataclass(frozen=True)
class Pair:
    a: Clip  # the method whose preference is reported (the reference), or a check's intact clip
    b: Clip  # the other method, or a check's broken clip

    @property
    def check(self) -> bool:
        return self.b.check


@dataclass(frozen=True)
class Manifest:
    root: Path  # the study folder
    clips: tuple[Clip, ...]
    reference: str | None  # None: every two methods of a sequence and setting are paired
    question: str  # what participants are asked

    @property
    def methods(self) -> list[str]:
        """The compared methods in order of first appearance (check clips left out)."""
        return list(dict.fromkeys(c.method for c in self.clips if not c.check))

    def pairs(self) -> list[Pair]:
        """Every pair a participant sees, comparisons first (by sequence, setting, method), then checks."""
        order = {m: i for i, m in enumerate(self.methods)}
        if self.reference is not None:  # the reference first: its preference is the one reported
            order[self.reference] = -1
        groups: dict[tuple[str, str], list[Clip]] = {}
        for clip in self.clips:
            if not clip.check:
                groups.setdefault((clip.sequence, clip.setting), []).append(clip)
        pairs = []
        for group in groups.values():
            group = sorted(group, key=lambda c: order[c.method])
            for i, a in enumerate(group):
                for b in group[i + 1:]:
                    if self.reference is None or a.method == self.reference:
                        pairs.append(Pair(a, b))
        for clip in self.clips:
            if clip.check:
                group = sorted(groups[(clip.sequence, clip.setting)], key=lambda c: order[c.method])
                pairs.append(Pair(group[0], clip))
        return pairs

    def digest(self) -> str:
        """A fingerprint of what the answers refer to: the clips' names, contents, methods, sequences,
        settings and pairing (not the question's wording). A study rewritten with other videos under
        the same names gets another one."""
        content = [[c.file, _file_hash(self.path(c)), c.method, c.sequence, c.setting, c.check]
                   for c in self.clips]
        return hashlib.sha256(json.dumps([self.reference, content]).encode()).hexdigest()[:16]

    def path(self, clip: Clip) -> Path:
        return self.root.joinpath(*PurePosixPath(clip.file).parts)


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _text(value: object, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StudyError(f"{where}: '{key}' must be a non-empty string, got {value!r}")
    return value.strip()


def _clip_file(root: Path, value: object, where: str) -> str:
    text = _text(value, where, "file")
    path = PurePosixPath(text.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or ":" in text:
        raise StudyError(f"{where}: file {text!r} must be a path inside the study folder (no '..', not "
                         "absolute)")
    if path.suffix.lower() not in VIDEO_TYPES:
        raise StudyError(f"{where}: file {text!r} is not a video a browser plays; expected one of "
                         f"{', '.join(VIDEO_TYPES)}")
    full = root.joinpath(*path.parts)
    if not full.is_file():
        raise StudyError(f"{where}: file {text!r} not found in {root}")
    if not full.resolve().is_relative_to(root.resolve()):  # a symlink out of the folder
        raise StudyError(f"{where}: file {text!r} leads outside the study folder {root}")
    return path.as_posix()


def read_manifest(folder: str | os.PathLike) -> Manifest:
    """Read ``<folder>/manifest.json`` and check it: every clip a video inside ``folder`` with a
    method, sequence and setting; no clip twice; every check clip next to an intact clip of its
    sequence and setting; at least one pair of methods to compare. Raises :class:`StudyError` naming
    the file and the clip."""
    root = Path(folder)
    if not root.is_dir():
        raise StudyError(f"{root}: not a folder; expected a study folder with its clips and a {MANIFEST}")
    file = root / MANIFEST
    if not file.is_file():
        raise StudyError(f"{root}: no {MANIFEST}; a study folder names the method, sequence and setting of "
                         f"each clip in one (vid2vid.study.write_study writes both)")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise StudyError(f"{file}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("clips"), list) or not data["clips"]:
        raise StudyError(f"{file}: expected an object with a non-empty list 'clips'")
    if unknown := sorted(set(data) - _TOP_KEYS):
        raise StudyError(f"{file}: unknown key(s) {unknown}; expected {sorted(_TOP_KEYS)}")
    clips: list[Clip] = []
    seen_files: dict[str, int] = {}
    seen_videos: dict[tuple[str, str, str], int] = {}
    for i, entry in enumerate(data["clips"]):
        where = f"{file}, clip {i}"
        if not isinstance(entry, dict):
            raise StudyError(f"{where}: expected an object with file, method, sequence and setting, got "
                             f"{entry!r}")
        if unknown := sorted(set(entry) - _CLIP_KEYS):
            raise StudyError(f"{where}: unknown key(s) {unknown}; expected {sorted(_CLIP_KEYS)}")
        check = entry.get("check", False)
        if not isinstance(check, bool):
            raise StudyError(f"{where}: 'check' must be true or false, got {check!r}")
        clip = Clip(_clip_file(root, entry.get("file"), where), _text(entry.get("method"), where, "method"),
                    _text(entry.get("sequence"), where, "sequence"),
                    _text(entry.get("setting"), where, "setting"), check)
        if clip.file in seen_files:
            raise StudyError(f"{where}: file {clip.file!r} is already clip {seen_files[clip.file]}")
        seen_files[clip.file] = i
        if not check:
            video = (clip.method, clip.sequence, clip.setting)
            if video in seen_videos:
                raise StudyError(f"{where}: clip {seen_videos[video]} already shows method {clip.method!r} "
                                 f"on sequence {clip.sequence!r} in setting {clip.setting!r}")
            seen_videos[video] = i
        clips.append(clip)
    reference = data.get("reference")
    if reference is not None:
        reference = _text(reference, str(file), "reference")
        if reference not in _methods(clips):
            raise StudyError(f"{file}: reference {reference!r} is not the method of any clip; methods: "
                             f"{_methods(clips)}")
    question = _text(data.get("question", DEFAULT_QUESTION), str(file), "question")
    groups = {(c.sequence, c.setting) for c in clips if not c.check}
    for i, clip in enumerate(clips):
        if clip.check and (clip.sequence, clip.setting) not in groups:
            raise StudyError(f"{file}, clip {i}: attention check on sequence {clip.sequence!r}, setting "
                             f"{clip.setting!r}, but no intact clip of that sequence and setting to pair it "
                             "with")
    manifest = Manifest(root, tuple(clips), reference, question)
    if not any(not p.check for p in manifest.pairs()):
        raise StudyError(f"{file}: nothing to compare; a pair needs two methods with clips of the same "
                         "sequence and setting" + (f" (one of them {reference!r})" if reference else ""))
    return manifest


def _methods(clips: Sequence[Clip]) -> list[str]:
    return list(dict.fromkeys(c.method for c in clips if not c.check))


def broken_video(frames: Sequence[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """An attention-check version of a video that nobody watching would call realistic: colours
    inverted, frames in random order, and a third of every frame replaced by noise.

    Args:
        frames: ``uint8 [H, W, 3]`` frames.
    """
    rng = np.random.default_rng(seed)
    out = []
    for t in rng.permutation(len(frames)):
        frame = 255 - np.asarray(frames[t], dtype=np.uint8)
        noise = rng.random(frame.shape[:2]) < 1 / 3
        frame[noise] = rng.integers(0, 256, (int(noise.sum()), 3), dtype=np.uint8)
        out.append(frame)
    return out


def _remove_old_clips(out: Path) -> None:
    """The clips an earlier :func:`write_study` wrote to ``out`` (those its manifest names, under
    ``clips/``): a study written again with fewer videos leaves none of them behind."""
    try:
        old = json.loads((out / MANIFEST).read_text(encoding="utf-8"))["clips"]
        files = [PurePosixPath(c["file"]) for c in old]
    except (OSError, ValueError, KeyError, TypeError):
        return
    for file in files:
        if file.parts[:1] == ("clips",) and ".." not in file.parts and len(file.parts) == 2:
            (out / "clips" / file.name).unlink(missing_ok=True)
    (out / MANIFEST).unlink()


def write_study(videos: Mapping[str, Sequence], out_dir: str | os.PathLike,
                sequences: Sequence[str] | None = None, settings: Mapping[str, int | None] | None = None,
                reference: str | None = None, checks: int = 0, fps: float = 10, question: str | None = None,
                seed: int = 0) -> Path:
    """Write a study folder: one clip per method, sequence and setting, and its ``manifest.json``.

    Args:
        videos: ``{method: [one video per sequence]}``, each a tensor ``[T, 3, H, W]`` in ``[-1, 1]``,
            a ``uint8`` array ``[T, H, W, 3]`` or a list of such frames; every method has a video of
            every sequence (the same input, so that a pair compares like with like).
        sequences: the sequences' names (default ``seq_0000``, ...).
        settings: ``{setting: frames}``: each setting's clips are the first ``frames`` frames of
            each video (None: all of them). Default ``{"full": None}``; the paper's two studies are
            e.g. ``{"short": 15, "long": None}``.
        reference: compare every method with this one only (default: every two methods).
        checks: attention checks: broken versions (:func:`broken_video`) of the reference's (else the
            first method's) video of the first ``checks`` sequence-and-setting combinations.
        seed: numbers the clip files in a random order (their names reveal nothing) and seeds the checks.

    Returns:
        The path of ``manifest.json``; :func:`read_manifest` reads the folder back.
    """
    from vid2vid.video import VideoWriter, to_uint8

    if not videos:
        raise StudyError("write_study needs the videos of at least two methods; got none")
    methods = list(videos)
    counts = {m: len(videos[m]) for m in methods}
    if len(set(counts.values())) != 1 or not counts[methods[0]]:
        raise StudyError(f"write_study needs a video of every sequence from every method; got {counts}")
    n = counts[methods[0]]
    sequences = list(sequences) if sequences is not None else [f"seq_{i:04d}" for i in range(n)]
    if len(sequences) != n:
        raise StudyError(f"write_study: {len(sequences)} sequence names for {n} videos per method")
    settings = dict(settings) if settings is not None else {"full": None}
    if reference is not None and reference not in videos:
        raise StudyError(f"write_study: reference {reference!r} is not one of the methods {methods}")
    if checks < 0:
        raise StudyError(f"write_study: checks must be >= 0, got {checks}")
    out = Path(out_dir)
    _remove_old_clips(out)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    combos = [(i, s) for i in range(n) for s in settings]
    checks = min(checks, len(combos))
    names = iter(rng.permutation(len(methods) * len(combos) + checks))
    entries = []

    def write(frames: list[np.ndarray], method: str, i: int, setting: str, check: bool = False) -> None:
        file = f"clips/{next(names):04d}.mp4"
        with VideoWriter(out / file, fps=fps) as writer:
            for frame in frames:
                writer.write(frame)
        entries.append({"file": file, "method": method, "sequence": sequences[i], "setting": setting}
                       | ({"check": True} if check else {}))

    for i, setting in combos:
        frames_of = {}
        for method in methods:
            frames = [to_uint8(f) for f in videos[method][i]]
            keep = settings[setting]
            frames_of[method] = frames[:keep] if keep is not None else frames
            if not frames_of[method]:
                raise StudyError(f"write_study: method {method!r}, sequence {sequences[i]!r} has no frames")
            write(frames_of[method], method, i, setting)
        if (i, setting) in combos[:checks]:
            source = reference or methods[0]
            broken = broken_video(frames_of[source], seed=int(rng.integers(2**31)))
            write(broken, source, i, setting, check=True)
    manifest = {"reference": reference, "question": question or DEFAULT_QUESTION, "clips": entries}
    if reference is None:
        del manifest["reference"]
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    read_manifest(out)  # what was written reads back as a study
    return path
