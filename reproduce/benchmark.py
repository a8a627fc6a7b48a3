"""Training and inference speed and peak memory of a preset, on CPU or GPU.

    python reproduce/benchmark.py --preset synthetic [--frames 8] [--steps 5] [--device cpu|cuda]
                                  [key=value overrides, e.g. data.height=128 data.width=256]
    python reproduce/benchmark.py --rewrites --preset synthetic [--precision fp32|bf16|auto]
                                  [--threads N] [--repeats 10] [--json] [overrides]

Training: full vid2vid steps (G rolled out over ``--frames`` frames in chunks, D_I, D_V, every loss,
both optimisers) on a small built-in synthetic dataset generated at the preset's frame size.
Inference: frames/s of streaming generation (``vid2vid.inference.generate_frames``).
Peak memory: ``torch.cuda.max_memory_allocated`` on GPU; the process's peak resident set size on
CPU (it includes Python, torch and the data). Prints one JSON line with the machine and settings,
so versions and machines can be compared; compare ratios within one run, since machines are noisy.

``--rewrites``: the speed rewrites of :mod:`vid2vid.models.speed` (``train.speed_rewrites``), each
combination of none, group_norm, channels_last and both, at ``--precision`` (it sets
``train.mixed_precision``) and ``--threads``. One Trainer per combination (same seed, so the same
weights; four times the memory of one), and a copy of its generator in eval mode; then, interleaved
in one process (``--repeats`` rounds, every combination once per round, after a warm-up round), a
training step of each on the same batch and an inference forward of each (one frame, no gradients,
the training precision's autocast) on the same input. Reported per mode and combination: min and
median milliseconds and the speedup over none (none's time / this one's: above 1 is faster).
``--json`` prints the records as one JSON list.
"""

from __future__ import annotations

import argparse
import copy
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
    p.add_argument("--rewrites", action="store_true",
                   help="time every combination of the speed rewrites (group_norm, channels_last), "
                        "training and inference, interleaved, as ratios to none")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"],
                   help="with --reference-code or --rewrites: autocast precision (auto: bf16 where native)")
    p.add_argument("--reference-precision", default=None, choices=["fp32", "bf16"],
                   help="with --reference-code: the reference's precision (default: --precision's; fp32 = "
                        "as it ships, without CPU mixed precision of its own)")
    p.add_argument("--compile", action="store_true",
                   help="with --reference-code: the project's networks through torch.compile (the "
                        "compiling first step reported apart); the reference's run as they ship")
    p.add_argument("--repeats", type=int, default=10,
                   help="with --reference-code or --rewrites: timed steps of each")
    p.add_argument("--json", action="store_true",
                   help="with --reference-code: print one JSON object; with --rewrites: a JSON list")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.reference_code:
        return compare_with_reference(args)
    if args.device == "cpu":
        os.environ["ACCELERATE_USE_CPU"] = "1"
    if args.rewrites:
        return compare_rewrites(args)

    from vid2vid.data.layout import kind_dir, list_sequences
    from vid2vid.inference import generate_frames, read_input_frames
    from vid2vid.machine import cpu_name
    from vid2vid.training.trainer import Trainer

    tmp = Path(tempfile.mkdtemp(prefix="vid2vid_bench_"))
    cfg = benchmark_config(args, tmp, list(args.overrides))
    h, w = cfg.data.frame_size
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


def benchmark_config(args, tmp: Path, overrides: list[str]):
    """The preset with ``overrides``, reading a small synthetic dataset written to ``tmp / "data"`` at
    its frame size: windows of ``--frames`` frames, batch 1, no worker processes."""
    from vid2vid.config import get_preset
    from vid2vid.data.synthetic import write_dataset

    cfg = get_preset(args.preset).override(overrides)
    write_dataset(tmp / "data", n_train=2, n_test=1, frames=max(args.frames, args.inference_frames),
                  height=cfg.data.height, width=cfg.data.width, seed=0, progress=False)
    return cfg.override({"data.root": str(tmp / "data"), "data.synthetic_sequences": 0, "data.num_workers": 0,
                         "train.n_frames_start": args.frames, "train.n_frames_total": args.frames,
                         "train.batch_size": 1})


