"""The Fréchet distance between two Gaussians: the FID of the paper's Tables 1 and 3 (section 5).

Features of real and of generated videos are each summarised by a Gaussian ``N(mu, S)``; the
distance between the two Gaussians is

    d^2 = ||mu - mu~||^2 + Tr(S + S~ - 2 (S S~)^{1/2})

(Dowson & Landau 1982; Heusel et al. 2017 for images). The paper evaluates it on I3D and ResNeXt
video features; :mod:`vid2vid.metrics.features` computes those.

Numerics: ``S S~`` is not symmetric, and ``scipy.linalg.sqrtm`` of it can return complex values or
fail when the covariances are singular (fewer samples than feature dimensions, the usual case for
2048-d features). Here the trace term uses the symmetric form

    Tr (S S~)^{1/2} = Tr (S^{1/2} S~ S^{1/2})^{1/2}

(``S S~`` is similar to ``S^{1/2} S~ S^{1/2}``, a symmetric positive semi-definite matrix), computed
with two symmetric eigendecompositions in float64 and eigenvalues clipped at 0. Nothing complex,
no ``eps * I`` retry, and rank-deficient covariances are exact rather than approximated.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["feature_statistics", "frechet_distance", "frechet_distance_from_features", "sqrtm_psd"]


def _as_float64(x: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values (shape {x.shape})")
    return x


def sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix ``[D, D]`` (float64).

    Symmetrised first (covariances are symmetric up to rounding); eigenvalues below 0 (rounding
    on singular matrices) are clipped to 0, so the result is real and symmetric.
    """
    matrix = 0.5 * (matrix + matrix.T)
    eigvals, eigvecs = np.linalg.eigh(matrix)
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T


def frechet_distance(
    mu1: np.ndarray | torch.Tensor,
    sigma1: np.ndarray | torch.Tensor,
    mu2: np.ndarray | torch.Tensor,
    sigma2: np.ndarray | torch.Tensor,
) -> float:
    """Squared Fréchet distance ``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})`` (section 5).

    Args:
        mu1, mu2: means ``[D]``.
        sigma1, sigma2: covariances ``[D, D]`` (symmetric positive semi-definite; singular is fine).

    Returns:
        The distance as a float >= 0 (tiny negative rounding is clipped to 0). Symmetric in its
        two Gaussians.
    """
    mu1, mu2 = _as_float64(mu1, "mu1"), _as_float64(mu2, "mu2")
    sigma1, sigma2 = _as_float64(sigma1, "sigma1"), _as_float64(sigma2, "sigma2")
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"means must be [D] vectors of one size; got mu1 {mu1.shape} and mu2 {mu2.shape}")
    d = mu1.shape[0]
    for name, s in (("sigma1", sigma1), ("sigma2", sigma2)):
        if s.shape != (d, d):
            raise ValueError(f"{name} must be a [{d}, {d}] covariance to match the means; got {s.shape}")
    root1 = sqrtm_psd(sigma1)
    middle = root1 @ (0.5 * (sigma2 + sigma2.T)) @ root1  # S1^{1/2} S2 S1^{1/2}: symmetric PSD
    middle = 0.5 * (middle + middle.T)
    trace_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0.0, None)).sum())
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)
    # Rounding can leave -1e-12 for identical Gaussians; a squared distance is never negative.
    return max(value, 0.0)


def feature_statistics(features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and unbiased covariance ``[D, D]`` (float64) of features ``[N, D]``, ``N >= 2``."""
    x = _as_float64(features, "features")
    if x.ndim != 2:
        raise ValueError(f"features must be [N, D]; got shape {x.shape}")
    if x.shape[0] < 2:
        raise ValueError(f"a covariance needs at least 2 feature vectors; got {x.shape[0]} (shape {x.shape})")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def frechet_distance_from_features(
    features1: np.ndarray | torch.Tensor, features2: np.ndarray | torch.Tensor
) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets ``[N1, D]`` and ``[N2, D]``."""
    mu1, sigma1 = feature_statistics(features1)
    mu2, sigma2 = feature_statistics(features2)
    if mu1.shape != mu2.shape:
        raise ValueError(f"feature sets differ in dimension: {mu1.shape[0]} vs {mu2.shape[0]}")
    return frechet_distance(mu1, sigma1, mu2, sigma2)
