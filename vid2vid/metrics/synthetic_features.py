"""A video feature network for the built-in synthetic street domain, and its training.

Kinetics networks (I3D, ResNeXt) know nothing of the synthetic street videos (64 x 128, flat
textures, slow camera pans): an FID on their features would mostly measure domain mismatch. This
small 3D CNN is trained on the synthetic domain itself, on a proxy task that needs both appearance
and temporal coherence, so that the Fréchet distance of its features responds to what a
video-to-video generator gets wrong:

- **corruption class** (5-way): a real clip, or one of four corruptions typical of generated
  video: ``shuffled`` frames (a permutation, or two swapped frames), per-frame colour ``flicker``
  (random gain and offset per frame and channel), ``blur`` (some frames replaced by a Gaussian-
  blurred copy), ``stutter`` (a frame dropped or duplicated);
- **camera direction** (2-way): the sign of the camera pan (``meta["camera_velocity"]`` of
  :func:`vid2vid.data.synthetic.generate_sequence`), for every clip whose frame order is intact
  and whose camera pans (a still camera has no direction).

Network: four ``Conv3d`` 3x3x3 + batch norm + ReLU stages (8, 16, 32, 128 channels; strides
(1,2,2), (1,2,2), (2,2,2), (2,2,2)) on clips of 8 frames of 64 x 128 in ``[-1, 1]``, given the frames
and their differences ``x_t - x_{t-1}`` (6 input channels); the features are the global average
pool of the last stage (128-d), the input of the two linear heads.

Training data are generated in memory with seeds disjoint from the datasets written by
:func:`vid2vid.data.synthetic.write_dataset` (which uses ``[seed, 0 | 1, i]`` for train / test):
sequence ``i`` here is ``generate_sequence([seed + 10_000, 2, i])`` for training and
``[seed + 10_000, 3, i]`` for the held-out evaluation, with the settings of the data the network
will measure (``scene``: motion, foreground palette, still-camera fraction; stored with the weights,
so an evaluation can refuse a network trained on other scenes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

if TYPE_CHECKING:
    from vid2vid.data.synthetic import SyntheticConfig

__all__ = ["CORRUPTIONS", "FEATURE_SEED_OFFSET", "FeatureNetConfig", "FeatureNetTraining",
           "SyntheticFeatureNet", "corrupt_clip", "evaluate_feature_net", "load_feature_net",
           "make_clip_bank", "save_feature_net", "scene_mismatch", "train_feature_net"]

CORRUPTIONS = ("real", "shuffled", "flicker", "blur", "stutter")
FEATURE_SEED_OFFSET = 10_000  # generate_sequence([seed + offset, split, i]), disjoint from write_dataset
TRAIN_SPLIT, HELD_OUT_SPLIT = 2, 3  # write_dataset uses split indices 0 (train) and 1 (test)
FORMAT = "vid2vid-synthetic-feature-net"


@dataclass
class FeatureNetConfig:
    """Shape of the synthetic feature network (stored with its weights)."""

    clip_length: int = 8  # frames per clip
    height: int = 64  # input frame height, pixels (clips are resized to it)
    width: int = 128  # input frame width, pixels
    channels: tuple[int, ...] = (8, 16, 32, 128)  # Conv3d widths; the last is the feature dimension
    temporal_strides: tuple[int, ...] = (1, 1, 2, 2)  # time stride per stage (space always strides 2)

    def __post_init__(self) -> None:
        self.channels, self.temporal_strides = tuple(self.channels), tuple(self.temporal_strides)
        if len(self.channels) != len(self.temporal_strides) or not self.channels:
            raise ValueError(f"FeatureNetConfig: channels {self.channels} and temporal_strides "
                             f"{self.temporal_strides} must be non-empty and of equal length")
        if self.clip_length < 2:
            raise ValueError(f"FeatureNetConfig.clip_length: expected >= 2 frames, found {self.clip_length}")


@dataclass
class FeatureNetTraining:
    """Settings of :func:`train_feature_net` (defaults: a few minutes on a 2-core CPU)."""

    steps: int = 400  # Adam steps
    batch_size: int = 24  # clips per step
    lr: float = 2e-3  # Adam learning rate (cosine decay to 5% over the steps)
    train_sequences: int = 48  # generated training sequences
    held_out_sequences: int = 16  # generated held-out sequences (other seeds)
    frames: int = 24  # frames per generated sequence
    held_out_clips: int = 4  # clips per held-out sequence and corruption
    direction_weight: float = 0.5  # weight of the camera-direction loss
    seed: int = 0  # seeds the sequences (plus FEATURE_SEED_OFFSET), the clips and the initialisation
    log_every: int = 50  # steps between log lines (0 = quiet)


class SyntheticFeatureNet(nn.Module):
    """Small 3D CNN: clips ``[N, 3, T, H, W]`` in ``[-1, 1]`` -> features ``[N, channels[-1]]``.

    :meth:`forward` returns ``(features, corruption_logits [N, 5], direction_logits [N, 2])``.
    """

    def __init__(self, config: FeatureNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or FeatureNetConfig()
        layers: list[nn.Module] = []
        c_in = 6  # the frames and their temporal differences (see features())
        for c_out, st in zip(self.config.channels, self.config.temporal_strides, strict=True):
            layers += [nn.Conv3d(c_in, c_out, kernel_size=3, stride=(st, 2, 2), padding=1, bias=False),
                       nn.BatchNorm3d(c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.feature_dim = c_in
        self.corruption_head = nn.Linear(c_in, len(CORRUPTIONS))
        self.direction_head = nn.Linear(c_in, 2)

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        """``[N, 3, T, H, W]`` in ``[-1, 1]`` -> the last stage's global average pool ``[N, feature_dim]``."""
        # Frame differences x_t - x_{t-1} (0 for the first frame) as extra input channels: the
        # temporal corruptions (flicker, stutter, shuffling) show there first.
        diff = torch.cat([torch.zeros_like(clips[:, :, :1]), clips[:, :, 1:] - clips[:, :, :-1]], dim=2)
        return self.body(torch.cat([clips, diff], dim=1)).mean(dim=(2, 3, 4))

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = self.features(clips)
        return f, self.corruption_head(f), self.direction_head(f)


