"""Sequential generation: ``x~_t = F(x~_{t-L}^{t-1}, s_{t-L}^t)`` rolled out over frames.

One module call generates a run of consecutive frames, feeding each output back as a previous
frame of the next. Training (truncated back-propagation: one call per chunk, the carried-over
frames detached between chunks) and inference (one call per frame, constant memory) both use it.
Wrapping the whole rollout in one ``forward`` also gives DistributedDataParallel exactly one
forward per backward.

Before the first frame of a sequence there are no labels: windows reaching back past frame 0
repeat frame 0's labels; and there is no previous output: ``prev=None`` makes G generate the
first frame from the labels alone (see :mod:`vid2vid.models.generator`).

With a feature encoder (``G.feat_nc`` > 0, multimodal synthesis) every label window comes with the
feature maps of the same frames: given (``features``, e.g. cluster centres) or encoded here from
the real frames (``real`` and their region keys ``regions``), inside this ``forward`` so that E's
parameters are part of the one forward that DistributedDataParallel expects per backward.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from vid2vid.models.generator import Generator, GeneratorOutput

__all__ = ["GeneratedFrames", "SequenceGenerator", "label_window", "stack_outputs"]


def label_window(labels: Tensor, t: int, n_prev: int) -> Tensor:
    """Labels of frames ``t-L..t`` from ``labels [B, T, C, H, W]``, frame 0 repeated before the start:
    ``[B, L+1, C, H, W]``."""
    return labels[:, _window_indices(t, n_prev)]


def _window_indices(t: int, n_prev: int, offset: int = 0) -> list[int]:
    """The frames of :func:`label_window` for frame ``t``, less ``offset`` (a tensor starting there)."""
    return [max(0, t - n_prev + k) - offset for k in range(n_prev + 1)]


class GeneratedFrames(NamedTuple):
    """G's outputs (:class:`~vid2vid.models.generator.GeneratorOutput`) for ``n`` consecutive frames,
    stacked along a new time axis 1: images ``[B, n, 3, H, W]``, masks ``[B, n, 1, H, W]``.

    A NamedTuple rather than a dataclass because it is what :class:`SequenceGenerator` returns:
    Accelerate's mixed-precision wrapper casts a model's outputs back to float32 by walking tuples,
    lists and dicts only (a dataclass would come back in half precision).
    """

    x: Tensor  # the composed frames x~_t
    h: Tensor  # the hallucinations (1 - m_B) * h_F + m_B * h_B
    h_B: Tensor  # background hallucinations
    m_B: Tensor  # background masks used (all ones without the fg prior)
    h_F: Tensor | None  # foreground hallucinations; None without the fg prior
    w: Tensor | None  # [B, n, 2, H, W] flows t -> t-1 in pixels; None without flow
    m: Tensor | None  # occlusion masks in (0, 1), 1 = hallucinate; None without flow
    warped: Tensor  # warp(x~_{t-1}, w), zeros where a frame had nothing to warp
    has_warped: Tensor  # [n] bool: the frame had a previous frame to warp (not a sequence's first)


def stack_outputs(outputs: list[GeneratorOutput]) -> GeneratedFrames:
    """Stack per-frame outputs along a new time axis 1 (see :class:`GeneratedFrames`); ``h_F``,
    ``w``, ``m`` are None unless every frame has them, and ``warped`` is zeros where a frame had
    nothing to warp (the first frame of a sequence)."""

    def optional(key: str) -> Tensor | None:
        """A branch's outputs stacked; None when the generator lacks the branch (fg prior, flow)."""
        vals = [getattr(o, key) for o in outputs]
        return torch.stack(vals, dim=1) if all(v is not None for v in vals) else None

    x, h, h_B, m_B = (torch.stack([getattr(o, k) for o in outputs], dim=1) for k in ("x", "h", "h_B", "m_B"))
    ref = outputs[0].x
    warped = torch.stack(
        [o.warped if o.warped is not None else torch.zeros_like(ref) for o in outputs], dim=1
    )
    has_warped = torch.tensor([o.warped is not None for o in outputs], device=ref.device)
    return GeneratedFrames(x=x, h=h, h_B=h_B, m_B=m_B, h_F=optional("h_F"), w=optional("w"),
                           m=optional("m"), warped=warped, has_warped=has_warped)


class SequenceGenerator(nn.Module):
    """Roll ``G`` out over frames ``start..stop-1`` of a label sequence."""

    def __init__(self, G: Generator):
        super().__init__()
        self.G = G

    def forward(
        self,
        labels: Tensor,
        m_B: Tensor | None = None,
        prev: Tensor | None = None,
        start: int = 0,
        stop: int | None = None,
        real: Tensor | None = None,
        regions: Tensor | None = None,
        features: Tensor | None = None,
    ) -> GeneratedFrames:
        """Generate frames ``start..stop-1``.

        Args:
            labels: ``[B, T, C_s, H, W]`` the semantic inputs of the whole window (frames before
                ``start`` give the label context).
            m_B: ``[B, T, 1, H, W]`` background masks, or None (G computes them from one-hot labels).
            prev: ``[B, L', 3, H, W]`` in ``[-1, 1]``: the outputs (or real frames) just before
                ``start``, oldest first; None when ``start`` is the first frame of a sequence.
            start, stop: the frames to generate (``stop`` defaults to ``T``).
            real, regions: with a feature encoder, the real frames ``[B, T, 3, H, W]`` in ``[-1, 1]``
                and their region keys ``int64 [B, T, 1, H, W]``: the features of frames
                ``start - L .. stop - 1`` are encoded from them (E gets gradients).
            features: with a feature encoder, instead: ``[B, T, feat_nc, H, W]`` given feature maps.

        Returns:
            :class:`GeneratedFrames`: the generated frames' outputs, time axis 1.
        """
        stop = labels.shape[1] if stop is None else stop
        if not 0 <= start < stop <= labels.shape[1]:
            raise ValueError(f"need 0 <= start < stop <= T = {labels.shape[1]}, "
                             f"got start={start}, stop={stop}")
        L = self.G.n_prev
        lo = 0  # the frame features[:, 0] belongs to
        if self.G.feat_nc and features is None:
            if real is None or regions is None:
                raise ValueError(f"the generator has a feature encoder (feat_nc = {self.G.feat_nc}): pass "
                                 "the real frames and their region keys (real, regions), or features")
            lo = max(0, start - L)
            features = self.G.encode_features(real[:, lo:stop], regions[:, lo:stop])  # [B, stop-lo, F, H, W]
        outputs: list[GeneratorOutput] = []
        for t in range(start, stop):
            f_t = None if features is None else features[:, _window_indices(t, L, lo)]
            out = self.G(label_window(labels, t, L), prev, None if m_B is None else m_B[:, t], f_t)
            outputs.append(out)
            new = out.x[:, None]
            if L == 0:  # a per-frame generator keeps no history
                prev = None
            else:
                prev = new if prev is None else torch.cat([prev, new], dim=1)[:, -L:]
        return stack_outputs(outputs)
