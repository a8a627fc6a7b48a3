"""The backward-warping convention: exact for integer shifts, equal to OpenCV's remap."""

import cv2
import numpy as np
import pytest
import torch

from vid2vid.flow import base_grid, flow_confidence, flow_to_color, warp


def test_integer_shift_is_exact_inside_the_frame():
    torch.manual_seed(0)
    prev = torch.rand(2, 3, 12, 16)
    flow = torch.zeros(2, 2, 12, 16)
    flow[:, 0] = 3  # every pixel of t came from 3 px to the right in t-1
    flow[:, 1] = -2  # ... and 2 px up
    out = warp(prev, flow)
    # out[y, x] = prev[y - 2, x + 3] wherever that source exists
    # float32 coordinate normalisation rounds at ~1e-7 of the width: exact to rounding
    torch.testing.assert_close(out[:, :, 2:, :-3], prev[:, :, :-2, 3:], rtol=0, atol=1e-5)
    out64 = warp(prev.double(), flow.double())
    torch.testing.assert_close(out64[:, :, 2:, :-3], prev.double()[:, :, :-2, 3:], rtol=0, atol=1e-12)


def test_zero_flow_is_identity():
    x = torch.rand(1, 4, 7, 9)
    torch.testing.assert_close(warp(x, torch.zeros(1, 2, 7, 9)), x, rtol=0, atol=1e-6)


def test_matches_opencv_remap_for_subpixel_flow():
    rng = np.random.default_rng(1)
    h, w = 20, 24
    img = rng.random((h, w, 3)).astype(np.float32)
    flow = rng.uniform(-4, 4, size=(h, w, 2)).astype(np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ref = cv2.remap(img, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    out = warp(torch.from_numpy(img).permute(2, 0, 1)[None],
               torch.from_numpy(flow).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    # OpenCV's remap stores interpolation weights in 1/32 steps: agreement to ~1/32 of the range.
    assert np.abs(out - ref).max() < 2e-2
    assert np.abs(out - ref).mean() < 5e-3


def test_warp_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="flow must be"):
        warp(torch.zeros(1, 3, 8, 8), torch.zeros(1, 2, 8, 9))
    with pytest.raises(ValueError, match="expects image"):
        warp(torch.zeros(3, 8, 8), torch.zeros(2, 8, 8))


def test_warp_is_differentiable_in_image_and_flow():
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    f = (torch.rand(1, 2, 8, 8) * 2 - 1).requires_grad_()
    warp(x, f).sum().backward()
    assert x.grad.abs().sum() > 0 and f.grad.abs().sum() > 0
    # every output is a convex combination of input pixels ("border" keeps the weights on the frame)
    torch.testing.assert_close(x.grad.sum(), torch.tensor(float(8 * 8 * 3)))
    # and the gradients are the true ones (bilinear sampling is smooth between integer positions)
    x64 = torch.rand(1, 2, 6, 7, dtype=torch.float64, requires_grad=True)
    f64 = (torch.rand(1, 2, 6, 7, dtype=torch.float64) * 3 - 1.5).requires_grad_()
    assert torch.autograd.gradcheck(warp, (x64, f64), eps=1e-6, atol=1e-5)
    # on a ramp image the output moves with the flow at the ramp's slope
    ramp = (base_grid(8, 8, dtype=torch.float64) * torch.tensor([0.5, -0.25]).view(1, 2, 1, 1)).sum(1, True)
    flow = torch.full((1, 2, 8, 8), 0.3, dtype=torch.float64, requires_grad=True)
    warp(ramp, flow)[..., 1:-2, 1:-2].sum().backward()
    inside = flow.grad[..., 1:-2, 1:-2]
    torch.testing.assert_close(inside[:, 0], torch.full_like(inside[:, 0], 0.5))
    torch.testing.assert_close(inside[:, 1], torch.full_like(inside[:, 1], -0.25))


def test_flow_to_color_zero_is_white_and_directions_differ():
    flow = np.zeros((4, 4, 2), np.float32)
    assert (flow_to_color(flow) == 255).all()
    flow[0, 0] = (1, 0)
    flow[0, 1] = (-1, 0)
    flow[0, 2] = (0, 1)
    col = flow_to_color(flow).astype(int)
    assert col.shape == (4, 4, 3) and col.dtype == np.int64
    assert np.abs(col[0, 0] - col[0, 1]).sum() > 100
    assert np.abs(col[0, 0] - col[0, 2]).sum() > 100
    # tensor layout [2, H, W] gives the same picture
    np.testing.assert_array_equal(flow_to_color(torch.from_numpy(flow).permute(2, 0, 1)), col)


def test_flow_confidence_marks_explained_pixels():
    prev = torch.rand(1, 3, 10, 10) * 2 - 1
    flow = torch.zeros(1, 2, 10, 10)
    flow[:, 0] = 1
    cur = warp(prev, flow)  # frame t: frame t-1 moved 1 px to the left
    cur[..., :5, :5] += 0.5  # a region the flow does not explain
    conf = flow_confidence(cur, prev, flow)
    assert conf.shape == (1, 1, 10, 10) and conf.dtype == cur.dtype
    expected = torch.ones(1, 1, 10, 10)
    expected[..., :5, :5] = 0
    torch.testing.assert_close(conf, expected, rtol=0, atol=0)
    # the flow is what explains them: against the unwarped frame t-1 hardly any pixel is explained
    assert flow_confidence(cur, prev, torch.zeros_like(flow)).mean() < 0.2


def test_flow_confidence_sums_the_squared_error_over_channels():
    # the reference code's test: sum_c (x_t - warp(x_{t-1}, w_t))^2 < 0.02. Per pixel (x, y) of an
    # explained frame t, add an error of known size on each of its 3 channels:
    #   squared error per channel  summed   averaged  max     confident (sum < 0.02)
    #   0.01, 0.01, 0.01           0.03     0.01      0.01    no  (a mean or a max would say yes)
    #   0.005, 0.005, 0.005        0.015    0.005     0.005   yes (an L2 norm, 0.12, would say no)
    #   0.0256, 0, 0               0.0256   0.0085    0.0256  no  (a mean would say yes)
    #   0.0144, 0, 0               0.0144   0.0048    0.0144  yes
    #   0, 0, 0                    0        0         0       yes
    errors = torch.tensor([[0.1, 0.1, 0.1], [0.005 ** 0.5] * 3, [0.16, 0, 0], [0.12, 0, 0], [0, 0, 0]])
    confident = torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0])
    prev = torch.rand(1, 3, 8, 10) * 1.6 - 0.8
    flow = torch.zeros(1, 2, 8, 10)
    flow[:, 0], flow[:, 1] = -2, 1  # integer: warp(prev, flow) is exact
    cur = warp(prev, flow)
    column = torch.arange(10) % len(errors)  # pixel (x, y) gets error row x % 5, signs alternating
    sign = torch.where(torch.arange(8)[:, None] % 2 == 0, 1.0, -1.0)
    cur = cur + errors[column].T[None, :, None, :] * sign
    conf = flow_confidence(cur, prev, flow)
    torch.testing.assert_close(conf[0, 0], confident[column].expand(8, 10), rtol=0, atol=0)
    # the threshold applies to the sum: 0.04 trusts the 0.03 pixels, 0.001 none of the wrong ones
    loose = flow_confidence(cur, prev, flow, threshold=0.04)
    assert bool((loose == 1).all())
    strict = flow_confidence(cur, prev, flow, threshold=0.001)
    torch.testing.assert_close(strict[0, 0], (column == 4).float().expand(8, 10), rtol=0, atol=0)


