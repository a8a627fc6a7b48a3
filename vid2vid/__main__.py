"""``python -m vid2vid <command>``: the command-line entry point.

Each command is a module of ``vid2vid/commands/`` with ``add_arguments(parser)`` and ``run(args)``,
listed in :data:`COMMANDS`. Errors in what the user gave (a configuration, a dataset, a path, a
value: :data:`USER_ERRORS`) end the command with one line ``error: <message>`` on stderr and exit
status 2, as argparse does for bad arguments (:func:`vid2vid.commands.report_errors`). Every command
runs torch and OpenCV on ``--threads`` CPU threads where it has the option, else on
``OMP_NUM_THREADS`` when set, else on one, and puts the previous counts back when it ends
(:func:`vid2vid.commands.using_threads`).
``python -m vid2vid --version`` prints the package's version with torch's and Python's.
"""

from __future__ import annotations

import argparse
import platform
import sys
from importlib import metadata
from types import ModuleType

from vid2vid import __version__
from vid2vid.commands import (
    INPUT_ERRORS,
    check,
    edit,
    features,
    flow,
    generate,
    predict,
    prepare,
    preview,
    report_errors,
    study,
    summary,
    synth,
    using_threads,
)

# name: (module, one-line help)
COMMANDS: dict[str, tuple[ModuleType, str]] = {
    "synth": (synth, "generate the built-in synthetic street-video dataset"),
    "preview": (preview, "render a dataset sequence as a side-by-side video"),
    "flow": (flow, "precompute optical flow for a dataset folder (_flow layout)"),
    "check": (check, "decode every file of a dataset and list the bad ones"),
    "summary": (summary, "print the parameter counts of a preset's networks"),
    "generate": (generate, "turn a folder of label maps into a video with a generator"),
    "features": (features, "cluster a generator's instance features for multimodal synthesis"),
    "edit": (edit, "rewrite label-map classes (trees -> buildings) for generate to re-synthesise"),
    "prepare": (prepare, "turn your own videos into a dataset (edges, face, pose, segmentation)"),
    "study": (study, "run a human preference study in a browser and report its scores"),
    "predict": (predict, "predict future frames: future label maps, then vid2vid from the real past"),
}

# ConfigError, DataError, missing or misplaced paths, and any ValueError: the commands check what
# they are given with ValueErrors that name it (e.g. generate's unreadable checkpoint, a video suffix).
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, *INPUT_ERRORS)


def version() -> str:
    """``vid2vid <version> (torch <version>, Python <version>)``: what a bug report needs first
    (torch's version from its package metadata: importing torch takes seconds)."""
    try:
        torch = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch = "not installed"
    return f"vid2vid {__version__} (torch {torch}, Python {platform.python_version()})"


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vid2vid",
        description="Video-to-Video Synthesis (Wang et al., NeurIPS 2018).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {n:<10} {h}" for n, (_, h) in COMMANDS.items())
        + "\n\npython -m vid2vid <command> --help: the command's arguments",
    )
    parser.add_argument("--version", action="version", version=version())
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="command")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m vid2vid <command> [arguments]``; returns the exit status (2: bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["--version"], ["-V"]):
        print(version())
        return 0
    if not argv or argv[0] not in COMMANDS:
        _top_parser().parse_args(argv[:1] or ["--help"])
        return 2
    name = argv[0]
    module, help_text = COMMANDS[name]
    parser = argparse.ArgumentParser(prog=f"python -m vid2vid {name}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    with using_threads(getattr(args, "threads", None)):
        return report_errors(module.run, args, errors=USER_ERRORS)


if __name__ == "__main__":
    sys.exit(main())
