"""D_I and D_V: reference parameter counts, output shapes, real conditioning, clip sampling for D_V."""

import pytest
import torch

from vid2vid.flow import warp
from vid2vid.models.discriminators import (
    FLOW_SCALE,
    ImageDiscriminator,
    MultiscaleDiscriminator,
    PatchDiscriminator,
    VideoDiscriminator,
    clip_windows,
    sample_clips,
)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----------------------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_image_discriminator_has_the_reference_parameter_count_at_cityscapes(norm):
    # 35 label ids + 1 instance-edge channel, RGB, ndf 64, 3 layers, 2 scales: measured 5.61 M.
    d_i = ImageDiscriminator(label_channels=36, image_channels=3, ndf=64, n_layers=3, num_D=2, norm=norm)
    assert abs(n_params(d_i) - 5.61e6) / 5.61e6 < 0.01


def test_video_discriminator_has_the_reference_parameter_count_per_temporal_scale():
    d_v = VideoDiscriminator(n_frames=3, ndf=64, n_layers=3, num_D=2, n_temporal_scales=3)
    assert d_v.in_channels == 3 * 3 + 2 * 2 == 13
    assert len(d_v.scales) == 3
    for scale in d_v.scales:
        assert abs(n_params(scale) - 5.55e6) / 5.55e6 < 0.01
    assert n_params(d_v) == 3 * n_params(d_v.scales[0])


# ----------------------------------------------------------------------------- shapes and features


def test_patch_discriminator_returns_features_then_prediction_with_expected_shapes():
    d = PatchDiscriminator(in_channels=5, ndf=8, n_layers=3)
    out = d(torch.randn(2, 5, 32, 48))
    assert len(out) == 3 + 2
    # 4x4 convolutions padded by 2: stride 2 gives n/2 + 1, stride 1 gives n + 1.
    expected = [(8, 17, 25), (16, 9, 13), (32, 5, 7), (64, 6, 8), (1, 7, 9)]
    assert [tuple(t.shape) for t in out] == [(2,) + e for e in expected]


def test_channels_double_up_to_512_and_first_layer_has_no_norm():
    d = PatchDiscriminator(in_channels=3, ndf=128, n_layers=4, norm="instance")
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [128, 256, 512, 512, 512, 1]
    assert [c.stride[0] for c in convs] == [2, 2, 2, 2, 1, 1]
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in d.stages[0].modules())
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in d.modules()) == 4


def test_multiscale_pyramid_is_3x3_average_pooling_without_pads_finest_first():
    d = MultiscaleDiscriminator(in_channels=2, ndf=4, n_layers=2, num_D=3)
    seen = []
    for sub in d.discriminators:
        sub.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    x = torch.ones(1, 2, 20, 30)
    x[:, :, 0, 0] = 10.0
    out = d(x)
    assert len(out) == 3 and all(len(scale) == 2 + 2 for scale in out)
    assert [tuple(t.shape[2:]) for t in seen] == [(20, 30), (10, 15), (5, 8)]
    # Pads are not counted: away from the corner a constant image stays exactly constant.
    torch.testing.assert_close(seen[1][..., 1:, 1:], torch.ones(1, 2, 9, 14))
    # The corner window averages 2x2 real pixels: (10 + 1 + 1 + 1) / 4.
    torch.testing.assert_close(seen[1][0, :, 0, 0], torch.full((2,), 13 / 4))
    # Finest first: each scale's prediction map is smaller than the previous one.
    sizes = [scale[-1].shape[-1] for scale in out]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 3


def test_scales_have_separate_weights():
    d = MultiscaleDiscriminator(in_channels=3, ndf=4, n_layers=2, num_D=2)
    w0 = d.discriminators[0].stages[0][0].weight
    w1 = d.discriminators[1].stages[0][0].weight
    assert w0.data_ptr() != w1.data_ptr() and not torch.equal(w0, w1)


def test_image_discriminator_features_carry_gradients_for_feature_matching():
    torch.manual_seed(0)
    d_i = ImageDiscriminator(label_channels=4, ndf=8, n_layers=3, num_D=2)
    image = torch.randn(2, 3, 24, 24, requires_grad=True)
    out = d_i(image, torch.randn(2, 4, 24, 24))
    assert len(out) == 2 and all(len(scale) == 5 for scale in out)
    assert [t.shape[1] for t in out[0]] == [8, 16, 32, 64, 1]
    out[0][1].mean().backward()  # an intermediate feature, not the prediction
    assert image.grad is not None and image.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- conditioning