def test_compose_flows_equals_warping_twice_for_integer_shifts():
    from vid2vid.flow import compose_flows

    h = w = 16
    x = torch.rand(1, 3, h, w)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    # integer flows that vary over the frame (with uniform ones the order would not matter)
    f1 = torch.zeros(1, 2, h, w)
    f1[:, 0] = torch.where(ys < 8, 2.0, -1.0)
    f2 = torch.zeros(1, 2, h, w)
    f2[:, 1] = torch.where(xs < 9, 3.0, -2.0)
    f2[:, 0] = torch.where(ys < 5, 1.0, 0.0)
    # frame t-1 = warp(x, f2); frame t = warp(frame t-1, f1) == warp(x, compose(f1, f2))
    twice = warp(warp(x, f2), f1)
    once = warp(x, compose_flows(f1, f2))
    # where both hops stay inside the frame (outside, "border" clamps each hop differently)
    qx, qy = xs + f1[0, 0].long(), ys + f1[0, 1].long()
    inside = (qx >= 0) & (qx < w) & (qy >= 0) & (qy < h)
    qx, qy = qx.clamp(0, w - 1), qy.clamp(0, h - 1)
    rx, ry = qx + f2[0, 0, qy, qx].long(), qy + f2[0, 1, qy, qx].long()
    inside &= (rx >= 0) & (rx < w) & (ry >= 0) & (ry < h)
    assert inside.float().mean() > 0.5
    torch.testing.assert_close(once[..., inside], twice[..., inside], rtol=0, atol=1e-5)
    # the order matters: composing the other way round moves other pixels
    other = warp(x, compose_flows(f2, f1))
    assert (other[..., inside] - twice[..., inside]).abs().amax() > 0.1
