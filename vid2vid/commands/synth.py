"""``python -m vid2vid synth``: write the built-in synthetic street-video dataset.

    python -m vid2vid synth --out data/synthetic --sequences 8 --frames 30 --height 128 --width 256

writes ``train_{A,B,inst,flow,occ}`` and ``test_...`` in the official folder layout
(see :mod:`vid2vid.data.layout`) plus ``synthetic.json``; same seed, same pixels.
"""

from __future__ import annotations

import argparse
import sys

from vid2vid.commands import non_negative_float


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="dataset folder to create (must be empty or absent)")
    parser.add_argument("--sequences", type=int, default=8, help="training sequences (default 8)")
    parser.add_argument("--test-sequences", type=int, default=None,
                        help="test sequences (default max(1, sequences // 4))")
    parser.add_argument("--frames", type=int, default=30, help="frames per sequence (default 30)")
    parser.add_argument("--height", type=int, default=128, help="frame height in pixels (default 128)")
    parser.add_argument("--width", type=int, default=256, help="frame width in pixels (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--objects", type=int, default=None,
                        help="cars + people per sequence (default 6): the foreground density")
    parser.add_argument("--motion", type=non_negative_float, default=1.0,
                        help="multiply the camera and car speeds (default 1; the synthetic preset uses 4)")
    parser.add_argument("--foreground-palette", action="store_true",
                        help="cars and clothes in one fixed colour per part: the foreground looks as its "
                             "labels say (default: random colours per object)")
    parser.add_argument("--still-camera", type=non_negative_float, default=0.0, metavar="FRACTION",
                        help="fraction in [0, 1] of sequences whose camera neither pans, zooms nor rolls, "
                             "for static background pixels (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from vid2vid.data.synthetic import SyntheticConfig, write_dataset

    n_test = max(1, args.sequences // 4) if args.test_sequences is None else args.test_sequences
    try:
        config = SyntheticConfig(height=args.height, width=args.width, frames=args.frames,
                                 foreground_palette=args.foreground_palette, still_camera=args.still_camera,
                                 **({} if args.objects is None else {"objects": args.objects}))
        config = config.with_motion(args.motion)
        root = write_dataset(args.out, args.sequences, n_test, seed=args.seed, config=config,
                             overwrite=args.overwrite, progress=not args.quiet)
    except (FileExistsError, NotADirectoryError, ValueError, TypeError) as err:
        print(f"synth: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {args.sequences} train + {n_test} test sequences of {args.frames} frames "
          f"({args.height}x{args.width}, seed {args.seed}) to {root}")
    return 0
