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

    ``scene``: the synthetic generator's settings the network was trained on (``None``: untrained,
    or a file written before they were stored; see
    :func:`vid2vid.metrics.synthetic_features.scene_mismatch`).
    """

    network = "synthetic-3dcnn"

    def __init__(self, weights: str | os.PathLike | None = None) -> None:
        payload: dict = {}
        if weights is None:
            model = SyntheticFeatureNet()
        else:
            model, payload = load_feature_net(weights)
        layer = payload.get("layer")
        cfg = model.config
        super().__init__(cfg.clip_length, (cfg.height, cfg.width), weights, model.feature_dim)
        self.scene: dict | None = payload.get("scene")
        self.model = model.eval().requires_grad_(False)
        self.layer = layer or f"global average pool of the last Conv3d stage ({model.feature_dim}-d)"

    def _features(self, clips: torch.Tensor) -> torch.Tensor:
        return self.model.features(clips.permute(0, 2, 1, 3, 4))

    @torch.no_grad()
    def pan_directions(self, clips: torch.Tensor) -> torch.Tensor:
        """The camera-pan direction the network reads in clips ``[N, T, 3, H, W]`` in ``[-1, 1]``:
        ``int64 [N]``, 1 = the camera pans right (the scene's flow is positive), 0 = left."""
        features = self(clips)
        return self.model.direction_head(features.to(next(self.model.parameters()).dtype)).argmax(1)
