"""The backward-warping convention: exact for integer shifts, equal to OpenCV's remap."""

import cv2
import numpy as np
import pytest
import torch

from vid2vid.flow import flow_confidence, flow_to_color, warp


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
    cur = warp(prev, flow)
    cur[..., :5, :5] = -cur[..., :5, :5] + 0.5  # a region the flow does not explain
    conf = flow_confidence(cur, prev, flow)
    assert conf.shape == (1, 1, 10, 10)
    assert conf[..., 5:, 5:].min() == 1
    assert conf[..., :5, :5].mean() < 0.5


def test_compose_flows_equals_warping_twice_for_integer_shifts():
    from vid2vid.flow import compose_flows

    x = torch.rand(1, 3, 16, 16)
    f1 = torch.zeros(1, 2, 16, 16)
    f1[:, 0] = 2
    f2 = torch.zeros(1, 2, 16, 16)
    f2[:, 1] = 3
    # frame t-1 = warp(x, f2); frame t = warp(frame t-1, f1) == warp(x, compose(f1, f2))
    twice = warp(warp(x, f2), f1)
    once = warp(x, compose_flows(f1, f2))
    torch.testing.assert_close(once[..., :-3, :-2], twice[..., :-3, :-2], rtol=0, atol=1e-5)
