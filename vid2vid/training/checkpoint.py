"""Training checkpoints that survive a kill, a full disk and a power cut: atomic folders, and the
tidying, listing and pruning of a run's ``checkpoints/step_<N>/``.

A training checkpoint is a folder (Accelerate's full training state). It is first written under a
temporary name in the same directory, flushed to disk (``fsync`` of every file and of the folder)
and only then renamed, so a reader never sees a half-written checkpoint: a run killed, or a machine
that loses power, while saving keeps the previous one intact. A write that fails (a full disk)
removes its temporary and raises :class:`CheckpointWriteError` naming the path.

The single-file writes and safe loads (:func:`atomic_save`, :func:`safe_load`, the generator's
``generator.pt``) and the errors they raise live in :mod:`vid2vid.models.io`, below training, so
that reading weights needs no trainer; they are re-exported here under their old names.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from vid2vid.models.io import (
    CheckpointMismatchError,
    CheckpointWriteError,
    atomic_save,
    describe_mismatch,
    fsync_dir,
    safe_load,
)

__all__ = [
    "CheckpointMismatchError", "CheckpointWarning", "CheckpointWriteError", "atomic_directory", "atomic_save",
    "describe_mismatch", "fsync_dir", "fsync_tree", "latest_checkpoint", "list_checkpoints",
    "prune_checkpoints", "remove_temporaries", "safe_load",
]


class CheckpointWarning(UserWarning):
    """A checkpoint file was damaged or could not be used in full (the message names the file)."""


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

