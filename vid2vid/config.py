"""Typed settings of a vid2vid run, YAML load / save, checked overrides and named presets.

A :class:`Config` has four sections, each a dataclass with a one-line comment per field:

    data    what is read from disk and at what size          (``cfg.data.label_nc``)
    model   the generator G and the discriminators D_I, D_V  (``cfg.model.ngf``)
    loss    the GAN form and the weights of every term       (``cfg.loss.lambda_flow``)
    train   optimiser, epochs, curricula, precision, seeds   (``cfg.train.lr``)

The defaults are the reference recipe for Cityscapes at 512 x 256 (PAPER.md section 3). Named
presets (``get_preset("tiny")``, ``PRESETS``) change what their recipe changes. Settings are
changed with dotted overrides that are checked against the field types::

    cfg = get_preset("synthetic").override(["model.ngf=32", "train.lr=1e-4"])

This module imports nothing else of the package (it sits at the bottom of the layers).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import os
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = [
    "ConfigError", "DataConfig", "ModelConfig", "LossConfig", "TrainConfig", "Config",
    "PRESETS", "get_preset", "apply_overrides",
]

# Cityscapes label ids of the classes with instances (person, rider, car, truck, bus, caravan,
# trailer, train, motorcycle, bicycle): the paper's foreground, 1 - m_B. Written out here because
# config imports nothing of ours; tests check it equals vid2vid.data.labels.CITYSCAPES_FOREGROUND.
CITYSCAPES_FOREGROUND_IDS = (24, 25, 26, 27, 28, 29, 30, 31, 32, 33)


class ConfigError(ValueError):
    """A configuration key, value or combination of values is not acceptable (the message says which)."""


@dataclass
class DataConfig:
    """What is read from disk and how it is sized."""

    root: str = "datasets/cityscapes"  # dataset root holding {train,test}_{A,B,inst,flow} folders
    dataset: Literal["street", "face", "pose"] = "street"  # input kind: label ids, face edges, pose renders
    label_nc: int = 35  # semantic classes, one-hot encoded; 0 = the input map is continuous (edges, pose)
    input_nc: int = 3  # channels of a continuous input map (used when label_nc == 0)
    use_instance: bool = True  # append the instance-boundary map as one more input channel per frame
    height: int = 256  # frames are resized to height x width (the reference's loadSize is the width)
    width: int = 512  # resize width in pixels
    crop_height: int = 0  # random crop height for training; 0 = no crop
    crop_width: int = 0  # random crop width for training; 0 = no crop
    random_scale: bool = False  # resize to a random height between the crop and load height (pose recipe)
    flip: bool = True  # random horizontal flips during training (off for pose, whose sides matter)
    max_t_step: int = 1  # largest random frame stride when sampling a training sequence
    foreground_ids: list[int] = field(default_factory=lambda: list(CITYSCAPES_FOREGROUND_IDS))  # 1 - m_B
    flow_source: Literal["folder", "dis", "raft"] = "folder"  # ground-truth flow: _flow files, DIS, RAFT
    num_workers: int = 2  # data-loader worker processes
    check_max_files: int = 20_000  # decode every training file before training when the split has at
    # most this many (0: never): ~1000 files/s at 128x256, ~200 at 512x1024 on 2 cores
    synthetic_sequences: int = 0  # > 0: train sequences of the built-in dataset made at root if missing
    synthetic_frames: int = 30  # frames per generated synthetic sequence
    synthetic_motion: float = 1.0  # multiplies the synthetic camera and car speeds (SyntheticConfig's)

    @property
    def label_channels(self) -> int:
        """Channels of one frame's semantic input ``s_t`` (C_s): one-hot labels or the input map,
        plus one instance-edge channel when ``use_instance``."""
        return (self.label_nc if self.label_nc > 0 else self.input_nc) + int(self.use_instance)

    @property
    def frame_size(self) -> tuple[int, int]:
        """``(height, width)`` of the training frames: the crop when there is one, else the load size."""
        return (self.crop_height or self.height, self.crop_width or self.width)


@dataclass
class ModelConfig:
    """The generator G (PAPER.md sections 1 and 3) and the discriminators D_I, D_V (section 2)."""

    # generator G
    n_prev: int = 2  # L: previous frames G sees (Markov order), L + 1 label maps; 0 = per-frame
    ngf: int = 128  # width of the coarsest scale's first layer; doubles at each downsampling
    n_downsample: int = 3  # stride-2 convolutions in each encoder (transposed convolutions in each decoder)
    n_blocks_enc: int = 5  # residual blocks at the end of each encoder (reference: 9 split 5 + 4)
    n_blocks_dec: int = 4  # residual blocks at the start of each decoder (image and flow decoders)
    use_fg_prior: bool = True  # foreground-background prior: the h_F branch and m_B (ablation switch)
    fg_ngf: int = 64  # width of the foreground branch H_F (reference: ngf / 2)
    fg_n_blocks: int = 9  # residual blocks of the foreground branch
    norm: Literal["instance", "batch", "none"] = "instance"  # affine instance norm; "batch" = reference
    n_scales: int = 1  # spatial scales, coarse to fine; each finer one is a local enhancer
    n_blocks_local: int = 3  # residual blocks of each local enhancer
    composition: Literal["paper", "official"] = "paper"  # paper's equation or the reference code's variant
    use_flow: bool = True  # flow warping of the previous frame (ablation switch: False = no W, no m)
    flow_scale: float = 20.0  # the flow head's output is multiplied by flow_scale * 2^s at scale s
    upsample: Literal["resize", "transposed"] = "resize"  # decoders' 2x upsampling; "transposed" = reference
    # discriminators
    ndf: int = 64  # width of the discriminators' first layer
    n_layers_D: int = 3  # stride-2 4x4 convolutions per PatchGAN
    num_D: int = 2  # spatial scales of each multi-scale discriminator (input pyramid)
    norm_D: Literal["instance", "batch", "none"] = "instance"  # normalisation in the discriminators
    use_video_discriminator: bool = True  # D_V, the conditional video discriminator (ablation switch)
    n_frames_D: int = 3  # K: consecutive frames D_V sees, conditioned on the K - 1 flows between them
    n_temporal_scales: int = 2  # temporal scales of D_V; scale s samples frames K^s apart (K = n_frames_D)


@dataclass
class LossConfig:
    """The objective (PAPER.md section 2) and the reference weights (section 3)."""

    gan_mode: Literal["lsgan", "hinge", "vanilla"] = "lsgan"  # GAN loss form (the reference: always LSGAN)
    lambda_feat: float = 10.0  # discriminator feature matching
    lambda_vgg: float = 10.0  # VGG19 perceptual loss; 0 disables it (no VGG network is built)
    vgg_weights: str = "imagenet"  # "imagenet" (torchvision weights, user-provided), "none", or a .pth path
    lambda_flow: float = 10.0  # L_W, first term: L1 of predicted vs ground-truth flow (confidence-masked)
    lambda_warp: float = 10.0  # L_W, second term: real x_{t-1} warped by the predicted flow vs real x_t
    lambda_temporal: float = 10.0  # output warp loss: generated x_t vs x_{t-1} warped by ground-truth flow
    lambda_mask: float = 1.0  # weight of the occlusion-mask loss (loss.mask_target says which)
    mask_target: Literal["confidence", "occlusion"] = "confidence"  # reference: m -> 0 where the flow is
    # confident; "occlusion": binary cross-entropy of m against the dataset's _occ masks (m -> 1 occluded)


@dataclass
class TrainConfig:
    """Optimisation and the temporal / spatial curricula (PAPER.md section 3)."""

    lr: float = 2e-4  # Adam learning rate of G and D
    beta1: float = 0.5  # Adam beta1
    beta2: float = 0.999  # Adam beta2
    ttur: bool = False  # two time-scale update rule: G lr / 2, D_I lr * 2 (D_V keeps lr), betas (0, 0.9)
    niter: int = 10  # epochs at the initial learning rate
    niter_decay: int = 10  # epochs of linear decay to zero after niter
    n_frames_start: int = 6  # frames per training sequence at the start (reference --n_frames_total)
    n_frames_total: int = 30  # cap of the temporal curriculum (Cityscapes snippets have 30 frames)
    niter_step: int = 5  # the sequence length doubles every niter_step epochs; 0 = n_frames_total at once
    chunk_length: int = 2  # frames per forward/backward (truncated BPTT; reference max_frames_per_gpu)
    niter_fix_global: int = 0  # epochs the coarser scales stay frozen after a finer scale is added
    flow_warmup: int = 0  # updates of the flow head alone (flow loss, real previous frames) before GAN steps
    flow_warmup_target: float = 0.5  # the warm-up stops once the flow loss is below this x a zero flow's
    real_first_frames: bool = False  # True: real first L frames given (reference); False: G makes them
    batch_size: int = 1  # sequences per optimisation step (over all devices)
    ema_decay: float = 0.0  # decay of the generator's weight average; 0 = no EMA
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"  # autocast precision (Accelerate's mixed_precision)
    checkpoint_every: int = 1000  # optimisation steps between checkpoints
    keep_checkpoints: int = 3  # most recent training-state checkpoints kept on disk
    snapshot_every: int = 0  # steps between kept copies of generator.pt (snapshots/step_N.pt); 0 = none
    sample_every: int = 0  # optimisation steps between sample frames and videos; 0 = only at the end
    coarse_checkpoint: str = ""  # generator.pt of the coarser stage to grow from (spatial curriculum)
    log_every: int = 100  # optimisation steps between loss logs
    output_dir: str = "runs"  # checkpoints, logs and samples go to <output_dir>/<run name>
    seed: int = 0  # seed of torch, numpy and Python's random


SECTIONS = ("data", "model", "loss", "train")


@dataclass
class Config:
    """All settings of a run. ``Config()`` is the reference Cityscapes 512 recipe."""

    preset: str = "cityscapes-512"  # the named preset these settings started from
    data: DataConfig = field(default_factory=DataConfig)  # what is read and how it is sized
    model: ModelConfig = field(default_factory=ModelConfig)  # G, D_I, D_V architecture
    loss: LossConfig = field(default_factory=LossConfig)  # objective and weights
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation and curricula

    # ----------------------------------------------------------------- plain data and YAML
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of built-in types (YAML / checkpoint friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "config") -> Config:
        """Build from a nested dict. Keys that are absent keep the value of the preset named by
        ``d["preset"]`` (or the defaults when there is no ``preset`` key); an unknown or empty preset
        name, unknown keys and wrongly typed or out-of-range values raise :class:`ConfigError`
        naming ``where``."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"{where}: expected a mapping of sections, got {type(d).__name__}")
        # A present but empty ``preset:`` line is refused too: falling back to the defaults (the
        # Cityscapes recipe) would silently train something other than what the file meant.
        name = d.get("preset", None)
        if "preset" in d and not (isinstance(name, str) and name in PRESETS):
            raise ConfigError(f"{where}: {_unknown_preset(name)}")
        base = Config() if name is None else get_preset(name)
        flat = dict(_flatten(d))
        return apply_overrides(base, flat, where=where)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> Config:
        """Load a YAML file (see :meth:`from_dict`); errors name the file. A missing file raises
        FileNotFoundError, invalid YAML or settings :class:`ConfigError`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: config file not found")
        with open(path, encoding="utf-8") as f:
            try:
                d = yaml.safe_load(f) or {}
            except yaml.YAMLError as err:
                raise ConfigError(f"{path}: not valid YAML ({err})") from None
        return cls.from_dict(d, where=str(path))

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        """The YAML text of this config; also written to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
        return text

    # ----------------------------------------------------------------- overrides
    def override(self, items: Iterable[str] | Mapping[str, Any]) -> Config:
        """A validated copy with ``["section.key=value", ...]`` (values parsed as YAML) or
        ``{"section.key": value}`` applied."""
        if isinstance(items, Mapping):
            return apply_overrides(self, items)
        pairs: dict[str, Any] = {}
        for item in items:
            if "=" not in item:
                raise ConfigError(f"override {item!r}: expected 'section.key=value', e.g. 'model.ngf=64'")
            key, raw = item.split("=", 1)
            pairs[key.strip()] = _RawText(raw.strip())
        return apply_overrides(self, pairs, where="override")

    def validate(self) -> Config:
        """Check the ranges and combinations that field types cannot express; returns self."""
        d, m, t = self.data, self.model, self.train
        positive = {
            "model.ngf": m.ngf, "model.n_scales": m.n_scales,
            "model.ndf": m.ndf, "model.num_D": m.num_D, "model.n_frames_D": m.n_frames_D,
            "model.n_layers_D": m.n_layers_D,  # a PatchGAN needs one strided convolution
            "data.height": d.height, "data.width": d.width, "data.max_t_step": d.max_t_step,
            "train.batch_size": t.batch_size, "train.chunk_length": t.chunk_length,
            "train.keep_checkpoints": t.keep_checkpoints, "train.checkpoint_every": t.checkpoint_every,
            "train.log_every": t.log_every, "data.synthetic_frames": d.synthetic_frames,
            "train.n_frames_start": t.n_frames_start, "train.n_frames_total": t.n_frames_total,
        }
        for key, value in positive.items():
            if value < 1:
                raise ConfigError(f"{key} must be >= 1, got {value}")
        if self.preset not in PRESETS:
            raise ConfigError(f"preset: {_unknown_preset(self.preset)}")
        if m.n_prev == 0 and m.use_flow:
            raise ConfigError("model.n_prev = 0 (a per-frame generator) has no previous frame to warp: "
                              "set model.use_flow=false")
        non_negative = {
            "model.n_prev": m.n_prev,
            "model.n_downsample": m.n_downsample, "model.n_blocks_enc": m.n_blocks_enc,
            "model.n_blocks_dec": m.n_blocks_dec, "model.fg_n_blocks": m.fg_n_blocks,
            "model.n_blocks_local": m.n_blocks_local,
            "model.n_temporal_scales": m.n_temporal_scales, "data.label_nc": d.label_nc,
            "data.crop_height": d.crop_height, "data.crop_width": d.crop_width,
            "data.num_workers": d.num_workers, "data.check_max_files": d.check_max_files,
            "data.synthetic_sequences": d.synthetic_sequences,
            "train.niter": t.niter, "train.niter_decay": t.niter_decay, "train.niter_step": t.niter_step,
            "train.niter_fix_global": t.niter_fix_global, "train.snapshot_every": t.snapshot_every,
            "train.sample_every": t.sample_every, "train.flow_warmup": t.flow_warmup,
        }
        for key, value in non_negative.items():
            if value < 0:
                raise ConfigError(f"{key} must be >= 0, got {value}")
        if t.niter + t.niter_decay < 1:
            raise ConfigError(f"train.niter + train.niter_decay must be >= 1 epoch, got {t.niter} + "
                              f"{t.niter_decay}")
        if not 0 <= t.seed < 2**32:
            raise ConfigError(f"train.seed must lie in [0, 2^32 - 1], got {t.seed}")
        for key, value in {"train.lr": t.lr, "model.flow_scale": m.flow_scale}.items():
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{key} must be a finite number > 0, got {value}")
        non_negative_floats = {
            "loss.lambda_feat": self.loss.lambda_feat, "loss.lambda_vgg": self.loss.lambda_vgg,
            "loss.lambda_flow": self.loss.lambda_flow, "loss.lambda_warp": self.loss.lambda_warp,
            "loss.lambda_temporal": self.loss.lambda_temporal, "loss.lambda_mask": self.loss.lambda_mask,
            "data.synthetic_motion": d.synthetic_motion, "train.flow_warmup_target": t.flow_warmup_target,
        }
        for key, value in non_negative_floats.items():
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{key} must be a finite number >= 0, got {value}")
        for key, value in {"train.beta1": t.beta1, "train.beta2": t.beta2}.items():
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"{key} must lie in [0, 1), got {value}")
        if m.use_video_discriminator:  # checked here so that the message names the config keys
            if m.n_frames_D < 2:
                raise ConfigError(f"model.n_frames_D must be >= 2 when model.use_video_discriminator is "
                                  f"true (D_V sees frames and the flows between them), got {m.n_frames_D}")
            if m.n_temporal_scales < 1:
                raise ConfigError(f"model.n_temporal_scales must be >= 1 when model.use_video_discriminator "
                                  f"is true, got {m.n_temporal_scales}")
        if t.flow_warmup > 0 and m.use_flow and t.n_frames_start <= m.n_prev:
            # The warm-up trains on real histories of L = n_prev frames: the first windows must be
            # longer, or it would fail only after the data and networks are set up.
            raise ConfigError(f"train.flow_warmup={t.flow_warmup} needs training windows longer than "
                              f"model.n_prev={m.n_prev} frames, but train.n_frames_start={t.n_frames_start}; "
                              "raise train.n_frames_start or set train.flow_warmup=0")
        if d.label_nc == 0 and d.input_nc < 1:
            raise ConfigError(f"data.input_nc must be >= 1 when data.label_nc == 0, got {d.input_nc}")
        if m.use_fg_prior:
            if d.label_nc == 0:
                raise ConfigError("model.use_fg_prior needs semantic labels (data.label_nc > 0) to "
                                  "compute m_B; set model.use_fg_prior=false for continuous inputs")
            if m.fg_ngf < 1:
                raise ConfigError(f"model.fg_ngf must be >= 1, got {m.fg_ngf}")
            bad = [i for i in d.foreground_ids if not 0 <= i < d.label_nc]
            if bad:
                raise ConfigError(f"data.foreground_ids {bad} are not label ids 0..{d.label_nc - 1}")
            if m.n_scales > 1 and m.fg_ngf % 2 ** (m.n_scales - 1):
                raise ConfigError(f"model.fg_ngf={m.fg_ngf} must be divisible by 2^(n_scales-1)="
                                  f"{2 ** (m.n_scales - 1)} (each finer scale halves the width)")
        if m.n_scales > 1 and m.ngf % 2 ** (m.n_scales - 1):
            raise ConfigError(f"model.ngf={m.ngf} must be divisible by 2^(n_scales-1)="
                              f"{2 ** (m.n_scales - 1)} (each finer scale halves the width)")
        if (d.crop_height > 0) != (d.crop_width > 0):
            raise ConfigError(f"give both data.crop_height and data.crop_width or neither; "
                              f"got {d.crop_height} x {d.crop_width}")
        if d.crop_height > d.height or d.crop_width > d.width:
            raise ConfigError(f"data crop {d.crop_height} x {d.crop_width} exceeds the load size "
                              f"{d.height} x {d.width}")
        factor = 2 ** (m.n_downsample + m.n_scales - 1)
        h, w = d.frame_size
        if h % factor or w % factor:
            raise ConfigError(f"frame size {h} x {w} must be divisible by 2^(n_downsample + n_scales - 1) = "
                              f"{factor} (model.n_downsample={m.n_downsample}, model.n_scales={m.n_scales})")
        smallest = max(2 * factor, 4 * 2 ** (m.n_scales - 1))  # reflection padding at the bottleneck
        if min(h, w) < smallest:
            raise ConfigError(f"frame size {h} x {w} is too small for model.n_downsample={m.n_downsample}, "
                              f"model.n_scales={m.n_scales}: each side must be at least {smallest}")
        if t.n_frames_start > t.n_frames_total:
            raise ConfigError(f"train.n_frames_start={t.n_frames_start} exceeds train.n_frames_total="
                              f"{t.n_frames_total}")
        if not 0.0 <= t.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay must lie in [0, 1), got {t.ema_decay}")
        return self