def test_image_discriminator_output_depends_on_the_label():
    torch.manual_seed(0)
    d_i = ImageDiscriminator(label_channels=4, ndf=8, n_layers=2, num_D=2)
    image = torch.rand(1, 3, 16, 16) * 2 - 1
    label_a = torch.zeros(1, 4, 16, 16)
    label_a[:, 0] = 1
    label_b = torch.zeros(1, 4, 16, 16)
    label_b[:, 2] = 1
    pred_a = d_i(image, label_a)
    pred_b = d_i(image, label_b)
    for scale_a, scale_b in zip(pred_a, pred_b, strict=True):
        assert (scale_a[-1] - scale_b[-1]).abs().max() > 1e-4


def test_image_discriminator_rejects_wrong_channels():
    d_i = ImageDiscriminator(label_channels=4, ndf=8, n_layers=2, num_D=1)
    with pytest.raises(ValueError, match="label channels"):
        d_i(torch.zeros(1, 3, 8, 8), torch.zeros(1, 5, 8, 8))
    with pytest.raises(ValueError, match="same B, H, W"):
        d_i(torch.zeros(1, 3, 8, 8), torch.zeros(1, 4, 8, 9))


def test_video_discriminator_output_depends_on_frame_order():
    torch.manual_seed(0)
    d_v = VideoDiscriminator(n_frames=3, ndf=8, n_layers=2, num_D=2, n_temporal_scales=1)
    frames = torch.rand(2, 3, 3, 16, 16) * 2 - 1
    flows = torch.randn(2, 2, 2, 16, 16)
    forward = d_v(frames, flows, temporal_scale=0)
    backward = d_v(frames.flip(1), flows, temporal_scale=0)
    for fwd, bwd in zip(forward, backward, strict=True):
        assert (fwd[-1] - bwd[-1]).abs().max() > 1e-4


def test_video_discriminator_sees_frames_then_flows_divided_by_20():
    d_v = VideoDiscriminator(n_frames=3, ndf=8, n_layers=2, num_D=1, n_temporal_scales=2)
    seen = []
    d_v.scales[1].discriminators[0].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    frames = torch.rand(1, 3, 3, 8, 8)
    flows = torch.randn(1, 2, 2, 8, 8) * 20
    d_v(frames, flows, temporal_scale=1)
    x = seen[0]
    assert x.shape == (1, 13, 8, 8)
    torch.testing.assert_close(x[:, :9], frames.reshape(1, 9, 8, 8))
    torch.testing.assert_close(x[:, 9:], flows.reshape(1, 4, 8, 8) / 20)
    assert FLOW_SCALE == 1 / 20


def test_video_discriminator_temporal_scales_are_separate_networks():
    torch.manual_seed(0)
    d_v = VideoDiscriminator(n_frames=3, ndf=8, n_layers=2, num_D=1, n_temporal_scales=2)
    frames, flows = torch.rand(1, 3, 3, 8, 8), torch.randn(1, 2, 2, 8, 8)
    assert not torch.allclose(d_v(frames, flows, 0)[0][-1], d_v(frames, flows, 1)[0][-1])
    with pytest.raises(ValueError, match="temporal_scale must be in 0..1"):
        d_v(frames, flows, 2)
    with pytest.raises(ValueError, match="flows"):
        d_v(frames, torch.zeros(1, 3, 2, 8, 8), 0)


# ----------------------------------------------------------------------------- sample_clips


def test_clip_windows_use_stride_k_to_the_s():
    assert clip_windows(5, 3, 0) == [[0, 1, 2], [1, 2, 3], [2, 3, 4]]
    assert clip_windows(9, 3, 1) == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert clip_windows(19, 3, 2) == [[0, 9, 18]]
    assert clip_windows(18, 3, 2) == []
    assert clip_windows(6, 2, 2) == [[0, 4], [1, 5]]


def test_sample_clips_returns_none_when_the_sequence_is_too_short():
    frames, flows = torch.zeros(1, 6, 3, 4, 4), torch.zeros(1, 6, 2, 4, 4)
    assert sample_clips(frames, flows, n_frames=3, temporal_scale=1) is None  # needs 7 frames
    frames, flows = torch.zeros(1, 7, 3, 4, 4), torch.zeros(1, 7, 2, 4, 4)
    clips, clip_flows = sample_clips(frames, flows, n_frames=3, temporal_scale=1)
    assert clips.shape == (1, 3, 3, 4, 4) and clip_flows.shape == (1, 2, 2, 4, 4)


