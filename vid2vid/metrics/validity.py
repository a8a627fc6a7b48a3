"""Checks that a temporal-consistency "win" is real and not bought with blur or lost appearance.

A generator that outputs blurry or washed-out frames has a low warping error for free: there is
little texture left to be inconsistent. These measures separate the two:

- :func:`sharpness_ratio`: spatial gradient energy of generated frames over that of real frames
  (1 = as sharp as real, below 1 = blurrier);
- :func:`low_frequency_warping_error`: the warping error of :func:`vid2vid.metrics.temporal.warping_error`
  with the signed residual averaged over ``block x block`` tiles first: colour and brightness flicker
  along the motion, blind to zero-mean high-frequency noise;
- :func:`excess`: the excess warping error, a model's error minus that of the real video on the
  same flows (real videos have a nonzero error too: interpolation, occlusion edges, lighting);
- :func:`temporal_win_is_valid`: the rule applied to a model that beats its reference on a temporal
  metric;
- :func:`late_early_l1`: whether a video's last frames are as close to the real ones as its first
  (a recurrent generator's errors can pile up along the rollout).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from vid2vid.flow import warp
from vid2vid.metrics.temporal import _per_pair, _sequences

__all__ = ["directional_energy", "gradient_energy", "sharpness_ratio", "streak_ratio",
           "low_frequency_warping_error", "excess", "temporal_win_is_valid", "late_early_l1", "DRIFT_FRAMES"]

DRIFT_FRAMES = 5  # frames at each end of a video that :func:`late_early_l1` compares


def directional_energy(frames: torch.Tensor, name: str = "frames") -> tuple[float, float]:
    """``(across x, across y)``: the mean of ``(x[.., y, x+1] - x[.., y, x])^2`` and of
    ``(x[.., y+1, x] - x[.., y, x])^2`` over frames ``[T, 3, H, W]`` / ``[B, T, 3, H, W]`` (each
    averaged over its own pixels, channels and frames), in squared ``[-1, 1]`` units."""
    x = _sequences(frames, name).double()
    if x.shape[-1] < 2 or x.shape[-2] < 2:
        raise ValueError(f"{name} must be at least 2x2 pixels for spatial differences; got {tuple(x.shape)}")
    dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()
    dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean()
    return float(dx), float(dy)


def gradient_energy(frames: torch.Tensor) -> float:
    """Mean squared finite difference of frames ``[T, 3, H, W]`` / ``[B, T, 3, H, W]``: the mean of
    the two :func:`directional_energy` terms, in squared ``[-1, 1]`` units."""
    return 0.5 * sum(directional_energy(frames))


def streak_ratio(fake: torch.Tensor, real: torch.Tensor) -> float:
    """How much more of its detail ``fake`` has lost across x than across y, relative to ``real``:
    ``(E_y / E_x)_fake / (E_y / E_x)_real`` with :func:`directional_energy`. 1: the real balance;
    above 1: smeared along x (horizontal streaks, as recursive bilinear warping along a camera pan
    leaves them); below 1: along y."""
    fx, fy = directional_energy(fake, "fake")
    rx, ry = directional_energy(real, "real")
    if min(fx, rx, ry) == 0:
        raise ValueError("flat frames (zero gradient energy across x or y): a streak ratio is undefined")
    return (fy / fx) / (ry / rx)


def late_early_l1(fake: torch.Tensor, real: torch.Tensor, frames: int = DRIFT_FRAMES) -> float:
    """Mean ``|fake - real|`` over a video's last ``frames`` frames over that of its first ``frames``
    (videos ``[T, 3, H, W]``, ``T >= 2 * frames`` so that the two ends do not overlap). 1: the end of
    the video is as good as its start; above 1: the quality drifts down along the video. A per-frame
    model sets the level the content alone gives (new objects entering, the camera's pan). NaN when
    the first frames equal the real ones exactly (the real video against itself)."""
    if fake.dim() != 4 or fake.shape != real.shape:
        raise ValueError(f"fake and real must be one video [T, 3, H, W] each, of one shape; got "
                         f"{tuple(fake.shape)} and {tuple(real.shape)}")
    if frames < 1 or fake.shape[0] < 2 * frames:
        raise ValueError(f"a late / early L1 over {frames} frames at each end needs at least {2 * frames} "
                         f"frames; the video has {fake.shape[0]}")
    err = (fake.double() - real.double()).abs().flatten(1).mean(1)
    early = float(err[:frames].mean())
    if early == 0:
        return math.nan
    return float(err[-frames:].mean()) / early


def sharpness_ratio(fake: torch.Tensor, real: torch.Tensor) -> float:
    """:func:`gradient_energy` of ``fake`` over that of ``real`` (frames in ``[-1, 1]`` of one size ``H x W``;
    frame and video counts may differ). 1: as sharp as real; a box blur gives well below 1; noise above 1."""
    f, r = _sequences(fake, "fake"), _sequences(real, "real")
    if f.shape[-2:] != r.shape[-2:]:
        raise ValueError(f"fake and real frames must have one size to compare sharpness; got "
                         f"{tuple(f.shape[-2:])} and {tuple(r.shape[-2:])}")
    reference = gradient_energy(r)
    if reference == 0:
        raise ValueError("real frames are flat (zero gradient energy): a relative sharpness is undefined")
    return gradient_energy(f) / reference


def _tile_sums(x: torch.Tensor, block: int) -> torch.Tensor:
    """Sums of ``[N, C, H, W]`` over non-overlapping ``block x block`` tiles (edge tiles may be smaller)."""
    h, w = x.shape[-2:]
    x = F.pad(x, (0, (-w) % block, 0, (-h) % block))
    n, c, hp, wp = x.shape
    return x.reshape(n, c, hp // block, block, wp // block, block).sum(dim=(3, 5))


def low_frequency_warping_error(
    frames: torch.Tensor,
    flows: torch.Tensor | np.ndarray,
    valid: torch.Tensor | np.ndarray | None = None,
    block: int = 8,
) -> float:
    """Mean ``|tile mean of (x_t - warp(x_{t-1}, w_t))|`` over ``block x block`` tiles, channels and pairs.

    Conventions as :func:`vid2vid.metrics.temporal.warping_error` (frames, flows, pair entries, the
    backward warp, pixels whose source lies outside frame t-1 excluded). The residual is signed and
    kept per channel, averaged over the valid pixels of each tile (tiles without one are ignored),
    then its absolute value is averaged. A brightness or colour change of ``c`` along the motion
    scores ``|c|``; noise that averages to zero over a tile scores about 0 (the pixel warping
    error counts both).

    Args:
        frames: ``[T, 3, H, W]`` or ``[B, T, 3, H, W]`` in ``[-1, 1]`` (``T >= 2``).
        flows: backward flows ``t -> t-1`` in pixels, ``[T or T-1, 2, H, W]`` (or batched).
        valid: pixels of frame t that count (true / > 0.5), one ``[H, W]`` map or ``[T or T-1, H, W]``
            (or batched); ``None``: all (but those entering the view).
        block: tile side in pixels (edge tiles are cut by the frame border).

    Returns:
        The error in ``[-1, 1]`` units; NaN if no tile has a valid pixel.
    """
    if block < 1:
        raise ValueError(f"block must be >= 1 pixel; got {block}")
    x = _sequences(frames, min_t=2)
    b, t, _, h, w = x.shape
    w_t = _per_pair(flows, b, t, h, w, 2, "flows").to(x)
    mask = torch.ones(b, t - 1, h, w, dtype=torch.bool)
    if valid is not None:
        mask = _per_pair(valid, b, t, h, w, 1, "valid")[:, :, 0].float() > 0.5
    ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    sx, sy = xs + w_t[:, :, 0], ys + w_t[:, :, 1]
    inside = (sx >= -1e-3) & (sx <= w - 1 + 1e-3) & (sy >= -1e-3) & (sy <= h - 1 + 1e-3)
    mask = (mask.to(inside.device) & inside).reshape(-1, 1, h, w).to(x.dtype)
    warped = warp(x[:, :-1].reshape(-1, 3, h, w), w_t.reshape(-1, 2, h, w))
    residual = x[:, 1:].reshape(-1, 3, h, w) - warped  # signed, per channel
    sums = _tile_sums((residual * mask).double(), block)  # [N, 3, h', w']
    counts = _tile_sums(mask.double(), block)  # [N, 1, h', w']
    used = (counts > 0).expand_as(sums)
    if not used.any():
        return math.nan
    means = sums / counts.clamp(min=1)
    return float(means.abs()[used].mean())


def excess(value: float, real_value: float) -> float:
    """The excess warping error: ``value - real_value``, a model's (low-frequency) warping error minus that
    of the real video on the same flows and masks. 0: as consistent as real footage; below 0 is possible
    (e.g. a frozen or blurred video) and is what :func:`temporal_win_is_valid` guards against."""
    return float(value) - float(real_value)


def temporal_win_is_valid(
    sharpness_ratio: float,
    per_frame_fid: float,
    reference_per_frame_fid: float,
    min_sharpness: float = 0.8,
) -> tuple[bool, str]:
    """Whether a model's lower temporal error than its reference's may be counted as a win.

    Invalid when the model is much blurrier than real (``sharpness_ratio < min_sharpness``, see
    :func:`sharpness_ratio`) or its per-frame FID is worse (higher) than the reference model's
    (appearance was traded for consistency).

    Returns:
        ``(valid, reason)``; the reason names every failed condition, or both passed ones.
    """
    values = {"sharpness_ratio": sharpness_ratio, "per_frame_fid": per_frame_fid,
              "reference_per_frame_fid": reference_per_frame_fid, "min_sharpness": min_sharpness}
    for name, v in values.items():
        try:
            finite = not isinstance(v, str | bytes) and math.isfinite(float(v))
        except (TypeError, ValueError):
            finite = False
        if not finite:
            raise ValueError(f"{name} must be a finite number; got {v!r}")
    sharpness_ratio, per_frame_fid = float(sharpness_ratio), float(per_frame_fid)
    reference_per_frame_fid, min_sharpness = float(reference_per_frame_fid), float(min_sharpness)
    failed = []
    if sharpness_ratio < min_sharpness:
        failed.append(f"blurrier than real: sharpness ratio {sharpness_ratio:.3g} < {min_sharpness:.3g}")
    if per_frame_fid > reference_per_frame_fid:
        failed.append(f"worse appearance: per-frame FID {per_frame_fid:.4g} > reference "
                      f"{reference_per_frame_fid:.4g}")
    if failed:
        return False, "invalid: " + "; ".join(failed)
    return True, (f"valid: sharpness ratio {sharpness_ratio:.3g} >= {min_sharpness:.3g} and per-frame FID "
                  f"{per_frame_fid:.4g} <= reference {reference_per_frame_fid:.4g}")
