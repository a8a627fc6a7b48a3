"""Checkpoints that survive a kill: atomic writes and safe loads.

A checkpoint is either a single file (the generator for inference: weights plus the config as
plain data) or a folder (Accelerate's full training state). Both are first written under a
temporary name in the same directory and then renamed, so a reader never sees a half-written
checkpoint: a run killed while saving keeps the previous one intact.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

__all__ = ["atomic_save", "atomic_directory", "safe_load", "latest_checkpoint"]


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path`` atomically (temporary file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_directory(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Create the folder ``path`` atomically: ``write(tmp_dir)`` fills a temporary folder which
    then replaces ``path`` (an older folder of that name is removed only after the new one is
    complete)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        write(tmp)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
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


def latest_checkpoint(folder: str | os.PathLike, prefix: str = "step_") -> Path | None:
    """The complete checkpoint folder ``<folder>/<prefix><step>`` with the largest step, or None."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = []
    for p in folder.iterdir():
        if p.is_dir() and p.name.startswith(prefix) and p.name[len(prefix):].isdigit():
            found.append((int(p.name[len(prefix):]), p))
    return max(found)[1] if found else None
