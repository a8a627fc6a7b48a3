"""Temporal and per-frame metrics: warping error, flicker, L1 / PSNR / foreground error, per-frame FID."""

import math

import numpy as np
import pytest
import skimage.data
import torch

from vid2vid.data.synthetic import SyntheticConfig, generate_sequence
from vid2vid.metrics import (
    StaticClipImageFeatures,
    flicker,
    foreground_error,
    get_feature_extractor,
    l1_error,
    per_frame_fid,
    psnr,
    static_mask_from_flow,
    warping_error,
)

DX, DY = 2, -1  # frame t at (x, y) shows frame t-1 at (x + 2, y - 1)


def _panning_video(t: int = 6, h: int = 40, w: int = 56, dx: int = DX, dy: int = DY) -> torch.Tensor:
    """Crops of a photograph that move by an integer step per frame: ``[T, 3, H, W]`` in ``[-1, 1]``.

    ``x_t(p) = x_{t-1}(p + (dx, dy))``: the backward flow of every frame is exactly ``(dx, dy)``.
    """
    image = skimage.data.astronaut()  # uint8 [512, 512, 3]
    y0, x0 = 200, 100
    frames = [image[y0 + k * dy:y0 + k * dy + h, x0 + k * dx:x0 + k * dx + w] for k in range(t)]
    return torch.from_numpy(np.stack(frames).copy()).permute(0, 3, 1, 2).float() / 127.5 - 1


def _constant_flow(t: int, h: int, w: int, dx: float = DX, dy: float = DY) -> torch.Tensor:
    flow = torch.empty(t, 2, h, w)
    flow[:, 0], flow[:, 1] = dx, dy
    return flow


def test_warping_error_is_zero_for_an_exactly_warped_sequence_and_large_when_shuffled():
    video = _panning_video()
    flows = _constant_flow(*video.shape[:1], *video.shape[2:])
    exact = warping_error(video, flows)
    assert exact < 1e-6
    shuffled = warping_error(video[torch.tensor([0, 3, 1, 5, 2, 4])], flows)
    assert shuffled > 0.05 and shuffled > 1e4 * max(exact, 1e-9)


def test_warping_error_accepts_t_or_t_minus_1_flows_and_batches():
    video = _panning_video()
    t, _, h, w = video.shape
    flows = _constant_flow(t, h, w)
    noisy = (video + 0.1 * torch.randn_like(video)).clamp(-1, 1)
    a = warping_error(noisy, flows)
    assert a == pytest.approx(warping_error(noisy, flows[1:]))
    assert a == pytest.approx(warping_error(torch.stack([noisy, noisy]), flows))
    with pytest.raises(ValueError, match="expected 6 .* or 5"):
        warping_error(noisy, flows[:3])


def test_warping_error_ignores_occluded_pixels():
    video = _panning_video()
    t, _, h, w = video.shape
    flows = _constant_flow(t, h, w)
    damaged = video.clone()
    damaged[3, :, 10:20, 10:30] = 1.0  # a white box that no flow explains
    occlusion = torch.zeros(t, h, w, dtype=torch.bool)
    assert warping_error(damaged, flows) > 0.01
    occlusion[3, 10:20, 10:30] = True  # pair (2, 3): the box in frame 3
    occlusion[4, 11:21, 8:28] = True  # pair (3, 4): where frame 4 samples the box in frame 3
    assert warping_error(damaged, flows, occlusion) < 1e-6


def test_warping_error_with_estimated_dis_flow_prefers_coherent_video():
    video = _panning_video(t=5)
    coherent = warping_error(video)  # flows and occlusion estimated with DIS
    flickering = video * torch.tensor([1.0, 0.6, 1.0, 0.6, 1.0]).view(5, 1, 1, 1)
    assert coherent < 0.2 * (video[1:] - video[:-1]).abs().mean().item()
    assert warping_error(flickering) > 3 * coherent


def test_warping_error_on_synthetic_ground_truth():
    seq = generate_sequence([3, 9, 9], SyntheticConfig(height=32, width=64, frames=6))
    video = torch.from_numpy(seq.rgb).permute(0, 3, 1, 2).float() / 127.5 - 1
    flows = torch.from_numpy(seq.flow).permute(0, 3, 1, 2)
    occlusion = torch.from_numpy(seq.occlusion)
    real = warping_error(video, flows, occlusion)
    shuffled = warping_error(video[torch.tensor([0, 2, 4, 1, 5, 3])], flows, occlusion)
    assert real < 0.03 and shuffled > 3 * real


