"""Backward warping: the one flow convention of this repository.

Convention (used everywhere: synthetic data, datasets, estimators, the generator):

    A flow field is a *backward* flow ``t -> t-1`` in pixels. ``w[:, 0]`` is dx and ``w[:, 1]``
    is dy: pixel ``(x, y)`` of frame ``t`` came from position ``(x + dx, y + dy)`` of frame ``t-1``.

The paper names that flow after the frame it moves: ``w_{t-1}`` carries frame ``t-1`` onto frame
``t``. Sequences index it by the later frame: entry ``t`` of a flow array ``[T, 2, H, W]`` holds
``w_{t-1}``, and entry 0 is zero (there is no frame -1). A frame ``t`` is predicted from frame ``t-1``
by *sampling* ``t-1`` at ``p + w_{t-1}(p)``:

    w_{t-1}(x_{t-1})(p) = x_{t-1}(p + w_{t-1}(p))        in code: warp(x[t - 1], w[t])

Without a tilde ``w_{t-1}`` is the ground-truth flow; the generator's prediction at step ``t`` is
``w~_{t-1}``, and it warps the previous output: ``w~_{t-1}(x~_{t-1})``.

On disk (the ``_flow`` folders) a flow is ``float32 [H, W, 2]``; in tensors it is ``[B, 2, H, W]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["base_grid", "compose_flows", "flow_confidence", "warp"]

# Normalised sample positions are clamped to [-limit, limit] (frame = [-1, 1]): 512 frame widths
# out, far enough that clamping changes nothing for "zeros" / "border" padding.
_GRID_LIMIT = 1024.0


def base_grid(height: int, width: int, device=None, dtype=None) -> torch.Tensor:
    """Pixel coordinates ``[1, 2, H, W]``: channel 0 is x (column), channel 1 is y (row)."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=dtype),
        torch.arange(width, device=device, dtype=dtype),
        indexing="ij",
    )
    return torch.stack([xs, ys])[None]


def warp(
    image: torch.Tensor,
    flow: torch.Tensor,
    mode: str = "bilinear",
    padding_mode: str = "border",
) -> torch.Tensor:
    """Backward-warp ``image`` (frame t-1) with ``flow`` (``w_{t-1}``: t -> t-1) to align it with frame t.

    Args:
        image: ``[B, C, H, W]`` any range (frames in ``[-1, 1]``, masks in ``[0, 1]``, ...).
        flow: ``[B, 2, H, W]`` ``w_{t-1}`` in pixels, channel 0 = dx, channel 1 = dy.
        mode: ``"bilinear"``, ``"bicubic"`` or ``"nearest"`` (``grid_sample`` modes; bicubic can
            overshoot the input's range at edges).
        padding_mode: what samples outside frame t-1 read: ``"border"`` (nearest edge
            pixel, the default), ``"zeros"`` or ``"reflection"``.

    Returns:
        ``[B, C, H, W]``: ``out[..., y, x] = image[..., y + dy, x + dx]`` (interpolated).
        Exact for integer flows whose sources lie inside the frame.

    Non-finite flow. A NaN or Inf component is read as 0 (no displacement along that axis) and
    gets no gradient; sample positions are clamped far outside the frame (``_GRID_LIMIT``) so
    huge finite flows cannot overflow either. ``grid_sample`` must never see a non-finite grid:
    its output is undefined there and its CPU backward can crash the process (segfault) instead
    of raising. Data files are validated on reading (``read_flow``); this guards flows predicted
    by a diverging network, so one bad step cannot kill a training run. Finite flows are unchanged.
    """
    if image.dim() != 4 or flow.dim() != 4:
        raise ValueError(
            f"warp expects image [B, C, H, W] and flow [B, 2, H, W]; "
            f"got image {tuple(image.shape)} and flow {tuple(flow.shape)}"
        )
    if flow.shape[1] != 2 or flow.shape[0] != image.shape[0] or flow.shape[2:] != image.shape[2:]:
        raise ValueError(
            f"flow must be [B, 2, H, W] matching image [B, C, H, W]; "
            f"got image {tuple(image.shape)} and flow {tuple(flow.shape)}"
        )
    _, _, h, w = image.shape
    # nan_to_num's backward passes the gradient of finite entries only (zero for replaced ones).
    flow = torch.nan_to_num(flow, nan=0.0, posinf=0.0, neginf=0.0).to(image.dtype)
    pos = base_grid(h, w, device=image.device, dtype=image.dtype) + flow  # [B, 2, H, W] pixels
    # grid_sample with align_corners=True maps -1 to pixel 0 and +1 to pixel (size - 1).
    gx = pos[:, 0] * (2.0 / max(w - 1, 1)) - 1.0
    gy = pos[:, 1] * (2.0 / max(h - 1, 1)) - 1.0
    # Beyond +-_GRID_LIMIT every padding mode but "reflection" reads the same value, and float
    # overflow (a finite flow near 3e38 times 2 / (w - 1)) becomes impossible.
    grid = torch.stack([gx, gy], dim=-1).clamp(-_GRID_LIMIT, _GRID_LIMIT)  # [B, H, W, 2]
    return F.grid_sample(image, grid, mode=mode, padding_mode=padding_mode, align_corners=True)


