"""Temporal-consistency and per-frame metrics of generated videos.

The paper evaluates with video FID and human preference (section 5); these metrics measure
the properties its model is built for (flow warping, the occlusion mask, the foreground-background
split) directly, and work on the synthetic dataset's exact ground truth:

- :func:`warping_error`: ``mean |x_t - w_t(x_{t-1})|`` over non-occluded pixels (how well frame t
  follows frame t-1 along the motion);
- :func:`flicker`: mean frame-to-frame change where the scene is static;
- :func:`l1_error`, :func:`psnr`, :func:`foreground_error`: distance to the ground-truth video
  (everywhere, as PSNR, inside the foreground mask ``1 - m_B``);
- :func:`per_frame_fid`: image FID over all frames (appearance only).

Frames are ``[T, 3, H, W]`` or batched ``[B, T, 3, H, W]`` in ``[-1, 1]``; errors are in those
units (a mean absolute error of 2 is white against black). Per-pair inputs (flows, occlusion,
static masks) follow the repository's flow convention (:mod:`vid2vid.flow.warp`): entry ``t`` belongs to
the pair ``(t-1, t)``; give ``T`` entries (entry 0 is ignored, as in ``estimate_sequence`` and the
synthetic ``flow`` arrays) or ``T - 1`` entries (pairs 1..T-1).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch

from vid2vid.flow import DISFlow, FlowEstimator, warp
from vid2vid.metrics.frechet import frechet_distance_from_features

__all__ = ["warping_error", "flicker", "static_mask_from_flow", "l1_error", "psnr", "foreground_error",
           "per_frame_fid", "estimate_occlusion"]


def _sequences(frames: torch.Tensor, name: str = "frames", min_t: int = 1) -> torch.Tensor:
    """``[T, 3, H, W]`` or ``[B, T, 3, H, W]`` -> ``[B, T, 3, H, W]`` float."""
    if frames.dim() == 4:
        frames = frames[None]
    if frames.dim() != 5 or frames.shape[2] != 3:
        raise ValueError(f"{name} must be [T, 3, H, W] or [B, T, 3, H, W] in [-1, 1]; "
                         f"got {tuple(frames.shape)}")
    if frames.shape[1] < min_t:
        raise ValueError(f"{name} needs at least {min_t} frames; got {frames.shape[1]} "
                         f"({tuple(frames.shape)})")
    return frames.float()


def _per_pair(x: torch.Tensor | np.ndarray, b: int, t: int, h: int, w: int, channels: int, name: str
              ) -> torch.Tensor:
    """Per-pair data -> ``[B, T - 1, channels, H, W]`` for pairs ``(t-1, t)``, ``t = 1 .. T-1``.

    Accepts ``[n, (C,) H, W]`` or ``[B, n, (C,) H, W]`` with ``n = T`` (entry 0 dropped) or ``T - 1``;
    one-channel data may omit the channel axis; ``channels == 1`` data may also be a single ``[H, W]``
    map shared by all pairs.
    """
    x = torch.as_tensor(x)
    if channels == 1 and x.dim() == 2:  # one map for every pair
        x = x.expand(t - 1, h, w)
    if channels == 1 and x.dim() in (3, 4) and x.shape[-3] != 1 and tuple(x.shape[-2:]) == (h, w):
        x = x.unsqueeze(-3)  # [.., n, H, W] -> [.., n, 1, H, W]
    if x.dim() == 4:
        x = x[None]
    if x.dim() != 5 or x.shape[2] != channels or tuple(x.shape[3:]) != (h, w) or x.shape[0] not in (1, b):
        raise ValueError(f"{name} must be [T or T-1, {channels}, {h}, {w}] (or batched with B = {b}) to "
                         f"match {t} frames of {h}x{w}; got {tuple(x.shape)}")
    if x.shape[1] == t:
        x = x[:, 1:]
    elif x.shape[1] != t - 1:
        raise ValueError(f"{name} has {x.shape[1]} entries; expected {t} (entry 0 ignored) or {t - 1} "
                         f"(pairs t-1 -> t) for a sequence of {t} frames")
    return x.expand(b, *x.shape[1:])


def _masked_mean(err: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean of ``err`` over ``mask`` (both ``[..., H, W]``); NaN when the mask is empty."""
    count = mask.sum()
    return float((err * mask).sum() / count) if count > 0 else math.nan


