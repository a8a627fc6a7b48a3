"""One-shot GPU check: a few minutes on a machine with CUDA GPUs, its figures in one file.

    python reproduce/gpu_check.py            # every check -> reproduce/results/gpu_check/<gpu>.md
    python reproduce/gpu_check.py --dry-run  # print the checks' commands (no GPU needed)

The checks, each a separate process with its own time limit so that one failure does not stop the
others:

1. training and inference steps of ``cityscapes-512`` (one scale, 256 x 512) and ``cityscapes-1024``
   (two scales, 512 x 1024) in bf16 where the GPU supports it (``train.mixed_precision=auto``), with
   ``reproduce/benchmark.py``: frames/s and peak GPU memory, beside the estimate for weights,
   gradients and Adam moments (16 bytes per parameter, ``reproduce/README.md``);
2. the same ``cityscapes-512`` steps with ``train.compile=true``: the first step's time (compiling)
   and frames/s after it;
3. with two GPUs or more, a 2-process DDP run of the ``synthetic`` preset through ``accelerate
   launch`` for a few steps.

The results go to ``reproduce/results/gpu_check/<gpu name>.md`` (and ``.jsonl``), with the machine
named. CI never runs this: it needs a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = [sys.executable, str(REPO / "reproduce" / "benchmark.py"), "--device", "cuda", "--steps", "3",
         "--inference-frames", "8"]


def checks(n_gpus: int) -> list[dict]:
    """The checks as ``{"name", "command", "timeout", "preset"}`` (``preset``: where a memory
    estimate applies)."""
    out = [
        {"name": "cityscapes-512 bf16", "preset": "cityscapes-512", "timeout": 600,
         "command": [*BENCH, "--preset", "cityscapes-512", "--frames", "4", "train.mixed_precision=auto"]},
        {"name": "cityscapes-1024 bf16", "preset": "cityscapes-1024", "timeout": 900,
         "command": [*BENCH, "--preset", "cityscapes-1024", "--frames", "4", "train.mixed_precision=auto",
                     "train.chunk_length=1"]},
        {"name": "cityscapes-512 bf16 compiled", "preset": "cityscapes-512", "timeout": 900,
         "command": [*BENCH, "--preset", "cityscapes-512", "--frames", "4", "train.mixed_precision=auto",
                     "train.compile=true"]},
    ]
    if n_gpus >= 2:
        out.append({"name": "2-process DDP, synthetic", "preset": None, "timeout": 900, "command": [
            "accelerate", "launch", "--num_processes", "2", "--multi_gpu",
            str(REPO / "reproduce" / "train.py"),
            "--preset", "synthetic", "--out", "/tmp/vid2vid_gpu_check_ddp", "--overwrite", "--max-steps", "3",
            "train.flow_warmup=20", "--no-tensorboard"]})
    return out


def estimate_gb(preset: str) -> float:
    """Weights, gradients and Adam's two moments in fp32 (16 bytes per parameter) of G, D_I and D_V."""
    from vid2vid.commands.summary import count_parameters
    from vid2vid.config import get_preset

    c = count_parameters(get_preset(preset))
    return 16 * (c["G"] + c["D_I"] + sum(c["D_V"]) + c["D_face"]) / 2**30


def run_check(check: dict) -> dict:
    t0 = time.time()
    try:
        res = subprocess.run(check["command"], capture_output=True, text=True, timeout=check["timeout"],
                             cwd=REPO)
        ok, tail = res.returncode == 0, (res.stdout + res.stderr)[-2000:]
        lines = [line for line in res.stdout.splitlines() if line.startswith("{")]
        result = json.loads(lines[-1]) if ok and lines else None
    except subprocess.TimeoutExpired:
        ok, tail, result = False, f"timed out after {check['timeout']} s", None
    row = {"name": check["name"], "ok": ok, "seconds": round(time.time() - t0, 1), "result": result}
    if not ok:
        row["output_tail"] = tail
    if check["preset"]:
        row["estimate_gb"] = round(estimate_gb(check["preset"]), 2)
    return row


def write_report(rows: list[dict], machine: dict, out: Path) -> Path:
    name = re.sub(r"[^A-Za-z0-9]+", "_", machine.get("gpu", "gpu")).strip("_")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.jsonl").write_text("".join(json.dumps({**r, "machine": machine}) + "\n" for r in rows))
    lines = [f"# GPU check: {machine.get('gpu')} x {machine.get('gpu_count')}", "",
             f"`python reproduce/gpu_check.py` on {machine.get('cpu')} ({machine.get('cpu_count')} cores), "
             f"torch {machine.get('torch')}.", "",
             "| check | ok | precision | train frames/s | inference frames/s | first step (s) | peak GPU GB "
             "| estimate GB (weights, grads, Adam) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        res = r["result"] or {}
        lines.append(f"| {r['name']} | {'yes' if r['ok'] else 'no'} | {res.get('mixed_precision', '-')} | "
                     f"{res.get('train_frames_per_s', '-')} | {res.get('inference_frames_per_s', '-')} | "
                     f"{res.get('first_step_s', '-')} | {res.get('peak_gpu_memory_gb_train', '-')} | "
                     f"{r.get('estimate_gb', '-')} |")
    path = out / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dry-run", action="store_true", help="print the checks' commands and exit")
    p.add_argument("--out", default=str(REPO / "reproduce" / "results" / "gpu_check"))
    args = p.parse_args(argv)
    import torch

    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if args.dry_run:
        for c in checks(max(n_gpus, 2)):
            print(f"{c['name']}: {' '.join(c['command'])}")
        return 0
    if not n_gpus:
        print("error: no CUDA GPU is visible (torch.cuda.is_available() is False); this script needs one "
              "(--dry-run prints what it would run)", file=sys.stderr)
        return 2
    from vid2vid.machine import describe_machine

    machine = {**describe_machine(), "gpu_count": n_gpus}
    rows = []
    for c in checks(n_gpus):
        print(f"{c['name']} ...", flush=True)
        rows.append(run_check(c))
        print(json.dumps(rows[-1])[:400], flush=True)
    print(f"wrote {write_report(rows, machine, Path(args.out))}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "4")
    sys.exit(main())
