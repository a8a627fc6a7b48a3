"""How long each course notebook takes in its default mode: the runtimes that the course states.

    python reproduce/time_notebooks.py                         # every notebook, default settings
    python reproduce/time_notebooks.py --smoke                 # CI's small settings instead
    python reproduce/time_notebooks.py 08_training 09_evaluation

Each notebook runs headless with papermill (``WIDGETS=False``: sliders need a live front end; the
static figures are the same), one kernel at a time, in a temporary folder, with the OpenMP threads
given by ``--threads`` (default: all cores). The table goes to the terminal and to
``reproduce/results/notebook_runtimes.md`` (``notebook_runtimes_smoke.md`` with ``--smoke``; or
``--out``), with the machine it was measured on: wall clock and the kernel's CPU time, since a
shared machine stretches the first but not the second.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vid2vid.machine import cpu_name  # noqa: E402

NOTEBOOK_DIR = ROOT / "notebooks"


def _children_cpu_s() -> float:
    t = os.times()
    return t.children_user + t.children_system


def time_notebook(path: Path, smoke: bool, threads: int, out_dir: Path) -> tuple[float, float]:
    """Run one notebook with papermill in a fresh kernel; return (wall seconds, kernel CPU seconds)."""
    import subprocess

    cmd = [sys.executable, "-m", "papermill", "--no-progress-bar", "-k", "python3",
           "-p", "SMOKE", str(smoke), str(path), str(out_dir / path.name)]
    if "WIDGETS = " in path.read_text():
        cmd[-2:-2] = ["-p", "WIDGETS", "False"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    env.pop("VID2VID_SMOKE", None)
    cpu0, t0 = _children_cpu_s(), time.perf_counter()
    result = subprocess.run(cmd, cwd=NOTEBOOK_DIR, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu_s() - cpu0
    if result.returncode != 0:
        raise SystemExit(f"{path.name} failed (papermill exit {result.returncode}):\n{result.stderr[-3000:]}")
    return wall, cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="names (e.g. 08_training); default: all")
    parser.add_argument("--smoke", action="store_true", help="time the smoke settings instead")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, help="default: reproduce/results/notebook_runtimes[_smoke].md")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = ROOT / "reproduce" / "results" / f"notebook_runtimes{'_smoke' if args.smoke else ''}.md"

    paths = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    if args.notebooks:
        wanted = {n.removesuffix(".ipynb") for n in args.notebooks}
        unknown = wanted - {p.stem for p in paths}
        if unknown:
            parser.error(f"no such notebook(s) in {NOTEBOOK_DIR}: {sorted(unknown)}")
        paths = [p for p in paths if p.stem in wanted]
    mode = "smoke" if args.smoke else "default"
    machine = (f"{cpu_name()} ({platform.machine()}), {os.cpu_count()} cpus, "
               f"{args.threads} thread(s) per kernel, python {platform.python_version()}")
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            wall, cpu = time_notebook(path, args.smoke, args.threads, Path(tmp))
            rows.append((path.stem, wall, cpu))
            print(f"{path.stem:28s} {wall / 60:6.1f} min wall  {cpu / 60:6.1f} min CPU", flush=True)
    command = " ".join(["python reproduce/time_notebooks.py", *(argv if argv is not None else sys.argv[1:])])
    load = f"load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after (other jobs on the CPU)"
    lines = [f"# Course notebooks: runtimes ({mode} settings)", "",
             f"`{command}` on {machine}; {load}.", "",
             "| notebook | wall clock (min) | kernel CPU time (min) |", "|---|---|---|"]
    lines += [f"| `{name}` | {wall / 60:.1f} | {cpu / 60:.1f} |" for name, wall, cpu in rows]
    lines += [f"| all | {sum(r[1] for r in rows) / 60:.1f} | {sum(r[2] for r in rows) / 60:.1f} |", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
