"""3D ResNeXt-101 (Hara, Kataoka & Satoh, "Can spatiotemporal 3D CNNs retrace the history of 2D CNNs
and ImageNet?", CVPR 2018), Kinetics: the paper's second video-FID network.

The layout follows the checkpoints of ``kenshohara/3D-ResNets-PyTorch`` (``resnext-101-kinetics.pth``,
``resnext-101-64f-kinetics.pth`` and the later ``r3d101_KM_200ep.pth``-style ResNeXt files), so
their ``state_dict`` loads with unchanged key names once the ``module.`` prefix of
``nn.DataParallel`` is stripped:

- stem: ``conv1`` (7x7x7, stride (1, 2, 2), no bias), ``bn1``, ReLU, 3x3x3 max pool with stride 2;
- ``layer1`` .. ``layer4`` with ``(3, 4, 23, 3)`` bottleneck blocks of widths 128, 256, 512, 1024
  (stride 2 from ``layer2`` on): ``conv1`` 1x1x1 -> ``conv2`` 3x3x3 grouped (cardinality 32) ->
  ``conv3`` 1x1x1 to twice the width, each followed by ``bn1`` / ``bn2`` / ``bn3``; a projection
  shortcut ``downsample.0`` (conv) + ``downsample.1`` (batch norm) where the shape changes
  (shortcut type "B");
- global average pool -> ``fc`` (2048 -> 400 classes).

The features used for FID are the 2048-d global average pool (the input of ``fc``). The pool is
adaptive here, so any clip length and size run; the 2018 models were trained on 16-frame
112 x 112 clips (the 64f model on 64 frames).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ResNeXt3D", "resnext101_3d"]


class ResNeXtBottleneck(nn.Module):
    """``x + F(x)`` with ``F`` = 1x1x1 -> grouped 3x3x3 (stride) -> 1x1x1 (``expansion`` x planes)."""

    expansion = 2

    def __init__(self, in_planes: int, planes: int, cardinality: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        mid = cardinality * (planes // 32)  # the grouped convolution's width: 32 groups of planes / 32
        self.conv1 = nn.Conv3d(in_planes, mid, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(mid)
        self.conv2 = nn.Conv3d(mid, mid, kernel_size=3, stride=stride, padding=1, groups=cardinality,
                               bias=False)
        self.bn2 = nn.BatchNorm3d(mid)
        self.conv3 = nn.Conv3d(mid, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return F.relu(self.bn3(self.conv3(y)) + shortcut)


class ResNeXt3D(nn.Module):
    """3D ResNeXt on clips ``[N, 3, T, H, W]`` (normalised as the checkpoint expects; see
    :class:`vid2vid.metrics.features.ResNeXtFeatures`).

    Args:
        layers: blocks per stage; ``(3, 4, 23, 3)`` is ResNeXt-101, ``(3, 4, 6, 3)`` ResNeXt-50.
        cardinality: groups of the 3x3x3 convolutions (32 in Hara et al.).
        num_classes: outputs of ``fc`` (400 for Kinetics-400).
        widths: ``planes`` of the four stages (the block output is twice that).
    """

    def __init__(self, layers: tuple[int, int, int, int] = (3, 4, 23, 3), cardinality: int = 32,
                 num_classes: int = 400, widths: tuple[int, int, int, int] = (128, 256, 512, 1024)) -> None:
        super().__init__()
        if any(w % 32 or w // 32 < 1 for w in widths):
            raise ValueError(f"ResNeXt3D widths must be multiples of 32 (planes / 32 channels per group); "
                             f"got {widths}")
        self.cardinality = cardinality
        self.in_planes = 64
        self.conv1 = nn.Conv3d(3, 64, kernel_size=7, stride=(1, 2, 2), padding=3, bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.layer1 = self._stage(widths[0], layers[0], stride=1)
        self.layer2 = self._stage(widths[1], layers[1], stride=2)
        self.layer3 = self._stage(widths[2], layers[2], stride=2)
        self.layer4 = self._stage(widths[3], layers[3], stride=2)
        self.feature_dim = widths[3] * ResNeXtBottleneck.expansion
        self.fc = nn.Linear(self.feature_dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        out = planes * ResNeXtBottleneck.expansion
        downsample = None
        if stride != 1 or self.in_planes != out:
            downsample = nn.Sequential(
                nn.Conv3d(self.in_planes, out, kernel_size=1, stride=stride, bias=False), nn.BatchNorm3d(out))
        stage = [ResNeXtBottleneck(self.in_planes, planes, self.cardinality, stride, downsample)]
        self.in_planes = out
        stage += [ResNeXtBottleneck(out, planes, self.cardinality) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 3, T, H, W]`` -> the global average pool ``[N, feature_dim]`` (2048 for ResNeXt-101)."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool3d(x, kernel_size=3, stride=2, padding=1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``[N, num_classes]``."""
        return self.fc(self.features(x))


def resnext101_3d(num_classes: int = 400) -> ResNeXt3D:
    """ResNeXt-101 (cardinality 32) of Hara et al.: 2048-d features, ``num_classes`` outputs."""
    return ResNeXt3D((3, 4, 23, 3), cardinality=32, num_classes=num_classes)