def estimate_occlusion(frames: torch.Tensor, flows: torch.Tensor, estimator: FlowEstimator) -> torch.Tensor:
    """Occlusion of pairs ``(t-1, t)`` by the forward-backward check (Sundaram et al., ECCV 2010).

    Args:
        frames: ``[T, 3, H, W]`` in ``[-1, 1]``.
        flows: ``[T - 1, 2, H, W]`` backward flows ``t -> t-1`` of the pairs.
        estimator: computes the forward flows ``t-1 -> t`` (called as ``estimator(frame_prev, frame_t)``).

    Returns:
        ``bool [T - 1, H, W]``: true where following ``w_t`` to ``t-1`` and the forward flow back does
        not return to the start: ``|w + f(p + w)|^2 > 0.01 (|w|^2 + |f(p + w)|^2) + 0.5``.
    """
    n = frames.shape[0]
    forward = torch.cat([estimator(frames[s - 1:e - 1], frames[s:e])  # [T - 1, 2, H, W], 8 pairs per call
                         for s, e in ((s, min(s + 8, n)) for s in range(1, n, 8))])
    back = warp(forward.to(flows), flows)  # f(p + w(p)): the forward flow where pixel p came from
    mismatch = (flows + back).pow(2).sum(1)
    return mismatch > 0.01 * (flows.pow(2).sum(1) + back.pow(2).sum(1)) + 0.5


def warping_error(
    frames: torch.Tensor,
    flows: torch.Tensor | np.ndarray | None = None,
    occlusion: torch.Tensor | np.ndarray | None = None,
    estimator: FlowEstimator | None = None,
) -> float:
    """Mean ``|x_t - warp(x_{t-1}, w_t)|`` over non-occluded pixels and the pairs ``t = 1 .. T-1``.

    Args:
        frames: ``[T, 3, H, W]`` or ``[B, T, 3, H, W]`` in ``[-1, 1]`` (``T >= 2``).
        flows: backward flows ``t -> t-1`` in pixels, ``[T or T-1, 2, H, W]`` (or batched): e.g. the
            ground-truth flow of the real video the frames were generated for. ``None``: estimated
            on ``frames`` themselves with ``estimator`` (default OpenCV DIS, ``DISFlow("medium")``),
            which measures self-consistency: a video that is coherent along its *own* motion scores low.
        occlusion: pixels of frame t not visible in t-1 (true / > 0.5 = excluded), ``[T or T-1, H, W]``
            (or batched). ``None`` with given flows: nothing is excluded but pixels whose source
            ``p + w_t(p)`` lies outside frame t-1; ``None`` with estimated flows: also the pixels that
            fail the forward-backward check (:func:`estimate_occlusion`).

    Returns:
        The mean absolute error in ``[-1, 1]`` units (averaged over channels); NaN if no pixel counts.
    """
    x = _sequences(frames, min_t=2)
    b, t, _, h, w = x.shape
    occ = None
    if occlusion is not None:
        occ = _per_pair(occlusion, b, t, h, w, 1, "occlusion")[:, :, 0].float() > 0.5
    if flows is None:
        estimator = estimator or DISFlow("medium")
        w_t = torch.stack([estimator.estimate_sequence(seq)[1:].to(x) for seq in x])  # [B, T-1, 2, H, W]
        if occ is None:
            occ = torch.stack([estimate_occlusion(seq, w_t[i], estimator) for i, seq in enumerate(x)])
    else:
        w_t = _per_pair(flows, b, t, h, w, 2, "flows").to(x)
    if occ is None:
        occ = torch.zeros(b, t - 1, h, w, dtype=torch.bool)
    prev = x[:, :-1].reshape(-1, 3, h, w)
    flow = w_t.reshape(-1, 2, h, w)
    warped = warp(prev, flow).reshape(b, t - 1, 3, h, w)
    err = (x[:, 1:] - warped).abs().mean(dim=2)  # [B, T-1, H, W]
    # Pixels whose source lies outside frame t-1 entered the view: nothing to compare them with.
    ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    sx, sy = xs + w_t[:, :, 0], ys + w_t[:, :, 1]
    inside = (sx >= -1e-3) & (sx <= w - 1 + 1e-3) & (sy >= -1e-3) & (sy <= h - 1 + 1e-3)
    return _masked_mean(err, inside & ~occ.to(inside.device))


