"""Hierarchical bootstrap of a model's paired difference to a reference model, and the verdict on a claim.

A benchmark claim ("vid2vid has a lower FID / warping error than pix2pixHD", Tables 1-2) is
decided on per-video differences, model minus reference on the same test videos, for several
training seeds. Two sources of variation matter: which videos were tested and which seed was
trained. The seed is the unit of replication (one training run is one sample of the model), so
the bootstrap first resamples seeds, then videos within each chosen seed, and the interval is
wide when seeds disagree however many videos each has.

:func:`verdict` turns the interval into "reproduced", "contradicted" or "inconclusive" for a claim
whose direction was fixed before looking at the data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real

import numpy as np

__all__ = ["paired_differences", "hierarchical_bootstrap", "verdict"]

# z_{1 - 0.05/2} + z_{0.80} = 1.960 + 0.842: a true effect this many standard errors from 0 is
# detected (two-sided, alpha = 0.05) with 80% power.
MDE_FACTOR = 2.8


def _per_video(values: object, where: str) -> np.ndarray:
    """A seed's per-video values as a non-empty finite float64 vector."""
    if isinstance(values, str | bytes | Mapping) or values is None:
        raise TypeError(f"{where}: expected a sequence or array of per-video numbers; "
                        f"got {type(values).__name__}")
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{where}: expected numbers; got an array of dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{where}: expected a non-empty 1-d array of per-video values; "
                         f"got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: contains NaN or infinite values")
    return arr


def _seed_keys(data: object, name: str) -> list:
    """The seeds of a mapping ``seed -> values``, sorted (seeds must be of one type to sort)."""
    if not isinstance(data, Mapping):
        raise TypeError(f"{name} must be a mapping seed -> per-video values; got {type(data).__name__}")
    if not data:
        raise ValueError(f"{name} is empty: no seeds")
    types = {type(k) for k in data}
    if len(types) > 1:
        raise TypeError(f"{name}: seeds must all be of one type; got {sorted(t.__name__ for t in types)}")
    return sorted(data)


def paired_differences(model: Mapping[object, Sequence[float] | np.ndarray],
                       reference: Mapping[object, Sequence[float] | np.ndarray]) -> dict[object, np.ndarray]:
    """Per-video ``model - reference`` for each seed; both map seed -> per-video values of the same videos
    in the same order, so seeds and per-seed video counts must match."""
    seeds = _seed_keys(model, "model")
    if set(seeds) != set(_seed_keys(reference, "reference")):
        raise ValueError(f"model and reference must have the same seeds; got {seeds} and {sorted(reference)}")
    out = {}
    for s in seeds:
        a, b = _per_video(model[s], f"model, seed {s!r}"), _per_video(reference[s], f"reference, seed {s!r}")
        if a.shape != b.shape:
            raise ValueError(f"seed {s!r}: model has {a.size} videos and reference {b.size}; a paired "
                             f"difference needs the same videos")
        out[s] = a - b
    return out


