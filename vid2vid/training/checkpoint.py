"""Training checkpoints that survive a kill, a full disk and a power cut: atomic folders, and the
tidying, listing and pruning of a run's ``checkpoints/step_<N>/``, and the loading of the newest
one that loads.

A training checkpoint is a folder (Accelerate's full training state). It is first written under a
temporary name in the same directory, flushed to disk (``fsync`` of every file and of the folder)
and only then renamed, so a reader never sees a half-written checkpoint: a run killed, or a machine
that loses power, while saving keeps the previous one intact. A write that fails (a full disk)
removes its temporary and raises :class:`CheckpointWriteError` naming the path.

The single-file writes and safe loads (:func:`atomic_save`, :func:`safe_load`, the generator's
``generator.pt``) and the errors they raise live in :mod:`vid2vid.models.io`, below training, so
that reading weights needs no trainer; they are re-exported here under their old names.

A resumed run loads the newest checkpoint that loads (:func:`load_newest`): one with a missing,
truncated or unreadable file (:class:`DamagedCheckpoint`, found by :func:`check_model_files` and
:func:`damaged_file`) is skipped with a :class:`CheckpointWarning` naming the file; one written for
another configuration raises :class:`CheckpointMismatchError` with :func:`config_difference` as advice.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from vid2vid.models.io import (
    CheckpointMismatchError,
    CheckpointWriteError,
    atomic_save,
    describe_mismatch,
    fsync_dir,
    safe_load,
)

if TYPE_CHECKING:
    from vid2vid.config import Config

__all__ = [
    "CheckpointMismatchError", "CheckpointWarning", "CheckpointWriteError", "DamagedCheckpoint",
    "atomic_directory", "atomic_save", "check_model_files", "check_random_state", "config_difference",
    "damaged_file", "describe_mismatch", "first_sentence", "fsync_dir", "fsync_tree", "latest_checkpoint",
    "list_checkpoints", "load_newest", "prune_checkpoints", "remove_temporaries", "safe_load",
]

T = TypeVar("T")


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



# ---------------------------------------------------------------------- loading, with fallback
class DamagedCheckpoint(Exception):
    """A file of a checkpoint folder is missing, truncated or unreadable (the message names it)."""


def first_sentence(err: BaseException) -> str:
    """The first sentence of an error message, for a one-line warning."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text.split(". ")[0][:300]


def damaged_file(ckpt: Path) -> str | None:
    """After a failed load: the first file of a checkpoint folder that does not load on its own,
    as ``"<file>: damaged or truncated (<why>)"``, or None when every file loads."""
    from accelerate.utils.other import load
    from safetensors import safe_open

    for f in sorted(ckpt.iterdir()):
        try:
            if f.suffix == ".safetensors":
                with safe_open(str(f), framework="pt") as st:
                    for k in st.keys():
                        st.get_tensor(k)
            elif f.suffix in (".bin", ".pt"):
                load(f, map_location="cpu")
        except Exception as err:
            return f"{f}: damaged or truncated ({first_sentence(err)})"
    return None


def config_difference(saved: Path, cfg: Config) -> str:
    """Which model settings of the checkpoint's ``config.yaml`` differ from ``cfg``, as advice."""
    import yaml

    advice = ("resume with the configuration it was trained with (its config.yaml), or start the new "
              "configuration in another output folder")
    try:
        old = yaml.safe_load(saved.read_text())
        now = cfg.to_dict()
        diffs = []
        if old.get("preset") != now["preset"]:
            diffs.append(f"preset {old.get('preset')!r} there, {now['preset']!r} now")
        for section in ("model", "data"):
            for key, value in now[section].items():
                if section == "data" and key not in ("label_nc", "input_nc", "use_instance", "dataset"):
                    continue  # paths and sizes do not change the networks' shapes
                if key in old.get(section, {}) and old[section][key] != value:
                    diffs.append(f"{section}.{key}={old[section][key]!r} there, {value!r} now")
    except Exception:  # no or an unreadable config.yaml: the advice alone
        return f"It was written with another preset or other model settings: {advice}"
    if not diffs:
        return f"It was written with another preset or other model settings: {advice}"
    return f"It was written with other settings ({'; '.join(diffs[:6])}): {advice}"


