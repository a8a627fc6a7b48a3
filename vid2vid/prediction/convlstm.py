"""The convolutional LSTM cell (Shi et al., NeurIPS 2015) that PredNet and MCNet both build on.

An LSTM whose gates are convolutions over the input and the previous hidden state, so the state
keeps its spatial layout::

    i, f, o, g = split(conv([x_t, h_{t-1}]))                # 4 * C_h channels
    c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
    h_t = sigmoid(o) * tanh(c_t)

No peephole connections (PredNet's and MCNet's code use none either).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ConvLSTMCell"]


class ConvLSTMCell(nn.Module):
    """One ConvLSTM layer: ``x [B, C_in, H, W]`` and state ``(h, c)`` (each ``[B, C_h, H, W]``, or None
    for zeros at the first step) -> new ``(h, c)``."""

    def __init__(self, c_in: int, c_hidden: int, kernel: int = 3):
        super().__init__()
        self.c_hidden = c_hidden
        self.gates = nn.Conv2d(c_in + c_hidden, 4 * c_hidden, kernel, padding=kernel // 2)
        with torch.no_grad():  # forget gate biased open: the usual LSTM start, the state is kept at first
            self.gates.bias.zero_()
            self.gates.bias[c_hidden:2 * c_hidden].fill_(1.0)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.c_hidden, *x.shape[-2:])
            state = (zeros, zeros)
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c.tanh(), c
