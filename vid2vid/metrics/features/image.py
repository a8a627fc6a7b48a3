"""Per-frame (image) features for :func:`vid2vid.metrics.temporal.per_frame_fid`: Inception-v3, or a
video extractor shown still clips."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from vid2vid.metrics.features.base import (
    VideoFeatureExtractor,
    as_resolution,
    load_state_dict_file,
    weights_name,
)

__all__ = ["InceptionImageFeatures", "StaticClipImageFeatures"]


class InceptionImageFeatures(nn.Module):
    """torchvision's Inception-v3 on single frames: the 2048-d pool before ``fc`` (the layer of image FID).

    Frames ``[N, 3, H, W]`` in ``[-1, 1]`` (the range Inception-v3 was trained on, so
    ``transform_input`` is off) are resized to ``resolution`` (299 for pretrained weights; at least 75).
    Note: standard image-FID code uses the TensorFlow Inception graph (``pt_inception-2015-12-05``),
    whose weights differ from torchvision's ``IMAGENET1K_V1``: values are comparable among
    themselves, not with published image FIDs.

    Args:
        weights: ``None`` (random: plumbing only), ``"IMAGENET1K_V1"`` / ``"DEFAULT"`` (torchvision,
            downloaded once into torch's hub cache), or a local state-dict file of ``inception_v3``.
    """

    network = "torchvision inception_v3"
    layer = "avgpool before fc (2048-d)"

    def __init__(self, weights: str | os.PathLike | None = None,
                 resolution: int | Sequence[int] = 299) -> None:
        super().__init__()
        from torchvision.models import Inception_V3_Weights, inception_v3

        names = [w.name for w in Inception_V3_Weights] + ["DEFAULT"]
        if weights is None:
            # PyTorch's default initialisation (init_weights=False): random either way, and 30x faster.
            model = inception_v3(weights=None, aux_logits=False, init_weights=False, transform_input=False)
        elif isinstance(weights, str) and weights in names:
            w = Inception_V3_Weights.DEFAULT if weights == "DEFAULT" else Inception_V3_Weights[weights]
            try:
                model = inception_v3(weights=w, progress=False, transform_input=False)
            except Exception as err:
                raise RuntimeError(f"could not load torchvision inception_v3 weights {weights} ({err}); "
                                   f"download them once on a machine with internet, or pass a local .pth "
                                   f"file") from err
        else:
            model = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
            load_state_dict_file(weights, model, "torchvision inception_v3")
        model.aux_logits, model.AuxLogits, model.fc = False, None, nn.Identity()
        self.model = model.eval().requires_grad_(False)
        self.resolution = as_resolution(resolution)
        if min(self.resolution) < 75:
            raise ValueError(f"inception_v3 needs frames of at least 75x75; got resolution {self.resolution}")
        self.weights = weights_name(weights)
        self.feature_dim = 2048

    def describe(self) -> dict:
        return {"network": self.network, "layer": self.layer, "clip_length": 1,
                "resolution": f"{self.resolution[0]}x{self.resolution[1]}", "weights": self.weights,
                "feature_dim": self.feature_dim}

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` in ``[-1, 1]`` -> ``[N, 2048]``."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"InceptionImageFeatures expects frames [N, 3, H, W]; got {tuple(images.shape)}")
        x = images.float().clamp(-1, 1)
        if tuple(x.shape[2:]) != self.resolution:
            x = F.interpolate(x, size=self.resolution, mode="bilinear", align_corners=False, antialias=True)
        return self.model(x)


class StaticClipImageFeatures(nn.Module):
    """Per-frame features from a video extractor: each frame is shown as a still clip (repeated
    ``clip_length`` times), so only its appearance counts.

    With the synthetic 3D CNN this is a 2D network of the synthetic domain (in the clip's interior a
    3x3x3 kernel on a still clip acts as the 3x3 kernel summed over time).
    """

    def __init__(self, video_extractor: VideoFeatureExtractor) -> None:
        super().__init__()
        self.video = video_extractor
        self.feature_dim = video_extractor.feature_dim

    def describe(self) -> dict:
        info = dict(self.video.describe())
        info["layer"] = f"{info['layer']}, on still clips (one frame repeated {self.video.clip_length} times)"
        return info

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` in ``[-1, 1]`` -> ``[N, D]``."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"StaticClipImageFeatures expects frames [N, 3, H, W]; "
                             f"got {tuple(images.shape)}")
        return self.video(images[:, None].expand(-1, self.video.clip_length, -1, -1, -1))
