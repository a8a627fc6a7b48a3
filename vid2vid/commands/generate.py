"""``python -m vid2vid generate``: a trained generator turns a folder of label maps into a video."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from vid2vid.commands import add_threads_argument, positive_int


def fps_value(text: str) -> float:
    """argparse type of ``--fps``: a finite number of frames per second > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected frames per second > 0, got {text!r}")
    return value


frame_count = positive_int  # argparse type of ``--max-frames``: an integer >= 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="generator checkpoint (<run>/generator.pt)")
    parser.add_argument("--input", required=True, help="one sequence's label maps (e.g. test_A/seq)")
    parser.add_argument("--out", required=True, help="output: .mp4 (H.264), .gif, or a folder for PNGs")
    parser.add_argument("--inst", default=None, help="instance maps folder (default: the sibling _inst)")
    parser.add_argument("--real", default=None, help="real frames folder, shown with --side-by-side")
    parser.add_argument("--side-by-side", action="store_true",
                        help="labels | generated | real, each panel captioned (real only with --real)")
    parser.add_argument("--fps", type=fps_value, default=10.0,
                        help="frames per second of the written video or GIF, > 0 (default 10): the "
                             "playback speed, not which frames are generated")
    parser.add_argument("--max-frames", type=frame_count, default=None, help="stop after this many frames")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="torch device to generate on: cpu, cuda, cuda:1, mps, ... (default: cuda when "
                             "a GPU is visible, else cpu)")
    add_threads_argument(parser)


def _load_generator(checkpoint: str):
    """``load_generator`` whose failures become one-line ValueErrors naming the file."""
    from vid2vid.models.io import load_generator

    try:
        return load_generator(checkpoint, map_location="cpu")
    except RuntimeError as err:
        if err.__cause__ is not None:  # torch.load could not read the file
            reason = f"not a loadable checkpoint (torch.load raised {type(err.__cause__).__name__})"
        else:  # not a generator checkpoint, or weights that do not fit its config
            reason = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
            reason = reason.removeprefix(f"{checkpoint}: ")
        reason = reason if len(reason) <= 300 else reason[:300] + " ..."
        raise ValueError(f"{checkpoint}: {reason}") from err


def run(args: argparse.Namespace) -> int:
    from vid2vid.data.layout import DataError
    from vid2vid.inference import generate_video

    for flag, folder in (("--input", args.input), ("--inst", args.inst), ("--real", args.real)):
        if folder is not None and not Path(folder).is_dir():
            raise DataError(f"{folder}: {flag} folder not found")
    cfg, G, step = _load_generator(args.checkpoint)
    path, n = generate_video(G, cfg, args.input, args.out, real_dir=args.real, inst_dir=args.inst,
                             side=args.side_by_side, fps=args.fps, max_frames=args.max_frames,
                             device=args.device)
    print(f"wrote {n} frames to {path} (generator of step {step}, preset {cfg.preset})")
    return 0