def check_model_files(ckpt: Path, expected: list[dict[str, tuple[int, ...]]], cfg: Config) -> None:
    """Read the headers of the model files (``model.safetensors``, ``model_1``, ... in Accelerate's
    order, ``expected`` giving each model's parameter shapes): a missing or truncated one raises
    :class:`DamagedCheckpoint`, shapes that differ from ``expected`` mean the checkpoint is another
    configuration's (:class:`CheckpointMismatchError`, with :func:`config_difference` as advice)."""
    from safetensors import safe_open

    for i, shapes in enumerate(expected):
        f = ckpt / ("model.safetensors" if i == 0 else f"model_{i}.safetensors")
        if not f.is_file():
            raise DamagedCheckpoint(f"{f}: missing")
        try:
            with safe_open(str(f), framework="pt") as st:
                found = {k: tuple(st.get_slice(k).get_shape()) for k in st.keys()}
        except Exception as err:
            raise DamagedCheckpoint(f"{f}: damaged or truncated ({first_sentence(err)})") from err
        problem = describe_mismatch(shapes, found)
        if problem:
            raise CheckpointMismatchError(
                f"{f}: the checkpoint does not fit the configuration: {problem}. "
                f"{config_difference(ckpt / 'config.yaml', cfg)}")


def check_random_state(ckpt: Path, process_index: int) -> None:
    """Accelerate skips a random-state file it cannot load with only an INFO log, and the resumed
    run then differs from an uninterrupted one: say so, naming the file (a :class:`CheckpointWarning`
    attributed to the caller of whoever resumes, two frames up)."""
    from accelerate.utils.other import load

    f = ckpt / f"random_states_{process_index}.pkl"
    reason = None
    if not f.is_file():
        reason = "missing"
    else:
        try:
            states = load(f)  # as Accelerate loads it: weights_only, with its safe globals
            wanted = {"random_state", "numpy_random_seed", "torch_manual_seed"}
            if not isinstance(states, dict) or not wanted <= set(states):
                reason = f"expected the keys {sorted(wanted)}"
        except Exception as err:  # truncated, or a pickle that would run code
            reason = first_sentence(err)
    if reason is not None:
        warnings.warn(f"{f}: the random state could not be restored ({reason}); the run continues "
                      f"from {ckpt.name} with a fresh random state, so it will not repeat an "
                      "uninterrupted run exactly", CheckpointWarning, stacklevel=4)


def load_newest(folder: str | os.PathLike, load: Callable[[Path], T]) -> tuple[Path, T] | None:
    """Load the newest checkpoint of ``folder`` that loads: ``load(path)`` is tried from the newest
    down, and one that raises :class:`DamagedCheckpoint` is skipped with a :class:`CheckpointWarning`
    naming the file (attributed to the caller of whoever resumes, two frames up). Returns ``(path,
    what load returned)``, None when the folder holds no checkpoint; raises RuntimeError when none
    loads. Any other error of ``load`` propagates."""
    folder = Path(folder)
    found = list_checkpoints(folder)
    if not found:
        return None
    for i, (_, ckpt) in enumerate(reversed(found)):
        try:
            return ckpt, load(ckpt)
        except DamagedCheckpoint as err:
            then = (f"falling back to {found[-2 - i][1].name}" if i + 1 < len(found)
                    else "no older checkpoint is left")
            warnings.warn(f"{err}: checkpoint {ckpt.name} skipped, {then}", CheckpointWarning, stacklevel=4)
    raise RuntimeError(f"{folder}: none of its {len(found)} checkpoints could be loaded (see the "
                       "warnings above); start again with overwrite=True (--overwrite)")
