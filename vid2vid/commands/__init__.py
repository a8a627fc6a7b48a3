"""The command-line commands; see ``vid2vid/__main__.py`` for the registry.

:func:`report_errors` is how the project's command-line programs (``python -m vid2vid <command>``,
``reproduce/train.py``) end on an error in what the user gave: one line ``error: <message>`` on
stderr and exit status 2 (as argparse does for bad arguments), not a traceback that buries the
message (twice under ``accelerate launch``, which repeats the child's stderr).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any

from vid2vid.config import ConfigError
from vid2vid.data.layout import DataError

__all__ = ["INPUT_ERRORS", "error_line", "positive_int", "report_errors"]

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


def non_negative_float(text: str) -> float:
    """argparse type of a finite number >= 0 (NaN would fail deep inside a command)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value
