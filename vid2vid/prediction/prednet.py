"""PredNet (Lotter, Kreiman and Cox, "Deep Predictive Coding Networks for Video Prediction and
Unsupervised Learning", ICLR 2017): the paper's first pixel-prediction baseline in Table 3, at CPU scale.

What is implemented (the paper's section 2 and its equations):

- ``L`` layers. Layer ``l`` holds a representation ``R_l`` (a :class:`ConvLSTMCell`), a prediction
  ``A^_l = ReLU(conv(R_l))`` (at the pixel layer the ReLU is capped at 1, the paper's SatLU), a
  target ``A_l`` (the frame at ``l = 0``; ``A_l = MaxPool(ReLU(conv(E_{l-1})))`` above) and an error
  ``E_l = [ReLU(A_l - A^_l), ReLU(A^_l - A_l)]`` (positive and negative parts on channels).
- Per time step, top-down first: ``R_l = ConvLSTM([E_l(t-1), Upsample(R_{l+1}(t))], R_l(t-1))``
  from the top layer down; then bottom-up: predictions, errors, next targets. The prediction of
  frame ``t`` is ``A^_0`` computed before ``x_t`` arrives.
- Loss: the paper's ``L_0`` variant (layer weights ``lambda_0 = 1``, others 0; time weight 0 at the
  first step, which has nothing to predict from): mean absolute error ``|A^_0 - x_t|``, i.e. the
  mean of ``E_0``.
- Multi-step prediction as in the paper's extrapolation experiment: after the ``K`` observed frames
  the prediction is fed back as the next input (so the pixel layer's error ``E_0`` is 0 there and
  the network runs on its own representations). The paper trains next-frame prediction first and
  then fine-tunes with the predictions fed back; to give every model of Table 3 one budget and one
  training loop, we train with them fed back from the start (one phase, the same loss on every frame
  after the first, observed or extrapolated).

Sizes. The KITTI model has 4 layers with ``A``/``R`` channels (3, 48, 96, 192), 3x3 convolutions,
128 x 160 frames, Adam lr 1e-3. Ours: :class:`PredNetConfig` (default 3 layers, (3, 16, 32)),
frames in ``[-1, 1]`` mapped to the paper's ``[0, 1]`` inside. Written from the paper, not from the
authors' Keras code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vid2vid.prediction.convlstm import ConvLSTMCell

__all__ = ["PredNetConfig", "PredNet"]


@dataclass
class PredNetConfig:
    """Sizes of :class:`PredNet`."""

    channels: list[int] = field(default_factory=lambda: [3, 16, 32])  # A_l / R_l channels per layer; [0] = 3
    kernel: int = 3  # every convolution's kernel size

    def __post_init__(self) -> None:
        self.channels = [int(c) for c in self.channels]
        if len(self.channels) < 1 or self.channels[0] != 3 or any(c < 1 for c in self.channels):
            raise ValueError(f"PredNetConfig.channels: expected [3, c_1, ...] with every c >= 1, "
                             f"found {self.channels}")

    def to_dict(self) -> dict:
        return asdict(self)


class PredNet(nn.Module):
    """PredNet (module docstring). ``forward(frames [B, T, 3, H, W] in [-1, 1], n_observed=K)`` ->
    predictions ``[B, T, 3, H, W]`` in ``[-1, 1]``: entry ``t`` is the prediction of frame ``t``
    made from frames ``< t`` (entry 0 from the zero state: the loss skips it); from ``t = K`` on the
    network sees its own predictions instead of the frames. H and W must be divisible by ``2^(L-1)``."""

    def __init__(self, cfg: PredNetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or PredNetConfig()
        ch, k = cfg.channels, cfg.kernel
        L = len(ch)
        self.R = nn.ModuleList([
            ConvLSTMCell(2 * ch[l] + (ch[l + 1] if l < L - 1 else 0), ch[l], k) for l in range(L)
        ])
        self.A_hat = nn.ModuleList([nn.Conv2d(ch[l], ch[l], k, padding=k // 2) for l in range(L)])
        self.A_next = nn.ModuleList([nn.Conv2d(2 * ch[l], ch[l + 1], k, padding=k // 2)
                                     for l in range(L - 1)])

    @property
    def n_layers(self) -> int:
        return len(self.cfg.channels)

    def step(self, x: Tensor | None, state: dict | None) -> tuple[Tensor, dict]:
        """One time step: the prediction ``A^_0`` of this frame (from the state alone), then the state
        updated with the frame ``x`` (``[B, 3, H, W]`` in ``[0, 1]``), or with the prediction itself when
        ``x`` is None (extrapolation: ``E_0 = 0``). Returns ``(prediction in [0, 1], state)``."""
        L, ch = self.n_layers, self.cfg.channels
        if state is None:  # R, c and E of every layer start at zero
            if x is None:
                raise ValueError("PredNet needs an observed frame at the first step")
            B, _, H, W = x.shape
            state = {"R": [None] * L,
                     "E": [x.new_zeros(B, 2 * ch[l], H // 2**l, W // 2**l) for l in range(L)]}
        R_new: list[tuple[Tensor, Tensor]] = [None] * L  # type: ignore[list-item]
        for l in reversed(range(L)):  # top-down: R_l(t) from E_l(t-1), R_l(t-1) and R_{l+1}(t)
            inp = state["E"][l]
            if l < L - 1:
                inp = torch.cat([inp, F.interpolate(R_new[l + 1][0], scale_factor=2, mode="nearest")], 1)
            R_new[l] = self.R[l](inp, state["R"][l])
        E: list[Tensor] = []
        pred = A = None
        for l in range(L):  # bottom-up: predictions, errors, the next layer's target
            a_hat = F.relu(self.A_hat[l](R_new[l][0]))
            if l == 0:
                pred = a_hat = a_hat.clamp(max=1.0)  # SatLU: pixels in [0, 1]
                A = pred if x is None else x
            E.append(torch.cat([F.relu(A - a_hat), F.relu(a_hat - A)], 1))
            if l < L - 1:
                A = F.max_pool2d(F.relu(self.A_next[l](E[l])), 2)
        return pred, {"R": R_new, "E": E}

    def forward(self, frames: Tensor, n_observed: int | None = None) -> Tensor:
        B, T, _, H, W = frames.shape
        factor = 2 ** (self.n_layers - 1)
        if H % factor or W % factor:
            raise ValueError(f"frame size {H} x {W} must be divisible by 2^(layers - 1) = {factor}")
        K = T if n_observed is None else n_observed
        if not 1 <= K <= T:
            raise ValueError(f"n_observed must be in 1..T = {T}, got {K}")
        x01 = (frames + 1) / 2
        state, preds = None, []
        for t in range(T):
            pred, state = self.step(x01[:, t] if t < K else None, state)
            preds.append(pred)
        return torch.stack(preds, 1) * 2 - 1

    def predict(self, past: Tensor, n_future: int) -> Tensor:
        """Frames ``[B, N, 3, H, W]`` after the observed ``past [B, K, 3, H, W]`` (``[-1, 1]``)."""
        K = past.shape[1]
        unseen = past[:, -1:].expand(-1, n_future, -1, -1, -1)  # never read: extrapolated
        return self(torch.cat([past, unseen], 1), n_observed=K)[:, K:]
