"""MCNet (Villegas, Yang, Hong, Lin and Lee, "Decomposing Motion and Content for Natural Video
Sequence Prediction", ICLR 2017): the paper's second pixel-prediction baseline in Table 3, at CPU scale.

What is implemented (the paper's section 3 and figure 1):

- a **motion encoder** ``f_dyn``: a ConvLSTM over frame differences ``x_t - x_{t-1}`` after a small
  convolution stack (the paper: 5x5 64, pool, 5x5 128, pool, 7x7 256, then a 3x3 ConvLSTM of 256);
- a **content encoder** ``f_cont``: a VGG-like stack (3x3 convolutions, max pooling) over the last
  frame ``x_t`` alone;
- **combination layers** ``f_comb``: three convolutions on the concatenated motion and content
  features at the coarsest scale;
- **residual connections** ``f_res``: at every scale the motion and content features are
  concatenated, passed through two convolutions and added to the decoder at that scale;
- a **decoder** ``f_dec`` mirroring the content encoder (upsampling + convolutions), ``tanh`` output:
  the next frame ``x^_{t+1}`` in ``[-1, 1]``.
- **Multi-step prediction** as in the paper: the prediction is fed back, its difference to the
  previous frame into the motion encoder's LSTM and the frame itself into the content encoder; the
  loss covers every predicted frame (back-propagation through the roll-out).
- **Loss**: the paper's image loss ``L_img = L_2 + L_gdl`` (mean squared error plus the
  gradient-difference loss with exponent 1, weight 1). The paper adds an adversarial term
  (``beta L_GAN`` with a frame discriminator); we drop it, to keep the baselines' training as short
  and stable as a CPU budget of a few thousand steps allows. Expect sharper but no more accurate
  frames from the original: the GAN term trades blur for texture, it does not add information about
  the future. Ours is the paper's "MCnet + RES" trained with ``L_img`` alone.

Sizes. The paper's network is VGG16-wide (64-128-256, three poolings) on 128 x 128 (KTH) or
240 x 320 (UCF-101) frames, Adam lr 1e-4. Ours: :class:`MCNetConfig` (default widths 16-32-64, two
poolings). Written from the paper, not from the authors' TensorFlow code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vid2vid.prediction.convlstm import ConvLSTMCell

__all__ = ["MCNetConfig", "MCNet", "gradient_difference_loss"]


@dataclass
class MCNetConfig:
    """Sizes of :class:`MCNet`."""

    widths: list[int] = field(default_factory=lambda: [8, 16, 32])  # channels per scale; len - 1 poolings

    def __post_init__(self) -> None:
        self.widths = [int(c) for c in self.widths]
        if len(self.widths) < 2 or any(c < 1 for c in self.widths):
            raise ValueError(f"MCNetConfig.widths: expected at least 2 positive widths, found {self.widths}")

    def to_dict(self) -> dict:
        return asdict(self)


def _conv(c_in: int, c_out: int, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2), nn.ReLU(inplace=True))


class MCNet(nn.Module):
    """MCNet (module docstring). ``forward(frames [B, T, 3, H, W] in [-1, 1], n_observed=K)`` ->
    predictions ``[B, T - K, 3, H, W]`` of frames ``K..T-1``, each from the frames before it (the
    observed ones, then its own predictions). H and W must be divisible by ``2^(len(widths) - 1)``."""

    def __init__(self, cfg: MCNetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or MCNetConfig()
        w = cfg.widths
        S = len(w)
        # motion encoder: 5x5 convolutions at the first scales, 7x7 at the coarsest, then the ConvLSTM
        self.motion = nn.ModuleList([_conv(3 if s == 0 else w[s - 1], w[s], 7 if s == S - 1 else 5)
                                     for s in range(S)])
        self.motion_lstm = ConvLSTMCell(w[-1], w[-1], 3)
        # content encoder: two 3x3 convolutions per scale (VGG blocks)
        self.content = nn.ModuleList([nn.Sequential(_conv(3 if s == 0 else w[s - 1], w[s]), _conv(w[s], w[s]))
                                      for s in range(S)])
        self.combine = nn.Sequential(_conv(2 * w[-1], w[-1]), _conv(w[-1], w[-1]), _conv(w[-1], w[-1]))
        self.residual = nn.ModuleList([
            nn.Sequential(_conv(2 * w[s], w[s]), nn.Conv2d(w[s], w[s], 3, padding=1)) for s in range(S)
        ])
        # decoder: at scale s, add the residual, convolve, upsample to scale s - 1 (halving the width)
        self.decode = nn.ModuleList([_conv(w[s], w[s - 1] if s > 0 else w[0]) for s in range(S)])
        self.out = nn.Conv2d(w[0], 3, 3, padding=1)

    @property
    def n_scales(self) -> int:
        return len(self.cfg.widths)

    def _encode_motion(self, diff: Tensor, state):
        feats = _pyramid(self.motion, diff)
        state = self.motion_lstm(feats[-1], state)
        feats[-1] = state[0]  # the coarsest motion feature is the LSTM's output
        return feats, state

    def _encode_content(self, frame: Tensor) -> list[Tensor]:
        return _pyramid(self.content, frame)

    def _decode(self, motion: list[Tensor], content: list[Tensor]) -> Tensor:
        x = self.combine(torch.cat([motion[-1], content[-1]], 1))
        for s in reversed(range(self.n_scales)):
            x = x + self.residual[s](torch.cat([motion[s], content[s]], 1))
            x = self.decode[s](x)
            if s > 0:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.out(x).tanh()

    def forward(self, frames: Tensor, n_observed: int) -> Tensor:
        B, T, _, H, W = frames.shape
        factor = 2 ** (self.n_scales - 1)
        if H % factor or W % factor:
            raise ValueError(f"frame size {H} x {W} must be divisible by 2^(scales - 1) = {factor}")
        K = n_observed
        if not 2 <= K < T:
            raise ValueError(f"MCNet needs 2 <= n_observed < T = {T} (one frame difference at least), "
                             f"got {K}")
        state, motion = None, None
        for t in range(1, K):  # the observed motion
            motion, state = self._encode_motion(frames[:, t] - frames[:, t - 1], state)
        last, preds = frames[:, K - 1], []
        for _ in range(K, T):
            pred = self._decode(motion, self._encode_content(last))
            preds.append(pred)
            motion, state = self._encode_motion(pred - last, state)
            last = pred
        return torch.stack(preds, 1)

    def predict(self, past: Tensor, n_future: int) -> Tensor:
        """Frames ``[B, N, 3, H, W]`` after the observed ``past [B, K, 3, H, W]`` (``[-1, 1]``)."""
        K = past.shape[1]
        unseen = past[:, -1:].expand(-1, n_future, -1, -1, -1)  # never read
        return self(torch.cat([past, unseen], 1), n_observed=K)


def gradient_difference_loss(pred: Tensor, target: Tensor) -> Tensor:
    """MCNet's (and Mathieu et al.'s) gradient-difference loss with exponent 1 on ``[.., 3, H, W]``:
    ``| |d_x y| - |d_x y^| | + | |d_y y| - |d_y y^| |``, averaged."""
    def grads(x: Tensor) -> tuple[Tensor, Tensor]:
        return (x[..., :, 1:] - x[..., :, :-1]).abs(), (x[..., 1:, :] - x[..., :-1, :]).abs()

    (px, py), (tx, ty) = grads(pred), grads(target)
    return (px - tx).abs().mean() + (py - ty).abs().mean()


def _pyramid(layers: nn.ModuleList, x: Tensor) -> list[Tensor]:
    """Each layer's output, the input halved (max-pooled) before every layer but the first."""
    feats = []
    for s, layer in enumerate(layers):
        x = layer(F.max_pool2d(x, 2) if s > 0 else x)
        feats.append(x)
    return feats
