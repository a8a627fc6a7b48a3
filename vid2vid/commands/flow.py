"""``python -m vid2vid flow``: precompute the ground-truth flow ``w_t`` of a dataset folder.

Reads ``<root>/<split>_B/<sequence>/*`` in sorted (time) order and writes the backward flow
``t -> t-1`` of every frame but the first to ``<root>/<split>_flow/<sequence>/<frame stem>.npy``
(float32 ``[H, W, 2]``, see :mod:`vid2vid.data.layout`). Existing files are kept unless
``--overwrite``, so an interrupted run resumes where it stopped.

    python -m vid2vid flow --data datasets/mydata --method dis
    python -m vid2vid flow --data datasets/cityscapes --method raft --device cuda
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vid2vid.commands import add_threads_argument, positive_int
from vid2vid.data.layout import (
    DataError,
    kind_dir,
    list_frames,
    list_sequences,
    read_rgb,
    write_flow,
)
from vid2vid.flow.estimators import FlowEstimator, get_flow_estimator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset root holding <split>_B folders")
    parser.add_argument("--split", choices=("train", "test", "both"), default="both",
                        help="which split to process (default: both; a missing split is skipped)")
    parser.add_argument("--method", choices=("dis", "raft"), default="dis",
                        help="dis: OpenCV DIS, offline, CPU (default); raft: torchvision RAFT")
    parser.add_argument("--dis-preset", choices=("ultrafast", "fast", "medium"), default="medium",
                        help="DIS speed/quality preset (default: medium)")
    parser.add_argument("--raft-weights", default="C_T_V2",
                        help="torchvision weight name (C_T_V2, C_T_SKHT_V2, ...) or a .pth state-dict file")
    parser.add_argument("--raft-small", action="store_true", help="use raft_small instead of raft_large")
    parser.add_argument("--raft-iters", type=positive_int, default=12,
                        help="RAFT refinement iterations (default 12)")
    parser.add_argument("--overwrite", action="store_true", help="recompute flows that already exist")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="torch device for RAFT: cpu, cuda, cuda:1, ... (default: cuda when a GPU is "
                             "visible, else cpu; DIS always runs on the CPU)")
    add_threads_argument(parser)


def _to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """``uint8 [H, W, 3]`` -> ``[1, 3, H, W]`` in ``[-1, 1]``."""
    return torch.from_numpy(rgb).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1


def _estimator(args: argparse.Namespace) -> FlowEstimator:
    if args.method == "dis":
        return get_flow_estimator("dis", preset=args.dis_preset)
    return get_flow_estimator("raft", weights=args.raft_weights, small=args.raft_small,
                              num_flow_updates=args.raft_iters, device=args.device)


def _sequence_flows(src: Path, dst: Path, names: list[str], estimator: FlowEstimator, overwrite: bool,
                    device: torch.device, bar: tqdm) -> tuple[int, int]:
    """Flows of one sequence, streamed: at most the two frames of the current pair in memory."""
    written = skipped = 0
    first_size: tuple[int, ...] | None = None
    cache: dict[int, torch.Tensor] = {}

    def frame(i: int) -> torch.Tensor:
        nonlocal first_size
        if i not in cache:
            path = src / names[i]
            rgb = read_rgb(path)
            if first_size is None:
                first_size = rgb.shape[:2]
            elif rgb.shape[:2] != first_size:
                raise DataError(f"{path}: frame size {rgb.shape[:2]} differs from {first_size} "
                                f"of the earlier frames of sequence {src.name!r}")
            cache[i] = _to_tensor(rgb, device)
        return cache[i]

    for i in range(1, len(names)):
        target = dst / (Path(names[i]).stem + ".npy")
        if target.exists() and not overwrite:
            skipped += 1
        else:
            flow = estimator(frame(i), frame(i - 1))[0]  # [2, H, W], backward t -> t-1
            write_flow(target, flow.permute(1, 2, 0).cpu().numpy())
            written += 1
        cache.pop(i - 1, None)
        bar.update(1)
    return written, skipped


def process_split(root: Path, split: str, estimator: FlowEstimator, overwrite: bool = False,
                  device: str | torch.device = "cpu", progress: bool = True) -> tuple[int, int]:
    """Write the flows of one split; returns the ``(written, skipped)`` counts. ``progress``: show
    a tqdm progress bar."""
    src_root, dst_root = kind_dir(root, split, "B"), kind_dir(root, split, "flow")
    sequences = {seq: list_frames(src_root / seq) for seq in list_sequences(src_root)}
    total = sum(max(len(names) - 1, 0) for names in sequences.values())
    written = skipped = 0
    with tqdm(total=total, desc=f"flow {split}", unit="frame", disable=not progress) as bar:
        for seq, names in sequences.items():
            w, s = _sequence_flows(src_root / seq, dst_root / seq, names, estimator, overwrite,
                                   torch.device(device), bar)
            written, skipped = written + w, skipped + s
    return written, skipped


def run(args: argparse.Namespace) -> int:
    root = Path(args.data)
    splits = ("train", "test") if args.split == "both" else (args.split,)
    present = [s for s in splits if kind_dir(root, s, "B").is_dir()]
    if not present:
        wanted = " or ".join(str(kind_dir(root, s, "B")) for s in splits)
        raise DataError(f"{wanted}: folder not found (expected RGB frames in <root>/<split>_B/<sequence>/)")
    for split in splits:
        if split not in present:
            print(f"{kind_dir(root, split, 'B')} not found: {split} skipped")
    estimator = _estimator(args)
    for split in present:
        written, skipped = process_split(root, split, estimator, args.overwrite, args.device)
        print(f"{split}: {written} written, {skipped} skipped (existing; --overwrite recomputes) "
              f"-> {kind_dir(root, split, 'flow')}")
    return 0
