"""The Fréchet distance against Gaussians whose distance is known in closed form."""

import numpy as np
import pytest
import scipy.linalg
import torch

from vid2vid.metrics import feature_statistics, frechet_distance, frechet_distance_from_features


def _random_spd(rng: np.random.Generator, d: int, floor: float = 0.1) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T / d + floor * np.eye(d)


def _scipy_reference(mu1, s1, mu2, s2) -> float:
    """The textbook formula with a general (non-symmetric) matrix square root."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean.real))


def test_identical_gaussians_have_distance_zero():
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(size=16), _random_spd(rng, 16)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)


def test_mean_shift_only_gives_the_squared_mean_distance():
    rng = np.random.default_rng(1)
    sigma = _random_spd(rng, 8)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(np.sum((mu1 - mu2) ** 2), rel=1e-9)


def test_one_dimensional_closed_form():
    # N(m1, s1^2) vs N(m2, s2^2): (m1 - m2)^2 + (s1 - s2)^2.
    m1, s1, m2, s2 = 0.3, 2.0, -1.2, 0.5
    expected = (m1 - m2) ** 2 + (s1 - s2) ** 2
    got = frechet_distance(np.array([m1]), np.array([[s1 ** 2]]), np.array([m2]), np.array([[s2 ** 2]]))
    assert got == pytest.approx(expected, rel=1e-12)


def test_diagonal_covariances_closed_form():
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0.1, 3.0, 12), rng.uniform(0.1, 3.0, 12)
    mu1, mu2 = rng.normal(size=12), rng.normal(size=12)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_commuting_covariances_closed_form():
    # S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T share eigenvectors: Tr sqrt(S1 S2) = sum sqrt(a b).
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    a, b = rng.uniform(0.2, 2.0, 10), rng.uniform(0.2, 2.0, 10)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    mu = np.zeros(10)
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu, s1, mu, s2) == pytest.approx(expected, rel=1e-9)


def test_random_full_rank_pair_matches_scipy_sqrtm():
    rng = np.random.default_rng(4)
    mu1, mu2 = rng.normal(size=20), rng.normal(size=20)
    s1, s2 = _random_spd(rng, 20), _random_spd(rng, 20)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_scipy_reference(mu1, s1, mu2, s2), rel=1e-8)


def test_distance_is_symmetric():
    rng = np.random.default_rng(5)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = _random_spd(rng, 6), _random_spd(rng, 6)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-10)


def test_sample_estimate_approaches_the_analytic_value():
    rng = np.random.default_rng(6)
    mu1, mu2 = np.array([0.0, 1.0, -1.0]), np.array([0.5, 0.0, -1.0])
    s1, s2 = _random_spd(rng, 3, 0.3), _random_spd(rng, 3, 0.3)
    analytic = frechet_distance(mu1, s1, mu2, s2)
    x1 = rng.multivariate_normal(mu1, s1, size=200_000)
    x2 = rng.multivariate_normal(mu2, s2, size=200_000)
    assert frechet_distance_from_features(x1, x2) == pytest.approx(analytic, rel=0.015)


def test_rank_deficient_covariances_from_few_samples_are_finite():
    # 10 samples of 32-d features: both covariances have rank <= 9.
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(10, 32)), rng.normal(size=(10, 32)) + 0.5
    d = frechet_distance_from_features(a, b)
    assert np.isfinite(d) and d > 0
    assert frechet_distance_from_features(a, a.copy()) == pytest.approx(0.0, abs=1e-8)
    # Exactly singular covariances (a zero-variance direction) as well.
    s = np.diag([1.0, 0.0, 2.0])
    assert frechet_distance(np.zeros(3), s, np.zeros(3), s) == pytest.approx(0.0, abs=1e-12)
    assert frechet_distance(np.zeros(3), s, np.zeros(3), np.zeros((3, 3))) == pytest.approx(3.0)


def test_torch_features_and_scaling_law():
    # FID scales with the square of a common feature scale and ignores a common shift.
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(200, 5)), rng.normal(size=(200, 5)) * 1.5 + 0.2
    d = frechet_distance_from_features(torch.from_numpy(a).float(), torch.from_numpy(b).float())
    assert d == pytest.approx(frechet_distance_from_features(a, b), rel=1e-5)
    scaled = frechet_distance_from_features(3 * a + 7, 3 * b + 7)
    assert scaled == pytest.approx(9 * frechet_distance_from_features(a, b))


def test_feature_statistics_matches_numpy():
    x = np.random.default_rng(9).normal(size=(50, 4))
    mu, sigma = feature_statistics(x)
    np.testing.assert_allclose(mu, x.mean(0))
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False))


def test_bad_inputs_are_rejected_with_shapes():
    with pytest.raises(ValueError, match="at least 2"):
        feature_statistics(np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        feature_statistics(np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        feature_statistics(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="sigma2"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))
    with pytest.raises(ValueError, match="dimension"):
        frechet_distance_from_features(np.zeros((3, 2)), np.zeros((3, 5)))