def shifted_sequence(offsets, height=24, width=28, seed=0):
    """Frames whose content moves by integer offsets: frame_t(p) = base(p - o_t) (circular)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(3, height, width, generator=g) * 2 - 1
    frames = torch.stack([torch.roll(base, shifts=(oy, ox), dims=(1, 2)) for ox, oy in offsets])
    # Pixel p of frame t came from p + (o_{t-1} - o_t) in frame t-1.
    flows = torch.zeros(len(offsets), 2, height, width)
    for t in range(1, len(offsets)):
        flows[t, 0] = offsets[t - 1][0] - offsets[t][0]
        flows[t, 1] = offsets[t - 1][1] - offsets[t][1]
    return frames[None], flows[None]


def test_sample_clips_at_scale_1_takes_every_third_frame_and_chains_flows():
    # Different motion every frame, so that chaining is not the same as repeating one step.
    offsets = [(0, 0), (1, 0), (1, 1), (3, 1), (2, 2), (2, 4), (4, 3), (5, 3), (5, 5)]
    frames, flows = shifted_sequence(offsets)
    clips, clip_flows = sample_clips(frames, flows, n_frames=3, temporal_scale=1)
    windows = [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert clips.shape == (3, 3, 3, 24, 28) and clip_flows.shape == (3, 2, 2, 24, 28)
    for n, window in enumerate(windows):
        torch.testing.assert_close(clips[n], frames[0, window])
        for k in range(1, 3):
            t, t_prev = window[k], window[k - 1]
            dx = offsets[t_prev][0] - offsets[t][0]
            dy = offsets[t_prev][1] - offsets[t][1]
            torch.testing.assert_close(clip_flows[n, k - 1, 0], torch.full((24, 28), float(dx)))
            torch.testing.assert_close(clip_flows[n, k - 1, 1], torch.full((24, 28), float(dy)))
            # The chained flow warps the earlier sampled frame onto the later one (inside the frame).
            warped = warp(clips[n, k - 1][None], clip_flows[n, k - 1][None])[0]
            torch.testing.assert_close(warped[:, 6:-6, 6:-6], clips[n, k][:, 6:-6, 6:-6], rtol=0, atol=1e-5)


def test_chained_flow_follows_spatially_varying_flows_pixel_by_pixel():
    # Random integer flows of -1..1 pixels: chaining must follow each pixel's own path.
    g = torch.Generator().manual_seed(3)
    b, t, h, w = 2, 7, 16, 16
    flows = torch.randint(-1, 2, (b, t, 2, h, w), generator=g).float()
    frames = torch.zeros(b, t, 3, h, w)
    _, clip_flows = sample_clips(frames, flows, n_frames=3, temporal_scale=1)  # windows [0, 3, 6]
    assert clip_flows.shape == (b, 2, 2, h, w)
    for bi in range(b):
        for k, frame in enumerate([3, 6]):
            for y in range(3, h - 3):
                for x in range(3, w - 3):
                    px, py = x, y
                    for step in range(3):  # frame -> frame-1 -> frame-2 -> frame-3
                        f = flows[bi, frame - step, :, py, px]
                        px, py = px + int(f[0]), py + int(f[1])
                    # Integer positions: the bilinear warp is exact up to float rounding.
                    assert abs(clip_flows[bi, k, 0, y, x].item() - (px - x)) < 1e-4
                    assert abs(clip_flows[bi, k, 1, y, x].item() - (py - y)) < 1e-4


def test_sample_clips_scale_0_uses_the_flows_as_given_and_is_batch_major():
    g = torch.Generator().manual_seed(1)
    frames, flows = torch.randn(2, 4, 3, 5, 6, generator=g), torch.randn(2, 4, 2, 5, 6, generator=g)
    clips, clip_flows = sample_clips(frames, flows, n_frames=3, temporal_scale=0)
    assert clips.shape == (4, 3, 3, 5, 6)  # B = 2 sequences x N = 2 windows
    for b in range(2):
        for n, window in enumerate([[0, 1, 2], [1, 2, 3]]):
            torch.testing.assert_close(clips[b * 2 + n], frames[b, window])
            torch.testing.assert_close(clip_flows[b * 2 + n], flows[b, window[1:]])


def test_sample_clips_chosen_windows_line_up_real_and_fake():
    frames, flows = torch.randn(1, 9, 3, 4, 4), torch.randn(1, 9, 2, 4, 4)
    fake = torch.randn(1, 9, 3, 4, 4)
    real_clips, real_flows = sample_clips(frames, flows, 3, 1, windows=[[2, 5, 8]])
    fake_clips, fake_flows = sample_clips(fake, flows, 3, 1, windows=[[2, 5, 8]])
    assert real_clips.shape[0] == 1
    torch.testing.assert_close(real_clips[0], frames[0, [2, 5, 8]])
    torch.testing.assert_close(fake_clips[0], fake[0, [2, 5, 8]])
    torch.testing.assert_close(real_flows, fake_flows)
    with pytest.raises(ValueError, match="3 apart"):
        sample_clips(frames, flows, 3, 1, windows=[[0, 1, 2]])