def static_mask_from_flow(flows: torch.Tensor | np.ndarray,
                          occlusion: torch.Tensor | np.ndarray | None = None,
                          threshold: float = 0.1) -> torch.Tensor:
    """Pixels static between ``t-1`` and ``t``: ground-truth flow below ``threshold`` pixels and not occluded.

    Args:
        flows: ``[n, 2, H, W]`` backward flows (any number of pairs ``n``).
        occlusion: ``[n, H, W]`` (true / > 0.5 = occluded) or ``None``.

    Returns:
        ``bool [n, H, W]``.
    """
    flows = torch.as_tensor(flows).float()
    if flows.dim() != 4 or flows.shape[1] != 2:
        raise ValueError(f"flows must be [n, 2, H, W]; got {tuple(flows.shape)}")
    static = flows.norm(dim=1) < threshold
    if occlusion is not None:
        occlusion = torch.as_tensor(occlusion)
        if occlusion.shape != static.shape:
            raise ValueError(f"occlusion must be {tuple(static.shape)} to match the flows; "
                             f"got {tuple(occlusion.shape)}")
        static &= ~(occlusion.float() > 0.5)
    return static


def flicker(
    frames: torch.Tensor,
    static_mask: torch.Tensor | np.ndarray | None = None,
    flows: torch.Tensor | np.ndarray | None = None,
    occlusion: torch.Tensor | np.ndarray | None = None,
    threshold: float = 0.1,
) -> float:
    """Mean ``|x_t - x_{t-1}|`` inside static regions: brightness or colour that changes where nothing moves.

    Args:
        frames: ``[T, 3, H, W]`` or ``[B, T, 3, H, W]`` in ``[-1, 1]`` (``T >= 2``).
        static_mask: where the scene is static (true / > 0.5): one ``[H, W]`` map for all pairs, or per
            pair ``[T or T-1, H, W]`` (or batched).
        flows, occlusion: used when ``static_mask`` is ``None``: static = ground-truth flow below
            ``threshold`` pixels and not occluded (:func:`static_mask_from_flow`).

    Returns:
        The mean absolute change in ``[-1, 1]`` units; 0 for a still video; NaN for an empty mask.
    """
    x = _sequences(frames, min_t=2)
    b, t, _, h, w = x.shape
    if static_mask is None:
        if flows is None:
            raise ValueError("flicker needs static_mask, or flows (and occlusion) to derive it")
        f = _per_pair(flows, b, t, h, w, 2, "flows").reshape(-1, 2, h, w)
        o = None if occlusion is None else _per_pair(occlusion, b, t, h, w, 1, "occlusion").reshape(-1, h, w)
        mask = static_mask_from_flow(f, o, threshold).reshape(b, t - 1, h, w)
    else:
        mask = _per_pair(static_mask, b, t, h, w, 1, "static_mask")[:, :, 0].float() > 0.5
    change = (x[:, 1:] - x[:, :-1]).abs().mean(dim=2)  # [B, T-1, H, W]
    return _masked_mean(change, mask.to(change.device))


