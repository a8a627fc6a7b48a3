"""Weights on disk: the generator checkpoint that inference reads, and the safe writes and loads
under every checkpoint of the project.

``generator.pt`` is a single file: ``{"config": dict, "generator": state_dict, "step": int}`` (plain
data, so ``torch.load(..., weights_only=True)`` reads it). :func:`export_generator` writes it and
:func:`load_generator` rebuilds ``(cfg, G, step)`` from it. The state dict holds every part of G,
the feature encoder of multimodal synthesis too (``E.*``, with ``model.feat_nc`` > 0; its cluster
centres are a file of their own, ``features.pt``, :mod:`vid2vid.multimodal`); a config written before
``model.feat_nc`` existed lacks the key and builds G without E, as it was trained. The two functions
live beside the networks, not in ``vid2vid.training``, so whatever only reads weights (``python -m
vid2vid generate``, evaluation, the notebooks) does not import the Accelerate trainer.

Writes are atomic (:func:`atomic_save`): a temporary file in the same folder, flushed to disk
(``fsync`` of the file and of the folder), then renamed, so a reader never sees a half-written file
and a kill or a power cut while saving keeps the previous one intact; a failed write (a full disk)
removes its temporary and raises :class:`CheckpointWriteError` naming the path. Loads refuse
pickled code (:func:`safe_load`), weights that do not fit the model are named in one sentence
(:func:`describe_mismatch`), and non-finite weights are never written (:class:`TrainingDiverged`).
``vid2vid.training.checkpoint`` builds the training-state folders on these.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vid2vid.config import Config, ConfigError
from vid2vid.models.generator import Generator

__all__ = [
    "CheckpointMismatchError", "CheckpointWriteError", "TrainingDiverged", "atomic_save", "describe_mismatch",
    "average_generators", "export_generator", "first_nonfinite", "fsync_dir", "load_generator", "safe_load",
]


class CheckpointWriteError(OSError):
    """Writing a checkpoint failed (a full disk, an I/O error); the message names the path. The
    temporary file or folder is removed and the previous checkpoint is left as it was."""


class CheckpointMismatchError(ConfigError):
    """A checkpoint's weights do not fit the model its configuration builds (another preset or
    other model settings); the message names the first parameter whose shape differs."""


class TrainingDiverged(RuntimeError):
    """A loss or a weight is no longer finite: the run stopped and wrote nothing more (the message names
    the step, the loss or weight and the last good checkpoint)."""


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a directory's entries (new names, renames) to disk. Not every platform or filesystem
    can open or fsync a directory (Windows, some network filesystems); there it is skipped."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path`` atomically: a temporary file beside it, fsync, rename, fsync of
    the folder. On failure the temporary is removed and ``path`` is untouched; an I/O failure (a
    full disk shows up as ``basic_ios::clear: iostream error``) raises :class:`CheckpointWriteError`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:
        Path(tmp).unlink(missing_ok=True)
        raise CheckpointWriteError(f"{path}: checkpoint write failed (disk full?): {err}") from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)  # the rename itself reaches the disk
    return path


def safe_load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint file with ``weights_only=True`` (no arbitrary code from pickles)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint file not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise RuntimeError(f"{path}: not a loadable checkpoint ({err})") from err


Shapes = Mapping[str, Sequence[int]]


def describe_mismatch(expected: Shapes, found: Shapes) -> str | None:
    """Where the tensor shapes ``found`` (a checkpoint's) differ from ``expected`` (a model's), in one
    sentence naming the first difference, or None when they agree."""
    shape_diff = [k for k in expected if k in found and tuple(expected[k]) != tuple(found[k])]
    unexpected = [k for k in found if k not in expected]
    missing = [k for k in expected if k not in found]
    problems = []
    if shape_diff:
        k = shape_diff[0]
        more = f" ({len(shape_diff) - 1} more shapes differ)" if len(shape_diff) > 1 else ""
        problems.append(f"parameter {k} has shape {list(found[k])} in the checkpoint but "
                        f"{list(expected[k])} in the model{more}")
    if unexpected:
        problems.append(f"{len(unexpected)} parameters of the checkpoint are not in the model "
                        f"(e.g. {unexpected[0]})")
    if missing:
        problems.append(f"{len(missing)} parameters of the model are not in the checkpoint "
                        f"(e.g. {missing[0]})")
    return "; ".join(problems) or None


def first_nonfinite(named: Iterable[tuple[str, torch.Tensor]]) -> str | None:
    """The name of the first floating-point tensor holding a NaN or an infinity, or None."""
    for name, v in named:
        if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            return name
    return None


def export_generator(path: str | Path, cfg: Config, G: nn.Module, step: int,
                     extra: dict | None = None) -> Path:
    """Write the inference checkpoint: ``{"config": dict, "generator": state_dict, "step": int}``
    plus the entries of ``extra`` (plain values: what else was done to the weights, e.g.
    ``"flow_refine"``). Non-finite weights are refused (:class:`TrainingDiverged`): a NaN generator
    is never written."""
    state = {k: v.detach().cpu() for k, v in G.state_dict().items()}
    bad = first_nonfinite(state.items())
    if bad is not None:
        raise TrainingDiverged(f"{path}: refusing to write a generator with non-finite weights ({bad} holds "
                               f"NaN or inf at step {step}): training has diverged")
    return atomic_save({**(extra or {}), "config": cfg.to_dict(), "generator": state, "step": int(step)},
                       path)


def _generator_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """The plain dict of a ``generator.pt``, loaded safely; anything else is refused, naming the file."""
    ckpt = safe_load(path, map_location=map_location)
    if not isinstance(ckpt, dict) or "config" not in ckpt or not isinstance(ckpt.get("generator"), dict):
        raise RuntimeError(f"{path}: not a vid2vid generator checkpoint (expected keys 'config', "
                           f"'generator'; found {sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt)})")
    return ckpt


def average_generators(paths: Sequence[str | Path], out: str | Path) -> Path:
    """Write the mean of several generator checkpoints of one run (e.g. its snapshots over the
    second half of training) as one generator checkpoint: every floating-point weight averaged,
    the configuration and the step of the last file (Polyak averaging of the iterates: a generator
    trained with batch 1 moves around a good solution from step to step, and the mean of its
    positions is closer to it than any one of them). Checkpoints with other configurations or
    weights of other shapes are refused, naming the file."""
    if len(paths) < 2:
        raise ValueError(f"averaging needs at least two generator checkpoints, got {len(paths)}")
    loaded = [(Path(f), _generator_checkpoint(f)) for f in paths]
    first, last = loaded[0], loaded[-1]
    shapes = {k: tuple(v.shape) for k, v in first[1]["generator"].items()}
    for f, ck in loaded[1:]:
        if ck["config"].get("model") != first[1]["config"].get("model"):
            raise ValueError(f"{f}: its model settings differ from {first[0]}'s; only snapshots of one run "
                             "can be averaged")
        problem = describe_mismatch(shapes, {k: tuple(v.shape) for k, v in ck["generator"].items()})
        if problem:
            raise CheckpointMismatchError(f"{f}: does not fit {first[0]}: {problem}")
    state = {}
    for k, v in last[1]["generator"].items():
        if torch.is_floating_point(v):
            state[k] = sum(ck["generator"][k].double() for _, ck in loaded).div(len(loaded)).to(v.dtype)
        else:  # counters and integer buffers: the last file's
            state[k] = v
    return atomic_save({"config": last[1]["config"], "generator": state, "step": int(last[1].get("step", 0))},
                       out)


def load_generator(path: str | Path, map_location: str | torch.device = "cpu",
                   overrides: Sequence[str] = ()) -> tuple[Config, Generator, int]:
    """Load an inference checkpoint safely (``weights_only=True``): returns ``(cfg, G, step)``.
    Weights that do not fit the configuration stored with them raise one
    :class:`CheckpointMismatchError` naming the first parameter. ``overrides`` (``key=value``)
    change the stored configuration first: settings that change how the same weights run (e.g.
    ``model.warp_mode=bicubic``); one that changes the weights' shapes is refused the same way."""
    ckpt = _generator_checkpoint(path, map_location)
    cfg = Config.from_dict(ckpt["config"], where=str(path))
    if overrides:
        cfg = cfg.override(list(overrides))
    G = Generator.from_config(cfg)
    # load_state_dict would list every mismatching tensor (a hundred lines); one sentence says it
    found = {k: tuple(v.shape) for k, v in ckpt["generator"].items() if torch.is_tensor(v)}
    problem = describe_mismatch({k: tuple(v.shape) for k, v in G.state_dict().items()}, found)
    if problem:
        raise CheckpointMismatchError(
            f"{path}: the generator weights do not fit the configuration stored with them (preset "
            f"{cfg.preset}): {problem}; the file was written by another version of vid2vid, or its config "
            "was edited or comes from another run (another preset or model settings)")
    G.load_state_dict(ckpt["generator"])
    return cfg, G.eval(), int(ckpt.get("step", 0))
