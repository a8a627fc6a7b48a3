"""Does bf16 autocast train as well as fp32? The `synthetic` preset trained both ways, seed by seed.

    python reproduce/precision_study.py                      # seeds 0 and 1, 200 steps each
    python reproduce/precision_study.py --seeds 0 1 2 --steps 320 --jobs 2

Every run is the main job's (``reproduce/train.py``, the ``synthetic`` preset on the main job's 16
videos, ``data/synthetic``; its flow warm-up included) for ``--steps`` steps with
``train.mixed_precision`` ``no`` (fp32) or ``bf16`` and ``train.seed`` ``k``, ``--jobs`` at a time on
one thread each (``reproduce/parallel.py``). Each generator is then measured on the fresh test
videos of ``reproduce/quality.py`` (seed 1) with its metrics (L1, warping error, checkerboard, flow
error, mask ROC AUC). ``--results`` gets ``README.md`` (every run, each precision's mean, and for
each metric whether bf16's mean lies within the range of the fp32 seeds), ``results.json`` and
``loss_curves.png`` (the logged generator losses of every run, overlaid). bf16 where the CPU has no
native bf16 is emulated and many times slower: run this on a CPU with AVX512-BF16 or AMX (the
banner of each ``train.log`` says which precision ran).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "reproduce"))

PRECISIONS = {"fp32": "no", "bf16": "bf16"}  # name -> train.mixed_precision
METRICS = ["l1", "warping_error", "checkerboard", "flow_epe", "mask_auc"]
CURVES = ["G_GAN", "G_feat", "G_flow", "G_mask", "D_real", "D_fake"]


def run_name(precision: str, seed: int) -> str:
    return f"{precision}_seed{seed}"


def train(runs: Path, seeds: list[int], steps: int, jobs: int, overrides: list[str]) -> dict[str, float]:
    from parallel import train_parallel
    from quality import ensure_train_data

    from vid2vid.config import get_preset

    # the warp unchecked, as the committed study was made (the preset checks it now); overridable
    common = ["--preset", "synthetic", "train.sample_every=0", "train.log_every=10",
              "model.label_occlusion=false", *overrides]
    ensure_train_data(get_preset("synthetic").override([o for o in overrides if o.startswith("data.")]))
    models = {run_name(p, s): [*common, f"train.mixed_precision={mp}", f"train.seed={s}",
                               "--max-steps", str(steps)]
              for s in seeds for p, mp in PRECISIONS.items()}
    return train_parallel(models, runs, jobs)


def measure(runs: Path, seeds: list[int], sequences: int, root: Path | None = None) -> dict[str, dict]:
    from quality import evaluate

    results = {}
    for s in seeds:
        for p in PRECISIONS:
            name = run_name(p, s)
            report = evaluate(runs / name / "generator.pt", sequences, root=root)
            report.pop("_outputs", None)
            log = [json.loads(r) for r in (runs / name / "log.jsonl").read_text().splitlines()]
            report["seconds_per_step"] = log[-1]["seconds"] / log[-1]["step"]  # the GAN steps' clock
            results[name] = report
    return results


def plot(runs: Path, seeds: list[int], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    colours = {"fp32": "tab:blue", "bf16": "tab:red"}
    for ax, key in zip(axes.flat, CURVES, strict=True):
        for s in seeds:
            for p in PRECISIONS:
                rows = [json.loads(r) for r in (runs / run_name(p, s) / "log.jsonl").read_text().splitlines()]
                rows = [r for r in rows if key in r]
                ax.plot([r["step"] for r in rows], [r[key] for r in rows], color=colours[p], alpha=0.75,
                        linestyle=["-", "--", ":", "-."][s % 4], label=f"{p}, seed {s}")
        ax.set_title(key)
        ax.set_xlabel("step")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("the synthetic preset trained in fp32 and in bf16 autocast (logged every 10 steps)")
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def write_readme(results: dict, seeds: list[int], steps: int, command: str, out: Path,
                 sequences: int) -> None:
    from quality import machine

    def real(r: dict, k: str) -> str:
        ref = r.get(f"real_{k}")
        return f"{r[k]:.4f}" + (f" ({r[k] / ref:.2f}x real)" if ref else "")

    lines = ["| run | " + " | ".join(METRICS) + " | s / step |", "|---|" + "---|" * (len(METRICS) + 1)]
    for name, r in results.items():
        cells = " | ".join(real(r, k) for k in METRICS)
        lines.append(f"| {name} | {cells} | {r['seconds_per_step']:.2f} |")
    verdicts = []
    for k in METRICS:
        fp = [results[run_name("fp32", s)][k] for s in seeds]
        bf = [results[run_name("bf16", s)][k] for s in seeds]
        mean_bf = sum(bf) / len(bf)
        inside = min(fp) <= mean_bf <= max(fp)
        verdicts.append(f"| {k} | {min(fp):.4f} - {max(fp):.4f} | {sum(fp) / len(fp):.4f} | {mean_bf:.4f} | "
                        f"{'yes' if inside else 'no'} |")
    speed = (sum(results[run_name("fp32", s)]["seconds_per_step"] for s in seeds)
             / sum(results[run_name("bf16", s)]["seconds_per_step"] for s in seeds))
    text = f"""# bf16 autocast against fp32, training the `synthetic` preset

`{command}`: {len(seeds)} seeds x 2 precisions, {steps} steps each (after the preset's flow
warm-up), on {machine()}, one thread per run, two runs at a time. Measured on {sequences} fresh test
videos (seed 1) with `reproduce/quality.py`'s metrics; in brackets the ratio to the real video's value.

{chr(10).join(lines)}

Does bf16's mean lie within the range of the fp32 seeds?

| metric | fp32 range | fp32 mean | bf16 mean | within |
|---|---|---|---|---|
{chr(10).join(verdicts)}

Training speed (GAN steps, from the logs' clocks, two runs sharing the CPU): bf16 {speed:.2f}x fp32.
With {len(seeds)} seeds per precision this tells only whether bf16 is far off; the loss curves of
every run are overlaid in `loss_curves.png`.

![losses](loss_curves.png)
"""
    (out / "README.md").write_text(text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--eval-sequences", type=int, default=8)
    p.add_argument("--eval-root", default=None, help="where the test videos go (default data)")
    p.add_argument("--runs", default="runs/precision")
    p.add_argument("--results", default="reproduce/results/speed/precision")
    p.add_argument("overrides", nargs="*", help="key=value overrides for every run")
    args = p.parse_args(argv)
    runs, out = Path(args.runs), Path(args.results)
    t0 = time.time()
    train(runs, args.seeds, args.steps, args.jobs, args.overrides)
    results = measure(runs, args.seeds, args.eval_sequences, Path(args.eval_root) if args.eval_root else None)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(runs, args.seeds, out / "loss_curves.png")
    given = argv if argv is not None else sys.argv[1:]
    command = "python " + " ".join(["reproduce/precision_study.py", *given])
    write_readme(results, args.seeds, args.steps, command, out, args.eval_sequences)
    print(f"done in {(time.time() - t0) / 60:.1f} min: {out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
