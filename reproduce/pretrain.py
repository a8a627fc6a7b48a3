"""Train the pretrained CPU models: vid2vid and the per-frame baseline on the synthetic videos.

    python reproduce/pretrain.py                  # both models, side by side, one thread each
    python reproduce/pretrain.py --stage evaluate # measure what is trained (snapshots included)
    python reproduce/pretrain.py --stage evaluate --final-step 800   # commit the step-800 snapshots
    python reproduce/pretrain.py --stage evaluate --final-step vid2vid=600 per_frame=800
    python reproduce/pretrain.py --stage evaluate --average-from vid2vid=400 --refine-flow 8000

Both use the ``synthetic`` preset (64 x 128, ~4 px/frame motion) on ``--sequences`` training videos
of seed 0 and the same number of steps (learning rate constant for 60 % of them, then decayed
linearly to zero); the per-frame model is
``reproduce/configs/tables/pix2pixHD.yaml`` (no previous frames, no flow, ``D_I`` only). Every
``--snapshot-every`` steps a copy of the generator is kept, and at the end every snapshot is
measured on fresh test videos (seed 1) with :func:`vid2vid.quality.evaluate_generator`, to show
where quality stops improving. The final generators (or, with ``--final-step``, the snapshots of
that step) are copied to ``reproduce/pretrained/``
(``synthetic_vid2vid.pt``, ``synthetic_per_frame.pt``, the ``generator.pt`` format that
``python -m vid2vid generate`` reads) with ``README.md`` (their metrics, the command, the machine,
the training time), ``metrics.json``, both training logs, vid2vid's flow warm-up log and a picture of
their frames. ``--models`` trains one of the two only (to run them at different times).

``--refine-flow N`` goes on training the committed vid2vid's flow branch for ``N`` more updates
after its GAN training, on ``--refine-sequences`` training videos of seed 0
(:func:`vid2vid.training.refine.refine_flow_generator`): with the ``synthetic`` preset's label-only,
detached branch that is a supervised regression of its own, which the GAN's budget leaves
unfinished. The refined generator is written to ``<runs>/vid2vid/refined_<row>_flow<N>_videos<S>/`` (reused
when it exists) and measured as its own row.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "reproduce"))

MODELS = {  # name -> (file in reproduce/pretrained, train.py arguments)
    "vid2vid": ("synthetic_vid2vid.pt", ["--preset", "synthetic"]),
    "per_frame": ("synthetic_per_frame.pt", ["--config", "reproduce/configs/tables/pix2pixHD.yaml"]),
}
KEYS = ["l1", "l1_drift", "checkerboard", "warping_error", "flow_epe", "mask_auc"]  # the camera always moves


def train(runs: Path, steps: int, sequences: int, snapshot_every: int, jobs: int, data_root: str,
          overrides: list[str], models: list[str] | None = None) -> dict[str, float]:
    from parallel import train_parallel

    # one epoch is one window of every training video; the learning rate stays constant for the
    # first 60 % of the epochs and decays linearly to zero over the rest, ending with the steps
    epochs = math.ceil(steps / sequences)
    constant = max(1, round(0.6 * epochs))
    common = [f"data.root={data_root}", f"data.synthetic_sequences={sequences}",
              f"train.niter={constant}", f"train.niter_decay={max(1, epochs - constant)}",
              f"train.snapshot_every={snapshot_every}", "train.checkpoint_every=100",
              "train.log_every=10", "train.sample_every=0", *overrides, "--max-steps", str(steps)]
    # both models read the same videos: make them once, before the processes start
    from quality import ensure_train_data

    from vid2vid.config import get_preset

    settings = [c for c in common if "=" in c and not c.startswith("-")]
    ensure_train_data(get_preset("synthetic").override(settings))
    chosen = {name: spec for name, spec in MODELS.items() if models is None or name in models}
    return train_parallel({name: [*args, *common] for name, (_, args) in chosen.items()}, runs, jobs)


def parse_model_steps(values: list[str] | None, option: str = "--final-step",
                      per_model_only: bool = False) -> dict[str, int] | None:
    """``--final-step``: one step for both models (``800``) or one per model (``vid2vid=600``);
    ``--average-from``: one per model only."""
    if not values:
        return None
    steps: dict[str, int] = {}
    for v in values:
        name, _, step = v.rpartition("=")
        names = [name] if name else ([] if per_model_only else list(MODELS))
        if not names or any(n not in MODELS for n in names) or not step.isdigit():
            form = "MODEL=N" if per_model_only else "N or MODEL=N"
            raise SystemExit(f"{option}: expected {form} with MODEL in {list(MODELS)}, got {v!r}")
        steps.update(dict.fromkeys(names, int(step)))
    return steps


def made_by(runs: Path, fallback: str) -> str:
    """The command(s) that trained the models: ``<runs>/<model>/command.txt`` (written at training;
    models trained by different commands each name theirs), else ``<runs>/command.txt``."""
    per_model = {n: (runs / n / "command.txt").read_text().strip() for n in MODELS
                 if (runs / n / "command.txt").is_file()}
    if len(per_model) == len(MODELS) and len(set(per_model.values())) > 1:
        return "; ".join(f"{n}: `{c}`" for n, c in per_model.items())
    shared = runs / "command.txt"
    return f"`{shared.read_text().strip() if shared.is_file() else fallback}`"


def final_model(runs: Path, name: str, final_step: int | None, average_from: int | None = None) -> Path:
    """The generator a model is judged and committed by: ``generator.pt``, or its snapshot at
    ``final_step``; with ``average_from``, the mean of its snapshots from that step to the final one
    (``vid2vid.models.io.average_generators``), written to ``<runs>/<model>/average_<from>_<to>.pt``."""
    if final_step is None and average_from is None:
        return runs / name / "generator.pt"
    snapshots = runs / name / "snapshots"
    if final_step is None:
        final_step = max((int(f.stem[5:]) for f in snapshots.glob("step_*.pt")), default=0)
    snapshot = snapshots / f"step_{final_step:08d}.pt"
    if not snapshot.is_file():
        raise SystemExit(f"{snapshot}: no snapshot at step {final_step} (train.snapshot_every)")
    if average_from is None:
        return snapshot
    from vid2vid.models.io import average_generators

    files = sorted(f for f in snapshots.glob("step_*.pt") if average_from <= int(f.stem[5:]) <= final_step)
    if len(files) < 2 or int(files[0].stem[5:]) != average_from:
        found = [f.name for f in files]
        raise SystemExit(f"{snapshots}: --average-from {average_from} needs a snapshot at step "
                         f"{average_from} and another up to step {final_step}; found {found}")
    return average_generators(files, runs / name / f"average_{average_from}_{final_step}.pt")


def result_key(path: Path, step: int) -> str:
    """The row of a generator in the metrics: its step, ``<from>-<to>`` for an average, and
    ``<row> + flow <N> on <videos>`` for a generator whose flow branch was refined (:func:`refine`)."""
    if path.parent.name.startswith("refined_"):
        row, _, rest = path.parent.name[len("refined_"):].rpartition("_flow")
        updates, _, videos = rest.partition("_videos")
        return f"{row} + flow {updates} on {videos}"
    return path.stem[len("average_"):].replace("_", "-") if path.stem.startswith("average_") else str(step)


def row_order(key: str) -> tuple[int, int]:
    """Rows by their last step, an average after the snapshot it ends with, a refined generator
    after the one it was refined from."""
    base = key.split(" + ")[0]
    return int(base.split("-")[-1]), int("-" in base) + 2 * int(" + " in key)


def refine(runs: Path, source: Path, updates: int, sequences: int, data_root: str | None = None
           ) -> tuple[Path, float]:
    """vid2vid's generator ``source`` with its flow branch refined for ``updates`` more updates on
    ``sequences`` training videos (``data_root``, default ``data/pretrain_synthetic<sequences>``, made
    if missing), in
    ``<runs>/vid2vid/refined_<row>_flow<updates>_videos<sequences>/``; an existing result of the
    same refinement is reused. Returns the new ``generator.pt`` and the refinement's seconds."""
    from quality import ensure_train_data

    from vid2vid.models.io import _generator_checkpoint, load_generator
    from vid2vid.training.refine import refine_flow_generator

    cfg, _, step = load_generator(source)
    out = runs / "vid2vid" / f"refined_{result_key(source, step)}_flow{updates}_videos{sequences}"
    overrides = [f"data.root={data_root or f'data/pretrain_synthetic{sequences}'}",
                 f"data.synthetic_sequences={sequences}"]
    target = out / "generator.pt"
    if target.is_file():
        record = _generator_checkpoint(target).get("flow_refine", {})
        if record.get("from") == str(source) and record.get("data_overrides") == overrides:
            print(f"{target}: the flow branch refined already ({updates} updates), reused")
            return target, _last_seconds(out / "flow_refine.jsonl")
    ensure_train_data(cfg.override(overrides))
    print(f"refining vid2vid's flow branch: {updates} updates on {sequences} training videos -> {out}",
          flush=True)
    refine_flow_generator(source, out, updates, overrides)
    return target, _last_seconds(out / "flow_refine.jsonl")


