"""Seeing flow: the standard colour wheel (Baker et al., Middlebury)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["color_wheel", "flow_to_color"]


def color_wheel() -> np.ndarray:
    """The Middlebury colour wheel: ``[55, 3]`` float RGB in ``[0, 1]``.

    Hue segments red-yellow (15), yellow-green (6), green-cyan (4), cyan-blue (11),
    blue-magenta (13), magenta-red (6): more entries where the eye discerns more hues.
    """
    segments = [(15, (1, 0, 0), (1, 1, 0)), (6, (1, 1, 0), (0, 1, 0)), (4, (0, 1, 0), (0, 1, 1)),
                (11, (0, 1, 1), (0, 0, 1)), (13, (0, 0, 1), (1, 0, 1)), (6, (1, 0, 1), (1, 0, 0))]
    rows = []
    for n, start, end in segments:
        a = np.arange(n)[:, None] / n
        rows.append((1 - a) * np.array(start) + a * np.array(end))
    return np.concatenate(rows).astype(np.float32)


def flow_to_color(flow: np.ndarray | torch.Tensor, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-code a flow field: hue = direction, saturation = magnitude.

    Args:
        flow: ``[H, W, 2]`` (disk layout) or ``[2, H, W]`` (tensor layout), pixels, dx then dy.
        max_magnitude: magnitude drawn fully saturated; defaults to this field's maximum,
            pass a fixed value to compare fields.

    Returns:
        ``uint8 [H, W, 3]`` RGB; zero flow is white.
    """
    if isinstance(flow, torch.Tensor):
        flow = flow.detach().cpu().float().numpy()
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim == 3 and flow.shape[0] == 2 and flow.shape[-1] != 2:
        flow = flow.transpose(1, 2, 0)
    if flow.ndim != 3 or flow.shape[-1] != 2:
        raise ValueError(f"flow_to_color expects [H, W, 2] or [2, H, W], got {flow.shape}")
    dx, dy = flow[..., 0], flow[..., 1]
    mag = np.sqrt(dx**2 + dy**2)
    scale = float(mag.max()) if max_magnitude is None else float(max_magnitude)
    rad = np.clip(mag / max(scale, 1e-8), 0, 1)
    wheel = color_wheel()
    n = len(wheel)
    # Angle of the motion direction, mapped onto the wheel (Middlebury: rightward red, leftward cyan).
    ang = np.arctan2(-dy, -dx) / np.pi  # [-1, 1]
    fk = (ang + 1) / 2 * (n - 1)
    k0 = np.floor(fk).astype(int)
    k1 = (k0 + 1) % n
    f = (fk - k0)[..., None]
    col = (1 - f) * wheel[k0] + f * wheel[k1]
    col = 1 - rad[..., None] * (1 - col)
    return (col * 255).round().astype(np.uint8)
