"""How a training run fails, and what it costs: the errors that stop a run, the handling of SIGINT
and SIGTERM, the trimming of a resumed run's log and the claiming of its output folder.

What goes wrong, and what it costs:

- a non-finite loss (or weights) stops the run with :class:`TrainingDiverged` naming the step, the
  loss and the last good checkpoint; nothing non-finite is ever written;
- SIGINT (Ctrl-C) and SIGTERM stop the run after the current step with a checkpoint of it
  (:class:`TrainingInterrupted`, :class:`TrainingTerminated`); a second signal stops at once;
  any other error in the loop saves the steps done since the last checkpoint, then propagates;
- a failed write (a full disk) raises :class:`~vid2vid.models.io.CheckpointWriteError`
  and leaves the previous checkpoint and no temporaries;
- a new run refuses an output folder that holds another run (:class:`OutputExistsError`) unless
  told to resume it or to overwrite it;
- a damaged newest checkpoint is skipped with a warning naming the file, for the newest that loads
  (:func:`~vid2vid.training.checkpoint.load_newest`); a checkpoint of another configuration raises
  one :class:`~vid2vid.models.io.CheckpointMismatchError`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from vid2vid.models.io import TrainingDiverged
from vid2vid.training.checkpoint import list_checkpoints, remove_temporaries

__all__ = ["RUN_FILES", "OutputExistsError", "StopSignals", "TrainingDiverged", "TrainingInterrupted",
           "TrainingTerminated", "claim_out_dir", "trim_log"]

# What a run writes in its output folder: what overwrite=True removes before a new run starts there
# (with the plot of its losses that reproduce/plot_losses.py writes there by default).
RUN_FILES = ("checkpoints", "generator.pt", "snapshots", "samples", "log.jsonl", "warmup.jsonl",
             "run_info.json", "logs", "loss_curves.png")


class OutputExistsError(FileExistsError):
    """The output folder already holds another run (checkpoints or generator.pt) and the new one was
    told neither to resume it nor to overwrite it."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C) stopped the run after a step; a checkpoint of that step was saved first.
    ``step`` and ``checkpoint`` say which; the message says how to continue."""

    def __init__(self, message: str, step: int, checkpoint: Path | None):
        super().__init__(message)
        self.step, self.checkpoint = step, checkpoint


class TrainingTerminated(SystemExit):
    """SIGTERM stopped the run after a step; a checkpoint of that step was saved first. A SystemExit
    with the conventional status 128 + 15 = 143, so an uncaught one ends the process quietly."""

    def __init__(self, message: str, step: int, checkpoint: Path | None):
        super().__init__(128 + signal.SIGTERM)
        self.message, self.step, self.checkpoint = message, step, checkpoint

    def __str__(self) -> str:
        return self.message


def trim_log(path: str | Path, step: int) -> int:
    """Drop the rows of a ``log.jsonl`` after ``step`` (and unreadable ones, such as a line cut short
    by a kill): a resumed run trains those steps again and logs them anew. Returns how many rows
    were dropped; the file is rewritten atomically, and only when something is dropped."""
    path = Path(path)
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
            keep = isinstance(row, dict) and int(row.get("step", 0)) <= step
        except (ValueError, TypeError):
            keep = False
        if keep:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(f"{line}\n" for line in kept))
        os.replace(tmp, path)
    return dropped


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def claim_out_dir(out: str | Path, resume: bool, overwrite: bool, is_main: bool = True,
                  wait: Callable[[], None] = lambda: None, tell: Callable[[str], None] = _stderr) -> None:
    """Refuse to start a run over another one; with ``overwrite`` remove the other run's files;
    tidy the temporaries an interrupted write left (``.generator.pt.*.tmp``, ``.step_N.tmp``).

    Every process checks (and raises :class:`OutputExistsError` alike); ``wait`` (a barrier of the
    process group, e.g. ``accelerator.wait_for_everyone``) is called once every process has looked
    and again at the end, and only the main process (``is_main``) removes anything and ``tell``\\ s
    what it removed."""
    out = Path(out)
    ckpt_dir = out / "checkpoints"
    found = list_checkpoints(ckpt_dir)
    generator = out / "generator.pt"
    if not overwrite and (found or generator.exists()) and not (resume and found):
        if resume:  # nothing to resume from, and starting afresh would replace generator.pt
            raise OutputExistsError(
                f"{out}: holds generator.pt but no checkpoint to resume from (no step_<N> folder "
                f"in {ckpt_dir}); pass overwrite=True (--overwrite) to start a new run there, or "
                "choose another output folder")
        held = ([f"checkpoints up to step {found[-1][0]}"] if found else []) + \
            (["generator.pt"] if generator.exists() else [])
        raise OutputExistsError(
            f"{out}: already holds a run ({', '.join(held)}); a new run there would replace its "
            "generator.pt and mix the two runs' checkpoints. Pass resume=True (--resume) to continue "
            "it, overwrite=True (--overwrite) to replace it, or choose another output folder")
    wait()  # every process has looked before the main one removes anything
    if is_main:
        if overwrite:
            removed = [name for name in RUN_FILES if (out / name).exists()]
            for name in removed:
                target = out / name
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink()
            if removed:
                tell(f"overwrite: removed the previous run's {', '.join(removed)} from {out}")
        remove_temporaries(out)
    wait()


class StopSignals:
    """While active (a context manager), SIGINT and SIGTERM only ask the training loop to stop:
    ``signum`` records the first one, and the loop saves a checkpoint after the current step and
    stops. The previous handlers come back for a second signal (Ctrl-C twice stops at once) and on
    exit. A signal the process ignores (SIG_IGN, e.g. SIGINT of a background job) stays ignored;
    outside the main thread signals cannot be caught, and nothing is installed."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                old = signal.getsignal(s)
                if old is not signal.SIG_IGN:
                    self._old[s] = old
                    signal.signal(s, self._handle)
        return self

    def _handle(self, signum: int, frame) -> None:
        if self.signum is None:
            self.signum = signum
        signal.signal(signum, self._previous(signum))  # the next one acts as before: stop at once
        # os.write, not print: a handler may interrupt a print to the same stream (tqdm's bar)
        name = signal.Signals(signum).name
        os.write(2, f"\n{name}: stopping after this step, with a checkpoint; send {name} again to stop at "
                    "once\n".encode())

    def _previous(self, signum: int):
        old = self._old.get(signum)
        return signal.SIG_DFL if old is None else old

    def __exit__(self, *exc) -> None:
        for s in self._old:
            signal.signal(s, self._previous(s))
        self._old.clear()
