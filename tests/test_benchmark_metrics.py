"""Benchmark building blocks: KID and projections, the validity checks of a temporal win, and the
hierarchical bootstrap with its verdict, on fabricated inputs whose answers are known."""

import math

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F

from vid2vid.metrics import (
    distances_without,
    excess,
    frechet_distance_from_features,
    gradient_energy,
    hierarchical_bootstrap,
    kernel_inception_distance,
    low_frequency_warping_error,
    mmd2_unbiased,
    paired_differences,
    polynomial_kernel,
    principal_direction,
    project_out,
    sharpness_ratio,
    temporal_win_is_valid,
    verdict,
    warping_error,
)

# --------------------------------------------------------------------------------------------- KID


def _mmd2_by_loops(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased estimator written out term by term."""
    d = x.shape[1]

    def k(a, b):
        return (float(a @ b) / d + 1) ** 3

    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


def test_polynomial_kernel_is_the_cubic_kernel():
    x, y = np.array([[1.0, 2.0]]), np.array([[3.0, -1.0], [0.0, 0.0]])
    # x.y / d + 1 = (3 - 2) / 2 + 1 = 1.5 -> 3.375; with the zero vector: 1.
    np.testing.assert_allclose(polynomial_kernel(x, y), [[3.375, 1.0]])


def test_mmd2_matches_the_formula_term_by_term_and_kid_on_whole_sets_equals_it():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(0.3, 1.2, size=(9, 3))
    assert mmd2_unbiased(x, y) == pytest.approx(_mmd2_by_loops(x, y), rel=1e-12)
    # Subsets as large as the smaller set, drawn from a set of that size, are the whole set every time.
    y7 = y[:7]
    whole = kernel_inception_distance(x, y7, n_subsets=5)
    assert whole["subset_size"] == 7 and whole["n_subsets"] == 5
    assert whole["mean"] == pytest.approx(_mmd2_by_loops(x, y7), rel=1e-12)
    assert whole["std"] == pytest.approx(0)


def test_mmd2_is_unbiased_for_a_known_population_value():
    # 1-d: (xy + 1)^3 = 1 + 3xy + 3x^2y^2 + x^3y^3, so MMD^2 = 3 dm1^2 + 3 dm2^2 + dm3^2 (raw moments).
    # X uniform on {-1, 1}: moments (0, 1, 0); Y uniform on {-0.5, 1.5}: (0.5, 1.25, 1.625) -> 3.578125.
    rng = np.random.default_rng(1)
    values = [mmd2_unbiased(rng.choice([-1.0, 1.0], size=(20, 1)), rng.choice([-0.5, 1.5], size=(20, 1)))
              for _ in range(4000)]
    se = np.std(values) / math.sqrt(len(values))
    assert abs(np.mean(values) - 3.578125) < 4 * se and se < 0.06


def test_kid_of_two_samples_of_one_distribution_is_zero_on_average():
    rng = np.random.default_rng(2)
    values = [kernel_inception_distance(rng.normal(size=(40, 4)), rng.normal(size=(40, 4)), n_subsets=1)
              ["mean"] for _ in range(400)]
    se = np.std(values) / math.sqrt(len(values))
    assert abs(np.mean(values)) < 4 * se
    assert min(values) < 0 < max(values)  # unbiased: single estimates fall on both sides of 0


def test_kid_grows_with_the_shift_and_is_deterministic_given_the_seed():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(300, 8))
    fakes = [rng.normal(size=(300, 8)) + shift for shift in (0.0, 0.3, 0.6, 1.2)]
    kids = [kernel_inception_distance(real, f, subset_size=100, n_subsets=20, seed=0) for f in fakes]
    means = [k["mean"] for k in kids]
    assert means == sorted(means) and means[0] < kids[0]["std"] * 3 and means[-1] > 100 * abs(means[0])
    assert all(k["std"] > 0 for k in kids)  # subsets of 100 out of 300 differ
    again = kernel_inception_distance(real, fakes[2], subset_size=100, n_subsets=20, seed=0)
    assert again == kids[2]
    other_seed = kernel_inception_distance(real, fakes[2], subset_size=100, n_subsets=20, seed=1)
    assert other_seed["mean"] != means[2]


def test_kid_accepts_torch_and_numpy_alike_and_defaults_to_subsets_of_at_most_1000():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(30, 5)), rng.normal(size=(50, 5))
    from_numpy = kernel_inception_distance(a, b, n_subsets=3)
    from_torch = kernel_inception_distance(torch.from_numpy(a).float(), torch.from_numpy(b).float(),
                                           n_subsets=3)
    assert from_numpy["subset_size"] == 30
    assert from_torch["mean"] == pytest.approx(from_numpy["mean"], rel=1e-5, abs=1e-6)
    big = kernel_inception_distance(rng.normal(size=(1100, 2)), rng.normal(size=(1200, 2)), n_subsets=1)
    assert big["subset_size"] == 1000


def test_kid_errors_name_what_is_wrong():
    a = np.zeros((5, 3))
    with pytest.raises(ValueError, match=r"features1 must be a feature matrix \[N, d\]"):
        kernel_inception_distance(np.zeros(5), a)
    with pytest.raises(ValueError, match="features2 needs at least 2 feature vectors; got 1"):
        kernel_inception_distance(a, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="differ in dimension: 3 vs 4"):
        kernel_inception_distance(a, np.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"subset_size must be in \[2, 5\]"):
        kernel_inception_distance(a, np.zeros((8, 3)), subset_size=6)
    with pytest.raises(ValueError, match="NaN"):
        mmd2_unbiased(np.full((3, 2), np.nan), a[:, :2])


def test_project_out_removes_exactly_the_directions():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20, 6))
    v = np.array([3.0, 4.0, 0, 0, 0, 0])  # not unit length: normalised inside
    p = project_out(x, v)
    np.testing.assert_allclose(p @ v, 0, atol=1e-12)
    np.testing.assert_allclose(p[:, 2:], x[:, 2:])  # orthogonal directions untouched
    u = v / 5
    np.testing.assert_allclose(p, x - np.outer(x @ u, u), atol=1e-12)
    np.testing.assert_allclose(project_out(p, v), p, atol=1e-12)  # a projection: idempotent
    # Two directions, neither orthogonal nor unit: the whole span (here the first two axes) goes.
    both = project_out(torch.from_numpy(x), np.array([[1.0, 1.0, 0, 0, 0, 0], [2.0, 0, 0, 0, 0, 0]]))
    np.testing.assert_allclose(both[:, :2], 0, atol=1e-12)
    np.testing.assert_allclose(both[:, 2:], x[:, 2:], atol=1e-12)
    with pytest.raises(ValueError, match="zero vector"):
        project_out(x, np.zeros(6))
    with pytest.raises(ValueError, match="linearly dependent"):
        project_out(x, np.array([[1.0, 2, 0, 0, 0, 0], [2.0, 4, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="d = 6"):
        project_out(x, np.ones(5))


def test_principal_direction_finds_the_axis_of_largest_variance_with_a_fixed_sign():
    rng = np.random.default_rng(6)
    axis = np.array([1.0, -2.0, 2.0, 0.0]) / 3
    x = 0.1 * rng.normal(size=(200, 4)) + np.outer(3 * rng.normal(size=200), axis)
    v = principal_direction(x)
    assert np.linalg.norm(v) == pytest.approx(1) and abs(v @ axis) > 0.999
    assert v[np.argmax(np.abs(v))] > 0
    np.testing.assert_allclose(principal_direction(-x), v)  # the sign does not follow the data's sign
    with pytest.raises(ValueError, match="no variance"):
        principal_direction(np.ones((5, 4)))


def test_distances_without_a_pan_axis_ignore_a_difference_only_along_it():
    rng = np.random.default_rng(7)
    d = 6
    pan = np.zeros(d)
    pan[0] = 1.0
    real = rng.normal(size=(400, d))
    fake = rng.normal(size=(400, d))
    fake[:, 0] += 2.0  # the fake videos differ only in how far the camera pans
    pooled_axis = principal_direction(np.concatenate([real, fake]))
    assert abs(pooled_axis @ pan) > 0.95
    plain = distances_without(real, fake, subset_size=200, n_subsets=10)
    projected = distances_without(real, fake, pooled_axis, subset_size=200, n_subsets=10)
    # Population values: FID = 2^2 = 4; KID = 3/6 * 4 + 3/36 * 4^2 + 16^2/6^3 = 4.52 (moment differences of
    # order 1, 2, 3 under the kernel's expansion); a sample of 400 scatters around them.
    assert plain["fid"] > 3 and plain["kid"] > 3 and plain["kid"] > 5 * plain["kid_std"]
    assert projected["fid"] < 0.2 and abs(projected["kid"]) < 0.1
    assert plain["kid"] > 50 * abs(projected["kid"])
    exact = distances_without(real, fake, pan, subset_size=200, n_subsets=10)
    assert exact["fid"] < 0.2 and abs(exact["kid"]) < 0.05
    # FID of the projected sets is the package's Fréchet distance of the projected features.
    assert projected["fid"] == pytest.approx(
        frechet_distance_from_features(project_out(real, pooled_axis), project_out(fake, pooled_axis)))


# ------------------------------------------------------------------------------------------ validity


def _photo_frames(t: int = 3, h: int = 48, w: int = 48) -> torch.Tensor:
    """Textured frames ``[T, 3, H, W]`` in ``[-1, 1]`` (crops of a photograph)."""
    image = torch.from_numpy(skimage.data.astronaut()[150:150 + h, 150:150 + t * w].copy())
    return torch.stack(image.permute(2, 0, 1).float().div(127.5).sub(1).split(w, dim=2))


def test_sharpness_ratio_known_answers():
    real = _photo_frames()
    assert sharpness_ratio(real, real) == pytest.approx(1.0)
    # Differences scale linearly: half the contrast is a quarter of the energy.
    assert sharpness_ratio(0.5 * real, real) == pytest.approx(0.25, rel=1e-6)
    blurred = F.avg_pool2d(real, 5, stride=1, padding=2, count_include_pad=False)
    assert sharpness_ratio(blurred, real) < 0.5
    noisy = real + 0.2 * torch.from_numpy(np.random.default_rng(0).normal(size=real.shape)).float()
    assert sharpness_ratio(noisy, real) > 1.2
    # Batched and unbatched give the same; frame counts may differ.
    ratio = sharpness_ratio(blurred, real)
    assert sharpness_ratio(torch.stack([blurred, blurred]), real) == pytest.approx(ratio)
    first = gradient_energy(blurred[:1]) / gradient_energy(real)
    assert sharpness_ratio(blurred[:1], real) == pytest.approx(first)


def test_gradient_energy_of_a_ramp():
    # x-ramp of slope 0.1 per pixel: dx^2 = 0.01 everywhere, dy = 0 -> energy (0.01 + 0) / 2.
    ramp = (0.1 * torch.arange(10.0)).expand(2, 3, 6, 10) - 0.5
    assert gradient_energy(ramp) == pytest.approx(0.005)


def test_streak_ratio_sees_smearing_along_x_and_along_y():
    from vid2vid.metrics.validity import directional_energy, streak_ratio

    g = torch.Generator().manual_seed(0)
    real = torch.rand(4, 3, 16, 24, generator=g) * 2 - 1
    along_x = (real + real.roll(1, -1) + real.roll(2, -1)) / 3  # a box blur across x only
    assert streak_ratio(real, real) == pytest.approx(1.0)
    assert streak_ratio(along_x, real) > 2
    along_y = (real + real.roll(1, -2) + real.roll(2, -2)) / 3
    assert streak_ratio(along_y, real) < 0.5
    # the same picture turned by 90 degrees: the energies swap
    ex, ey = directional_energy(along_x)
    assert directional_energy(along_x.transpose(-1, -2)) == pytest.approx((ey, ex))
    with pytest.raises(ValueError, match="flat frames"):
        streak_ratio(real, torch.zeros_like(real))


def test_sharpness_ratio_errors():
    real = _photo_frames()
    with pytest.raises(ValueError, match="one size"):
        sharpness_ratio(real[..., :40], real)
    with pytest.raises(ValueError, match="flat"):
        sharpness_ratio(real, torch.zeros_like(real))
    with pytest.raises(ValueError, match=r"\[T, 3, H, W\]"):
        sharpness_ratio(real[:, :2], real)


DX, DY = 2, -1  # frame t at (x, y) shows frame t-1 at (x + 2, y - 1)


def _smooth_panning(t: int = 5, h: int = 32, w: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth coloured pattern moving by ``(DX, DY)`` per frame, and its exact backward flows."""
    ys, xs = torch.meshgrid(torch.arange(h + 40.0), torch.arange(w + 40.0), indexing="ij")
    canvas = torch.stack([0.5 * torch.sin(2 * math.pi * xs / 37) * torch.cos(2 * math.pi * ys / 29),
                          0.4 * torch.cos(2 * math.pi * (xs + ys) / 53),
                          0.3 * torch.sin(2 * math.pi * ys / 31)])
    y0, x0 = 20, 5
    frames = torch.stack([canvas[:, y0 + k * DY:y0 + k * DY + h, x0 + k * DX:x0 + k * DX + w]
                          for k in range(t)])
    flows = torch.empty(t, 2, h, w)
    flows[:, 0], flows[:, 1] = DX, DY
    return frames, flows


def _checkerboard(h: int, w: int) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return ((xs + ys) % 2 * 2 - 1).float()


def test_low_frequency_warping_error_ignores_checkerboard_noise_but_not_flicker():
    frames, flows = _smooth_panning()
    t, _, h, w = frames.shape
    clean = low_frequency_warping_error(frames, flows)
    assert clean < 1e-5
    # Zero mean over every tile. The shift (2, -1) flips the checkerboard's parity, so the residual is
    # 0.2 (s_t + s_{t-1}) x checkerboard: 0.4, 0, 0.4, 0 in the four pairs.
    signs = torch.tensor([1.0, 1, -1, -1, 1])[:, None, None, None]
    noisy = frames + 0.2 * signs * _checkerboard(h, w)
    assert warping_error(noisy, flows) > 0.15  # the pixel warping error sees the noise
    assert low_frequency_warping_error(noisy, flows) < clean + 1e-5  # this one does not
    brightness = torch.tensor([0.0, 0.1, 0.0, 0.1, 0.0])[:, None, None, None]
    flickering = frames + brightness  # the residual is +-0.1 everywhere
    assert low_frequency_warping_error(flickering, flows) == pytest.approx(0.1, abs=1e-5)
    both = flickering + 0.2 * signs * _checkerboard(h, w)
    assert low_frequency_warping_error(both, flows) == pytest.approx(0.1, abs=1e-5)


def test_low_frequency_warping_error_keeps_colour_channels_apart():
    frames, flows = _smooth_panning()
    tint = torch.zeros(5, 3, 1, 1)
    tint[1::2, 0], tint[1::2, 2] = 0.06, -0.06  # redder and less blue on odd frames: no brightness change
    # Per channel |+-0.06|, |0|, |-+0.06| -> mean 0.04; averaging the channels first would give 0.
    assert low_frequency_warping_error(frames + tint, flows) == pytest.approx(0.04, abs=1e-5)


def test_low_frequency_warping_error_with_one_pixel_blocks_is_the_warping_error():
    frames, flows = _smooth_panning()
    rng = np.random.default_rng(8)
    noisy = frames + 0.1 * torch.from_numpy(rng.normal(size=frames.shape)).float()
    assert low_frequency_warping_error(noisy, flows, block=1) == pytest.approx(warping_error(noisy, flows),
                                                                                rel=1e-5)
    occlusion = torch.from_numpy(rng.random(size=(5, 32, 48)) < 0.3)
    assert low_frequency_warping_error(noisy, flows, valid=~occlusion, block=1) == pytest.approx(
        warping_error(noisy, flows, occlusion), rel=1e-5)


def test_low_frequency_warping_error_follows_the_flow_convention():
    frames, flows = _smooth_panning()
    assert low_frequency_warping_error(frames, -flows) > 0.02  # the wrong direction leaves a smooth residual
    assert low_frequency_warping_error(frames[torch.tensor([0, 3, 1, 4, 2])], flows) > 0.02
    noisy = frames + 0.05 * torch.from_numpy(np.random.default_rng(12).normal(size=frames.shape)).float()
    single = low_frequency_warping_error(noisy, flows)
    assert single > 1e-4
    assert low_frequency_warping_error(torch.stack([noisy, noisy]), flows) == pytest.approx(single)
    assert low_frequency_warping_error(noisy, flows[1:]) == pytest.approx(single)


def test_low_frequency_warping_error_valid_mask_and_empty_tiles():
    frames, flows = _smooth_panning()
    spoiled = frames.clone()
    spoiled[2, :, :16, :16] += 0.5  # a bright patch in frame 2 only: pairs (1, 2) and (2, 3) see it
    assert low_frequency_warping_error(spoiled, flows) > 0.03
    valid = torch.ones(32, 48, dtype=torch.bool)
    valid[:18, :18] = False  # one map for every pair, covering the patch (and its source in pair (2, 3))
    assert low_frequency_warping_error(spoiled, flows, valid=valid) < 1e-5
    per_pair = valid.expand(4, 32, 48)
    assert low_frequency_warping_error(spoiled, flows, valid=per_pair) == pytest.approx(
        low_frequency_warping_error(spoiled, flows, valid=valid))
    assert math.isnan(low_frequency_warping_error(frames, flows, valid=torch.zeros(32, 48)))
    with pytest.raises(ValueError, match="valid"):
        low_frequency_warping_error(frames, flows, valid=torch.ones(3, 32, 48))
    with pytest.raises(ValueError, match="block"):
        low_frequency_warping_error(frames, flows, block=0)


def test_excess_is_the_difference_to_real():
    assert excess(0.3, 0.1) == pytest.approx(0.2)
    assert excess(0.05, 0.1) == pytest.approx(-0.05)


def test_temporal_win_validity_rule():
    ok, reason = temporal_win_is_valid(0.95, 10.0, 12.0)
    assert ok and reason.startswith("valid")
    ok, reason = temporal_win_is_valid(0.8, 12.0, 12.0)  # both boundaries count as passing
    assert ok
    ok, reason = temporal_win_is_valid(0.5, 10.0, 12.0)
    assert not ok and "blurrier" in reason and "FID" not in reason
    ok, reason = temporal_win_is_valid(0.95, 13.0, 12.0)
    assert not ok and "per-frame FID 13 > reference 12" in reason and "blurrier" not in reason
    ok, reason = temporal_win_is_valid(0.5, 13.0, 12.0)
    assert not ok and "blurrier" in reason and "per-frame FID" in reason
    assert temporal_win_is_valid(0.85, 10.0, 12.0, min_sharpness=0.9)[0] is False
    with pytest.raises(ValueError, match="per_frame_fid must be a finite number"):
        temporal_win_is_valid(0.9, math.nan, 12.0)
    with pytest.raises(ValueError, match="sharpness_ratio"):
        temporal_win_is_valid("0.9", 10.0, 12.0)


# ----------------------------------------------------------------------------------------- bootstrap


def _effect_data(rng: np.random.Generator, effect: float, n_seeds: int = 6, n_videos: int = 15,
                 seed_sd: float = 0.2) -> dict[int, np.ndarray]:
    return {s: effect + rng.normal(0, seed_sd) + rng.normal(0, 1, n_videos) for s in range(n_seeds)}


def test_bootstrap_on_a_true_effect_excludes_zero():
    data = _effect_data(np.random.default_rng(9), effect=-1.0)
    result = hierarchical_bootstrap(data, n_boot=2000, seed=0)
    assert result["hi"] < 0 and result["lo"] < result["mean"] < result["hi"]
    assert verdict(result, "lower") == "reproduced"
    assert verdict(result, "higher") == "contradicted"
    assert result["n_seeds"] == 6 and result["n_videos"] == 90 and result["n_boot"] == 2000
    assert result["mean"] == pytest.approx(np.concatenate(list(data.values())).mean())
    assert result["mde"] == pytest.approx(2.8 * result["se"])


def test_bootstrap_on_null_data_covers_zero_in_most_repetitions():
    rng = np.random.default_rng(10)
    covered = [verdict(hierarchical_bootstrap(_effect_data(rng, 0.0), n_boot=1000, seed=r), "lower")
               == "inconclusive" for r in range(100)]
    assert sum(covered) >= 85


def test_bootstrap_standard_error_is_the_spread_of_seed_means():
    # Videos within a seed agree exactly: all the uncertainty is between seeds. Resampling 5 seeds
    # with replacement, the mean has standard deviation pop_sd(seed means) / sqrt(5).
    means = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    result = hierarchical_bootstrap({s: np.full(10, m) for s, m in enumerate(means)}, n_boot=20000, seed=1)
    assert result["se"] == pytest.approx(means.std() / math.sqrt(5), rel=0.03)
    # Many videos per seed do not narrow it: the seed is the unit of replication.
    many = hierarchical_bootstrap({s: np.full(1000, m) for s, m in enumerate(means)}, n_boot=5000, seed=1)
    assert many["se"] == pytest.approx(result["se"], rel=0.05)


def test_bootstrap_with_unequal_video_counts_has_the_exact_replicate_distribution():
    # Seed "a": one video of 0; seed "b": three videos of 1. Replicates: (a, a) -> 0 (p 1/4),
    # (b, b) -> 1 (p 1/4), (a, b) -> 3/4 (p 1/2): mean 0.625, sd sqrt(0.53125 - 0.625^2) = 0.375.
    result = hierarchical_bootstrap({"a": [0.0], "b": [1.0, 1.0, 1.0]}, n_boot=20000, seed=2)
    assert result["mean"] == pytest.approx(0.75)
    assert result["se"] == pytest.approx(0.375, rel=0.03)
    assert (result["lo"], result["hi"]) == (0.0, 1.0)


def test_bootstrap_resamples_videos_within_seeds():
    # Seeds agree in their means but videos vary: the interval must still have width.
    data = {s: np.array([-1.0, 1.0, -2.0, 2.0]) for s in range(4)}
    result = hierarchical_bootstrap(data, n_boot=5000, seed=3)
    assert result["mean"] == 0.0 and result["se"] > 0.2 and result["lo"] < 0 < result["hi"]


def test_bootstrap_is_deterministic_given_its_seed_and_the_order_of_seeds():
    data = _effect_data(np.random.default_rng(11), effect=0.3)
    a = hierarchical_bootstrap(data, n_boot=500, seed=5)
    assert hierarchical_bootstrap(dict(reversed(list(data.items()))), n_boot=500, seed=5) == a
    assert hierarchical_bootstrap(data, n_boot=500, seed=6)["lo"] != a["lo"]


def test_bootstrap_errors():
    with pytest.raises(ValueError, match="empty"):
        hierarchical_bootstrap({})
    with pytest.raises(ValueError, match="unit of replication"):
        hierarchical_bootstrap({0: [0.1, 0.2, 0.3]})
    with pytest.raises(TypeError, match="mapping seed -> per-video values"):
        hierarchical_bootstrap([[0.1, 0.2], [0.3, 0.4]])
    with pytest.raises(TypeError, match="one type"):
        hierarchical_bootstrap({0: [0.1], "1": [0.2]})
    with pytest.raises(TypeError, match="numbers"):
        hierarchical_bootstrap({0: ["a", "b"], 1: [0.2]})
    with pytest.raises(ValueError, match="NaN"):
        hierarchical_bootstrap({0: [math.nan], 1: [0.2]})
    with pytest.raises(ValueError, match="non-empty"):
        hierarchical_bootstrap({0: [], 1: [0.2]})
    with pytest.raises(ValueError, match="confidence"):
        hierarchical_bootstrap({0: [0.1], 1: [0.2]}, confidence=95)


def test_paired_differences():
    diffs = paired_differences({1: [3.0, 4.0], 2: [5.0]}, {2: np.array([1.0]), 1: [1.0, 1.5]})
    assert list(diffs) == [1, 2]
    np.testing.assert_allclose(diffs[1], [2.0, 2.5])
    np.testing.assert_allclose(diffs[2], [4.0])
    with pytest.raises(ValueError, match="same seeds"):
        paired_differences({1: [1.0]}, {2: [1.0]})
    with pytest.raises(ValueError, match="seed 1: model has 2 videos and reference 1"):
        paired_differences({1: [1.0, 2.0]}, {1: [1.0]})


@pytest.mark.parametrize(("interval", "direction", "expected"), [
    ((-0.5, -0.1), "lower", "reproduced"),
    ((-0.5, -0.1), "higher", "contradicted"),
    ((0.1, 0.5), "higher", "reproduced"),
    ((0.1, 0.5), "lower", "contradicted"),
    ((-0.1, 0.5), "lower", "inconclusive"),
    ((-0.1, 0.5), "higher", "inconclusive"),
    ((0.0, 0.5), "higher", "inconclusive"),  # touching 0 does not exclude it
    ({"lo": -2.0, "hi": -1.0}, "lower", "reproduced"),
])
def test_verdict(interval, direction, expected):
    assert verdict(interval, direction) == expected


def test_verdict_errors():
    with pytest.raises(ValueError, match="'lower' or 'higher'"):
        verdict((-1.0, -0.5), "better")
    with pytest.raises(ValueError, match="lo <= hi"):
        verdict((0.5, -0.5), "lower")
    with pytest.raises(ValueError, match="'lo' and 'hi'"):
        verdict({"low": 0.0}, "lower")


def test_late_early_l1_sees_errors_that_pile_up_along_the_video():
    from vid2vid.metrics.validity import late_early_l1

    g = torch.Generator().manual_seed(0)
    real = torch.rand(12, 3, 8, 8, generator=g) * 2 - 1
    steady = real + 0.1
    assert late_early_l1(steady, real) == pytest.approx(1.0)
    growing = real + 0.1 * torch.arange(1.0, 13.0).view(12, 1, 1, 1)  # error 0.1, 0.2, ..., 1.2
    assert late_early_l1(growing, real) == pytest.approx((0.8 + 1.2) / 2 / ((0.1 + 0.5) / 2))
    assert late_early_l1(growing, real, frames=1) == pytest.approx(12.0)
    assert math.isnan(late_early_l1(real, real))  # the real video against itself: undefined
    with pytest.raises(ValueError, match="at least 10 frames"):
        late_early_l1(real[:9], real[:9])
    with pytest.raises(ValueError, match="one shape"):
        late_early_l1(real, real[:10])