# the combinations --rewrites times: their names and train.speed_rewrites values
REWRITE_COMBINATIONS = {"none": "", "group_norm": "group_norm", "channels_last": "channels_last",
                        "group_norm+channels_last": "group_norm,channels_last"}


def compare_rewrites(args) -> int:
    """``--rewrites``: training steps and inference forwards of every combination of speed rewrites,
    interleaved (see the module docstring); prints a table, or with ``--json`` a list of records."""
    import statistics

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from reference_benchmark import time_interleaved

    from vid2vid.machine import cpu_name
    from vid2vid.training.trainer import Trainer

    precision = {"fp32": "no", "bf16": "bf16", "auto": "auto"}[args.precision]
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    with tempfile.TemporaryDirectory(prefix="vid2vid_rewrites_") as folder:
        tmp = Path(folder)
        cfg = benchmark_config(args, tmp, [*args.overrides, f"train.mixed_precision={precision}"])
        trainers = {name: Trainer(cfg.override({"train.speed_rewrites": spec}), tmp / f"run_{name}",
                                  log_with=None, check_data=False)
                    for name, spec in REWRITE_COMBINATIONS.items()}
        acc = trainers["none"].acc
        batch = next(iter(trainers["none"].loader))
        generators = {name: copy.deepcopy(t.G).eval() for name, t in trainers.items()}
        G = generators["none"]
        L = cfg.model.n_prev
        labels, prev = batch["label"][:, :L + 1], batch["image"][:, :L] if L else None
        features = labels.new_zeros(*labels.shape[:2], G.feat_nc, *labels.shape[3:]) if G.feat_nc else None

        def train_step(trainer) -> None:
            trainer.train_batch(dict(batch))
            sync()

        def forward(gen) -> None:
            with torch.no_grad(), acc.autocast():
                gen(labels, prev, None, features)
            sync()

        steps = {("train", name): (lambda t=t: train_step(t)) for name, t in trainers.items()}
        steps.update({("inference", name): (lambda g=g: forward(g)) for name, g in generators.items()})
        times = time_interleaved(steps, args.repeats)
    ms = {key: (1000 * min(t), 1000 * statistics.median(t)) for key, t in times.items()}
    common = {"preset": cfg.preset, "overrides": list(args.overrides),
              "frame_size": list(cfg.data.frame_size), "window_frames": args.frames,
              "precision_setting": args.precision, "mixed_precision": acc.mixed_precision,
              "device": args.device,
              "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else cpu_name(),
              "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "repeats": args.repeats}
    records = []
    for (mode, name), (low, median) in ms.items():
        base_low, base_median = ms[(mode, "none")]
        records.append({"mode": mode, "rewrites": name, "median_ms": round(median, 2),
                        "min_ms": round(low, 2), "speedup": round(base_median / median, 3),
                        "speedup_min": round(base_low / low, 3), **common})
    if args.json:
        print(json.dumps(records))
        return 0
    precision_name = {"no": "fp32"}.get(acc.mixed_precision, f"mixed {acc.mixed_precision}")
    print(f"{common['device_name']}, {common['torch_threads']} thread(s), {cfg.preset} "
          f"{common['frame_size']}, precision {precision_name}, {args.repeats} rounds; "
          f"speedup = none's time / this one's")
    for r in records:
        print(f"  {r['mode']:<9} {r['rewrites']:<24} {r['median_ms']:9.1f} ms median "
              f"({r['min_ms']:.1f} min), speedup {r['speedup']:.2f}x median, {r['speedup_min']:.2f}x min")
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
                    reference_precision=args.reference_precision, compile_project=args.compile)}
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
    if result["compile"]:
        print(f"  project compiled with torch.compile: first step {result['project_first_step_s']} s")
    print(f"  speedup {result['speedup']:.2f}x (median), {result['speedup_min']:.2f}x (min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
