"""The fields of a vid2vid run: :class:`Config` and its four sections, one line comment per field.

    data    what is read from disk and at what size          (``cfg.data.label_nc``)
    model   the generator G and the discriminators D_I, D_V  (``cfg.model.ngf``)
    loss    the GAN form and the weights of every term       (``cfg.loss.lambda_flow``)
    train   optimiser, epochs, curricula, precision, seeds   (``cfg.train.lr``)

The defaults are the reference recipe for Cityscapes at 512 x 256 (NVIDIA/vid2vid's training options). What
:class:`Config` does with the fields lives beside it: YAML and overrides in
:mod:`vid2vid.config.coerce`, the range and combination checks in :mod:`vid2vid.config.validate`,
the named recipes in :mod:`vid2vid.config.presets`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CITYSCAPES_FOREGROUND_IDS", "SECTIONS", "ConfigError", "DataConfig", "ModelConfig", "LossConfig",
    "TrainConfig", "Config",
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
    input_nc: int = 3  # channels of a continuous input map (label_nc == 0): 1 or 3 images, any .npy
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
    # most this many (0: never); `python -m vid2vid check ROOT` prints the files/s of a machine
    synthetic_sequences: int = 0  # > 0: train sequences of the built-in dataset made at root if missing,
    # by reproduce/train.py only where root is the preset's own or this key is set explicitly
    synthetic_frames: int = 30  # frames per generated synthetic sequence
    synthetic_motion: float = 1.0  # multiplies the synthetic camera and car speeds (SyntheticConfig's)
    synthetic_foreground_palette: bool = False  # synthetic cars and clothes in one fixed colour per part, so
    # that the foreground looks as its labels say (SyntheticConfig.foreground_palette)
    synthetic_still_camera: float = 0.0  # fraction in [0, 1] of synthetic sequences whose camera neither
    # pans, zooms nor rolls: static background pixels (SyntheticConfig.still_camera)

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
    """The generator G and the discriminators D_I, D_V (the paper's Section 3; the reference code's sizes)."""

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
    flow_context: bool = False  # add the bottleneck's frame-mean to the flow features (not in the reference)
    flow_detach: bool = False  # warp along w.detach(): only the flow losses train W (not in the reference)
    flow_branch: Literal["shared", "separate", "labels"] = "shared"  # W and M on the image encoders, on
    # encoders of their own ("separate"), or on their own label encoder alone ("labels": no previous frames)
    mask_detach: bool = False  # compose with m.detach(): only the mask loss trains M (not in the reference)
    upsample: Literal["resize", "transposed"] = "resize"  # decoders' 2x upsampling; "transposed" = reference
    warp_mode: Literal["bilinear", "bicubic"] = "bilinear"  # how G resamples x~_{t-1} along w (reference:
    # bilinear, which blurs a little at every fractional shift: along a camera pan the rollout's detail
    # fades frame after frame; bicubic keeps more of it)
    flow_deadzone: float = 0.0  # pixels: G warps x~_{t-1} along w only where |w| >= this (0 = everywhere,
    # the reference). A predicted motion shorter than it is taken as none: each bilinear warp by a
    # fractional shift blurs, so a flow that is a few tenths of a pixel off zero where nothing moves
    # smears a still scene frame after frame. The flow losses still train the raw w. Not in the reference
    label_occlusion: bool = False  # hallucinate where the previous label map, warped along w, disagrees
    # with the current one (a road pixel that would copy a car's) or w reads outside the previous frame
    # (content entering it): x~ = (1 - m') warp + m' h with
    # 1 - m' = (1 - m) * agreement. Needs one-hot labels (data.label_nc > 0); not in the reference
    feat_nc: int = 0  # multimodal: channels of the per-instance feature map E adds to each frame's labels;
    # 0 = no feature encoder (reference: 3 street scenes, 16 faces); `python -m vid2vid features` clusters it
    nef: int = 16  # width of the feature encoder E's first layer (reference 16)
    n_downsample_E: int = 4  # stride-2 convolutions of E (reference 4); frame sides divisible by 2^this
    # discriminators
    ndf: int = 64  # width of the discriminators' first layer
    n_layers_D: int = 3  # stride-2 4x4 convolutions per PatchGAN
    num_D: int = 2  # spatial scales of each multi-scale discriminator (input pyramid)
    norm_D: Literal["instance", "batch", "none"] = "instance"  # normalisation in the discriminators
    use_video_discriminator: bool = True  # D_V, the conditional video discriminator (ablation switch)
    n_frames_D: int = 3  # K: consecutive frames D_V sees, conditioned on the K - 1 flows between them
    n_temporal_scales: int = 2  # temporal scales of D_V; scale s samples frames K^s apart (K = n_frames_D)
    use_face_D: bool = False  # the reference's face discriminator (pose, 512 px and up); needs _keypoints
    face_crop: float = 0.25  # side of its square face crop, a fraction of the frame height (reference 1/4)


@dataclass
class LossConfig:
    """The objective (the paper's Section 3) and the reference code's weights."""

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
    """Optimisation and the temporal / spatial curricula (the reference code's recipe)."""

    lr: float = 2e-4  # Adam learning rate of G and D
    beta1: float = 0.5  # Adam beta1
    beta2: float = 0.999  # Adam beta2
    ttur: bool = False  # two time-scale update rule: G lr / 2, D_I lr * 2 (D_V keeps lr), betas (0, 0.9)
    niter: int = 10  # epochs at the initial learning rate
    niter_decay: int = 10  # epochs of linear decay to zero after niter
    total_steps: int = 0  # > 0: the run lasts this many steps and every epoch count of the schedules
    # (niter, niter_decay, niter_step, niter_fix_global) becomes a share of them: "epoch" e spans steps
    # [e S / E, (e + 1) S / E), S = total_steps, E = niter + niter_decay; 0 = train E epochs
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
    mixed_precision: Literal["no", "fp16", "bf16", "auto"] = "no"  # autocast precision (Accelerate's);
    # "auto": bf16 where the CPU / GPU computes in bf16 natively, fp32 elsewhere (vid2vid.machine)
    compile: bool = False  # torch.compile G and the discriminators (in place; the first steps compile)
    speed_rewrites: str = ""  # comma-separated subset of group_norm, channels_last: same parameters and
    # outputs, other kernels (vid2vid.models.speed; `reproduce/benchmark.py --rewrites` times them); "" = none
    checkpoint_every: int = 1000  # optimisation steps between checkpoints
    keep_checkpoints: int = 3  # most recent training-state checkpoints kept on disk
    snapshot_every: int = 0  # steps between kept copies of generator.pt (snapshots/step_N.pt); 0 = none
    sample_every: int = 0  # steps between sample frames and videos (also after the first); 0: at the end
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

    # The methods below delegate to the sibling modules, imported when called: those modules read
    # this one's field types (and the presets build Configs), so importing them here would be a cycle.

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
        from vid2vid.config.coerce import config_from_dict

        return config_from_dict(d, where)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> Config:
        """Load a YAML file (see :meth:`from_dict`); errors name the file. A missing file raises
        FileNotFoundError, invalid YAML or settings :class:`ConfigError`."""
        from vid2vid.config.coerce import config_from_yaml

        return config_from_yaml(path)

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        """The YAML text of this config; also written to ``path`` when given."""
        from vid2vid.config.coerce import config_to_yaml

        return config_to_yaml(self, path)

    # ----------------------------------------------------------------- overrides
    def override(self, items: Iterable[str] | Mapping[str, Any]) -> Config:
        """A validated copy with ``["section.key=value", ...]`` (values parsed as YAML) or
        ``{"section.key": value}`` applied."""
        from vid2vid.config.coerce import override

        return override(self, items)

    def validate(self) -> Config:
        """Check the ranges and combinations that field types cannot express; returns self."""
        from vid2vid.config.validate import validate

        return validate(self)
