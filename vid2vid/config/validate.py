"""The checks a :class:`~vid2vid.config.schema.Config` must pass beyond its field types: ranges
(``model.ngf >= 1``, ``train.beta1`` in [0, 1)) and combinations (frame sizes divisible by the
downsampling, crops within the load size, the foreground prior only with semantic labels, ...).

Every message names the config keys involved, so that a user knows what to change. Called by
:meth:`Config.validate <vid2vid.config.schema.Config.validate>` after every override and by
:func:`vid2vid.config.presets.get_preset`.
"""

from __future__ import annotations

import math

from vid2vid.config.presets import PRESETS, unknown_preset_message
from vid2vid.config.schema import Config, ConfigError

__all__ = ["SPEED_REWRITES", "parse_speed_rewrites", "validate"]

SPEED_REWRITES = ("group_norm", "channels_last")  # train.speed_rewrites' names (vid2vid.models.speed)


def parse_speed_rewrites(text: str, key: str = "train.speed_rewrites") -> tuple[str, ...]:
    """The rewrites named by comma-separated ``text`` (spaces ignored; empty: none), once each and in
    the order of :data:`SPEED_REWRITES`; an unknown name raises :class:`ConfigError` naming ``key``
    and the allowed values."""
    names = {name.strip() for name in text.split(",")} - {""}
    unknown = sorted(names - set(SPEED_REWRITES))
    if unknown:
        raise ConfigError(f"{key}={text!r}: unknown rewrite(s) {', '.join(unknown)}; expected a "
                          f"comma-separated subset of {', '.join(SPEED_REWRITES)} (empty: none)")
    return tuple(name for name in SPEED_REWRITES if name in names)


def validate(cfg: Config) -> Config:
    """Check the ranges and combinations that field types cannot express; returns ``cfg``."""
    d, m, t = cfg.data, cfg.model, cfg.train
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
    if cfg.preset not in PRESETS:
        raise ConfigError(f"preset: {unknown_preset_message(cfg.preset)}")
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
        "train.total_steps": t.total_steps, "model.feat_nc": m.feat_nc,
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
        "loss.lambda_feat": cfg.loss.lambda_feat, "loss.lambda_vgg": cfg.loss.lambda_vgg,
        "loss.lambda_flow": cfg.loss.lambda_flow, "loss.lambda_warp": cfg.loss.lambda_warp,
        "loss.lambda_temporal": cfg.loss.lambda_temporal, "loss.lambda_mask": cfg.loss.lambda_mask,
        "data.synthetic_motion": d.synthetic_motion, "train.flow_warmup_target": t.flow_warmup_target,
    }
    for key, value in non_negative_floats.items():
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{key} must be a finite number >= 0, got {value}")
    if m.mask_detach and cfg.loss.mask_target != "occlusion":
        raise ConfigError("model.mask_detach=true needs loss.mask_target=occlusion: the confidence target "
                          "only pushes the mask towards 0, and with the mask detached nothing else would "
                          "teach it where to hallucinate (set model.mask_detach=false)")
    if not 0.0 <= d.synthetic_still_camera <= 1.0:  # also refuses NaN
        raise ConfigError(f"data.synthetic_still_camera must lie in [0, 1], got {d.synthetic_still_camera}")
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
    if not m.flow_deadzone >= 0:
        raise ConfigError(f"model.flow_deadzone is a length in pixels (0 = off), got {m.flow_deadzone}")
    if m.label_occlusion and d.label_nc == 0:
        raise ConfigError("model.label_occlusion compares one-hot label maps: it needs semantic labels "
                          "(data.label_nc > 0); set model.label_occlusion=false for continuous inputs")
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
    if m.feat_nc > 0:  # the feature encoder E (multimodal synthesis)
        if m.nef < 1 or m.n_downsample_E < 0:
            raise ConfigError(f"model.nef must be >= 1 and model.n_downsample_E >= 0 when model.feat_nc > 0, "
                              f"got {m.nef} and {m.n_downsample_E}")
        if h % 2**m.n_downsample_E or w % 2**m.n_downsample_E:
            raise ConfigError(f"frame size {h} x {w} must be divisible by 2^model.n_downsample_E = "
                              f"{2 ** m.n_downsample_E} for the feature encoder (model.feat_nc={m.feat_nc}); "
                              "lower model.n_downsample_E")
    if t.n_frames_start > t.n_frames_total:
        raise ConfigError(f"train.n_frames_start={t.n_frames_start} exceeds train.n_frames_total="
                          f"{t.n_frames_total}")
    parse_speed_rewrites(t.speed_rewrites)
    if not 0.0 <= t.ema_decay < 1.0:
        raise ConfigError(f"train.ema_decay must lie in [0, 1), got {t.ema_decay}")
    if not (math.isfinite(m.face_crop) and 0.0 < m.face_crop <= 1.0):
        raise ConfigError(f"model.face_crop (the face crop's side, a fraction of the frame height) must "
                          f"lie in (0, 1], got {m.face_crop}")
    return cfg
