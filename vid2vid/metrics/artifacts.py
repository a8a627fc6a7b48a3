"""What a person sees in a generated frame or a predicted field, as numbers.

- :func:`checkerboard_energy`: the mean absolute response to the 2x2 checkerboard filter
  ``[[1, -1], [-1, 1]] / 4``, the pattern a stride-2 upsampling leaves behind. Compare a generated
  video with the real one (a ratio near 1 means no more grid than the real frames have).
- :func:`endpoint_error`: the mean Euclidean distance between two flow fields (EPE).
- :func:`roc_auc`: how well a score (the occlusion mask) ranks positives (occluded pixels) above
  negatives: 0.5 is chance, 1 a perfect separation, whatever the threshold.

Frames are ``[..., 3, H, W]`` in ``[-1, 1]``; flows ``[..., 2, H, W]`` in pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["checkerboard_energy", "endpoint_error", "roc_auc"]

_CHECKER = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]) / 4


def checkerboard_energy(frames: torch.Tensor) -> float:
    """Mean ``|frames * [[1, -1], [-1, 1]] / 4|`` over every 2x2 window, channel and frame.

    A constant or a linear ramp gives 0; a one-pixel checkerboard of amplitude ``a`` gives ``a``.
    """
    if frames.dim() < 3:
        raise ValueError(f"frames must be [..., C, H, W], got {tuple(frames.shape)}")
    x = frames.detach().float().reshape(-1, 1, *frames.shape[-2:])
    k = _CHECKER.to(x.device)[None, None]
    return float(F.conv2d(x, k).abs().mean())


def endpoint_error(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Mean ``||pred - target||_2`` over pixels (``[..., 2, H, W]``), inside ``mask [..., 1 or -, H, W]``
    (true / > 0.5 = counted) when given; NaN when the mask is empty."""
    if pred.shape != target.shape or pred.shape[-3] != 2:
        raise ValueError(f"flows must be [..., 2, H, W] of one shape, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    err = (pred.float() - target.float()).norm(dim=-3)  # [..., H, W]
    if mask is None:
        return float(err.mean())
    m = mask.reshape(err.shape).float() > 0.5
    return float(err[m].mean()) if bool(m.any()) else float("nan")


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (any equal shapes).

    The Mann-Whitney form: the probability that a random positive scores above a random negative,
    ties counting one half. NaN when either class is empty.
    """
    s = scores.detach().reshape(-1).double()
    y = labels.detach().reshape(-1) > 0.5
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in size: {s.numel()} vs {y.numel()}")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = torch.argsort(s)
    sorted_s = s[order]
    ranks = torch.empty_like(s)
    ranks[order] = torch.arange(1, s.numel() + 1, dtype=torch.float64)
    # average the ranks of tied scores
    uniq, inverse, counts = torch.unique_consecutive(sorted_s, return_inverse=True, return_counts=True)
    if len(uniq) < s.numel():
        ends = torch.cumsum(counts, 0).double()
        mean_rank = ends - (counts.double() - 1) / 2
        ranks[order] = mean_rank[inverse]
    u = float(ranks[y].sum()) - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)
