"""``python -m vid2vid <command>``: the command-line entry point.

Each command is a module of ``vid2vid/commands/`` with ``add_arguments(parser)`` and ``run(args)``,
listed in :data:`COMMANDS`. Errors in what the user gave (a configuration, a dataset, a path, a
value: :data:`USER_ERRORS`) end the command with one line ``error: <message>`` on stderr and exit
status 2, as argparse does for bad arguments (:func:`vid2vid.commands.report_errors`).
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from vid2vid.commands import (
    INPUT_ERRORS,
    check,
    flow,
    generate,
    prepare,
    preview,
    report_errors,
    summary,
    synth,
)

# name: (module, one-line help)
COMMANDS: dict[str, tuple[ModuleType, str]] = {
    "synth": (synth, "generate the built-in synthetic street-video dataset"),
    "preview": (preview, "render a dataset sequence as a side-by-side video"),
    "flow": (flow, "precompute optical flow for a dataset folder (_flow layout)"),
    "check": (check, "decode every file of a dataset and list the bad ones"),
    "summary": (summary, "print the parameter counts of a preset's networks"),
    "generate": (generate, "turn a folder of label maps into a video with a generator"),
    "prepare": (prepare, "turn your own videos into a dataset (edges, face, pose, segmentation)"),
}

# ConfigError, DataError, missing or misplaced paths, and any ValueError: the commands check what
# they are given with ValueErrors that name it (e.g. generate's unreadable checkpoint, a video suffix).
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, *INPUT_ERRORS)


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vid2vid",
        description="Video-to-Video Synthesis (Wang et al., NeurIPS 2018).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {n:<10} {h}" for n, (_, h) in COMMANDS.items()),
    )
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="command")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m vid2vid <command> [arguments]``; returns the exit status (2: bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        _top_parser().parse_args(argv[:1] or ["--help"])
        return 2
    name = argv[0]
    module, help_text = COMMANDS[name]
    parser = argparse.ArgumentParser(prog=f"python -m vid2vid {name}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    return report_errors(module.run, args, errors=USER_ERRORS)


if __name__ == "__main__":
    sys.exit(main())
