"""The composition of a frame from its parts (the paper's Section 3), as pure functions.

The paper's equation (section 3, the sequential generator with the foreground-background prior)::

    x~_t = (1 - m~_t) * w~_{t-1}(x~_{t-1}) + m~_t * h~_t,
    h~_t = (1 - m_{B,t}) * h~_{F,t} + m_{B,t} * h~_{B,t}

``w~_{t-1}(x~_{t-1})`` is the previous output warped by the flow ``w~_{t-1}`` predicted at step t
(backward, t -> t-1; :mod:`vid2vid.flow.warp`), ``m~_t`` the soft occlusion mask (1 = hallucinate,
0 = copy the warped pixel), ``m_{B,t}`` the background mask computed from the label map ``s_t``
(1 on background classes), ``h~_{F,t}`` the foreground hallucination (labels only) and ``h~_{B,t}``
the background hallucination.

The reference code composes differently: the foreground is never warped, only the background
mixes the warped frame and the hallucination (``variant="official"``)::

    x~_t = (1 - m_{B,t}) * h~_{F,t} + m_{B,t} * ((1 - m~_t) * w~_{t-1}(x~_{t-1}) + m~_t * h~_{B,t})

The two agree on background pixels and where ``m~_t = 1``; on foreground pixels the paper's form
still copies warped pixels where ``m~_t < 1``. ``compose(..., variant=...)`` offers both. (The reference
code's names: ``img_warp`` for the warped frame, ``weight`` for ``m~_t``, ``img_fg`` for ``h~_{F,t}``,
``img_raw`` for ``h~_{B,t}``, and ``mask`` for the foreground ``1 - m_{B,t}``.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["COMPOSITIONS", "compose", "hallucination", "background_mask", "background_mask_from_onehot"]

COMPOSITIONS = ("paper", "official")


def hallucination(h_B: Tensor, h_F: Tensor | None = None, m_B: Tensor | None = None) -> Tensor:
    """``h~_t = (1 - m_{B,t}) * h~_{F,t} + m_{B,t} * h~_{B,t}``: the hallucinated frame ``[B, 3, H, W]``
    in ``[-1, 1]``.

    Without a foreground branch (``h_F is None``) every pixel is background: ``h = h_B``.
    ``m_B`` is ``[B, 1, H, W]`` in ``[0, 1]`` (1 = background) and broadcasts over channels.
    """
    if h_F is None:
        return h_B
    if m_B is None:
        raise ValueError("hallucination: h_F was given without the background mask m_B")
    return (1 - m_B) * h_F + m_B * h_B


def compose(
    warped: Tensor | None,
    m: Tensor | None,
    h_B: Tensor,
    h_F: Tensor | None = None,
    m_B: Tensor | None = None,
    variant: str = "paper",
) -> Tensor:
    """Compose the output frame ``x~_t`` from its parts (the paper's equation, or the reference variant).

    Args:
        warped: ``[B, 3, H, W]`` in ``[-1, 1]``: the previous output warped to frame t by the
            predicted flow, ``w~_{t-1}(x~_{t-1})``. ``None`` when there is nothing to warp (the
            first frame, or the no-flow ablation): the result is then the hallucination alone,
            as if ``m = 1``.
        m: ``[B, 1, H, W]`` in ``(0, 1)``, occlusion mask ``m~_t`` (1 = hallucinate); ignored when
            ``warped`` is None.
        h_B: ``[B, 3, H, W]`` in ``[-1, 1]``, background hallucination ``h~_{B,t}`` (the whole
            hallucination when there is no foreground branch).
        h_F: ``[B, 3, H, W]`` in ``[-1, 1]`` or None, foreground hallucination ``h~_{F,t}``.
        m_B: ``[B, 1, H, W]`` in ``[0, 1]``, background mask ``m_{B,t}`` (1 = background); needed when
            ``h_F`` is given.
        variant: ``"paper"``: ``(1 - m) * warped + m * ((1 - m_B) * h_F + m_B * h_B)``;
            ``"official"``: ``(1 - m_B) * h_F + m_B * ((1 - m) * warped + m * h_B)``.

    Returns:
        ``[B, 3, H, W]``: a convex combination of ``[-1, 1]`` images, so also in ``[-1, 1]``.
    """
    if variant not in COMPOSITIONS:
        raise ValueError(f"composition variant must be one of {COMPOSITIONS}, got {variant!r}")
    if warped is None:
        return hallucination(h_B, h_F, m_B)
    if m is None:
        raise ValueError("compose: a warped frame was given without the occlusion mask m")
    if variant == "paper" or h_F is None:  # without h_F the two variants coincide
        return (1 - m) * warped + m * hallucination(h_B, h_F, m_B)
    if m_B is None:
        raise ValueError("compose: h_F was given without the background mask m_B")
    return (1 - m_B) * h_F + m_B * ((1 - m) * warped + m * h_B)


def background_mask(label_ids: Tensor, foreground_ids: Sequence[int]) -> Tensor:
    """``m_{B,t}`` from a label-id map: 1 where the class is background, 0 on ``foreground_ids``.

    Args:
        label_ids: ``[B, 1, H, W]`` (or ``[B, H, W]``) integer label ids of frame t.
        foreground_ids: the label ids that form the foreground (e.g. Cityscapes 24..33).

    Returns:
        ``[B, 1, H, W]`` float32 in ``{0, 1}``.
    """
    if label_ids.dim() == 3:
        label_ids = label_ids[:, None]
    if label_ids.dim() != 4 or label_ids.shape[1] != 1:
        raise ValueError(f"background_mask expects label ids [B, 1, H, W], got {tuple(label_ids.shape)}")
    if label_ids.is_floating_point():
        label_ids = label_ids.round().long()
    fg = torch.tensor(list(foreground_ids), dtype=label_ids.dtype, device=label_ids.device)
    return (~torch.isin(label_ids, fg)).float()


def background_mask_from_onehot(onehot: Tensor, foreground_ids: Sequence[int]) -> Tensor:
    """``m_{B,t}`` from a one-hot (or soft, e.g. downsampled) label map ``[B, C, H, W]``:
    ``1 - sum_{c in foreground_ids} onehot[:, c]``, clamped to ``[0, 1]``. Returns ``[B, 1, H, W]``.

    Extra channels after the label channels (the instance-edge map) are ignored.
    """
    if onehot.dim() != 4:
        raise ValueError(f"background_mask_from_onehot expects [B, C, H, W], got {tuple(onehot.shape)}")
    ids = list(foreground_ids)
    if ids and max(ids) >= onehot.shape[1]:
        raise ValueError(f"foreground id {max(ids)} is not a channel of the {onehot.shape[1]}-channel "
                         f"label map")
    if not ids:
        return onehot.new_ones(onehot.shape[0], 1, *onehot.shape[2:])
    fg = onehot[:, ids].sum(dim=1, keepdim=True)
    return (1 - fg).clamp(0, 1)
