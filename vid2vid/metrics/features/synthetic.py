"""The synthetic-domain extractor: :mod:`vid2vid.metrics.synthetic_features`' 3D CNN, trained on the
built-in synthetic street videos (the FID of the synthetic benchmark)."""

from __future__ import annotations

import os

import torch

from vid2vid.metrics.features.base import VideoFeatureExtractor
from vid2vid.metrics.synthetic_features import SyntheticFeatureNet, load_feature_net

__all__ = ["SyntheticFeatures"]


class SyntheticFeatures(VideoFeatureExtractor):
    """The synthetic-domain 3D CNN of :mod:`vid2vid.metrics.synthetic_features` (8 frames, 64 x 128).

    Args:
        weights: a file from ``reproduce/train_feature_net.py`` (default location
            ``reproduce/results/synthetic/feature_net.pt``), or ``None`` for an untrained network.
    """

    network = "synthetic-3dcnn"

    def __init__(self, weights: str | os.PathLike | None = None) -> None:
        if weights is None:
            model, layer = SyntheticFeatureNet(), None
        else:
            model, payload = load_feature_net(weights)
            layer = payload.get("layer")
        cfg = model.config
        super().__init__(cfg.clip_length, (cfg.height, cfg.width), weights, model.feature_dim)
        self.model = model.eval().requires_grad_(False)
        self.layer = layer or f"global average pool of the last Conv3d stage ({model.feature_dim}-d)"

    def _features(self, clips: torch.Tensor) -> torch.Tensor:
        return self.model.features(clips.permute(0, 2, 1, 3, 4))
