"""Extractors by name, videos cut into clips, and the video FID on an extractor's features."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from vid2vid.metrics.features.base import VideoFeatureExtractor
from vid2vid.metrics.features.kinetics import (
    I3DFeatures,
    ResNeXtFeatures,
    TorchScriptFeatures,
    TorchvisionVideoFeatures,
)
from vid2vid.metrics.features.synthetic import SyntheticFeatures
from vid2vid.metrics.frechet import frechet_distance_from_features

__all__ = ["FEATURE_EXTRACTORS", "extract_features", "get_feature_extractor", "video_clips", "video_fid"]

FEATURE_EXTRACTORS = ("i3d", "resnext101", "r3d_18", "r2plus1d_18", "synthetic")


def get_feature_extractor(name: str, weights: str | os.PathLike | None = None,
                          **kwargs) -> VideoFeatureExtractor:
    """An extractor by name: ``i3d``, ``resnext101``, ``r3d_18``, ``r2plus1d_18`` or ``synthetic``.

    For ``i3d`` a ``weights`` file ending in TorchScript (``torch.jit.save``; e.g. ``i3d_torchscript.pt``)
    is detected and wrapped by :class:`TorchScriptFeatures`; a state dict goes to :class:`I3DFeatures`.
    ``kwargs`` go to the extractor's constructor (``clip_length``, ``resolution``, ``layer``, ...).
    """
    if name == "i3d":
        if weights is not None and _is_torchscript(weights):
            return TorchScriptFeatures(weights, **kwargs)
        return I3DFeatures(weights, **kwargs)
    if name == "resnext101":
        return ResNeXtFeatures(weights, **kwargs)
    if name in ("r3d_18", "r2plus1d_18"):
        return TorchvisionVideoFeatures(name, weights, **kwargs)
    if name == "synthetic":
        if kwargs:
            raise TypeError(f"the synthetic extractor takes its shape from its weights file; "
                            f"unexpected arguments {sorted(kwargs)}")
        return SyntheticFeatures(weights)
    raise ValueError(f"unknown feature extractor {name!r}; expected one of {FEATURE_EXTRACTORS}")


def _is_torchscript(path: str | os.PathLike) -> bool:
    """TorchScript archives are zip files holding ``constants.pkl`` / a ``code/`` folder."""
    import zipfile

    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(n.endswith("/constants.pkl") or "/code/" in n for n in archive.namelist())


def video_clips(video: torch.Tensor, clip_length: int, stride: int | None = None) -> torch.Tensor:
    """Cut one video ``[T, 3, H, W]`` into clips ``[K, clip_length, 3, H, W]`` (a view; no copy).

    Clips start every ``stride`` frames (default ``clip_length``: non-overlapping); frames after the
    last whole clip are dropped. A video shorter than ``clip_length`` is an error.
    """
    if video.dim() != 4:
        raise ValueError(f"video_clips expects one video [T, 3, H, W]; got {tuple(video.shape)}")
    if video.shape[0] < clip_length:
        raise ValueError(f"a video of {video.shape[0]} frames is shorter than one clip of {clip_length}")
    return video.unfold(0, clip_length, stride or clip_length).permute(0, 4, 1, 2, 3)


def extract_features(extractor: VideoFeatureExtractor, videos: Iterable[torch.Tensor], batch_size: int = 8,
                     stride: int | None = None) -> np.ndarray:
    """Features ``[N_clips, D]`` (float64) of the clips of ``videos`` (each ``[T, 3, H, W]``, ``[-1, 1]``)."""
    feats, pending = [], []
    for i, video in enumerate(videos):
        try:
            pending.extend(video_clips(video, extractor.clip_length, stride))
        except ValueError as err:
            raise ValueError(f"video {i}: {err}") from err
        while len(pending) >= batch_size:
            feats.append(extractor(torch.stack(pending[:batch_size])).double().cpu())
            pending = pending[batch_size:]
    if pending:
        feats.append(extractor(torch.stack(pending)).double().cpu())
    if not feats:
        raise ValueError("extract_features got no videos")
    return torch.cat(feats).numpy()


def video_fid(real_videos: Iterable[torch.Tensor], fake_videos: Iterable[torch.Tensor],
              extractor: VideoFeatureExtractor, batch_size: int = 8, stride: int | None = None) -> dict:
    """FID between real and generated videos on ``extractor``'s features (section 5, Tables 1 and 3).

    Returns ``{"fid", "n_real", "n_fake"}`` plus :meth:`VideoFeatureExtractor.describe` (network,
    layer, clip length, resolution, weights): print them with the number.
    """
    real = extract_features(extractor, real_videos, batch_size, stride)
    fake = extract_features(extractor, fake_videos, batch_size, stride)
    return {"fid": frechet_distance_from_features(real, fake), "n_real": len(real), "n_fake": len(fake),
            **extractor.describe()}
