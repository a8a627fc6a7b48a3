"""``python -m vid2vid features``: the cluster centres of multimodal synthesis.

A generator trained with ``model.feat_nc`` > 0 has an instance-wise feature encoder E. This command
runs E over the training frames, averages its output inside every instance (one sample per instance
per frame) and fits K-means per class (:mod:`vid2vid.multimodal`); ``generate --feature-seed N``
then draws from the centres. They are written next to the checkpoint by default (``features.pt``),
where ``generate`` looks for them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from vid2vid.commands import add_threads_argument, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True,
                        help="generator checkpoint (<run>/generator.pt, or the run folder holding it)")
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="dataset root whose frames are encoded (default: the checkpoint's data.root)")
    parser.add_argument("--split", default="train", help="split of the dataset to encode (default: train)")
    parser.add_argument("--clusters", type=positive_int, default=10, metavar="K",
                        help="K-means clusters per class (default 10, the reference's); a class with fewer "
                             "distinct samples gets fewer")
    parser.add_argument("--out", default=None,
                        help="file of the centres (default: features.pt next to the checkpoint, where "
                             "generate finds it)")
    parser.add_argument("--frame-step", type=positive_int, default=1, metavar="N",
                        help="encode every N-th frame only (default 1: every frame)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the K-means initialisation (default 0)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="torch device to encode on (default: cuda when a GPU is visible, else cpu)")
    add_threads_argument(parser)


def run(args: argparse.Namespace) -> int:
    from vid2vid.commands.generate import _load_generator, resolve_checkpoint
    from vid2vid.data.labels import CITYSCAPES_LABELS
    from vid2vid.multimodal import FEATURES_FILE, encode_dataset, fit_clusters

    checkpoint = resolve_checkpoint(args.checkpoint)
    cfg, G, step = _load_generator(checkpoint)
    if G.E is None:
        raise ValueError(f"{checkpoint}: this generator has no feature encoder (model.feat_nc = 0); train "
                         "one with model.feat_nc=3 (16 for faces) for multimodal synthesis")
    root = args.data or cfg.data.root
    if not Path(root).is_dir():
        raise FileNotFoundError(f"{root}: dataset root not found (--data)")
    out = Path(args.out) if args.out else Path(checkpoint).parent / FEATURES_FILE
    samples = encode_dataset(G, cfg, root, args.split, frame_step=args.frame_step, device=args.device)
    if not samples:
        raise ValueError(f"{root}: no {args.split} frames to encode")
    source = {"checkpoint": str(checkpoint), "step": step, "data": str(root), "split": args.split,
              "frame_step": args.frame_step}
    clusters = fit_clusters(samples, args.clusters, cfg.model.feat_nc, cfg.data.label_nc, seed=args.seed,
                            source=source)
    clusters.save(out)
    names = {i: n for i, (n, _) in CITYSCAPES_LABELS.items()} if cfg.data.label_nc == 35 else None
    print(f"wrote the feature cluster centres of {len(samples)} classes to {out} (generator of step {step}, "
          f"{args.split} frames of {root}):")
    print("\n".join(clusters.describe(names)))
    return 0
