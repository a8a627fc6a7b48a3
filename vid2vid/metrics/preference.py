"""Human preference score (section 5, Tables 1-3): a two-alternative forced choice between two methods.

Subjects see two videos side by side, generated from the same input by method A and method B in a
random left/right order, and pick the more realistic one. The score of A is the fraction of trials
in which A was chosen (the paper: 0.87 for vid2vid against pix2pixHD on short Cityscapes clips).
With few trials that fraction is uncertain; :func:`preference_score` reports the Wilson score
interval with it.

:func:`make_ab_clips` writes the stimuli (side-by-side MP4 files with neutral names) and, in a
separate folder, a CSV key of which side shows which method, so that the clip folder can be handed
to raters as it is; :func:`score_answers` turns answers ("left" / "right") back into the score of A.
Each method is shown on the left in exactly half of the clips (one more or less for an odd count),
in an order drawn from the seed and the comparison's name, so that a side bias of the raters
cancels and two comparisons built with one seed do not share an order. The benchmark uses at least
``BENCHMARK_MIN_CLIPS`` (16) clips per comparison.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from statistics import NormalDist

import numpy as np
import torch

from vid2vid.video import VideoWriter, side_by_side

__all__ = ["wilson_interval", "preference_score", "make_ab_clips", "score_answers", "comparison_rng",
           "BENCHMARK_MIN_CLIPS"]

BENCHMARK_MIN_CLIPS = 16  # clips per comparison in the benchmark (pass as n_clips)

VideoLike = torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray]


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n`` (Wilson 1927).

    ``(p + z^2 / 2n -+ z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n)`` with ``z`` the two-sided
    normal quantile of ``confidence``. Unlike the normal approximation it stays inside ``[0, 1]`` and
    is not empty at ``0 / n`` or ``n / n``. Example: 8 of 10 at 95% gives ``(0.490, 0.943)``.
    """
    if n <= 0:
        raise ValueError(f"a preference interval needs n >= 1 trials; got n = {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n] = [0, {n}]; got {successes}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0 / n and n / n the bound equals 0 or 1 exactly; rounding must not push it past.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def preference_score(choices: Iterable[bool | int], confidence: float = 0.95) -> dict:
    """Preference for a method from 2AFC trials.

    Args:
        choices: one entry per trial, true / 1 when the method was preferred, false / 0 otherwise.

    Returns:
        ``{"fraction", "low", "high", "n", "confidence"}``: the fraction preferred and its Wilson interval.
    """
    values = list(choices)
    for i, c in enumerate(values):
        if c not in (0, 1):  # True / False compare equal to 1 / 0
            raise ValueError(f"choice {i} is {c!r}; expected a bool or 0 / 1 (1 = the method was preferred)")
    n, k = len(values), int(sum(values))
    low, high = wilson_interval(k, n, confidence)
    return {"fraction": k / n, "low": low, "high": high, "n": n, "confidence": confidence}


def _frames(video: VideoLike, where: str) -> list[torch.Tensor | np.ndarray]:
    """A video as a list of frames (``[3, H, W]`` tensors in ``[-1, 1]`` or ``uint8 [H, W, 3]`` arrays)."""
    if isinstance(video, torch.Tensor):
        if video.dim() != 4 or video.shape[1] != 3:
            raise ValueError(f"{where}: expected a video tensor [T, 3, H, W] in [-1, 1]; "
                             f"got {tuple(video.shape)}")
        return list(video)
    if isinstance(video, np.ndarray):
        if video.ndim != 4 or video.shape[3] != 3 or video.dtype != np.uint8:
            raise ValueError(f"{where}: expected a uint8 video array [T, H, W, 3]; "
                             f"got {video.dtype} {video.shape}")
        return list(video)
    return list(video)


def _is_single_video(x: object) -> bool:
    return isinstance(x, torch.Tensor | np.ndarray) and x.ndim == 4


def comparison_rng(comparison: str, seed: int = 0) -> np.random.Generator:
    """A generator seeded by ``seed`` and the name of a comparison (a stable hash: SHA-256 of its UTF-8
    text, not Python's per-process ``hash``), so every comparison gets its own reproducible draws."""
    digest = int.from_bytes(hashlib.sha256(comparison.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([int(seed), digest])


def _balanced_sides(n: int, rng: np.random.Generator) -> np.ndarray:
    """``bool [n]``, true = A on the left, shuffled: exactly ``n / 2`` true for even ``n`` (odd: 1 drawn)."""
    n_left = n // 2 + (int(rng.integers(0, 2)) if n % 2 else 0)
    return rng.permutation(np.arange(n) < n_left)


def _default_key_dir(out: Path) -> Path:
    return out.parent / f"{out.name}_key"


def make_ab_clips(
    video_a: VideoLike | Sequence[VideoLike],
    video_b: VideoLike | Sequence[VideoLike],
    out_dir: str | os.PathLike,
    seed: int = 0,
    names: tuple[str, str] = ("A", "B"),
    fps: float = 10,
    gap: int = 8,
    crf: int = 18,
    *,
    n_clips: int | None = None,
    key_dir: str | os.PathLike | None = None,
    comparison: str | None = None,
) -> Path:
    """Write side-by-side A/B clips for a 2AFC study and, elsewhere, the key of their order.

    Args:
        video_a, video_b: one video each (a tensor ``[T, 3, H, W]`` in ``[-1, 1]`` or a ``uint8``
            array ``[T, H, W, 3]``), or equally long lists of videos (pair ``i`` = the two methods on
            the same input; in a list a video may also be a list of frames). The two videos of a pair
            must have equal frame counts and heights.
        out_dir: where ``clip_0000.mp4``, ... are written (names do not reveal the order); only clips.
        seed: with ``comparison``, seeds the order of sides (:func:`comparison_rng`), so a study can be
            rebuilt.
        names: the methods' names written to the key.
        gap: white columns between the two panels.
        n_clips: clips to write, from the first pairs; ``None``: one per pair. More than there are
            pairs is an error. The benchmark passes ``BENCHMARK_MIN_CLIPS`` (16) or more.
        key_dir: the folder of the key, outside ``out_dir``; default the sibling ``<out_dir>_key``.
        comparison: the comparison's name, mixed into the seed; default ``"<A> vs <B>"`` from ``names``.

    Returns:
        The path of the key, ``<key_dir>/<out_dir name>_key.csv``, with columns ``clip, file, left,
        right`` (the method shown on each side) and ``comparison``. A seeded, shuffled half of the
        clips shows A on the left (for an odd count the extra clip's side is drawn too).
    """
    pairs_a = [video_a] if _is_single_video(video_a) else list(video_a)
    pairs_b = [video_b] if _is_single_video(video_b) else list(video_b)
    if len(pairs_a) != len(pairs_b) or not pairs_a:
        raise ValueError(f"make_ab_clips needs as many A videos as B videos (at least 1); got {len(pairs_a)} "
                         f"and {len(pairs_b)}")
    if n_clips is not None:
        if n_clips < 1:
            raise ValueError(f"n_clips must be >= 1; got {n_clips}")
        if n_clips > len(pairs_a):
            raise ValueError(f"n_clips = {n_clips} clips asked for but only {len(pairs_a)} pairs of videos "
                             f"given")
        pairs_a, pairs_b = pairs_a[:n_clips], pairs_b[:n_clips]
    out = Path(out_dir)
    out_abs = out.resolve()
    keys = Path(key_dir) if key_dir is not None else _default_key_dir(out_abs)
    keys_abs = keys.resolve()
    if keys_abs == out_abs or out_abs in keys_abs.parents:
        raise ValueError(f"key_dir {keys} must be outside the clip folder {out}: raters receive the clip "
                         f"folder")
    if (out / "key.csv").exists():
        raise ValueError(f"{out / 'key.csv'} exists: a key inside the clip folder would reach the raters; "
                         f"remove it (make_ab_clips writes the key to key_dir)")
    comparison = f"{names[0]} vs {names[1]}" if comparison is None else comparison
    out.mkdir(parents=True, exist_ok=True)
    sides = _balanced_sides(len(pairs_a), comparison_rng(comparison, seed))
    rows = []
    for i, (va, vb) in enumerate(zip(pairs_a, pairs_b, strict=True)):
        fa, fb = _frames(va, f"pair {i}, {names[0]}"), _frames(vb, f"pair {i}, {names[1]}")
        if len(fa) != len(fb) or not fa:
            raise ValueError(f"pair {i}: {names[0]} has {len(fa)} frames and {names[1]} {len(fb)}; "
                             f"expected equal non-zero counts")
        a_left = bool(sides[i])
        left, right = (fa, fb) if a_left else (fb, fa)
        file = f"clip_{i:04d}.mp4"
        with VideoWriter(out / file, fps=fps, crf=crf) as writer:
            for t, (l_frame, r_frame) in enumerate(zip(left, right, strict=True)):
                try:
                    writer.write(side_by_side(l_frame, r_frame, gap=gap))
                except ValueError as err:
                    raise ValueError(f"pair {i}, frame {t}: {err}") from err
        rows.append({"clip": i, "file": file, "left": names[0] if a_left else names[1],
                     "right": names[1] if a_left else names[0], "comparison": comparison})
    keys.mkdir(parents=True, exist_ok=True)
    key = keys / f"{out_abs.name}_key.csv"
    with open(key, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["clip", "file", "left", "right", "comparison"])
        writer.writeheader()
        writer.writerows(rows)
    return key


def score_answers(key_csv: str | os.PathLike, answers: Mapping[str, Sequence[str]] | Sequence[str],
                  method: str = "A", confidence: float = 0.95) -> dict:
    """Preference score of ``method`` from answers ``"left"`` / ``"right"`` to the clips of ``key_csv``.

    Args:
        key_csv: the key written by :func:`make_ab_clips` (in its ``key_dir``), columns ``file, left, right``.
        answers: one answer per clip in key order, or ``{file: [answers of several subjects]}``.
    """
    with open(key_csv, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        missing = {"file", "left", "right"} - set(reader.fieldnames or [])
    if missing:
        raise ValueError(f"{key_csv} is not a clip key: columns {sorted(missing)} are missing")
    if isinstance(answers, Mapping):
        by_file = {r["file"]: r for r in rows}
        trials = []
        for file, said in answers.items():
            if file not in by_file:
                raise ValueError(f"{key_csv}: no clip {file!r} in the key")
            trials += [(by_file[file], a) for a in said]
    else:
        if len(answers) != len(rows):
            raise ValueError(f"{key_csv}: {len(rows)} clips but {len(answers)} answers")
        trials = list(zip(rows, answers, strict=True))
    choices = []
    for row, a in trials:
        if a not in ("left", "right"):
            raise ValueError(f"{key_csv}, clip {row['file']}: answer {a!r}; expected 'left' or 'right'")
        if method not in (row["left"], row["right"]):
            raise ValueError(f"{key_csv}, clip {row['file']}: method {method!r} is not in the pair "
                             f"({row['left']}, {row['right']})")
        choices.append(row[a] == method)
    return preference_score(choices, confidence)
