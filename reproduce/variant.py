"""A variant of a Tables model against the model itself, over the benchmark's seeds and test videos.

    python reproduce/variant.py --name norm-D-none model.norm_D=none      # D_V and D_I without a norm
    python reproduce/variant.py --name lr-half --base no-video-D train.lr=0.0001 --seeds 3 --jobs 2
    python reproduce/variant.py --smoke --name x model.norm_D=none --runs /tmp/v/runs --results /tmp/v/results
    python reproduce/variant.py --at-inference --name label-occlusion model.label_occlusion=true
    python reproduce/variant.py --at-inference --name flow-deadzone --runs runs/labelcheck \
        --base-set model.label_occlusion=true --base-set train.mixed_precision=auto model.flow_deadzone=0.5

A change to a model is only worth keeping if it measurably helps, and one training run decides
nothing. This trains ``<runs>/variants/<name>/seed<k>`` (``reproduce/train.py --config
reproduce/configs/tables/<base>.yaml``, the benchmark's data settings, the overrides and
``train.seed=k`` for ``k < --seeds``; resumable, as ``tables.py``), and ``<runs>/<base>/seed<k>``
as well where ``tables.py`` has not trained it yet. Both are then measured on the benchmark's
evaluation split with the Tables' metrics (``reproduce/evaluate.py``: per-video L1, warping errors,
flicker on static pixels, sharpness, pan direction accuracy, the video FID's per-video jackknife
pseudo-values), and for each metric the hierarchical bootstrap over seeds, then videos, gives the
95 % interval of the paired difference variant minus base: "lower" or "higher" when it excludes 0,
"no difference detected" when it contains it (with the minimum detectable effect; "not measured" where
no seed has a finite pair, e.g. flicker without still-camera videos). With ``--at-inference``
nothing is trained: the variant is the base model's own generators run with the overrides (a
setting that keeps the weights, such as ``model.warp_mode`` or ``model.label_occlusion``), so the
comparison is paired on the very same networks. ``--base-set`` overrides both sides: the base is
then the Tables model with them (trained into its own ``--runs``). No direction is
claimed in advance: this compares, it does not test a claim. Written to ``<results>/<name>.json``
(every seed's per-video numbers), ``<name>.md`` (``--results``, default
``reproduce/results/synthetic/variants``) and ``<name>.png``: frames of one panning test video by
both sides' seed 0 beside the real ones, to look at.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from evaluate import (
    BENCHMARK_DATA,
    BENCHMARK_EVAL_ROOT,
    CLAIM_METRICS,
    CONFIGS,
    MOTION_CHECK,
    TRAINED,
    _fmt,
    evaluation_setup,
    generate,
    measure_run,
    run_dir,
    summarise,
)
from tables import SMOKE_EVAL_SEQUENCES, SMOKE_OVERRIDES, ensure_training_data

# the metrics compared: the claims' per-video ones and the motion check
METRICS = {**CLAIM_METRICS, **MOTION_CHECK}
INFERENCE_NOTE = " (applied at inference to the base model's own generators: nothing trained)"
OUTCOMES = {"reproduced": "lower", "not reproduced": "higher", "inconclusive": "no difference detected"}


def train_variant(runs: Path, name: str, base: str, seeds: int, jobs: int, overrides: list[str],
                  variant_overrides: list[str], variant: bool = True) -> dict[str, float]:
    """Train the variant's seeds (unless ``variant`` is False) and the base model's missing ones
    (``jobs`` at a time)."""
    from parallel import train_parallel

    ensure_training_data(overrides)
    config = ["--config", str(CONFIGS / f"{base}.yaml"), *BENCHMARK_DATA, *overrides]
    todo = {}
    for seed in range(seeds):
        todo[str(run_dir(Path(), base, seed))] = [*config, f"train.seed={seed}"]
        if variant:
            todo[str(run_dir(Path("variants"), name, seed))] = [*config, *variant_overrides,
                                                                f"train.seed={seed}"]
    return train_parallel(todo, runs, jobs)


def compare(per_video: dict[str, dict[int, dict]], n_boot: int) -> list[dict]:
    """For every metric of :data:`METRICS`: the interval of variant minus base and its outcome."""
    from vid2vid.metrics.claims import Claim, decide_claim

    rows = []
    for metric, label in METRICS.items():
        claim = Claim(f"variant vs base: {label}", "variant", "base", metric, "lower", "-")
        result = decide_claim(claim, per_video, n_boot=n_boot)
        outcome = "not measured" if result["lo"] is None else OUTCOMES[result["verdict"]]
        rows.append({"metric": metric, "label": label, "outcome": outcome,
                     **{k: result[k] for k in ("mean", "lo", "hi", "mde", "n_seeds", "n_videos",
                                               "dropped_videos")}})
    return rows


def write_report(report: dict, out: Path) -> str:
    """``<out>/<name>.json`` and the Markdown summary ``<out>/<name>.md``; returns the Markdown."""
    name, base = report["name"], report["base"]
    lines = [f"# Variant `{name}` against `{base}`", "",
             f"Command: `{report['command']}`. Variant overrides: `{' '.join(report['overrides']) or '-'}`"
             f"{INFERENCE_NOTE if report.get('at_inference') else ''}. {both_sides(report)}"
             f"Seeds: {report['seeds']}. Test videos: {report['test_videos']} "
             f"(`{report['eval_root']}`). Machine: {report['machine']}. Evaluation took "
             f"{report['evaluation_minutes']:.1f} min.", "",
             "Variant minus base on the same test videos: mean and 95% hierarchical bootstrap interval "
             f"({report['n_boot']} replicates: seeds, then videos within seeds); MDE: the smallest "
             "difference these seeds and videos detect with 80% power. Means over the seeds ± their "
             "standard deviation beside it.", "",
             f"| metric | {base} | {name} | {name} - {base}: mean [95% interval] | MDE | outcome |",
             "|---|---|---|---|---|---|"]
    for row in report["comparison"]:
        key = row["metric"].removesuffix("_pseudo")
        cells = []
        for model in ("base", "variant"):
            r = report["results"][model]
            sd = r["sd"].get(key, float("nan"))
            cells.append(f"{_fmt(r.get(key))} ± {_fmt(sd, 2)}" if key in r else "-")
        interval = ("-" if row["lo"] is None else
                    f"{_fmt(row['mean'], 3)} [{_fmt(row['lo'], 3)}, {_fmt(row['hi'], 3)}]")
        lines.append(f"| {row['label']} | {cells[0]} | {cells[1]} | {interval} | {_fmt(row['mde'], 3)} | "
                     f"**{row['outcome']}** |")
    if report.get("picture"):
        pic = report["picture"]
        lines += ["", f"![frames]({pic['file']})", "",
                  f"Frames {', '.join(map(str, pic['frames']))} (rows) of test video `{pic['video']}`, seed "
                  f"{pic['seed']} of each: {' | '.join(pic['columns'])}."]
    text = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=1))
    (out / f"{name}.md").write_text(text)
    return text


def both_sides(report: dict) -> str:
    """The ``--base-set`` overrides of both sides, in words ("" when none)."""
    given = report.get("base_overrides", [])
    return f"Both sides (the base is `{report['base']}` with these): `{' '.join(given)}`. " if given else ""


def evaluate_variant(runs: Path, out: Path, name: str, base: str, seeds: int, overrides: list[str],
                     variant_overrides: list[str], eval_root: str, eval_sequences: int, feature_net: str,
                     n_boot: int, command: str, at_inference: bool = False,
                     base_overrides: list[str] | None = None) -> dict:
    """Measure base and variant on the benchmark's test videos and compare them (:func:`compare`).
    ``at_inference``: the variant is the base model's own generators run with ``variant_overrides``
    (nothing trained)."""
    from vid2vid.machine import describe_machine

    t0 = time.time()
    base_paths = {k: run_dir(runs, base, k) / "generator.pt" for k in range(seeds)}
    paths = {"base": base_paths,
             "variant": base_paths if at_inference else
             {k: run_dir(runs / "variants", name, k) / "generator.pt" for k in range(seeds)}}
    run_with = {"base": [], "variant": variant_overrides if at_inference else []}
    missing = [str(p) for side in paths.values() for p in side.values() if not p.is_file()]
    if missing:
        raise SystemExit(f"not trained yet: {', '.join(missing)}; run without --stage evaluate to train them")
    bench = evaluation_setup(overrides, eval_root, eval_sequences, feature_net, out / "real_features.npz")
    results, per_video, shown = {}, {}, {}
    for side, generators in paths.items():
        runs_of = {}
        for seed, generator in generators.items():
            print(f"evaluating {side} ({base if side == 'base' else name}), seed {seed}", flush=True)
            fakes = generate(base, generator, bench.videos, run_with[side])
            if seed == 0:
                shown[side] = fakes
            runs_of[seed] = measure_run(fakes, bench.videos, bench.real, bench.real_we, bench.video_features,
                                        bench.frame_features)
        results[side] = summarise(runs_of)
        per_video[side] = {s: r["per_video"] for s, r in runs_of.items()}
    report = {"name": name, "base": base, "overrides": variant_overrides, "at_inference": at_inference,
              "common_overrides": overrides, "base_overrides": list(base_overrides or []),
              "seeds": seeds, "command": command, "eval_root": str(bench.root),
              "test_videos": len(bench.videos), "n_boot": n_boot,
              "machine": ", ".join(f"{k} {v}" for k, v in describe_machine().items()),
              "comparison": compare(per_video, n_boot), "results": results,
              "evaluation_minutes": (time.time() - t0) / 60}
    report["picture"] = write_picture(out / f"{name}.png", bench.videos, shown)
    print(write_report(report, out))
    return report


def write_picture(path: Path, videos: list[dict], fakes: dict[str, list]) -> dict:
    """Frames 0, 5, 15 and the last of one test video (the first whose camera pans: where streaks and
    smearing show), one row each: base | variant | real, both sides' seed 0. Returns what it shows."""
    from vid2vid.quality import first_panning, frame_strip

    i = first_panning(videos)
    T = int(videos[i]["real"].shape[0])
    frames = sorted({t for t in (0, 5, 15) if t < T} | {T - 1})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame_strip({"image": videos[i]["real"], "flow": videos[i]["flow"]},
                {side: {"x": f[i]} for side, f in fakes.items()}, frames, path)
    return {"file": path.name, "video": videos[i]["name"], "frames": frames, "seed": 0,
            "columns": [*fakes, "real"]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True, help="the variant's name (its runs and report are named by it)")
    p.add_argument("--base", default="vid2vid", choices=TRAINED, help="the Tables model it varies")
    p.add_argument("--stage", choices=["all", "train", "evaluate"], default="all")
    p.add_argument("--seeds", type=int, default=3, help="training seeds of each side (at least 2)")
    p.add_argument("--jobs", type=int, default=2, help="runs trained at a time")
    p.add_argument("--runs", default="runs/tables", help="the Tables' runs (the variant's go to variants/)")
    p.add_argument("--results", default="reproduce/results/synthetic/variants", help="where reports go")
    p.add_argument("--eval-root", default=None,
                   help=f"evaluation videos (made if missing; default {BENCHMARK_EVAL_ROOT}, with --smoke "
                        "<runs>/eval)")
    p.add_argument("--eval-sequences", type=int, default=16)
    p.add_argument("--feature-net", default="reproduce/results/synthetic/feature_net.pt",
                   help="synthetic-domain feature network; 'none' = untrained (smoke tests only)")
    p.add_argument("--n-boot", type=int, default=10000)
    p.add_argument("--at-inference", action="store_true",
                   help="nothing trained: the variant is the base model's generators run with the overrides "
                        "(settings that keep the weights, e.g. model.warp_mode=bicubic)")
    p.add_argument("--base-set", action="append", default=[], metavar="KEY=VALUE", dest="base_overrides",
                   help="an override of both sides (repeatable): the base is then the Tables model with it, "
                        "so give it its own --runs (e.g. --base-set model.label_occlusion=true --runs "
                        "runs/labelcheck)")
    p.add_argument("--smoke", action="store_true", help="toy scale, as tables.py --smoke")
    p.add_argument("overrides", nargs="+", help="the variant's key=value overrides")
    args = p.parse_args(argv)
    if not args.name.replace("-", "").replace("_", "").isalnum():
        p.error(f"--name {args.name!r}: letters, digits, '-' and '_' only (it names folders)")
    if any(o.split("=", 1)[0].strip() == "train.seed" for o in [*args.overrides, *args.base_overrides]):
        p.error("train.seed is set per run by --seeds; leave it out of the overrides and --base-set")
    args.common = []
    if args.smoke:
        args.seeds, args.eval_sequences, args.feature_net = 2, SMOKE_EVAL_SEQUENCES, "none"
        args.common = [f"data.root={Path(args.runs) / 'data'}", *SMOKE_OVERRIDES]
    args.common += args.base_overrides
    if args.eval_root is None:
        args.eval_root = str(Path(args.runs) / "eval") if args.smoke else BENCHMARK_EVAL_ROOT
    if args.seeds < 2:
        p.error(f"--seeds {args.seeds}: at least 2 (the comparison is decided over seeds)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs = Path(args.runs)
    if args.stage in ("all", "train"):
        if args.at_inference:  # only the base model's runs (where tables.py has not trained them)
            train_variant(runs, args.name, args.base, args.seeds, args.jobs, args.common, [], variant=False)
        else:
            train_variant(runs, args.name, args.base, args.seeds, args.jobs, args.common, args.overrides)
    if args.stage in ("all", "evaluate"):
        evaluate_variant(runs, Path(args.results), args.name, args.base, args.seeds, args.common,
                         args.overrides, args.eval_root, args.eval_sequences, args.feature_net, args.n_boot,
                         command="python " + " ".join(["reproduce/variant.py", *(argv or sys.argv[1:])]),
                         at_inference=args.at_inference, base_overrides=args.base_overrides)
    return 0


if __name__ == "__main__":
    sys.exit(main())