def hierarchical_bootstrap(
    differences: Mapping[object, Sequence[float] | np.ndarray],
    n_boot: int = 10000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Bootstrap interval of the mean paired difference, resampling seeds, then videos within seeds.

    Each replicate draws as many seeds as given, with replacement; for every drawn seed it draws as
    many of that seed's videos as it has, with replacement; the statistic is the mean over all drawn
    values (seeds with more videos weigh more, as in the point estimate).

    Args:
        differences: seed -> per-video differences (model minus reference on the same videos, same
            seed index; :func:`paired_differences`). At least 2 seeds: the seed is the unit of
            replication, and one seed says nothing about another training run.
        n_boot: bootstrap replicates.
        confidence: coverage of the percentile interval.
        seed: seeds ``numpy.random.default_rng``; equal inputs and seeds give equal results.

    Returns:
        ``{"mean", "lo", "hi", "n_boot", "confidence", "se", "mde", "n_seeds", "n_videos"}``: the mean
        over all videos, the percentile interval, the bootstrap standard error (standard deviation of
        the replicates) and the minimum detectable effect ``mde = 2.8 se``: the smallest true
        difference that the interval excludes from 0 with 80% power at alpha = 0.05, two-sided
        (``2.8 = 1.96 + 0.84``). A claimed effect well below ``mde`` cannot be decided with these seeds.
    """
    keys = _seed_keys(differences, "differences")
    if len(keys) < 2:
        raise ValueError(f"hierarchical_bootstrap needs at least 2 seeds; got {len(keys)} ({keys}). The seed "
                         f"is the unit of replication: train and evaluate more seeds")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 2:
        raise ValueError(f"n_boot must be an integer >= 2; got {n_boot!r}")
    if not isinstance(confidence, Real) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
    groups = [_per_video(differences[k], f"seed {k!r}") for k in keys]
    n_seeds = len(groups)
    sizes = np.array([g.size for g in groups])
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, n_seeds, size=(n_boot, n_seeds))  # seeds drawn by each replicate
    totals = np.zeros(n_boot)
    for s, g in enumerate(groups):
        picks = chosen == s  # [n_boot, n_seeds]: the slots where seed s was drawn
        n_picks = int(picks.sum())
        if n_picks == 0:
            continue
        # Each draw of seed s resamples its videos afresh; sum the resampled values per draw.
        chunk = max(1, 2_000_000 // g.size)
        draw_sums = np.concatenate([
            g[rng.integers(0, g.size, size=(min(chunk, n_picks - i), g.size))].sum(axis=1)
            for i in range(0, n_picks, chunk)
        ])
        rows = np.nonzero(picks)[0]
        np.add.at(totals, rows, draw_sums)
    counts = sizes[chosen].sum(axis=1)
    replicates = totals / counts
    alpha = 1 - confidence
    lo, hi = np.quantile(replicates, [alpha / 2, 1 - alpha / 2])
    se = float(replicates.std(ddof=1))
    return {"mean": float(np.concatenate(groups).mean()), "lo": float(lo), "hi": float(hi),
            "n_boot": int(n_boot), "confidence": float(confidence), "se": se, "mde": MDE_FACTOR * se,
            "n_seeds": n_seeds, "n_videos": int(sizes.sum())}


def verdict(interval: Mapping[str, float] | Sequence[float], direction: str) -> str:
    """The verdict on a claim from the interval of model minus reference.

    Args:
        interval: ``(lo, hi)`` or a mapping with ``"lo"`` and ``"hi"`` (:func:`hierarchical_bootstrap`).
        direction: the claim, fixed before the data were seen: ``"lower"`` (the model's value is lower
            than the reference's, e.g. FID) or ``"higher"``.

    Returns:
        ``"reproduced"`` when the interval excludes 0 on the claimed side, ``"contradicted"`` when it
        excludes 0 on the other side, ``"inconclusive"`` when it contains 0.
    """
    if direction not in ("lower", "higher"):
        raise ValueError(f"direction must be 'lower' or 'higher' (the claim's side of 0); got {direction!r}")
    if isinstance(interval, Mapping):
        if "lo" not in interval or "hi" not in interval:
            raise ValueError(f"interval mapping needs 'lo' and 'hi'; got keys {sorted(interval)}")
        lo, hi = interval["lo"], interval["hi"]
    else:
        if isinstance(interval, str | bytes) or len(interval) != 2:
            raise ValueError(f"interval must be (lo, hi) or a mapping with 'lo' and 'hi'; got {interval!r}")
        lo, hi = interval
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        raise ValueError(f"interval must be finite with lo <= hi; got ({lo}, {hi})")
    below, above = hi < 0, lo > 0
    if not (below or above):
        return "inconclusive"
    return "reproduced" if below == (direction == "lower") else "contradicted"