def _last_seconds(log: Path) -> float:
    return json.loads(log.read_text().splitlines()[-1])["seconds"] if log.is_file() else 0.0


def evaluate(runs: Path, out: Path, sequences: int, eval_root: Path | None,
             final_steps: dict[str, int] | None, finals: dict[str, Path],
             also: dict[str, Path] | None = None) -> tuple[dict, dict[str, str]]:
    """Every snapshot up to ``final_steps``, the generator ``also`` names (the one a committed
    generator was refined from) and the final generator (``finals``, :func:`final_model`) of each
    model on the test videos; returns the metrics (model -> row -> report) and the row of
    each committed generator."""
    import torch
    from quality import ensure_eval_data

    from vid2vid.models.io import load_generator
    from vid2vid.quality import (
        evaluate_generator,
        first_panning,
        format_report,
        frame_strip,
        load_test_videos,
    )

    results: dict[str, dict] = {}
    outputs_of: dict[str, dict] = {}  # the committed generators' roll-outs of the first test video
    committed: dict[str, str] = {}
    videos = None
    for name in MODELS:
        final_step = None if final_steps is None else final_steps[name]
        final = finals[name]
        files = sorted(f for f in (runs / name / "snapshots").glob("step_*.pt")
                       if final_step is None or int(f.stem[5:]) <= final_step)
        files += [f for f in ((also or {}).get(name), final) if f is not None and f not in files]
        results[name] = {}
        for f in files:
            torch.manual_seed(0)
            cfg, G, step = load_generator(f)
            if videos is None:
                test_root = ensure_eval_data(cfg, sequences, eval_root)
                videos = load_test_videos(cfg, test_root)
                data = data_words(cfg)
                shown = first_panning(videos)
            report = evaluate_generator(G, cfg, videos)
            outputs = report.pop("_outputs")
            results[name][result_key(f, step)] = report
            if f == final:
                outputs_of[name] = outputs[shown]
                committed[name] = result_key(f, step)
                print(f"== {name} (step {step})\n{format_report(report)}", flush=True)
    T = videos[shown]["image"].shape[0]
    frame_strip(videos[shown], outputs_of, [0, 5, T // 2, T - 1], out / "frames.png")
    write_sample(videos[shown], outputs_of, out / "sample.gif")
    (out / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    return results, committed, {"test_root": test_root, "data": data, "shown": shown}


def data_words(cfg) -> str:
    """The synthetic videos' settings in words: the benchmark's (``reproduce/tables.py``) or not."""
    from evaluate import BENCHMARK_DATA

    from vid2vid.config import get_preset
    from vid2vid.data.synthetic import SyntheticConfig

    d = cfg.data
    benchmark = SyntheticConfig.from_data_config(get_preset("synthetic").override(BENCHMARK_DATA).data)
    colours = ("one colour per car and clothing part (`data.synthetic_foreground_palette=true`)"
               if d.synthetic_foreground_palette else "cars and clothes in random colours")
    still = (f"{d.synthetic_still_camera:g} of them with a still camera (`data.synthetic_still_camera`)"
             if d.synthetic_still_camera else "every camera panning")
    same = SyntheticConfig.from_data_config(d) == benchmark
    return f"{colours}, {still}" + (": the data of the Tables' benchmark" if same else "")


def precision_words(runs: Path) -> str:
    """Each model's training precision, from its ``run_info.json``."""
    words = []
    for name in MODELS:
        info = runs / name / "run_info.json"
        mp = json.loads(info.read_text()).get("mixed_precision") if info.is_file() else None
        words.append(f"{name} {'fp32' if mp == 'no' else f'{mp} autocast' if mp else 'unrecorded'}")
    return ", ".join(words)


def write_sample(video: dict, finals: dict[str, dict], path: Path) -> None:
    """An animated GIF of one test video: labels | per-frame | vid2vid | real, enlarged 2x."""
    import numpy as np

    from vid2vid.video import VideoWriter, label_to_color, side_by_side

    with VideoWriter(path, fps=8) as writer:
        for t in range(video["image"].shape[0]):
            labels = label_to_color(video["label_ids"][t, 0].numpy())
            panel = side_by_side(labels, finals["per_frame"]["x"][t], finals["vid2vid"]["x"][t],
                                 video["image"][t], gap=2)
            writer.write(np.repeat(np.repeat(panel, 2, 0), 2, 1))


def warmup_summary(log: Path) -> str:
    """One sentence on vid2vid's flow warm-up, from its ``warmup.jsonl``."""
    if not log.is_file():
        return "vid2vid trained without a flow warm-up."
    last = json.loads(log.read_text().splitlines()[-1])
    return (f"Before its first GAN step, vid2vid's flow head was warmed up for {last['update']} updates "
            f"({last['seconds'] / 60:.1f} min; `train.flow_warmup`), until its flow loss over the last "
            f"updates was {last['ratio']:.2f} of a zero flow's (`warmup_vid2vid.jsonl`).")


def write_readme(out: Path, results: dict, seconds: dict, command: str, sequences: int,
                 warmup: str = "", committed: dict[str, str] | None = None, data: str = "",
                 test_root: Path | None = None, precision: str = "", shown: str = "seq_0000",
                 evaluated_by: str = "python reproduce/pretrain.py --stage evaluate") -> None:
    def fmt(r: dict, key: str) -> str:
        if key not in r:
            return "-"
        real = r.get(f"real_{key}")
        return f"{r[key]:.4f}" + (f" ({r[key] / real:.2f}x real)" if real else "")

    lines = []
    for name, per_step in results.items():
        for step, r in sorted(per_step.items(), key=lambda kv: row_order(kv[0])):
            made = "-" in step or "+" in step  # an average or a refinement: not a snapshot of the run
            mark = " (committed)" if made and committed and committed.get(name) == step else ""
            lines.append(f"| {name} | {step}{mark} | " + " | ".join(fmt(r, k) for k in KEYS) + " |")
    rows = {name: (committed or {}).get(name) or max(per_step, key=row_order)
            for name, per_step in results.items()}
    final = {name: results[name][row] for name, row in rows.items()}
    v, p = final["vid2vid"], final["per_frame"]
    steps = ", ".join(f"{name} {row}" for name, row in rows.items())
    ratios = (f"vid2vid / per-frame: warping error {v['warping_error'] / p['warping_error']:.2f}x, "
              f"L1 {v['l1'] / p['l1']:.2f}x, checkerboard {v['checkerboard'] / p['checkerboard']:.2f}x; "
              f"vid2vid / real video: warping error {v['warping_error'] / v['real_warping_error']:.2f}x, "
              f"checkerboard {v['checkerboard'] / v['real_checkerboard']:.2f}x.")
    from quality import machine

    times = ", ".join(f"{n} {s / 60:.0f} min" for n, s in seconds.items()) or "see the logs"
    test = Path(test_root) if test_root is not None else Path("data/synthetic")
    if test.is_absolute() and test.is_relative_to(REPO):
        test = test.relative_to(REPO)
    text = f"""# Pretrained CPU models on the synthetic street videos

`synthetic_vid2vid.pt` (vid2vid, the `synthetic` preset) and `synthetic_per_frame.pt` (the per-frame
baseline, `reproduce/configs/tables/pix2pixHD.yaml`), in the `generator.pt` format:

```bash
python -m vid2vid generate --checkpoint reproduce/pretrained/synthetic_vid2vid.pt \\
    --input {test}/test_A/{shown} --real {test}/test_B/{shown} --side-by-side --out v.mp4
```

(`{test}` holds the test videos below, which `python reproduce/pretrain.py --stage evaluate` writes;
`{shown}`, the first whose camera pans, is the one pictured.)

Made by {command} (training time: {times}); steps: {steps},
on {sequences} training videos (64 x 128, 30 frames, seed 0; {data or 'see the command'}),
one thread per model ({precision or 'precision: see the logs'}), side by side with
other jobs on the 2-core machine
(logs: `log_vid2vid.jsonl`, `log_per_frame.jsonl`). {warmup}
Evaluated by `{evaluated_by}` on {machine()}.
Measured on {final['vid2vid']['sequences']} fresh test videos (seed 1) of 30 frames, generated as
inference does (first frame from the labels, each output fed back); in brackets the ratio to the
real video's value on the same videos. The metrics are those of `reproduce/quality.py`.

{ratios}

![a test video: labels | per-frame | vid2vid | real](sample.gif)

![frames 0, 5, 15, 29: labels | vid2vid frame, flow, mask | per-frame | real](frames.png)

| model | step | {' | '.join(KEYS)} |
|---|---|{'---|' * len(KEYS)}
""" + "\n".join(lines) + "\n"
    (out / "README.md").write_text(text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", choices=["all", "train", "evaluate"], default="all")
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--sequences", type=int, default=16, help="synthetic training videos")
    p.add_argument("--snapshot-every", type=int, default=400)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=None,
                   help="train only these (default: both; the evaluate stage needs both trained)")
    p.add_argument("--runs", default="runs/pretrain")
    p.add_argument("--out", default="reproduce/pretrained")
    p.add_argument("--eval-sequences", type=int, default=8)
    p.add_argument("--final-step", nargs="+", default=None, metavar="[MODEL=]STEP",
                   help="judge and commit the snapshots at this step instead of the last generators")
    p.add_argument("--average-from", nargs="+", default=None, metavar="MODEL=STEP",
                   help="commit the mean of a model's snapshots from STEP to its final step")
    p.add_argument("--refine-flow", type=int, default=0, metavar="UPDATES",
                   help="refine the committed vid2vid's flow branch for this many updates after training")
    p.add_argument("--refine-sequences", type=int, default=48, help="training videos of the refinement")
    p.add_argument("--refine-data-root", default=None,
                   help="the refinement's videos (default data/pretrain_synthetic<--refine-sequences>)")
    p.add_argument("--eval-root", default=None, help="where the test videos go (default data)")
    p.add_argument("--data-root", default=None, help="training videos (default data/pretrain_synthetic<N>)")
    p.add_argument("overrides", nargs="*", help="key=value overrides for both models")
    args = p.parse_args(argv)
    final_steps = parse_model_steps(args.final_step)
    average_from = parse_model_steps(args.average_from, "--average-from", per_model_only=True)
    runs, out = Path(args.runs), Path(args.out)
    command = "python " + " ".join(["reproduce/pretrain.py", *(argv if argv is not None else sys.argv[1:])])
    seconds: dict[str, float] = {}
    if args.stage in ("all", "train"):
        t0 = time.time()
        data_root = args.data_root or f"data/pretrain_synthetic{args.sequences}"
        seconds = train(runs, args.steps, args.sequences, args.snapshot_every, args.jobs, data_root,
                        args.overrides, args.models)
        print(f"trained in {(time.time() - t0) / 60:.1f} min")
        (runs / "command.txt").write_text(command + "\n")
        for name in args.models or MODELS:
            (runs / name / "command.txt").write_text(command + "\n")
    if args.stage in ("all", "evaluate"):
        out.mkdir(parents=True, exist_ok=True)
        finals = {name: final_model(runs, name, None if final_steps is None else final_steps[name],
                                    (average_from or {}).get(name)) for name in MODELS}
        refine_note, unrefined = "", {}
        if args.refine_flow > 0:
            unrefined["vid2vid"] = finals["vid2vid"]
            finals["vid2vid"], refine_s = refine(runs, finals["vid2vid"], args.refine_flow,
                                                 args.refine_sequences, args.refine_data_root)
            refine_note = (f" vid2vid's flow and mask branch was then trained on alone for "
                           f"{args.refine_flow} more updates on {args.refine_sequences} training videos "
                           f"({refine_s / 60:.0f} min, "
                           "learning rate decayed linearly from `train.lr` to 0; `--refine-flow`, "
                           "`flow_refine_vid2vid.jsonl`; `vid2vid.training.refine`): the committed vid2vid.")
            shutil.copyfile(finals["vid2vid"].parent / "flow_refine.jsonl", out / "flow_refine_vid2vid.jsonl")
        for name, (file, _) in MODELS.items():
            final_step = None if final_steps is None else final_steps[name]
            shutil.copyfile(finals[name], out / file)
            rows = [r for r in (runs / name / "log.jsonl").read_text().splitlines()
                    if final_step is None or json.loads(r)["step"] <= final_step]
            (out / f"log_{name}.jsonl").write_text("\n".join(rows) + "\n")
            if (runs / name / "warmup.jsonl").is_file():
                shutil.copyfile(runs / name / "warmup.jsonl", out / f"warmup_{name}.jsonl")
            done = runs / name / "done"
            if final_step is not None:  # the time to that step: the logged GAN steps and the warm-up
                warm = runs / name / "warmup.jsonl"
                warm_s = json.loads(warm.read_text().splitlines()[-1])["seconds"] if warm.is_file() else 0.0
                seconds[name] = json.loads(rows[-1])["seconds"] + warm_s
            elif name not in seconds and done.is_file():
                seconds[name] = float(done.read_text().split()[0])
        eval_root = Path(args.eval_root) if args.eval_root else None
        results, committed, tested = evaluate(runs, out, args.eval_sequences, eval_root, final_steps, finals,
                                              unrefined)
        made = made_by(runs, command)
        note = ""
        snapshot_steps = {n: s for n, s in (final_steps or {}).items() if n not in (average_from or {})}
        parts = []
        if snapshot_steps:
            steps = sorted(set(snapshot_steps.values()))
            which = (f"the step-{steps[0]} snapshot" + ("s" if len(snapshot_steps) > 1 else "")
                     if len(steps) == 1 else "the snapshots of steps "
                     + ", ".join(f"{n} {s}" for n, s in snapshot_steps.items()))
            names = " and ".join(snapshot_steps) if len(snapshot_steps) < len(MODELS) else "models"
            parts.append(f"the committed {names} {'are' if len(snapshot_steps) > 1 else 'is'} {which}")
        mean_rows = {n: committed[n].split(" + ")[0] for n in average_from or {}}  # before any refinement
        parts += [f"the committed {n} is the mean of its snapshots from step {a} to "
                  f"{mean_rows[n].split('-')[-1]} (row {mean_rows[n]}; every weight averaged, "
                  "`vid2vid.models.io.average_generators`)" for n, a in (average_from or {}).items()]
        note = ""
        if parts:
            text = "; ".join(parts)
            note = f" {text[0].upper()}{text[1:]} (the evaluation's command, below).{refine_note}"
        elif refine_note:
            note = refine_note
        write_readme(out, results, seconds, made, args.sequences,
                     warmup_summary(runs / "vid2vid" / "warmup.jsonl") + note, committed,
                     tested["data"], tested["test_root"], precision_words(runs), f"seq_{tested['shown']:04d}",
                     command)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