# ---------------------------------------------------------------------------- data and corruptions


def make_clip_bank(n_sequences: int, split: int, seed: int, frames: int, height: int, width: int,
                   scene: SyntheticConfig | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate synthetic sequences in memory.

    ``scene``: the generator's settings (motion, foreground palette, still-camera fraction; its
    sizes are replaced by ``frames``, ``height`` and ``width``); default :class:`SyntheticConfig`'s.

    Returns:
        ``uint8 [S, T, 3, H, W]`` frames and ``int64 [S]`` camera directions (1 = pans right,
        ``camera_velocity > 0``; 0 = left; -1 = a still camera, which has no direction). Sequence
        ``i`` is ``generate_sequence([seed + 10_000, split, i])``.
    """
    from vid2vid.data.synthetic import SyntheticConfig, generate_sequence

    cfg = replace(scene or SyntheticConfig(), height=height, width=width, frames=frames)
    videos, directions = [], []
    for i in range(n_sequences):
        seq = generate_sequence([seed + FEATURE_SEED_OFFSET, split, i], cfg)
        videos.append(torch.from_numpy(seq.rgb).permute(0, 3, 1, 2))
        velocity = seq.meta["camera_velocity"]
        directions.append(int(velocity > 0) if velocity != 0 else -1)
    return torch.stack(videos), torch.tensor(directions, dtype=torch.int64)


def _gaussian_blur(frames: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[T, 3, H, W]`` (reflect padding)."""
    radius = max(1, math.ceil(2.5 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=frames.dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    c = frames.shape[1]
    out = F.pad(frames, (radius, radius, 0, 0), mode="reflect")
    out = F.conv2d(out, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    out = F.pad(out, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(out, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def corrupt_clip(window: torch.Tensor, kind: str, rng: np.random.Generator) -> torch.Tensor:
    """Turn a window of ``T + 1`` real frames ``[T + 1, 3, H, W]`` in ``[-1, 1]`` into a clip of ``T``.

    ``kind`` is one of :data:`CORRUPTIONS`; ``"real"`` returns the first ``T`` frames unchanged.
    The extra frame lets ``stutter`` drop a frame and still return ``T``.
    """
    t = window.shape[0] - 1
    clip = window[:t].clone()
    if kind == "real":
        return clip
    if kind == "shuffled":
        if rng.random() < 0.5:  # two frames swapped: a local break of temporal order
            i, j = rng.choice(t, size=2, replace=False)
            order = np.arange(t)
            order[[i, j]] = order[[j, i]]
        else:  # a random permutation, neither the identity nor the reversal (a plausible clip)
            while True:
                order = rng.permutation(t)
                if not (np.all(order == np.arange(t)) or np.all(order == np.arange(t)[::-1])):
                    break
        return clip[torch.from_numpy(order)]
    if kind == "flicker":
        amount = rng.uniform(0.04, 0.2)
        gain = 1 + torch.from_numpy(rng.uniform(-amount, amount, (t, 3, 1, 1))).float()
        offset = torch.from_numpy(rng.uniform(-amount, amount, (t, 1, 1, 1))).float()
        return ((clip + 1) * gain + offset - 1).clamp(-1, 1)
    if kind == "blur":
        n = int(rng.integers(1, t + 1))
        idx = torch.from_numpy(rng.choice(t, size=n, replace=False))
        clip[idx] = _gaussian_blur(clip[idx], float(rng.uniform(0.8, 2.0)))
        return clip
    if kind == "stutter":
        k = int(rng.integers(1, t))
        if rng.random() < 0.5:  # frame k repeats frame k - 1 (a freeze)
            clip[k] = clip[k - 1]
            return clip
        return torch.cat([window[:k], window[k + 1:]])  # frame k dropped (a jump)
    raise ValueError(f"unknown corruption {kind!r}; expected one of {CORRUPTIONS}")


def _sample_batch(bank: torch.Tensor, directions: torch.Tensor, n: int, clip_length: int,
                  rng: np.random.Generator, kinds: list[int] | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` clips ``[n, 3, T, H, W]`` with corruption labels, directions and a direction mask."""
    s, frames = bank.shape[:2]
    clips, labels, dirs, valid = [], [], [], []
    for i in range(n):
        seq = int(rng.integers(s))
        start = int(rng.integers(frames - clip_length))
        window = bank[seq, start:start + clip_length + 1].float() / 127.5 - 1  # [T + 1, 3, H, W]
        direction = int(directions[seq])
        if rng.random() < 0.5:  # mirror: the camera pans the other way (a still one stays still)
            window, direction = window.flip(-1), 1 - direction if direction >= 0 else direction
        kind = kinds[i] if kinds is not None else int(rng.integers(len(CORRUPTIONS)))
        clips.append(corrupt_clip(window, CORRUPTIONS[kind], rng).permute(1, 0, 2, 3))
        labels.append(kind)
        dirs.append(direction)
        # a shuffled clip has no single direction, nor has a still camera's
        valid.append(CORRUPTIONS[kind] != "shuffled" and direction >= 0)
    return (torch.stack(clips), torch.tensor(labels), torch.tensor(dirs), torch.tensor(valid))


# ---------------------------------------------------------------------------- training


def _losses(model: SyntheticFeatureNet, batch, direction_weight: float) -> tuple[torch.Tensor, dict]:
    clips, labels, dirs, valid = batch
    _, logits, dir_logits = model(clips)
    loss_c = F.cross_entropy(logits, labels)
    loss_d = F.cross_entropy(dir_logits[valid], dirs[valid]) if valid.any() else logits.new_zeros(())
    stats = {"corruption_correct": logits.argmax(1) == labels,
             "direction_correct": (dir_logits.argmax(1) == dirs)[valid]}
    return loss_c + direction_weight * loss_d, stats


@torch.no_grad()
def evaluate_feature_net(model: SyntheticFeatureNet, bank: torch.Tensor, directions: torch.Tensor,
                         clips_per_kind: int, seed: int) -> dict:
    """Loss and accuracy on a fixed set of clips: ``clips_per_kind`` of every corruption per sequence.

    The clips depend on ``seed`` only, so two models evaluated with one seed see the same clips.
    Returns ``{"loss", "accuracy", "per_class", "direction_accuracy", "clips"}``.
    """
    was_training = model.training
    model.eval()
    rng = np.random.default_rng([seed, 7])
    n = bank.shape[0] * clips_per_kind
    correct = {k: 0 for k in CORRUPTIONS}
    dir_correct = dir_total = 0
    loss_sum = 0.0
    for k, name in enumerate(CORRUPTIONS):
        for start in range(0, n, 32):
            size = min(32, n - start)
            batch = _sample_batch(bank, directions, size, model.config.clip_length, rng, kinds=[k] * size)
            loss, stats = _losses(model, batch, 1.0)
            loss_sum += loss.item() * size
            correct[name] += int(stats["corruption_correct"].sum())
            dir_correct += int(stats["direction_correct"].sum())
            dir_total += int(stats["direction_correct"].numel())
    model.train(was_training)
    per_class = {k: v / n for k, v in correct.items()}
    total = n * len(CORRUPTIONS)
    return {"loss": loss_sum / total, "accuracy": sum(correct.values()) / total, "per_class": per_class,
            "direction_accuracy": dir_correct / max(dir_total, 1), "clips": total}


def train_feature_net(config: FeatureNetConfig | None = None, training: FeatureNetTraining | None = None,
                      log: Callable[[str], None] | None = print, scene: SyntheticConfig | None = None
                      ) -> tuple[SyntheticFeatureNet, dict]:
    """Train :class:`SyntheticFeatureNet` on generated sequences of ``scene`` (the settings of the
    data it will measure: :meth:`SyntheticConfig.from_data_config`; default :class:`SyntheticConfig`'s);
    return it and a report.

    The report holds ``losses`` (per step), ``held_out`` (:func:`evaluate_feature_net` on the
    held-out sequences: ``loss``, corruption ``accuracy``, ``per_class``, ``direction_accuracy``),
    ``held_out_before_training`` (the same for the initial network), ``seconds`` (data
    generation, training and evaluation) and ``scene`` (the generator's settings, sizes included).
    """
    from vid2vid.data.synthetic import SyntheticConfig

    config, training = config or FeatureNetConfig(), training or FeatureNetTraining()
    if training.frames < config.clip_length + 1:
        raise ValueError(f"FeatureNetTraining.frames ({training.frames}) must exceed the clip length "
                         f"({config.clip_length}) by at least 1")
    started = time.perf_counter()
    torch.manual_seed(training.seed)
    rng = np.random.default_rng([training.seed, FEATURE_SEED_OFFSET])
    size = (training.frames, config.height, config.width)
    scene = replace(scene or SyntheticConfig(), frames=training.frames, height=config.height,
                    width=config.width)
    bank, directions = make_clip_bank(training.train_sequences, TRAIN_SPLIT, training.seed, *size, scene)
    held_bank, held_dirs = make_clip_bank(training.held_out_sequences, HELD_OUT_SPLIT, training.seed, *size,
                                          scene)
    if log:
        log(f"generated {bank.shape[0]} training and {held_bank.shape[0]} held-out sequences of "
            f"{training.frames} frames at {config.height}x{config.width} "
            f"in {time.perf_counter() - started:.1f} s")

    model = SyntheticFeatureNet(config)
    before = evaluate_feature_net(model, held_bank, held_dirs, training.held_out_clips, training.seed)
    opt = torch.optim.Adam(model.parameters(), lr=training.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s / max(training.steps, 1), 1.0))))
    losses: list[float] = []
    for step in range(1, training.steps + 1):
        model.train()
        batch = _sample_batch(bank, directions, training.batch_size, config.clip_length, rng)
        loss, stats = _losses(model, batch, training.direction_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if log and training.log_every and (step % training.log_every == 0 or step == training.steps):
            recent = float(np.mean(losses[-training.log_every:]))
            log(f"step {step}/{training.steps}  loss {recent:.3f}  "
                f"batch accuracy {stats['corruption_correct'].float().mean():.2f}  "
                f"{time.perf_counter() - started:.0f} s")
    held_out = evaluate_feature_net(model, held_bank, held_dirs, training.held_out_clips, training.seed)
    report = {"losses": losses, "held_out": held_out, "held_out_before_training": before,
              "seconds": time.perf_counter() - started,
              "config": asdict(config), "training": asdict(training), "scene": asdict(scene)}
    return model.eval(), report


# ---------------------------------------------------------------------------- files


def save_feature_net(model: SyntheticFeatureNet, path: str | Path, report: dict | None = None) -> Path:
    """Save weights and config as a plain dict (``torch.load(..., weights_only=True)`` reads it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT, "version": 1, "config": asdict(model.config), "feature_dim": model.feature_dim,
        "layer": _layer_name(model.config), "corruptions": list(CORRUPTIONS),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    if report is not None:
        payload["held_out"] = report.get("held_out", {})
        payload["training"] = report.get("training", {})
        payload["scene"] = report.get("scene", {})
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # never leave a half-written file under the final name
    return path


def load_feature_net(path: str | Path) -> tuple[SyntheticFeatureNet, dict]:
    """Load a file written by :func:`save_feature_net`: ``(model in eval mode, the stored dict)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no synthetic feature-net file; train one with "
                                f"`python reproduce/train_feature_net.py`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: not a readable feature-net file ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"{path}: expected a dict with format {FORMAT!r} (from save_feature_net), "
                         f"found {found!r}")
    model = SyntheticFeatureNet(FeatureNetConfig(**payload["config"]))
    missing, unexpected = _key_mismatch(model.state_dict(), payload["state_dict"])
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not match the stored config; missing keys {missing}, "
                         f"unexpected keys {unexpected}")
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload


def scene_mismatch(stored: dict | None, scene: SyntheticConfig) -> str | None:
    """How the scenes a feature network was trained on (``stored``: the ``"scene"`` of its file)
    differ from ``scene``, in words naming the ``data.synthetic_*`` key; ``None`` when they agree. A
    file without the record was trained on :class:`SyntheticConfig`'s defaults."""
    from vid2vid.data.synthetic import SyntheticConfig

    return scene.recorded_mismatch(stored or asdict(SyntheticConfig()))


def _key_mismatch(expected: dict, found: dict) -> tuple[list[str], list[str]]:
    return sorted(set(expected) - set(found)), sorted(set(found) - set(expected))


def _layer_name(config: FeatureNetConfig) -> str:
    return f"global average pool of Conv3d stage {len(config.channels)} ({config.channels[-1]}-d)"

