"""The command-line commands; see ``vid2vid/__main__.py`` for the registry.

:func:`report_errors` is how the project's command-line programs (``python -m vid2vid <command>``,
``reproduce/train.py``) end on an error in what the user gave: one line ``error: <message>`` on
stderr and exit status 2 (as argparse does for bad arguments), not a traceback that buries the
message (twice under ``accelerate launch``, which repeats the child's stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from vid2vid.config import ConfigError
from vid2vid.data.layout import DataError

__all__ = ["INPUT_ERRORS", "add_threads_argument", "default_threads", "error_line", "non_negative_int",
           "positive_int", "report_errors", "set_threads", "using_threads"]

# Errors whose message names the setting, file or folder that is wrong. ConfigError covers its
# subclasses elsewhere too (vid2vid.training.checkpoint.CheckpointMismatchError: a checkpoint
# whose weights do not fit its config). Anything else is a bug and keeps its traceback.
INPUT_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError, DataError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
)


def error_line(err: BaseException) -> str:
    """``"error: <message>"`` on one line: a multi-line message (e.g. PyTorch's list of mismatched
    weights) is joined with spaces; an empty one is replaced by the exception's class name."""
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return f"error: {text or type(err).__name__}"


def report_errors(fn: Callable[..., int | None], *args: Any,
                  errors: tuple[type[BaseException], ...] = INPUT_ERRORS) -> int:
    """``fn(*args)`` as an exit status: its result (None = 0), or 2 after printing
    :func:`error_line` to stderr when it raises one of ``errors``. Other exceptions propagate."""
    try:
        return int(fn(*args) or 0)
    except errors as err:
        print(error_line(err), file=sys.stderr, flush=True)
        return 2


def positive_int(text: str) -> int:
    """argparse type of a count that must be an integer >= 1 (frames, iterations, steps)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type of an index or seed that must be an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type of a finite number >= 0 (NaN would fail deep inside a command)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def default_threads() -> int:
    """The CPU threads a command uses unless told (``--threads``): ``OMP_NUM_THREADS`` when it is set
    to a count, else 1. The models of the CPU presets are small: a second thread gains little, and
    on a CPU that other jobs share, torch's threads wait for each other and run slower than one."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else 1


def set_threads(threads: int | None = None) -> int:
    """Run torch's and OpenCV's work on ``threads`` CPU threads (None: :func:`default_threads`);
    returns the count."""
    import cv2
    import torch

    threads = default_threads() if threads is None else threads
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    return threads


@contextlib.contextmanager
def using_threads(threads: int | None = None) -> Iterator[int]:
    """:func:`set_threads` for the duration of a ``with`` block, then torch's and OpenCV's counts as
    they were: ``python -m vid2vid`` runs every command in one, so that a notebook calling
    :func:`vid2vid.__main__.main` keeps its own thread count afterwards."""
    import cv2
    import torch

    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        yield set_threads(threads)
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` for the commands whose work runs on the CPU (generate, flow, prepare)."""
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N",
                        help="CPU threads for torch and OpenCV (default: OMP_NUM_THREADS when set, else 1, "
                             "which keeps its speed when other jobs share the CPU; raise it on a machine "
                             "with idle cores)")
