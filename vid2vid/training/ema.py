"""An exponential moving average of the generator's weights (used for sampling and evaluation)."""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["EMA"]


class EMA(nn.Module):
    """``shadow = decay * shadow + (1 - decay) * weights`` after every generator step.

    Buffers (e.g. batch-norm statistics) are copied, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        src = dict(model.named_parameters())
        for name, p in self.shadow.named_parameters():
            p.lerp_(src[name].detach().to(p.dtype), 1.0 - self.decay)
        src_b = dict(model.named_buffers())
        for name, b in self.shadow.named_buffers():
            b.copy_(src_b[name])

    def forward(self, *args, **kwargs):
        return self.shadow(*args, **kwargs)