def _pair_check(frames: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _sequences(frames, "frames"), _sequences(real, "real")
    if x.shape != y.shape:
        raise ValueError(f"frames {tuple(x.shape)} and real {tuple(y.shape)} must have the same shape")
    return x, y


def l1_error(frames: torch.Tensor, real: torch.Tensor) -> float:
    """Mean ``|x~ - x|`` to the ground truth (``[T, 3, H, W]`` or ``[B, T, 3, H, W]`` in ``[-1, 1]``)."""
    x, y = _pair_check(frames, real)
    return float((x - y).abs().mean())


def psnr(frames: torch.Tensor, real: torch.Tensor, max_db: float | None = None) -> float:
    """Mean over frames of ``10 log10(peak^2 / MSE)`` with ``peak = 2`` (the span of ``[-1, 1]``).

    Identical frames have infinite PSNR: the result is ``inf`` when any frame matches exactly, unless
    ``max_db`` caps each frame's value (e.g. 100).
    """
    x, y = _pair_check(frames, real)
    mse = (x - y).pow(2).mean(dim=(2, 3, 4)).double()  # [B, T]
    per_frame = 10 * torch.log10(4.0 / mse)  # +inf where mse == 0
    if max_db is not None:
        per_frame = per_frame.clamp(max=max_db)
    return float(per_frame.mean())


def foreground_error(frames: torch.Tensor, real: torch.Tensor, fg_mask: torch.Tensor | np.ndarray) -> float:
    """Mean ``|x~ - x|`` inside the ground-truth foreground mask ``1 - m_B`` (cars, people).

    Args:
        frames, real: ``[T, 3, H, W]`` or ``[B, T, 3, H, W]`` in ``[-1, 1]``.
        fg_mask: ``[T, H, W]`` / ``[T, 1, H, W]`` (or batched ``[B, T, ...]``), true / > 0.5 on the
            foreground.

    Returns:
        The mean over foreground pixels (averaged over channels); NaN when no pixel is foreground.
    """
    x, y = _pair_check(frames, real)
    b, t, _, h, w = x.shape
    m = torch.as_tensor(fg_mask)
    if m.dim() == 3:  # [T, H, W]
        m = m[:, None]
    elif m.dim() == 4 and m.shape[1] != 1:  # [B, T, H, W]
        m = m[:, :, None]
    if m.dim() == 4:
        m = m[None]
    if m.dim() != 5 or m.shape[0] not in (1, b) or tuple(m.shape[1:]) != (t, 1, h, w):
        raise ValueError(f"fg_mask must be [T, H, W] = [{t}, {h}, {w}] (or batched) to match the frames "
                         f"{tuple(x.shape)}; got {tuple(torch.as_tensor(fg_mask).shape)}")
    mask = (m.float() > 0.5).expand(b, t, 1, h, w)[:, :, 0]
    return _masked_mean((x - y).abs().mean(dim=2), mask.to(x.device))


def _frames_of(videos: torch.Tensor | Iterable[torch.Tensor]) -> Iterable[torch.Tensor]:
    """Frames ``[1, 3, H, W]`` of a video ``[T, 3, H, W]``, a batch ``[B, T, 3, H, W]`` or a list."""
    if isinstance(videos, torch.Tensor):
        videos = _sequences(videos, "videos")
    for v in videos:
        yield from _sequences(v, "video")[0].split(1)


def per_frame_fid(real: torch.Tensor | Iterable[torch.Tensor], fake: torch.Tensor | Iterable[torch.Tensor],
                  extractor: torch.nn.Module, batch_size: int = 32) -> dict:
    """Image FID over all frames of ``real`` and ``fake`` videos (appearance only; order ignored).

    Args:
        real, fake: a video ``[T, 3, H, W]``, a batch ``[B, T, 3, H, W]`` or a list of videos, in ``[-1, 1]``.
        extractor: an image feature network ``[N, 3, H, W] -> [N, D]`` with ``describe()``:
            :class:`vid2vid.metrics.features.InceptionImageFeatures` (Inception-v3 pool, real data), or
            ``StaticClipImageFeatures(get_feature_extractor("synthetic", weights=...))`` for the
            synthetic domain (the synthetic 3D CNN on still clips).

    Returns:
        ``{"fid", "n_real", "n_fake"}`` plus the extractor's ``describe()``.
    """

    def feats(videos) -> np.ndarray:
        out, batch = [], []
        for frame in _frames_of(videos):
            batch.append(frame)
            if len(batch) == batch_size:
                out.append(extractor(torch.cat(batch)).double().cpu())
                batch = []
        if batch:
            out.append(extractor(torch.cat(batch)).double().cpu())
        return torch.cat(out).numpy()

    a, b = feats(real), feats(fake)
    info = extractor.describe() if hasattr(extractor, "describe") else {"network": type(extractor).__name__}
    return {"fid": frechet_distance_from_features(a, b), "n_real": len(a), "n_fake": len(b), **info}
