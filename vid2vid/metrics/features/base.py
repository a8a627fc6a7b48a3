"""The interface every video feature extractor implements, and loading of weight files.

:class:`VideoFeatureExtractor` takes clips ``[N, T, 3, H, W]`` in ``[-1, 1]``, resizes the frames to
the network's resolution and returns features ``[N, D]``; it states the network, layer, clip
length, resolution and weights it uses (:meth:`~VideoFeatureExtractor.describe`).
:func:`load_state_dict_file` reads a local state dict with errors that name what does not match.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["Resolution", "VideoFeatureExtractor", "as_resolution", "load_state_dict_file", "weights_name"]

Resolution = tuple[int, int]


def as_resolution(value: int | Sequence[int]) -> Resolution:
    """``(H, W)`` from one side (a square) or a pair."""
    if isinstance(value, int):
        return (value, value)
    h, w = value
    return (int(h), int(w))


def weights_name(weights: object) -> str:
    """How a ``weights`` argument is reported by :meth:`VideoFeatureExtractor.describe`."""
    return "random (weights=None)" if weights is None else str(weights)


class VideoFeatureExtractor(nn.Module):
    """Clips ``[N, T, 3, H, W]`` in ``[-1, 1]`` -> features ``[N, D]`` (float32, no gradient).

    Attributes (also returned by :meth:`describe` / :attr:`info`):
        network: the network's name, e.g. ``"I3D (InceptionI3d, Kinetics-400)"``.
        layer: which activations are the features.
        clip_length: frames per clip ``T`` the extractor accepts.
        resolution: ``(H, W)`` every frame is resized to.
        weights: where the weights came from (a file, a torchvision weight name, or random).
        feature_dim: ``D``.

    Subclasses implement :meth:`_features` on resized clips ``[N, T, 3, h, w]`` in ``[-1, 1]``.
    """

    network: str = ""
    layer: str = ""

    def __init__(self, clip_length: int, resolution: int | Sequence[int], weights: object,
                 feature_dim: int) -> None:
        super().__init__()
        self.clip_length = int(clip_length)
        self.resolution = as_resolution(resolution)
        self.weights = weights_name(weights)
        self.feature_dim = int(feature_dim)

    def describe(self) -> dict:
        """``network``, ``layer``, ``clip_length``, ``resolution`` (``"HxW"``), ``weights``, ``feature_dim``
        (0 for a TorchScript module before its first call)."""
        return {"network": self.network, "layer": self.layer, "clip_length": self.clip_length,
                "resolution": f"{self.resolution[0]}x{self.resolution[1]}", "weights": self.weights,
                "feature_dim": self.feature_dim}

    @property
    def info(self) -> dict:
        return self.describe()

    def _resize(self, clips: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = clips.shape
        if (h, w) == self.resolution:
            return clips
        frames = F.interpolate(clips.reshape(n * t, c, h, w), size=self.resolution, mode="bilinear",
                               align_corners=False, antialias=True)
        return frames.reshape(n, t, c, *self.resolution)

    def _features(self, clips: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Features ``[N, D]`` of clips ``[N, T, 3, H, W]`` in ``[-1, 1]`` (``T == clip_length``)."""
        if clips.dim() != 5 or clips.shape[2] != 3:
            raise ValueError(f"{type(self).__name__} expects clips [N, T, 3, H, W] in [-1, 1]; "
                             f"got {tuple(clips.shape)}")
        if clips.shape[1] != self.clip_length:
            raise ValueError(f"{type(self).__name__} ({self.network}) takes clips of {self.clip_length} "
                             f"frames; got {clips.shape[1]} (cut videos with video_clips())")
        param = next(self.parameters(), None)
        device = param.device if param is not None else clips.device
        clips = self._resize(clips.to(device, torch.float32).clamp(-1, 1))
        return self._features(clips).float()

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.describe().items())


def load_state_dict_file(path: str | os.PathLike, model: nn.Module, what: str, strip_prefix: str = "module."
                         ) -> None:
    """Load a state dict saved with ``torch.save`` into ``model`` (``weights_only=True``).

    Accepts a bare state dict or a checkpoint dict holding it under ``"state_dict"`` (the
    3D-ResNets-PyTorch format); strips ``strip_prefix`` (``nn.DataParallel``'s ``module.``). Errors
    name the file and the missing / unexpected keys. Old checkpoints without batch norm's
    ``num_batches_tracked`` buffers load (PyTorch fills them in).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file for {what}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: cannot read a state dict for {what} with torch.load(weights_only=True) "
                         f"({type(err).__name__}: {err}); a TorchScript file needs TorchScriptFeatures"
                         ) from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a state dict (name -> tensor) for {what}, "
                         f"found {type(state).__name__}")
    if strip_prefix:
        state = {k[len(strip_prefix):] if k.startswith(strip_prefix) else k: v for k, v in state.items()}
    expected = model.state_dict()
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(state) - optional)
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{path}: not a state dict of {what}: {len(missing)} missing keys "
                         f"{_preview(missing)}, {len(unexpected)} unexpected keys {_preview(unexpected)}")
    wrong = [f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
             for k, v in state.items() if v.shape != expected[k].shape]
    if wrong:
        raise ValueError(f"{path}: shapes differ from {what}: {_preview(wrong)}")
    model.load_state_dict(state, strict=False)  # strict on names above; num_batches_tracked may be absent


def _preview(items: list[str], n: int = 6) -> str:
    return str(items[:n])[:-1] + (f", ... ({len(items) - n} more)]" if len(items) > n else "]")