def test_flicker_is_zero_for_a_still_video_and_grows_with_noise():
    still = torch.rand(1, 3, 16, 24).expand(6, 3, 16, 24) * 2 - 1
    mask = torch.ones(16, 24, dtype=torch.bool)
    assert flicker(still, mask) == 0.0
    g = torch.Generator().manual_seed(0)
    values = [flicker((still + s * torch.randn(still.shape, generator=g)).clamp(-1, 1), mask)
              for s in (0.02, 0.05, 0.1)]
    assert 0 < values[0] < values[1] < values[2]


def test_flicker_counts_only_static_pixels():
    video = torch.zeros(4, 3, 8, 8)
    video[:, :, :, 4:] = torch.tensor([-1.0, 1.0, -1.0, 1.0]).view(4, 1, 1, 1)  # the right half blinks
    static = torch.zeros(8, 8, dtype=torch.bool)
    static[:, :4] = True
    assert flicker(video, static) == 0.0
    assert flicker(video, ~static) == pytest.approx(2.0)
    # From ground-truth flow: moving pixels (|w| >= 0.1) and occluded pixels are excluded.
    flows = torch.zeros(4, 2, 8, 8)
    flows[:, 0, :, 4:] = 1.5
    assert flicker(video, flows=flows) == 0.0
    occlusion = torch.zeros(4, 8, 8, dtype=torch.bool)
    occlusion[:, :, :4] = True
    assert math.isnan(flicker(video, flows=flows, occlusion=occlusion))  # nothing left to measure
    with pytest.raises(ValueError, match="static_mask, or flows"):
        flicker(video)


def test_static_mask_from_flow():
    flows = torch.zeros(2, 2, 4, 4)
    flows[0, 1, 0, 0] = 0.5
    occ = torch.zeros(2, 4, 4, dtype=torch.bool)
    occ[1, 3, 3] = True
    mask = static_mask_from_flow(flows, occ)
    assert mask.sum() == 32 - 2 and not mask[0, 0, 0] and not mask[1, 3, 3]


def test_l1_and_psnr_known_values():
    a = torch.rand(3, 3, 8, 8) * 1.6 - 0.8
    b = a + 0.1
    assert l1_error(b, a) == pytest.approx(0.1, rel=1e-5)
    assert psnr(b, a) == pytest.approx(10 * math.log10(4 / 0.01), rel=1e-5)  # 26.02 dB
    assert psnr(a, a) == math.inf
    assert psnr(a, a, max_db=100.0) == 100.0
    with pytest.raises(ValueError, match="same shape"):
        psnr(a, a[:2])


def test_foreground_error_ignores_background_pixels():
    real = torch.zeros(2, 3, 6, 6)
    fg = torch.zeros(2, 6, 6, dtype=torch.bool)
    fg[:, 2:4, 2:4] = True
    fake = real.clone()
    fake[:, :, 2:4, 2:4] = 0.5
    assert foreground_error(fake, real, fg) == pytest.approx(0.5)
    fake[:, :, 0, :] = -1.0  # background only
    assert foreground_error(fake, real, fg) == pytest.approx(0.5)
    assert foreground_error(fake, real, fg[:, None]) == pytest.approx(0.5)
    assert math.isnan(foreground_error(fake, real, torch.zeros(2, 6, 6)))
    with pytest.raises(ValueError, match="fg_mask"):
        foreground_error(fake, real, fg[0])


def test_per_frame_fid_is_zero_for_identical_frames_and_positive_otherwise():
    ext = StaticClipImageFeatures(get_feature_extractor("synthetic"))
    g = torch.Generator().manual_seed(0)
    real = [torch.rand(4, 3, 32, 64, generator=g) * 2 - 1 for _ in range(2)]
    same = per_frame_fid(real, [v.clone() for v in real], ext, batch_size=3)
    assert same["fid"] == pytest.approx(0.0, abs=1e-6) and same["n_real"] == 8
    assert same["network"] == "synthetic-3dcnn" and "still clips" in same["layer"]
    darker = [v * 0.5 - 0.3 for v in real]
    assert per_frame_fid(torch.stack(real), torch.stack(darker), ext)["fid"] > 1e-4
