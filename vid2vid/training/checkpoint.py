"""Checkpoints that survive a kill, a full disk and a power cut: atomic writes and safe loads.

A checkpoint is either a single file (the generator for inference: weights plus the config as
plain data) or a folder (Accelerate's full training state). Both are first written under a
temporary name in the same directory, flushed to disk (``fsync`` of every file and of the folder)
and only then renamed, so a reader never sees a half-written checkpoint: a run killed, or a machine
that loses power, while saving keeps the previous one intact. A write that fails (a full disk)
removes its temporary and raises :class:`CheckpointWriteError` naming the path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from vid2vid.config import ConfigError

__all__ = [
    "CheckpointMismatchError", "CheckpointWarning", "CheckpointWriteError", "atomic_directory", "atomic_save",
    "describe_mismatch", "fsync_dir", "fsync_tree", "latest_checkpoint", "list_checkpoints",
    "prune_checkpoints", "remove_temporaries", "safe_load",
]


class CheckpointWriteError(OSError):
    """Writing a checkpoint failed (a full disk, an I/O error); the message names the path. The
    temporary file or folder is removed and the previous checkpoint is left as it was."""


class CheckpointMismatchError(ConfigError):
    """A checkpoint's weights do not fit the model its configuration builds (another preset or
    other model settings); the message names the first parameter whose shape differs."""


class CheckpointWarning(UserWarning):
    """A checkpoint file was damaged or could not be used in full (the message names the file)."""


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


def fsync_tree(root: str | os.PathLike) -> None:
    """Flush every file below ``root`` and every directory (``root`` included) to disk, so that a
    rename that publishes ``root`` cannot outlive its contents after a power cut."""
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)  # an error here (EIO, ENOSPC) is a failed write: let it propagate
            finally:
                os.close(fd)
        fsync_dir(folder)


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


def atomic_directory(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Create the folder ``path`` atomically: ``write(tmp_dir)`` fills a temporary folder which is
    flushed to disk and then replaces ``path`` (an older folder of that name is removed only after
    the new one is complete)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        write(tmp)
        fsync_tree(tmp)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
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


def list_checkpoints(folder: str | os.PathLike, prefix: str = "step_") -> list[tuple[int, Path]]:
    """The complete checkpoint folders ``<folder>/<prefix><step>`` as ``(step, path)``, oldest first.
    Temporaries (``.step_N.tmp``) and other names (``step_N.broken``) are not checkpoints."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        if p.is_dir() and p.name.startswith(prefix) and p.name[len(prefix):].isdigit():
            found.append((int(p.name[len(prefix):]), p))
    return sorted(found)


def latest_checkpoint(folder: str | os.PathLike, prefix: str = "step_") -> Path | None:
    """The complete checkpoint folder ``<folder>/<prefix><step>`` with the largest step, or None."""
    found = list_checkpoints(folder, prefix)
    return found[-1][1] if found else None


def prune_checkpoints(folder: str | os.PathLike, keep: int, up_to_step: int) -> list[Path]:
    """Remove all but the newest ``keep`` checkpoints among those with a step <= ``up_to_step``.

    Checkpoints with a larger step are not the current run's past (a damaged one it fell back
    from, say): they are left alone. Returns the folders removed."""
    mine = [p for step, p in list_checkpoints(folder) if step <= up_to_step]
    removed = mine[:-max(1, keep)]
    for p in removed:
        shutil.rmtree(p, ignore_errors=True)
    return removed


def remove_temporaries(out: str | os.PathLike, checkpoints: str = "checkpoints") -> list[Path]:
    """Tidy what an interrupted write left in a run folder: the temporaries of :func:`atomic_save`
    (``.<name>.<random>.tmp`` in ``out``, ``out/snapshots`` and the checkpoints folder) and of a
    checkpoint folder (``.step_N.tmp``). A ``.step_N.old`` (a checkpoint being replaced when the run
    stopped) is put back as ``step_N`` when that name is free, else removed. Returns what was removed."""
    out = Path(out)
    removed: list[Path] = []
    for folder in (out, out / "snapshots", out / checkpoints):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if p.name.startswith(".") and p.name.endswith(".tmp"):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                removed.append(p)
            elif folder == out / checkpoints and p.name.startswith(".") and p.name.endswith(".old") \
                    and p.is_dir():
                final = p.with_name(p.name[1:-len(".old")])
                if final.exists():
                    shutil.rmtree(p, ignore_errors=True)
                    removed.append(p)
                else:
                    os.replace(p, final)
    return removed


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