# ---------------------------------------------------------------------------- overrides, typed


class _RawText(str):
    """An override value as typed on a command line (parsed as YAML against the field's type)."""


def _flatten(d: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in d.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping) and (not prefix and key in SECTIONS):
            yield from _flatten(value, full + ".")
        else:
            yield full, value


def _field_types() -> dict[str, Any]:
    """``{"model.ngf": int, ...}`` for every settable key."""
    out: dict[str, Any] = {"preset": str}
    hints = typing.get_type_hints(Config)
    for section in SECTIONS:
        for name, tp in typing.get_type_hints(hints[section]).items():
            out[f"{section}.{name}"] = tp
    return out


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", None) or str(tp)


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """``value`` checked (and where harmless converted) to the field type ``tp``; ConfigError otherwise."""
    raw = value if isinstance(value, _RawText) else None
    if raw is not None:
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"{key}: cannot parse {str(raw)!r} as YAML ({err})") from None
    origin, args = typing.get_origin(tp), typing.get_args(tp)

    def wrong() -> ConfigError:
        found = f"{type(value).__name__} {value!r}"
        return ConfigError(f"config key {key!r} expects {_type_name(tp)}, got {found}")

    if origin in (typing.Union, types.UnionType):  # X | None
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(key, raw if raw is not None else value, inner)
    if origin is Literal:
        if raw is not None and not isinstance(value, str):
            value = str(raw)  # e.g. "no" is read by YAML as a bool; the choices are strings
        if value not in args:
            raise ConfigError(f"config key {key!r} expects one of {list(args)}, got {value!r}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise wrong()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise wrong()
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "2e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise wrong()
    if tp is str:
        if isinstance(value, str):
            return value
        if raw is not None:
            return str(raw)  # a path such as 2024 typed on a command line
        raise wrong()
    if origin is list:
        (inner,) = args
        if isinstance(value, (list, tuple)):
            return [_coerce(f"{key}[{i}]", v, inner) for i, v in enumerate(value)]
        raise wrong()
    raise ConfigError(f"config key {key!r}: unsupported field type {tp}")


def apply_overrides(cfg: Config, overrides: Mapping[str, Any], where: str = "override") -> Config:
    """A validated copy of ``cfg`` with ``{"section.key": value}`` applied.

    Unknown keys raise :class:`ConfigError` naming close matches; values of the wrong type or out
    of range raise :class:`ConfigError` naming the key, what is expected and the value (an int is
    accepted for a float field). Every message starts with ``where`` (a file name, "override").
    """
    types_ = _field_types()
    out = copy.deepcopy(cfg)
    try:
        for key, value in overrides.items():
            if key not in types_:
                raise ConfigError(f"unknown config key {key!r}{_suggest(key, types_)}")
            value = _coerce(key, value, types_[key])
            if key == "preset":
                out.preset = value
                continue
            section, name = key.split(".", 1)
            setattr(getattr(out, section), name, value)
        return out.validate()
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def _suggest(key: str, known: Iterable[str]) -> str:
    """``"; did you mean 'model.ngf'?"``: close full keys, then keys whose last part is close."""
    known = list(known)
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    leaf = key.rsplit(".", 1)[-1]
    for k in known:
        if k not in close and difflib.SequenceMatcher(None, leaf, k.rsplit(".", 1)[-1]).ratio() >= 0.8:
            close.append(k)
    if not close:
        return f"; keys are 'section.name' with sections {', '.join(SECTIONS)} (e.g. 'model.ngf')"
    return f"; did you mean {', '.join(repr(c) for c in close[:4])}?"


# ---------------------------------------------------------------------------- presets


def _cityscapes_512() -> Config:
    """Reference street recipe at 512 x 256: ngf 128, 3 downsamplings, 9 blocks (5 + 4), foreground
    branch, num_D 2, 1 spatial scale, Adam 2e-4, 10 + 10 epochs, 6 frames doubling every 5 epochs,
    2 frames per chunk (scripts/street/train_512.sh of the reference)."""
    return Config(preset="cityscapes-512")


def _cityscapes_1024() -> Config:
    """Second stage: a finer scale on top of the trained 512 model (PAPER.md section 3): 2 spatial
    scales, num_D 3, lr 1e-4, 4 frames doubling every 2 epochs, the coarse scale frozen 10 epochs."""
    c = _cityscapes_512()
    c.preset = "cityscapes-1024"
    c.data.height, c.data.width = 512, 1024
    c.model.n_scales, c.model.num_D = 2, 3
    c.train.lr = 1e-4
    c.train.n_frames_start, c.train.niter_step, c.train.niter_fix_global = 4, 2, 10
    c.train.chunk_length = 1
    return c


def _cityscapes_2048() -> Config:
    """Third stage: 3 spatial scales, num_D 4, lr 5e-5, 5 + 5 epochs, 4 frames doubling every epoch,
    the coarser scales frozen 5 epochs."""
    c = _cityscapes_1024()
    c.preset = "cityscapes-2048"
    c.data.height, c.data.width = 1024, 2048
    c.model.n_scales, c.model.num_D = 3, 4
    c.train.lr = 5e-5
    c.train.niter, c.train.niter_decay = 5, 5
    c.train.niter_step, c.train.niter_fix_global = 1, 5
    return c


def _face_512() -> Config:
    """Edge-to-face at 512 x 512 (FaceForensics). The input is continuous (label_nc 0) with 15
    channels per frame, as in the reference: 1 edge map (facial-part edges drawn from the 68
    landmarks plus Canny edges of the background) and 14 distance-transform maps, one per part edge.
    No foreground branch; num_D 3; 20 + 20 epochs; 12 frames per sequence."""
    c = Config(preset="face-512")
    c.data.root, c.data.dataset = "datasets/face", "face"
    c.data.label_nc, c.data.input_nc, c.data.use_instance = 0, 15, False
    c.data.height, c.data.width = 512, 512
    c.data.foreground_ids = []
    c.model.use_fg_prior = False
    c.model.num_D = 3
    c.train.niter, c.train.niter_decay = 20, 20
    c.train.n_frames_start = 12
    return c


def _pose_256() -> Config:
    """Pose-to-body, first stage. Input per frame: 6 channels, the DensePose IUV rendering (3) and
    the OpenPose BODY_25 + face + hands skeleton rendering (3); label_nc 0, no foreground branch.
    Frames are scaled to a random height in [256, 384] and cropped to 256 x 448 (16:9 sources, sides
    rounded to multiples of 32 as the reference does); no flips; frame stride up to 4; batch 8 with 3
    frames per chunk; 5 + 5 epochs; 12 frames; the first frame is generated from labels alone."""
    c = Config(preset="pose-256")
    c.data.root, c.data.dataset = "datasets/pose", "pose"
    c.data.label_nc, c.data.input_nc, c.data.use_instance = 0, 6, False
    c.data.height, c.data.width, c.data.crop_height, c.data.crop_width = 384, 672, 256, 448
    c.data.random_scale, c.data.flip, c.data.max_t_step = True, False, 4
    c.data.foreground_ids = []
    c.model.use_fg_prior = False
    c.model.num_D = 2
    c.train.niter, c.train.niter_decay = 5, 5
    c.train.n_frames_start, c.train.batch_size, c.train.chunk_length = 12, 8, 3
    return c


def _pose_512() -> Config:
    """Second stage: 2 spatial scales, num_D 3, crop 512 x 896 from a height in [512, 768], lr 1e-4,
    the coarse scale frozen 3 epochs."""
    c = _pose_256()
    c.preset = "pose-512"
    c.data.height, c.data.width, c.data.crop_height, c.data.crop_width = 768, 1376, 512, 896
    c.model.n_scales, c.model.num_D = 2, 3
    c.train.lr, c.train.niter_fix_global = 1e-4, 3
    c.train.chunk_length = 1
    return c


def _pose_1024() -> Config:
    """Third stage: 3 spatial scales, num_D 4, crop 1024 x 1824 from a height in [1024, 1536], lr 5e-5."""
    c = _pose_512()
    c.preset = "pose-1024"
    c.data.height, c.data.width, c.data.crop_height, c.data.crop_width = 1536, 2720, 1024, 1824
    c.model.n_scales, c.model.num_D = 3, 4
    c.train.lr = 5e-5
    c.train.batch_size = 1
    return c


def _tiny() -> Config:
    """Seconds on a CPU (tests, notebooks): the street code path (35 labels + instance edges,
    foreground branch, both discriminators) on 32 x 64 frames with a few channels."""
    c = Config(preset="tiny")
    c.data.root = "data/tiny"
    c.data.synthetic_sequences, c.data.synthetic_frames = 2, 8
    c.data.height, c.data.width = 32, 64
    c.data.num_workers = 0
    c.model.ngf, c.model.n_downsample, c.model.n_blocks_enc, c.model.n_blocks_dec = 8, 2, 1, 1
    c.model.fg_ngf, c.model.fg_n_blocks, c.model.n_blocks_local = 4, 1, 1
    c.model.ndf, c.model.n_layers_D = 8, 2
    # No VGG: its ImageNet weights cannot be downloaded offline, and VGG19 costs more than G here.
    c.loss.lambda_vgg, c.loss.vgg_weights = 0.0, "none"
    c.train.niter, c.train.niter_decay = 1, 1
    c.train.n_frames_start, c.train.n_frames_total, c.train.niter_step = 4, 8, 1
    c.train.checkpoint_every, c.train.log_every = 50, 10
    return c


def _synthetic() -> Config:
    """The built-in synthetic street dataset on a CPU: 64 x 128 frames, the street code path with
    the reference structure (two encoders, image and flow decoders, foreground branch) at ngf 16,
    2 downsamplings, 2 + 2 residual blocks (0.89 M parameters).

    Measured on a 2-core CPU shared with other jobs (torch 2.14): one generator forward + backward
    on one 64 x 128 frame takes about 0.09 s; the reference width at this size (ngf 32, 5 + 4
    blocks, a 16-wide foreground branch with 9 blocks) takes about 0.26 s. Nearly half of it is
    the two 7x7 stems on the 108 stacked label channels. Command::

        python -c "import time,torch; from vid2vid.config import get_preset; \\
        from vid2vid.models import Generator; G=Generator.from_config(get_preset('synthetic')); \\
        s=torch.rand(1,3,36,64,128); p=torch.rand(1,2,3,64,128)*2-1; \\
        f=lambda: G(s,p).x.mean().backward(); f(); t=time.time(); [f() for _ in range(20)]; \\
        print(round((time.time()-t)/20, 3))"
    """
    c = Config(preset="synthetic")
    c.data.root = "data/synthetic"
    c.data.synthetic_sequences, c.data.synthetic_frames = 16, 30
    c.data.synthetic_motion = 4.0  # ~4 px/frame: slower motion is too small to learn flow from
    c.data.height, c.data.width = 64, 128
    c.model.ngf, c.model.n_downsample, c.model.n_blocks_enc, c.model.n_blocks_dec = 16, 2, 2, 2
    c.model.fg_ngf, c.model.fg_n_blocks, c.model.n_blocks_local = 8, 3, 2
    c.model.ndf, c.model.n_layers_D = 16, 3
    # No VGG: its ImageNet weights cannot be downloaded offline, and VGG19 costs more than G here.
    c.loss.lambda_vgg, c.loss.vgg_weights = 0.0, "none"
    # The mask learns the true occlusion the synthetic data stores (the reference only pushes it
    # towards 0 where the flow is confident), and the flow head learns the motion from the
    # ground-truth flow alone before the GAN game starts: without the warm-up, whether it learns
    # at all within a few hundred steps varied from run to run (reproduce/results/quality/).
    c.loss.mask_target = "occlusion"
    c.train.flow_warmup = 3000
    c.train.niter, c.train.niter_decay = 10, 10
    c.train.n_frames_start, c.train.n_frames_total, c.train.niter_step = 4, 16, 5
    c.train.checkpoint_every, c.train.log_every = 100, 5
    return c


PRESETS: dict[str, Callable[[], Config]] = {
    "tiny": _tiny,
    "synthetic": _synthetic,
    "cityscapes-512": _cityscapes_512,
    "cityscapes-1024": _cityscapes_1024,
    "cityscapes-2048": _cityscapes_2048,
    "face-512": _face_512,
    "pose-256": _pose_256,
    "pose-512": _pose_512,
    "pose-1024": _pose_1024,
}


def get_preset(name: str) -> Config:
    """A fresh, validated copy of the named preset (see ``PRESETS``)."""
    if not isinstance(name, str) or name not in PRESETS:
        raise ConfigError(_unknown_preset(name))
    return PRESETS[name]().validate()


def _unknown_preset(name: Any) -> str:
    """The message for a preset name that is not in ``PRESETS`` (None: an empty ``preset:`` line)."""
    if name is None:
        return f"preset is empty; expected one of {sorted(PRESETS)}"
    close = difflib.get_close_matches(str(name), PRESETS, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return f"unknown preset {name!r}; expected one of {sorted(PRESETS)}{hint}"
