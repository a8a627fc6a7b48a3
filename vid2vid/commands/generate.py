"""``python -m vid2vid generate``: a trained generator turns a folder of label maps into a video."""

from __future__ import annotations

import argparse

import torch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="generator checkpoint (<run>/generator.pt)")
    parser.add_argument("--input", required=True, help="one sequence's label maps (e.g. test_A/seq)")
    parser.add_argument("--out", required=True, help="output: .mp4 (H.264), .gif, or a folder for PNGs")
    parser.add_argument("--inst", default=None, help="instance maps folder (default: the sibling _inst)")
    parser.add_argument("--real", default=None, help="real frames folder, shown with --side-by-side")
    parser.add_argument("--side-by-side", action="store_true", help="labels | generated | real")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")


def run(args: argparse.Namespace) -> int:
    from vid2vid.inference import generate_video
    from vid2vid.training.trainer import load_generator

    cfg, G, step = load_generator(args.checkpoint, map_location="cpu")
    path, n = generate_video(G, cfg, args.input, args.out, real_dir=args.real, inst_dir=args.inst,
                             side=args.side_by_side, fps=args.fps, max_frames=args.max_frames,
                             device=args.device)
    print(f"wrote {n} frames to {path} (generator of step {step}, preset {cfg.preset})")
    return 0
