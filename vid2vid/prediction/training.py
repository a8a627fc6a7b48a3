"""Training of the three future-prediction models on one budget: the same windows, steps and batch.

Every model sees windows of ``K + R`` consecutive training frames (:func:`~vid2vid.prediction.data.
sample_windows`, mirrored at random), observes the first ``K`` and predicts the other ``R`` with its
own predictions fed back (back-propagation through the roll-out); the same seed draws the same
windows for every model. The losses are each method's own:

- ``labels``: cross-entropy of the predicted class probabilities
  (:func:`~vid2vid.prediction.labels.label_loss`), plus, where the dataset has flow (``_flow``
  folders: the synthetic data's exact flow, or ``python -m vid2vid flow``), ``flow_weight`` times the
  L1 distance of the predicted flows ``w~`` to it on pixels visible in the previous frame. vid2vid's
  own W learns from the same kind of flow loss (``L_W``); without it the flow learns only through the
  label boundaries that the bilinear warp moves, and slowly;
- ``prednet``: PredNet's ``L_0``, the mean absolute error of the pixel predictions of every frame but
  the first (the observed ones too, as PredNet trains);
- ``mcnet``: MCNet's ``L_2 + L_gdl`` on the ``R`` predicted frames (no GAN term).

Adam with the learning rate of :data:`DEFAULT_LR` (per model, see there), constant for the first
60 % of the steps, then decayed linearly to zero.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vid2vid.prediction.checkpoint import KINDS, build_model
from vid2vid.prediction.data import Clip, sample_windows, vocabulary
from vid2vid.prediction.labels import label_loss, rollout_labels
from vid2vid.prediction.mcnet import gradient_difference_loss

__all__ = ["PredictionTraining", "DEFAULT_LR", "train_predictor", "window_loss"]

# Adam learning rates, not tuned: PredNet's paper uses 1e-3; MCNet's uses 1e-4, raised here to 5e-4
# for a budget of about a thousand steps; the label model uses 1e-3.
DEFAULT_LR = {"labels": 1e-3, "prednet": 1e-3, "mcnet": 5e-4}


@dataclass
class PredictionTraining:
    """The training budget and windows, the same for every model of a comparison."""

    steps: int = 1000  # optimizer steps
    batch_size: int = 4  # windows per step
    n_past: int = 4  # K: observed frames per window
    n_future: int = 6  # R: frames predicted (and back-propagated through) per window
    lr: float = 0.0  # Adam learning rate; 0 = the model's DEFAULT_LR
    seed: int = 0  # initial weights and the windows drawn
    flip: bool = True  # mirror windows left-right at random
    log_every: int = 50  # steps between entries of the loss log
    flow_weight: float = 0.1  # labels: weight of the per-pixel L1 loss to the dataset's flow (if it has one)
    model: dict = field(default_factory=dict)  # the model's own settings (e.g. {"channels": [3, 16, 32]})

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "n_past", "n_future", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"PredictionTraining.{name}: expected >= 1, found {getattr(self, name)}")
        for name in ("lr", "flow_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"PredictionTraining.{name}: expected >= 0, found {getattr(self, name)}")


def window_loss(kind: str, model: nn.Module, batch: dict[str, Tensor], n_past: int,
                flow_weight: float = 0.0) -> Tensor:
    """The training loss of one batch of windows (module docstring)."""
    if kind == "labels":
        labels, inst = batch["labels"], batch.get("inst") if model.cfg.use_instance else None
        out = rollout_labels(model, labels[:, :n_past], labels.shape[1] - n_past,
                             None if inst is None else inst[:, :n_past], where="training window")
        loss = label_loss(out.probs, labels[:, n_past:], model.classes)
        if flow_weight > 0 and "flow" in batch:  # L1 to the true flow on pixels visible in t-1
            visible = ~batch["occlusion"][:, n_past:, None]
            err = (out.flows - batch["flow"][:, n_past:]).abs() * visible
            loss = loss + flow_weight * err.sum() / (2 * visible.sum()).clamp_min(1)
        return loss
    frames = batch["frames"]
    if kind == "prednet":
        pred = model(frames, n_observed=n_past)
        return (pred[:, 1:] - frames[:, 1:]).abs().mean() / 2  # E_0 in PredNet's [0, 1] units
    if kind == "mcnet":
        pred, target = model(frames, n_observed=n_past), frames[:, n_past:]
        return F.mse_loss(pred, target) + gradient_difference_loss(pred, target)
    raise ValueError(f"unknown prediction model {kind!r}; expected one of {sorted(KINDS)}")


def train_predictor(kind: str, clips: list[Clip], training: PredictionTraining | None = None,
                    progress: Callable[[dict], None] | None = None) -> tuple[nn.Module, dict]:
    """Train a model of ``kind`` on the sequences ``clips`` (:func:`~vid2vid.prediction.data.load_split`).

    Returns ``(model in eval mode, info)``; ``info`` holds the settings, the vocabulary (labels), the
    loss log (every ``log_every`` steps: the mean loss since the last entry) and the seconds taken.
    ``progress`` is called with every log entry."""
    t = training or PredictionTraining()
    if kind not in KINDS:
        raise ValueError(f"unknown prediction model {kind!r}; expected one of {sorted(KINDS)}")
    if kind != "labels" and any(c.frames is None for c in clips):
        raise ValueError(f"a {kind} model learns from RGB frames: read the sequences with frames=True")
    if kind == "mcnet" and t.n_past < 2:
        raise ValueError(f"MCNet reads frame differences: n_past must be >= 2, got {t.n_past}")
    torch.manual_seed(t.seed)
    config = dict(t.model)
    if kind == "labels":
        config.setdefault("classes", vocabulary(clips))
        config.setdefault("n_past", t.n_past)
        config.setdefault("use_instance", all(c.inst is not None for c in clips))
        if config["n_past"] != t.n_past:
            raise ValueError(f"the label model's n_past ({config['n_past']}) must equal the windows' "
                             f"n_past ({t.n_past})")
    model = build_model(kind, config).train()
    lr = t.lr or DEFAULT_LR[kind]
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999))
    keep = max(1, round(0.6 * t.steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 1.0 if s < keep else max(0.0, (t.steps - s) / max(1, t.steps - keep)))
    gen = torch.Generator().manual_seed(t.seed)
    log, running, t0 = [], [], time.time()
    for step in range(1, t.steps + 1):
        batch = sample_windows(clips, t.batch_size, t.n_past + t.n_future, gen, t.flip)
        loss = window_loss(kind, model, batch, t.n_past, t.flow_weight)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"{kind} training diverged at step {step} (loss {value})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running.append(value)
        if step % t.log_every == 0 or step == t.steps:
            entry = {"step": step, "loss": sum(running) / len(running), "seconds": round(time.time() - t0, 1)}
            log.append(entry)
            running = []
            if progress is not None:
                progress(entry)
    info = {"training": asdict(t), "lr": lr, "log": log, "seconds": time.time() - t0,
            "parameters": sum(p.numel() for p in model.parameters())}
    return model.eval(), info
