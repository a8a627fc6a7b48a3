"""One file format for the three future-prediction models: ``{"kind", "config", "state", "step", "info"}``.

``kind`` is ``"labels"`` (:class:`~vid2vid.prediction.labels.LabelPredictor`), ``"prednet"`` or
``"mcnet"``; ``config`` the model's dataclass as a dict; ``info`` how it was trained (data, steps,
seconds, losses). Plain data, so ``torch.load(..., weights_only=True)`` reads it
(:func:`vid2vid.models.io.safe_load`); writes are atomic (:func:`vid2vid.models.io.atomic_save`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from torch import nn

from vid2vid.models.io import atomic_save, describe_mismatch, first_nonfinite, safe_load
from vid2vid.prediction.labels import LabelPredictor, LabelPredictorConfig
from vid2vid.prediction.mcnet import MCNet, MCNetConfig
from vid2vid.prediction.prednet import PredNet, PredNetConfig

__all__ = ["KINDS", "build_model", "save_predictor", "load_predictor"]

# kind: (config class, model class, what it is)
KINDS = {
    "labels": (LabelPredictorConfig, LabelPredictor, "future label maps (vid2vid's label model)"),
    "prednet": (PredNetConfig, PredNet, "PredNet (Lotter et al. 2017), future pixels"),
    "mcnet": (MCNetConfig, MCNet, "MCNet (Villegas et al. 2017), future pixels"),
}


def build_model(kind: str, config: dict | None = None) -> nn.Module:
    """A fresh model of ``kind`` from a config dict (None: the defaults; unknown keys are refused)."""
    if kind not in KINDS:
        raise ValueError(f"unknown prediction model {kind!r}; expected one of {sorted(KINDS)}")
    cfg_cls, model_cls, _ = KINDS[kind]
    config = dict(config or {})
    known = set(cfg_cls.__dataclass_fields__)
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"{kind} model: unknown setting(s) {unknown}; known: {sorted(known)}")
    return model_cls(cfg_cls(**config))


def save_predictor(path: str | os.PathLike, kind: str, model: nn.Module, step: int, info: dict) -> Path:
    """Write ``model`` (of ``kind``) to ``path`` with ``info`` (made JSON data: what is not becomes its
    text); non-finite weights are refused (training diverged)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    bad = first_nonfinite(state.items())
    if bad is not None:
        raise ValueError(f"{path}: refusing to write a {kind} model with non-finite weights ({bad}) at "
                         f"step {step}: training has diverged")
    info = json.loads(json.dumps(info, default=str))  # plain data only: weights_only loading reads it
    return atomic_save({"kind": kind, "config": model.cfg.to_dict(), "state": state, "step": int(step),
                        "info": info}, path)


def load_predictor(path: str | os.PathLike, expect: str | None = None) -> tuple[str, nn.Module, dict]:
    """``(kind, model in eval mode, info)`` from a file of :func:`save_predictor`. ``expect``: the kind
    the caller needs; another kind, a file that is not a prediction model, or weights that do not fit
    their config raise a ``ValueError`` naming the file (a missing file: ``FileNotFoundError``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: prediction model file not found"
                                + (f" (expected a {expect} model)" if expect else ""))
    try:
        ckpt = safe_load(path)
    except RuntimeError as err:
        raise ValueError(f"{path}: not a loadable model file (torch.load failed)") from err
    if not isinstance(ckpt, dict) or ckpt.get("kind") not in KINDS or not isinstance(ckpt.get("state"), dict):
        found = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        generator = isinstance(ckpt, dict) and "generator" in ckpt
        hint = " (a vid2vid generator goes to --checkpoint)" if generator else ""
        raise ValueError(f"{path}: not a future-prediction model (expected keys kind, config, state with "
                         f"kind one of {sorted(KINDS)}; found {found}){hint}")
    kind = ckpt["kind"]
    if expect is not None and kind != expect:
        raise ValueError(f"{path}: a {kind} model ({KINDS[kind][2]}); expected a {expect} model "
                         f"({KINDS[expect][2]})")
    model = build_model(kind, ckpt.get("config"))
    problem = describe_mismatch({k: tuple(v.shape) for k, v in model.state_dict().items()},
                                {k: tuple(v.shape) for k, v in ckpt["state"].items()})
    if problem:
        raise ValueError(f"{path}: the {kind} weights do not fit the config stored with them: {problem}")
    model.load_state_dict(ckpt["state"])
    info = dict(ckpt.get("info") or {})
    info["step"] = int(ckpt.get("step", 0))
    return kind, model.eval(), info
