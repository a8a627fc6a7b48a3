"""Training and inference speed and peak memory of a preset, on CPU or GPU.

    python reproduce/benchmark.py --preset synthetic [--frames 8] [--steps 5] [--device cpu|cuda]
                                  [key=value overrides, e.g. data.height=128 data.width=256]

Training: full vid2vid steps (G rolled out over ``--frames`` frames in chunks, D_I, D_V, every loss,
both optimisers) on a small built-in synthetic dataset generated at the preset's frame size.
Inference: frames/s of streaming generation (``vid2vid.inference.generate_frames``).
Peak memory: ``torch.cuda.max_memory_allocated`` on GPU; the process's peak resident set size on
CPU (it includes Python, torch and the data). Prints one JSON line with the machine and settings,
so versions and machines can be compared; compare ratios within one run, since machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="synthetic")
    p.add_argument("--frames", type=int, default=8, help="frames per training window")
    p.add_argument("--steps", type=int, default=5, help="timed training steps (after one warm-up step)")
    p.add_argument("--inference-frames", type=int, default=30)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--reference-code", default=None, metavar="DIR",
                   help="a checkout of NVIDIA/vid2vid: time its generator and D_I against the project's, "
                        "same architecture, interleaved (reproduce/reference_benchmark.py)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"],
                   help="with --reference-code: autocast precision of both (auto: bf16 where native)")
    p.add_argument("--reference-precision", default=None, choices=["fp32", "bf16"],
                   help="with --reference-code: the reference's precision (default: --precision's; fp32 = "
                        "as it ships, without CPU mixed precision of its own)")
    p.add_argument("--repeats", type=int, default=10, help="with --reference-code: timed steps of each")
    p.add_argument("--json", action="store_true", help="with --reference-code: print one JSON object")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.reference_code:
        return compare_with_reference(args)

    if args.device == "cpu":
        os.environ["ACCELERATE_USE_CPU"] = "1"
    from vid2vid.config import get_preset
    from vid2vid.data.layout import kind_dir, list_sequences
    from vid2vid.data.synthetic import write_dataset
    from vid2vid.inference import generate_frames, read_input_frames
    from vid2vid.machine import cpu_name
    from vid2vid.training.trainer import Trainer

    tmp = Path(tempfile.mkdtemp(prefix="vid2vid_bench_"))
    cfg = get_preset(args.preset).override(list(args.overrides))
    h, w = cfg.data.frame_size
    write_dataset(tmp / "data", n_train=2, n_test=1, frames=max(args.frames, args.inference_frames),
                  height=cfg.data.height, width=cfg.data.width, seed=0, progress=False)
    cfg = cfg.override({"data.root": str(tmp / "data"), "data.synthetic_sequences": 0, "data.num_workers": 0,
                        "train.n_frames_start": args.frames, "train.n_frames_total": args.frames,
                        "train.batch_size": 1})
    trainer = Trainer(cfg, tmp / "run", log_with=None)
    batches = iter(trainer.loader)

    def batch():
        nonlocal batches
        try:
            return next(batches)
        except StopIteration:
            batches = iter(trainer.loader)
            return next(batches)

    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    t0 = time.perf_counter()
    trainer.train_batch(batch())  # warm-up (with train.compile: where the compiling happens)
    sync()
    first_step_s = time.perf_counter() - t0
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    sync()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        trainer.train_batch(batch())
    sync()
    train_s = time.perf_counter() - t0
    generated = args.frames - (cfg.model.n_prev if cfg.train.real_first_frames else 0)
    train_fps = args.steps * generated / train_s
    train_mem = torch.cuda.max_memory_allocated() if args.device.startswith("cuda") else None

    root = tmp / "data"
    seq = list_sequences(kind_dir(root, "test", "A"))[0]
    from itertools import islice

    frames = list(islice(read_input_frames(cfg, kind_dir(root, "test", "A") / seq), args.inference_frames))
    G = trainer.G
    next(iter(generate_frames(G, cfg, iter(frames[:2]), args.device)))  # warm-up
    sync()
    t0 = time.perf_counter()
    n = sum(1 for _ in generate_frames(G, cfg, iter(frames), args.device))
    sync()
    infer_fps = n / (time.perf_counter() - t0)
    result = {
        "preset": cfg.preset, "frame_size": [h, w], "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else cpu_name(),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "mixed_precision": trainer.acc.mixed_precision, "precision_setting": cfg.train.mixed_precision,
        "compile": cfg.train.compile, "first_step_s": round(first_step_s, 2), "window_frames": args.frames,
        "chunk_length": cfg.train.chunk_length,
        "G_params": sum(p.numel() for p in G.parameters()),
        "train_frames_per_s": round(train_fps, 3), "inference_frames_per_s": round(infer_fps, 3),
        "peak_gpu_memory_gb_train": None if train_mem is None else round(train_mem / 2**30, 3),
        "peak_rss_gb_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
    }
    print(json.dumps(result))
    return 0


def compare_with_reference(args) -> int:
    """``--reference-code``: the project against the reference networks (one JSON object or a summary)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from reference_benchmark import run

    from vid2vid.config import get_preset
    from vid2vid.machine import cpu_name, resolve_precision

    precision = args.precision
    if precision == "auto":  # bf16 where the CPU computes it natively (vid2vid.machine)
        precision = "bf16" if resolve_precision("auto")[0] == "bf16" else "fp32"
    cfg = get_preset(args.preset).override(list(args.overrides))
    result = {"preset": cfg.preset, "overrides": list(args.overrides), "cpu": cpu_name(),
              "cpu_count": os.cpu_count(), "torch": torch.__version__,
              **run(cfg, args.reference_code, precision, args.repeats,
                    reference_precision=args.reference_precision)}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['cpu']}, {result['torch_threads']} thread(s), frames {result['frame_size']}, "
          f"G {result['parameters']['G']:,} parameters (both)")
    for side in ("project", "reference"):
        mode = result["precision"] if side == "project" else result["reference_precision"]
        print(f"  {side:<9} {mode}: {result[f'{side}_ms']:9.1f} ms per step "
              f"(min {result[f'{side}_min_ms']:.1f}), "
              f"{result['gflops_per_step'][side]:.2f} GFLOP, {result['fraction_of_conv_peak'][side]:.0%} of "
              f"the conv peak ({result['conv_peak_gflops'][side]:.0f} GFLOP/s)")
    print(f"  speedup {result['speedup']:.2f}x (median), {result['speedup_min']:.2f}x (min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