def compose_flows(flow_t: torch.Tensor, flow_prev: torch.Tensor) -> torch.Tensor:
    """Chain two backward flows: ``w_{t-1}`` (``t -> t-1``) then ``w_{t-2}`` (``t-1 -> t-2``) gives
    the flow ``t -> t-2``.

    Pixel ``p`` of frame t came from ``q = p + w_{t-1}(p)`` in t-1, which came from
    ``q + w_{t-2}(q)`` in t-2, so the result is ``w_{t-1} + warp(w_{t-2}, w_{t-1})``.
    Used for the video discriminator's skipped-frame temporal scales.

    Args:
        flow_t: ``[B, 2, H, W]`` ``w_{t-1}``, the flow of frame t (to t-1), pixels.
        flow_prev: ``[B, 2, H, W]`` ``w_{t-2}``, the flow of frame t-1 (to t-2), pixels.
    """
    return flow_t + warp(flow_prev, flow_t)


def flow_confidence(
    frame_t: torch.Tensor, frame_prev: torch.Tensor, flow: torch.Tensor, threshold: float = 0.02
) -> torch.Tensor:
    """The confidence map ``c_t``, where a flow explains frame t:
    ``c_t = [sum_c (x_t - w_{t-1}(x_{t-1}))_c^2 < threshold]``.

    The training losses trust the ground-truth flow only on these pixels (flow, warp, temporal
    and mask losses). The map is the reference code's, not the paper's (the paper's flow loss counts
    every pixel): the form, the threshold 0.02 and the sum over the colour channels (not the mean,
    which would trust about 3x larger errors) follow it. The reference computes it on FlowNet2's flow,
    at a size rounded down to a multiple of 64 pixels and resized back (soft values at edges); here it
    is a 0/1 map at full size, on whatever flow is given (DIS, RAFT, or the synthetic data's exact flow).

    Args:
        frame_t, frame_prev: ``[B, C, H, W]`` frames ``x_t`` and ``x_{t-1}`` in ``[-1, 1]``.
        flow: ``[B, 2, H, W]`` ``w_{t-1}``, the backward flow ``t -> t-1`` in pixels.
        threshold: on the per-pixel squared error summed over channels, ``[-1, 1]`` range.

    Returns:
        ``[B, 1, H, W]`` float mask, 1 where the warped previous frame explains frame t.
    """
    err = (frame_t - warp(frame_prev, flow)).pow(2).sum(dim=1, keepdim=True)
    return (err < threshold).to(frame_t.dtype)
