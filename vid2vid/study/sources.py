"""Study folders from videos on disk (one folder per method), or a demo study that needs no model.

    python -m vid2vid study make --out study_clips --method vid2vid=out/vid2vid \\
        --method pix2pixHD=out/pix2pixHD --reference vid2vid --short 15 --checks 2
    python -m vid2vid study make --out study_clips --demo

:func:`study_from_folders`: each method's folder holds one video per input sequence, named after
the sequence (``seq_0000.mp4``; any container PyAV reads: MP4, MKV, MOV, AVI, GIF), the same names
in every folder (``python -m vid2vid generate --out <folder>/<sequence>.mp4`` writes them).

:func:`demo_study`: the built-in synthetic street videos against two broken versions of
themselves, per-frame colour **flicker** and a **stutter** (every third frame held): what a
per-frame generator and a dropped-frame pipeline get wrong. Seconds to make, nothing to train: a
classroom can try the study app before a real study, and everybody should prefer the real videos.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from vid2vid.study.manifest import StudyError, write_study

__all__ = ["read_video", "study_from_folders", "demo_study", "READABLE"]

READABLE = (".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm", ".gif")


def read_video(path: str | os.PathLike) -> list[np.ndarray]:
    """Every frame of a video file as ``uint8 [H, W, 3]`` RGB; :class:`StudyError` naming the file
    when it cannot be decoded or has no frames."""
    import av

    path = Path(path)
    try:
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except (av.FFmpegError, OSError, IndexError, ValueError) as err:
        raise StudyError(f"{path}: not a readable video ({type(err).__name__}: {err})") from None
    if not frames:
        raise StudyError(f"{path}: a video without frames")
    return frames


def study_from_folders(methods: Mapping[str, str | os.PathLike], out_dir: str | os.PathLike,
                       reference: str | None = None, short: int | None = None, checks: int = 0,
                       fps: float = 10, seed: int = 0) -> Path:
    """A study folder (:func:`vid2vid.study.write_study`) of the videos in ``{method: folder}``.

    Args:
        short: also a ``short`` setting of each video's first ``short`` frames beside the ``long``
            one (all frames), as the paper's two studies; None: one setting, ``full``.
        checks: attention checks (broken versions of the reference's videos).

    Returns:
        The path of the written ``manifest.json``.
    """
    if len(methods) < 2:
        raise StudyError(f"a study compares at least two methods; got {list(methods) or 'none'}")
    found: dict[str, dict[str, Path]] = {}
    for method, folder in methods.items():
        folder = Path(folder)
        if not folder.is_dir():
            raise StudyError(f"method {method!r}: {folder} is not a folder of videos")
        found[method] = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in READABLE}
        if not found[method]:
            raise StudyError(f"method {method!r}: no videos ({', '.join(READABLE)}) in {folder}")
    first, names = next(iter(found)), sorted(set.union(*(set(v) for v in found.values())))
    for method, videos in found.items():
        if missing := [n for n in names if n not in videos]:
            raise StudyError(f"method {method!r}: no video of sequence(s) {missing} in {methods[method]} "
                             "(every method needs a video of every sequence, named alike)")
    frames: dict[str, list[list[np.ndarray]]] = {m: [] for m in found}
    for name in names:
        for method in found:
            frames[method].append(read_video(found[method][name]))
        counts = {m: len(frames[m][-1]) for m in found}
        sizes = {m: frames[m][-1][0].shape[:2] for m in found}
        if len(set(counts.values())) > 1 or len(set(sizes.values())) > 1:
            shapes = ", ".join(f"{m}: {counts[m]} frames of {sizes[m][0]}x{sizes[m][1]}" for m in found)
            raise StudyError(f"sequence {name!r}: the methods' videos differ in length or size ({shapes}); "
                             "the two videos of a pair must show the same input alike")
        if short is not None and short >= counts[first]:
            raise StudyError(f"short clips of {short} frames: sequence {name!r} has {counts[first]} "
                             "frames; a short clip must be shorter than the long one")
    settings = {"short": short, "long": None} if short is not None else {"full": None}
    return write_study(frames, out_dir, sequences=names, settings=settings, reference=reference,
                       checks=checks, fps=fps, seed=seed)


def flicker(frames: list[np.ndarray], rng: np.random.Generator, amount: float = 0.12) -> list[np.ndarray]:
    """Per-frame colour jumps (a gain per frame and channel, an offset per frame): the temporal
    incoherence of a generator that makes each frame on its own."""
    out = []
    for frame in frames:
        gain = 1 + rng.uniform(-amount, amount, 3)
        offset = 255 * rng.uniform(-amount, amount)
        out.append(np.clip(frame * gain + offset, 0, 255).astype(np.uint8))
    return out


def stutter(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Every third frame held for three: motion in jumps."""
    return [frames[t - t % 3] for t in range(len(frames))]


def demo_study(out_dir: str | os.PathLike, sequences: int = 4, frames: int = 30, short: int = 10,
               checks: int = 2, seed: int = 0) -> Path:
    """A study of ``sequences`` synthetic street videos (128 x 256) against their flickering and
    stuttering versions (reference ``real``), short and long, with attention checks. Returns the
    path of its ``manifest.json``."""
    from vid2vid.data.synthetic import SyntheticConfig, generate_sequence

    rng = np.random.default_rng(seed)
    config = SyntheticConfig(frames=frames)
    real = [list(generate_sequence([seed, 9, i], config).rgb) for i in range(sequences)]
    videos = {"real": real, "flicker": [flicker(v, rng) for v in real], "stutter": [stutter(v) for v in real]}
    return write_study(videos, out_dir, sequences=[f"street_{i:02d}" for i in range(sequences)],
                       settings={"short": short, "long": None}, reference="real", checks=checks, seed=seed)
