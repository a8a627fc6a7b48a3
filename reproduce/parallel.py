"""Train several models side by side: ``reproduce/train.py`` in ``jobs`` processes of one thread each.

Used by ``tables.py`` (names ``<model>/seed<k>``, one run per model and seed), ``quality.py`` and
``pretrain.py``. A run whose ``<runs>/<name>/generator.pt`` and ``done`` files exist is skipped; an
interrupted one continues from its last checkpoint (``--resume``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def train_parallel(models: dict[str, list[str]], runs: Path, jobs: int) -> dict[str, float]:
    """Train every model of ``{name: train.py arguments}`` that is not done into ``runs/<name>``;
    returns the wall-clock seconds per model trained now. A failed run stops everything."""
    todo = [m for m in models
            if not (runs / m / "generator.pt").is_file() or not (runs / m / "done").is_file()]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    running: dict[str, tuple[subprocess.Popen, float]] = {}
    seconds: dict[str, float] = {}
    while todo or running:
        while todo and len(running) < jobs:
            name = todo.pop(0)
            out = runs / name
            out.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, str(REPO / "reproduce" / "train.py"), "--out", str(out), "--resume",
                   "--no-tensorboard", *models[name]]
            print("train:", " ".join(cmd), flush=True)
            log = open(out / "train.log", "a")  # noqa: SIM115 - closed when the process ends
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
            running[name] = (proc, time.time())
        time.sleep(2)
        for name, (proc, t0) in list(running.items()):
            if proc.poll() is not None:
                del running[name]
                if proc.returncode != 0:
                    for other, _ in running.values():
                        other.terminate()
                    raise SystemExit(f"training {name} failed (exit {proc.returncode}): "
                                     f"{runs / name}/train.log")
                seconds[name] = time.time() - t0
                (runs / name / "done").write_text(f"{seconds[name]:.0f} s\n")
                print(f"trained {name} in {seconds[name] / 60:.1f} min", flush=True)
    return seconds
