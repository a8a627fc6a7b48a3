"""Frames per second of the synthetic dataset generator on one CPU core.

    python reproduce/benchmark_synthetic.py                 # 128x256, 30 frames, 8 sequences
    python reproduce/benchmark_synthetic.py --height 256 --width 512

Measures ``generate_sequence`` in memory (no disk) and ``write_dataset`` (generation plus PNG /
npy encoding to a temporary folder), both single-threaded, and prints one line.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy is imported
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from vid2vid.data.synthetic import SyntheticConfig, generate_sequence, write_dataset  # noqa: E402
from vid2vid.machine import cpu_name  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--objects", type=int, default=SyntheticConfig.objects)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    cfg = SyntheticConfig(height=args.height, width=args.width, frames=args.frames, objects=args.objects)

    generate_sequence(12345, cfg)  # warm-up: loads and caches the texture photographs
    start = time.perf_counter()
    for i in range(args.sequences):
        generate_sequence([0, 0, i], cfg)
    gen_fps = args.sequences * cfg.frames / (time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_dataset(tmp, args.sequences, 0, seed=0, config=cfg, progress=False, overwrite=True)
        write_fps = args.sequences * cfg.frames / (time.perf_counter() - start)

    machine = f"{cpu_name()} ({platform.machine()}), {os.cpu_count()} cpus"
    print(f"synthetic {cfg.height}x{cfg.width}, {args.sequences} seq x {cfg.frames} frames, "
          f"{cfg.objects} objects, 1 thread: generate {gen_fps:.0f} frames/s, "
          f"write {write_fps:.0f} frames/s | {machine}; python {platform.python_version()}, "
          f"numpy {np.__version__}, opencv {cv2.__version__}")


if __name__ == "__main__":
    main()
