"""Kernel Inception Distance (Bińkowski et al., ICLR 2018) and feature-space projections for the benchmark.

KID is the squared maximum mean discrepancy between two feature sets under the cubic polynomial
kernel ``k(x, y) = (x . y / d + 1)^3``, estimated without bias:

    MMD^2_u = sum_{i != j} k(x_i, x_j) / m(m-1) + sum_{i != j} k(y_i, y_j) / m(m-1)
              - 2 sum_{i, j} k(x_i, y_j) / m^2

Unlike FID it has an unbiased estimator, so small feature sets (a few hundred videos) do not inflate
it, and two samples of one distribution score 0 on average (single estimates can be negative). It
is averaged over random subsets of ``m`` vectors from each set, which also gives a spread.

:func:`project_out` and :func:`principal_direction` remove chosen directions (e.g. the axis along
which features move when the camera pans) before a distance is computed, so that a model cannot win
or lose on that one factor alone; :func:`distances_without` computes FID (with
:mod:`vid2vid.metrics.frechet`) and KID on the projected features.
"""

from __future__ import annotations

import numpy as np
import torch

from vid2vid.metrics.frechet import _as_float64, frechet_distance_from_features

__all__ = ["polynomial_kernel", "mmd2_unbiased", "kernel_inception_distance", "project_out",
           "principal_direction", "distances_without"]

Features = np.ndarray | torch.Tensor


def _features(x: Features, name: str, min_n: int = 2) -> np.ndarray:
    """``[N, d]`` float64 features with ``N >= min_n`` and ``d >= 1``."""
    arr = _as_float64(x, name)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be a feature matrix [N, d] with d >= 1; got shape {arr.shape}")
    if arr.shape[0] < min_n:
        raise ValueError(f"{name} needs at least {min_n} feature vectors; got {arr.shape[0]} "
                         f"(shape {arr.shape})")
    return arr


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The KID kernel ``(x . y / d + 1)^3`` between the rows of ``x [n, d]`` and ``y [m, d]``: ``[n, m]``."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(features1: Features, features2: Features) -> float:
    """Unbiased ``MMD^2`` of feature sets ``[n, d]``, ``[m, d]`` (``n, m >= 2``), :func:`polynomial_kernel`.

    The diagonal terms ``k(x_i, x_i)`` are left out of the within-set means; the cross term uses all
    ``n m`` pairs. Its expectation is 0 when both sets come from one distribution.
    """
    x, y = _features(features1, "features1"), _features(features2, "features2")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature sets differ in dimension: {x.shape[1]} vs {y.shape[1]}")
    return _mmd2(x, y)


def _mmd2(x: np.ndarray, y: np.ndarray) -> float:
    n, m = x.shape[0], y.shape[0]
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within_x = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())


def kernel_inception_distance(
    features1: Features,
    features2: Features,
    subset_size: int | None = None,
    n_subsets: int = 100,
    seed: int = 0,
) -> dict:
    """KID of two feature sets ``[N1, d]`` and ``[N2, d]``: :func:`mmd2_unbiased` over random subsets.

    Args:
        features1, features2: features of real and generated videos (numpy or torch; float64 inside).
        subset_size: vectors drawn (without replacement) from each set per subset; default
            ``min(N1, N2, 1000)``. It may not exceed either set.
        n_subsets: subsets averaged.
        seed: seeds ``numpy.random.default_rng``; equal seeds give equal results.

    Returns:
        ``{"mean", "std", "subset_size", "n_subsets"}``: the mean ``MMD^2_u`` over the subsets and its
        standard deviation across them (0 when every subset is the whole set).
    """
    x, y = _features(features1, "features1"), _features(features2, "features2")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature sets differ in dimension: {x.shape[1]} vs {y.shape[1]}")
    largest = min(x.shape[0], y.shape[0])
    m = min(largest, 1000) if subset_size is None else int(subset_size)
    if not 2 <= m <= largest:
        raise ValueError(f"subset_size must be in [2, {largest}] (the smaller set has {largest} vectors); "
                         f"got {subset_size}")
    if n_subsets < 1:
        raise ValueError(f"n_subsets must be >= 1; got {n_subsets}")
    rng = np.random.default_rng(seed)
    values = np.empty(n_subsets)
    for i in range(n_subsets):
        xs = x[rng.choice(x.shape[0], m, replace=False)]
        ys = y[rng.choice(y.shape[0], m, replace=False)]
        values[i] = _mmd2(xs, ys)
    return {"mean": float(values.mean()), "std": float(values.std()), "subset_size": m,
            "n_subsets": n_subsets}


def project_out(features: Features, direction: Features) -> np.ndarray:
    """Features ``[N, d]`` with the component along ``direction`` removed (orthogonal projection).

    Args:
        direction: one direction ``[d]`` or several ``[k, d]`` (``k < d``, linearly independent; they
            need not be orthogonal nor of unit length: they are orthonormalised here).

    Returns:
        ``float64 [N, d]``: ``x - Q Q^T x`` with ``Q`` an orthonormal basis of the directions' span, so
        the result is orthogonal to every direction and unchanged in every orthogonal direction.
    """
    x = _features(features, "features", min_n=1)
    u = _as_float64(direction, "direction")
    if u.ndim == 1:
        u = u[None]
    if u.ndim != 2 or u.shape[1] != x.shape[1] or not 1 <= u.shape[0] < x.shape[1]:
        raise ValueError(f"direction must be [d] or [k, d] with d = {x.shape[1]} (the features' dimension) "
                         f"and 1 <= k < d; got shape {u.shape}")
    norms = np.linalg.norm(u, axis=1)
    if norms.min() == 0:
        raise ValueError(f"direction {int(np.argmin(norms))} is the zero vector: nothing to remove")
    q, r = np.linalg.qr((u / norms[:, None]).T)  # q: [d, k] orthonormal columns spanning the directions
    if np.abs(np.diag(r)).min() < 1e-10:
        raise ValueError(f"the {u.shape[0]} directions are linearly dependent; give independent ones")
    return x - (x @ q) @ q.T


def principal_direction(features: Features) -> np.ndarray:
    """First principal component of features ``[N, d]`` (``N >= 2``): unit ``[d]``, the most variance.

    The sign is fixed so that the component of largest magnitude is positive (a direction has no
    sign; fixing it makes results reproducible).
    """
    x = _features(features, "features")
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    if s[0] <= 0:
        raise ValueError("features have no variance (every vector is the same): no principal direction")
    v = vt[0]
    return v if v[np.argmax(np.abs(v))] > 0 else -v


def distances_without(
    real: Features,
    fake: Features,
    direction: Features | None = None,
    subset_size: int | None = None,
    n_subsets: int = 100,
    seed: int = 0,
) -> dict:
    """FID and KID of two feature sets after :func:`project_out` of ``direction`` from both (``None``: as is).

    Returns:
        ``{"fid", "kid", "kid_std", "subset_size", "n_subsets"}``.
    """
    a, b = _features(real, "real"), _features(fake, "fake")
    if direction is not None:
        a, b = project_out(a, direction), project_out(b, direction)
    kid = kernel_inception_distance(a, b, subset_size=subset_size, n_subsets=n_subsets, seed=seed)
    return {"fid": frechet_distance_from_features(a, b), "kid": kid["mean"], "kid_std": kid["std"],
            "subset_size": kid["subset_size"], "n_subsets": kid["n_subsets"]}
