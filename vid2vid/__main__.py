"""``python -m vid2vid <command>``: the command-line entry point.

Each command lives in ``vid2vid/commands/<name>.py`` with ``add_arguments(parser)`` and
``run(args)``; only the chosen command's module is imported, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name: (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("vid2vid.commands.synth", "generate the built-in synthetic street-video dataset"),
    "preview": ("vid2vid.commands.preview", "render a dataset sequence as a side-by-side video"),
    "flow": ("vid2vid.commands.flow", "precompute optical flow for a dataset folder (_flow layout)"),
    "summary": ("vid2vid.commands.summary", "print the parameter counts of a preset's networks"),
    "generate": ("vid2vid.commands.generate", "turn a folder of label maps into a video with a generator"),
}


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
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        _top_parser().parse_args(argv[:1] or ["--help"])
        return 2
    name = argv[0]
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"python -m vid2vid {name}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    result = module.run(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
