"""The paper's Table 3 (future video prediction) on the built-in synthetic benchmark, end to end.

    python reproduce/table3.py                  # train what is missing (3 seeds x 3 models), evaluate, write
                                                # (about 50 min on an idle 2-core CPU: see below)
    python reproduce/table3.py --stage evaluate # measure the models already trained
    python reproduce/table3.py --smoke --runs /tmp/t3/runs --results /tmp/t3/results --data-root /tmp/t3/data

The paper's decomposition against two pixel-prediction baselines, each shown the same ``K`` real
frames of the same test windows and asked for the next ``N``:

- **vid2vid**: the label model (:mod:`vid2vid.prediction.labels`) predicts the ``N`` label and
  instance maps, and the committed pretrained CPU vid2vid (``reproduce/pretrained/synthetic_vid2vid.pt``,
  not retrained) synthesises them starting from the real past frames (:mod:`vid2vid.prediction.future`);
- **PredNet** and **MCNet** (:mod:`vid2vid.prediction.prednet`, :mod:`vid2vid.prediction.mcnet`)
  predict the pixels;
- two reference rows that train nothing: **copy last frame** (the last observed frame repeated) and
  **vid2vid on the true future labels** (the label model replaced by the ground truth: how much of
  vid2vid's error is the label prediction's).

The three models are trained (``reproduce/train_predictor.py``, ``--jobs`` processes of one thread)
on the training sequences of seed 0, the videos vid2vid was trained on (``data/prediction_train<S>``:
``--train-sequences`` videos of 30 frames at 64 x 128 made with the generator's data settings, as
``reproduce/pretrain.py`` made them; ``<S>`` names those settings, e.g. ``_palette_still0.25``), with
one budget (the same windows of ``K + R`` frames, steps and batch), once per seed of
``--seeds``. Evaluation uses the test sequences of a seed that no training saw (seed 1,
``data/prediction_test<S>``), ``--windows`` windows per sequence, and the metrics of Tables 1-2
(``reproduce/evaluate.py``'s :func:`measure`: video FID on the synthetic-domain 3D CNN, per-frame FID,
warping error along the true flow, L1, PSNR, foreground L1) on the ``N`` predicted frames; plus the
label model's pixel accuracy and mean IoU against the true future labels. Every number is the mean
and the standard deviation over the seeds. Written to ``--results``: ``table3.md``, ``table3.json``,
``table3.png`` (future frames 1, N/2, N of one test window: last observed | predicted labels | vid2vid
| PredNet | MCNet | real) and ``table3.gif`` (the whole window).

Cost of the default budget (1000 steps of 4 windows of 4 + 6 frames, 3 seeds): one step took 0.29
(label model), 0.59 (MCNet) and 0.88 (PredNet) CPU seconds on one thread of a 2-core AMD EPYC, so
training is about 5300 CPU seconds, 44 min in 2 processes, and the evaluation of the 3 seeds on 32
test windows a few minutes more. A model already trained with the same budget is not trained again.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "reproduce"))

MODELS = ["labels", "prednet", "mcnet"]
METHODS = ["PredNet", "MCNet", "vid2vid"]  # the paper's rows, in its order
REFERENCES = ["copy last frame", "vid2vid on the true future labels"]
METRICS = ["video_fid", "frame_fid", "warping_error", "l1", "psnr", "fg_error"]
# the paper's Table 3 (Cityscapes): FID I3D / ResNeXt, and the preference for vid2vid
PAPER = {"PredNet": ("11.18 / 0.59", "0.92"), "MCNet": ("10.00 / 0.43", "0.98"),
         "vid2vid": ("3.44 / 0.18", "-")}
# the smoke mode: tiny data, models and budget (seconds); the real frame size (the pretrained vid2vid's)
SMOKE = {"train_sequences": 2, "test_sequences": 1, "frames": 12, "steps": 2, "batch_size": 1, "past": 2,
         "future": 10, "train_future": 2, "windows": 1, "seeds": [0],
         "settings": {"labels": {"ngf": 4, "n_blocks": 0}, "prednet": {"channels": [3, 4]},
                      "mcnet": {"widths": [4, 8]}}}


def ensure_data(root: Path, split: str, sequences: int, seed: int, scene) -> Path:
    """``sequences`` synthetic videos of ``split`` (seed ``seed``) made with ``scene`` (a
    :class:`~vid2vid.data.synthetic.SyntheticConfig`: the generator's own data settings) in ``root``,
    written if missing or made with other settings."""
    from vid2vid.data.layout import list_sequences
    from vid2vid.data.synthetic import write_dataset

    folder, info = root / f"{split}_A", root / "synthetic.json"
    if folder.is_dir() and len(list_sequences(folder)) == sequences and info.is_file():
        recorded = json.loads(info.read_text()).get("config", {})
        if not scene.recorded_mismatch(recorded) and recorded.get("frames", scene.frames) == scene.frames:
            return root
    n_train, n_test = (sequences, 0) if split == "train" else (0, sequences)
    print(f"{root}: writing {sequences} synthetic {split} videos (seed {seed})", flush=True)
    write_dataset(root, n_train=n_train, n_test=n_test, frames=scene.frames, height=scene.height,
                  width=scene.width, seed=seed, config=scene, progress=False, overwrite=True)
    return root


def committed_feature_net(scene) -> str:
    """The committed synthetic feature network trained on ``scene``'s settings: the benchmark's
    (``feature_net.pt``) or the plain preset's (``feature_net_preset.pt``)."""
    from vid2vid.metrics.synthetic_features import scene_mismatch

    for name in ("feature_net.pt", "feature_net_preset.pt"):
        path = REPO / "reproduce" / "results" / "synthetic" / name
        if path.is_file() and scene_mismatch(torch.load(path, map_location="cpu", weights_only=True)
                                             .get("scene"), scene) is None:
            return str(path.relative_to(REPO))
    raise SystemExit("no committed feature network was trained on the generator's data settings; train one "
                     "with `python reproduce/train_feature_net.py` and pass it as --feature-net")


def model_file(runs: Path, seed: int, model: str) -> Path:
    return runs / f"seed{seed}" / f"{model}.pt"


def _trained_as_asked(path: Path, budget: dict, data: Path | None = None) -> bool:
    """Whether ``path`` holds a model trained with exactly ``budget`` on the videos in ``data`` (else
    it is trained again)."""
    from vid2vid.prediction.checkpoint import load_predictor

    if not path.is_file():
        return False
    try:
        _, _, info = load_predictor(path)
    except (ValueError, FileNotFoundError):
        return False
    same_data = data is None or info.get("data") == str(data)
    return same_data and all(info.get("training", {}).get(k) == v for k, v in budget.items())


def train_all(runs: Path, data: Path, seeds: list[int], budget: dict, settings: dict, jobs: int) -> None:
    """Train every (seed, model) whose file is missing or was trained with another budget, ``jobs``
    processes of one thread at a time (``jobs`` 1: in this process). Each file records its training
    time (``info["seconds"]``), which the table reports."""
    todo = []
    for model in ("prednet", "mcnet", "labels"):  # the longest first: the processes end together
        for seed in seeds:
            wanted = {**budget, "seed": seed, "model": settings.get(model, {})}
            if not _trained_as_asked(model_file(runs, seed, model), wanted, data):
                todo.append((seed, model))
    args_of = {}
    for seed, model in todo:
        out = model_file(runs, seed, model)
        args_of[(seed, model)] = [
            "--model", model, "--data", str(data), "--out", str(out), "--steps", str(budget["steps"]),
            "--batch-size", str(budget["batch_size"]), "--past", str(budget["n_past"]),
            "--future", str(budget["n_future"]), "--seed", str(seed),
            "--flow-weight", str(budget["flow_weight"]),
            "--model-settings", json.dumps(settings.get(model, {}))]
    if jobs <= 1:
        from train_predictor import main as train_one

        for key in todo:
            print(f"train {key[1]} (seed {key[0]})", flush=True)
            if train_one([*args_of[key], "--threads", "1"]) != 0:
                raise SystemExit(f"training {key[1]} (seed {key[0]}) failed")
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    running: dict[tuple[int, str], subprocess.Popen] = {}
    while todo or running:
        while todo and len(running) < jobs:
            key = todo.pop(0)
            out = model_file(runs, *key)
            out.parent.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, str(REPO / "reproduce" / "train_predictor.py"), *args_of[key]]
            print("train:", " ".join(cmd), flush=True)
            log = open(out.with_suffix(".train.log"), "w")  # noqa: SIM115 - closed with the process
            running[key] = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        time.sleep(2)
        for key, proc in list(running.items()):
            if proc.poll() is None:
                continue
            del running[key]
            if proc.returncode != 0:
                for other in running.values():
                    other.terminate()
                raise SystemExit(f"training {key[1]} (seed {key[0]}) failed (exit {proc.returncode}): "
                                 f"{model_file(runs, *key).with_suffix('.train.log')}")


def test_windows(clips: list, past: int, future: int, per_sequence: int) -> list[tuple[int, int]]:
    """``(clip index, first observed frame)`` of every test window: ``per_sequence`` starts spread
    evenly over each sequence (the first at frame 0, the last ending at the last frame)."""
    windows = []
    for i, c in enumerate(clips):
        last = len(c) - past - future
        if last < 0:
            raise SystemExit(f"test sequence {c.name} has {len(c)} frames, fewer than K + N = "
                             f"{past + future}")
        starts = sorted({round(last * j / max(1, per_sequence - 1)) for j in range(per_sequence)})
        windows += [(i, s) for s in starts]
    return windows


def truth_of(clip, start: int, past: int, future: int, foreground: list[int]) -> dict:
    """The real future of a window as ``evaluate.measure`` reads it (flow entry 0 is the pair last
    observed -> first future, which the warping error skips)."""
    sl = slice(start + past, start + past + future)
    labels = clip.labels[sl].long()
    return {"real": clip.real(sl.start, sl.stop), "flow": clip.flow[sl], "occlusion": clip.occlusion[sl],
            "fg": torch.isin(labels, torch.tensor(foreground)), "labels": labels}


def label_scores(pred: list[torch.Tensor], truth: list[torch.Tensor], classes: list[int]) -> dict:
    """Pixel accuracy and mean IoU (over the classes present in the truth or the prediction) of
    predicted label ids against the true ones, over all windows."""
    p, t = torch.cat([x.flatten() for x in pred]), torch.cat([x.flatten() for x in truth])
    ious = []
    for c in classes:
        union = ((p == c) | (t == c)).sum()
        if union > 0:
            ious.append(float(((p == c) & (t == c)).sum() / union))
    return {"pixel_accuracy": float((p == t).float().mean()), "mean_iou": float(np.mean(ious))}


def evaluate(args, runs: Path, test_root: Path) -> dict:
    from evaluate import check_feature_scenes, measure

    from vid2vid.metrics.features import StaticClipImageFeatures, get_feature_extractor
    from vid2vid.models.io import load_generator
    from vid2vid.prediction.checkpoint import load_predictor
    from vid2vid.prediction.data import load_split
    from vid2vid.prediction.future import predict_future, synthesize_future

    cfg, G, g_step = load_generator(args.generator)
    G.eval()
    size = (cfg.data.height, cfg.data.width)
    clips = load_split(test_root, "test", size, frames=True, flow=True)
    K, N = args.past, args.future
    windows = test_windows(clips, K, N, args.windows)
    truths = [truth_of(clips[i], s, K, N, cfg.data.foreground_ids) for i, s in windows]
    weights = None if args.feature_net == "none" else args.feature_net
    torch.manual_seed(0)  # an untrained network ("none") draws the same weights every run
    video_features = get_feature_extractor("synthetic", weights=weights)
    if weights is not None:  # the test videos are made with the generator's data settings (ensure_data)
        check_feature_scenes(video_features, cfg, weights)
    frame_features = StaticClipImageFeatures(video_features)

    def score(fakes: list[torch.Tensor]) -> dict:
        return measure(fakes, truths, video_features, frame_features)

    results: dict = {"real future": score([v["real"] for v in truths])}
    print("evaluating the reference rows", flush=True)
    results["copy last frame"] = score([clips[i].real(s + K - 1, s + K).expand(N, -1, -1, -1)
                                        for i, s in windows])
    oracle = []
    for (i, s), v in zip(windows, truths, strict=True):
        c, sl = clips[i], slice(s, s + K)
        inst_future = None if c.inst is None else c.inst[s + K:s + K + N]
        oracle.append(synthesize_future(G, cfg, c.labels[sl], None if c.inst is None else c.inst[sl],
                                        c.real(s, s + K), v["labels"], inst_future))
    results["vid2vid on the true future labels"] = score(oracle)
    copy_labels = [clips[i].labels[s + K - 1].long().expand(N, -1, -1) for i, s in windows]
    per_seed: dict = {}
    samples: dict = {}
    for seed in args.seeds:
        print(f"evaluating the models of seed {seed}", flush=True)
        models = {m: load_predictor(model_file(runs, seed, m), expect=m)[1] for m in MODELS}
        fakes: dict[str, list[torch.Tensor]] = {"vid2vid": [], "PredNet": [], "MCNet": []}
        pred_labels = []
        with torch.no_grad():
            for i, s in windows:
                c = clips[i]
                out = predict_future(G, cfg, models["labels"], c, s, K, N)
                fakes["vid2vid"].append(out.frames)
                pred_labels.append(out.labels)
                past = c.real(s, s + K)[None]
                fakes["PredNet"].append(models["prednet"].predict(past, N)[0].clamp(-1, 1))
                fakes["MCNet"].append(models["mcnet"].predict(past, N)[0].clamp(-1, 1))
        per_seed[seed] = {name: score(f) for name, f in fakes.items()}
        classes = models["labels"].classes
        per_seed[seed]["labels"] = label_scores(pred_labels, [v["labels"] for v in truths], classes)
        print(json.dumps({seed: per_seed[seed]}), flush=True)
        if not samples:
            samples = {"window": windows[0], "labels": pred_labels[0],
                       **{name: f[0] for name, f in fakes.items()}}
    results["copy last labels"] = label_scores(copy_labels, [v["labels"] for v in truths],
                                               models["labels"].classes)
    write_pictures(args.results, clips[windows[0][0]], windows[0][1], K, N, samples)
    return {"fixed": results, "per_seed": per_seed, "n_windows": len(windows),
            "generator_step": g_step, "video_features": video_features.describe(),
            "frame_size": f"{size[0]}x{size[1]}"}


def write_pictures(out: Path, clip, start: int, K: int, N: int, sample: dict) -> None:
    """``table3.png``: future frames 1, N/2 and N (rows) as last observed | predicted labels | vid2vid |
    PredNet | MCNet | real; ``table3.gif``: the whole window, labels (observed, then predicted) |
    vid2vid | PredNet | MCNet | real, the models' panels showing the real frames while observed."""
    from vid2vid.data.layout import write_rgb
    from vid2vid.video import VideoWriter, label_to_color, side_by_side

    def labels_picture(ids: torch.Tensor) -> np.ndarray:
        return label_to_color(ids.numpy().astype(np.uint8))

    captions = ["last observed", "predicted labels", "vid2vid", "PredNet", "MCNet", "real"]
    rows = []
    for n in sorted({0, N // 2, N - 1}):
        t = start + K + n
        rows.append(side_by_side(clip.real(start + K - 1, start + K)[0], labels_picture(sample["labels"][n]),
                                 sample["vid2vid"][n], sample["PredNet"][n], sample["MCNet"][n],
                                 clip.real(t, t + 1)[0], gap=2, captions=captions))
    gap = np.full((2, rows[0].shape[1], 3), 255, np.uint8)
    grid = np.concatenate([r for row in rows for r in (row, gap)][:-1])
    write_rgb(out / "table3.png", np.repeat(np.repeat(grid, 2, 0), 2, 1))  # 64 x 128 frames: enlarged 2x
    with VideoWriter(out / "table3.gif", fps=6) as writer:
        for i in range(K + N):
            t = start + i
            real = clip.real(t, t + 1)[0]
            if i < K:
                panels = [labels_picture(clip.labels[t]), real, real, real, real]
                names = ["labels", "observed", "observed", "observed", "real"]
            else:
                n = i - K
                panels = [labels_picture(sample["labels"][n]), sample["vid2vid"][n], sample["PredNet"][n],
                          sample["MCNet"][n], real]
                names = ["predicted labels", "vid2vid", "PredNet", "MCNet", "real"]
            frame = side_by_side(*panels, gap=2, captions=names)
            writer.write(np.repeat(np.repeat(frame, 2, 0), 2, 1))


def summarise(per_seed: dict, keys: list[str], names: list[str]) -> dict:
    """``{name: {key: [mean, std]}}`` over the seeds (std 0 for one seed)."""
    out = {}
    for name in names:
        out[name] = {}
        for key in keys:
            vals = [per_seed[s][name][key] for s in per_seed]
            out[name][key] = [float(np.mean(vals)), float(statistics.stdev(vals)) if len(vals) > 1 else 0.0]
    return out


def _fmt(x: float) -> str:
    return "nan" if x != x else f"{x:.4g}"


def _cell(pair: list[float], seeds: int) -> str:
    """``mean ± std`` (two significant digits of the spread), the mean alone for one seed."""
    return _fmt(pair[0]) + (f" ± {pair[1]:.2g}" if seeds > 1 else "")


def write_table(out: Path, evaluation: dict, settings: dict) -> str:
    seeds = settings["seeds"]
    summary = summarise(evaluation["per_seed"], METRICS, METHODS)
    labels = summarise(evaluation["per_seed"], ["pixel_accuracy", "mean_iou"], ["labels"])["labels"]
    fixed = evaluation["fixed"]
    vf = evaluation["video_features"]
    cols = "video FID | per-frame FID | warping error | L1 | PSNR (dB) | foreground L1"
    spread = (f"mean ± standard deviation over the {len(seeds)} seeds {seeds} of the predictors' training"
              if len(seeds) > 1 else f"one seed ({seeds[0]}): no spread")
    lines = [
        "# Table 3: future video prediction on the built-in synthetic benchmark",
        "",
        f"Command: `{settings['command']}`. Machine: {settings['machine']}. "
        f"Took {settings['minutes']:.1f} min (training {settings['train_minutes']:.1f}, "
        f"evaluation {settings['eval_minutes']:.1f}).",
        "",
        f"Every method observes the same K = {settings['past']} real frames of "
        f"{evaluation['n_windows']} test windows ({settings['test_sequences']} synthetic test videos of "
        "seed 1, which no model trained on; "
        f"{settings['windows']} per video, {evaluation['frame_size']}) and predicts the next "
        f"N = {settings['future']}; the metrics of Tables 1-2 are taken on those N frames against the real "
        f"future: video FID on the synthetic-domain 3D CNN ({vf['network']}, {vf['layer']}, clips of "
        f"{vf['clip_length']} frames every 2, {vf['resolution']}, weights {vf['weights']}), per-frame FID "
        "(the same network on still frames), warping error along the true flow on visible pixels, L1 and "
        "PSNR to the real frames, L1 on the true foreground. Lower is better except PSNR. "
        f"Numbers: {spread}.",
        "",
        "vid2vid = the label model (predicts the future label and instance maps) + the committed "
        f"pretrained CPU vid2vid (`{settings['generator']}`, step {evaluation['generator_step']}, "
        "not retrained) started from the real past frames. PredNet and MCNet predict pixels (CPU-sized, "
        "`vid2vid/prediction/`). "
        f"All three predictors were trained with one budget: {settings['budget_text']}, on "
        f"{settings['train_sequences']} training videos of seed 0 (vid2vid's own training videos); "
        f"training time per model: {settings['train_seconds_text']}.",
        "",
        f"| method | {cols} | paper (Cityscapes): FID I3D / ResNeXt | paper: preference for vid2vid |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in METHODS:
        r = summary[name]
        lines.append(f"| {name} | " + " | ".join(_cell(r[k], len(seeds)) for k in METRICS)
                     + f" | {PAPER[name][0]} | {PAPER[name][1]} |")
    lines += ["", "Reference rows (nothing trained, so no spread):", "",
              f"| reference | {cols} |", "|---|---|---|---|---|---|---|"]
    for name in [*REFERENCES, "real future"]:
        r = fixed[name]
        lines.append(f"| {name} | " + " | ".join(_fmt(r[k]) for k in METRICS) + " |")
    copy = fixed["copy last labels"]
    lines += [
        "",
        "The label model against the true future label maps (all N frames, all windows):",
        "",
        "| label maps | pixel accuracy | mean IoU |",
        "|---|---|---|",
        f"| label model | {_cell(labels['pixel_accuracy'], len(seeds))} | "
        f"{_cell(labels['mean_iou'], len(seeds))} |",
        f"| copy the last observed map | {_fmt(copy['pixel_accuracy'])} | {_fmt(copy['mean_iou'])} |",
        "",
        "The paper measured Table 3 on Cityscapes (video FID on I3D and ResNeXt features, whose layer, clip "
        "length and resolution it does not state, and a human preference study on Mechanical Turk); ours "
        "are domain-specific numbers on 64 x 128 synthetic street videos with a CPU-sized budget. They can "
        "be compared among themselves and, for the ranking only, with the paper's. "
        "Human preference: not run.",
        "",
        "![last observed | predicted labels | vid2vid | PredNet | MCNet | real, future frames 1, N/2, N]"
        "(table3.png)",
        "",
        "![the whole test window](table3.gif)",
        "",
    ]
    text = "\n".join(lines)
    (out / "table3.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", choices=["all", "train", "evaluate"], default="all")
    p.add_argument("--smoke", action="store_true", help="tiny data, models and budget: seconds (tests)")
    p.add_argument("--generator", default="reproduce/pretrained/synthetic_vid2vid.pt",
                   help="the vid2vid generator that synthesises the predicted label maps")
    p.add_argument("--runs", default="runs/prediction", help="where the predictors are trained / found")
    p.add_argument("--results", default="reproduce/results/synthetic", help="where table3.* is written")
    p.add_argument("--data-root", default="data", help="holds prediction_train/ and prediction_test/")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    p.add_argument("--steps", type=int, default=1000, help="training steps per model (default 1000)")
    p.add_argument("--batch-size", type=int, default=4, help="windows per step (default 4)")
    p.add_argument("--past", type=int, default=4, metavar="K", help="observed frames (default 4)")
    p.add_argument("--future", type=int, default=12, metavar="N",
                   help="predicted frames at evaluation (default 12; >= 8, the feature network's clip)")
    p.add_argument("--train-future", type=int, default=6, metavar="R",
                   help="frames predicted per training window (default 6)")
    p.add_argument("--flow-weight", type=float, default=0.1, help="the label model's flow-loss weight")
    p.add_argument("--train-sequences", type=int, default=16)
    p.add_argument("--test-sequences", type=int, default=16)
    p.add_argument("--windows", type=int, default=2, help="test windows per test video (default 2)")
    p.add_argument("--jobs", type=int, default=None,
                   help="models trained at a time, one process of one thread each (default 2; --smoke: 1, "
                        "in this process)")
    p.add_argument("--feature-net", default="auto",
                   help="synthetic-domain feature network; 'auto' (default): the committed one trained on "
                        "the generator's data settings; 'none' = untrained (smoke tests only)")
    args = p.parse_args(argv)
    frames, settings = 30, {}
    if args.jobs is None:
        args.jobs = 1 if args.smoke else 2
    if args.smoke:
        for key in ("train_sequences", "test_sequences", "steps", "batch_size", "past", "future",
                    "train_future", "windows", "seeds"):
            if getattr(args, key) == p.get_default(key):  # what is given on the command line stays
                setattr(args, key, SMOKE[key])
        frames, settings = SMOKE["frames"], SMOKE["settings"]
    if args.future < 8:
        p.error(f"--future {args.future}: the video FID's clips are 8 frames long; predict at least 8")
    from vid2vid.commands import set_threads
    from vid2vid.machine import describe_machine
    from vid2vid.models.io import load_generator

    set_threads(1)
    t0 = time.time()
    runs, out, data = Path(args.runs), Path(args.results), Path(args.data_root)
    args.results = out
    cfg, _, _ = load_generator(args.generator)
    # the predictors learn from, and are tested on, videos made as vid2vid's own were
    from vid2vid.data.synthetic import SyntheticConfig

    scene = SyntheticConfig.of_model(cfg.data, frames)
    tail = scene.settings_suffix()
    train_root = ensure_data(data / f"prediction_train{tail}", "train", args.train_sequences, 0, scene)
    test_root = ensure_data(data / f"prediction_test{tail}", "test", args.test_sequences, 1, scene)
    if args.feature_net == "auto":
        args.feature_net = committed_feature_net(scene)
    budget = {"steps": args.steps, "batch_size": args.batch_size, "n_past": args.past,
              "n_future": args.train_future, "flow_weight": args.flow_weight}
    if args.stage in ("all", "train"):
        train_all(runs, train_root, args.seeds, budget, settings, args.jobs)
    train_minutes = (time.time() - t0) / 60
    if args.stage == "train":
        return 0
    missing = [str(model_file(runs, seed, m)) for seed in args.seeds for m in MODELS
               if not model_file(runs, seed, m).is_file()]
    if missing:
        raise SystemExit(f"no trained model at {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}: "
                         "train them first (python reproduce/table3.py --stage train, same settings)")
    t1 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    evaluation = evaluate(args, runs, test_root)
    from vid2vid.prediction.checkpoint import load_predictor

    seconds: dict[str, list[float]] = {m: [] for m in MODELS}
    budgets = set()  # the budget each model file records (the models may come from an earlier run)
    for seed in args.seeds:
        for m in MODELS:
            info = load_predictor(model_file(runs, seed, m))[2]
            seconds[m].append(info.get("seconds", float("nan")))
            t = info.get("training", {})
            budgets.add(tuple(t.get(k) for k in ("steps", "batch_size", "n_past", "n_future")))
    budget_text = "; ".join(f"{steps} Adam steps of {batch} windows of K + R = {k} + {r} frames"
                            for steps, batch, k, r in sorted(budgets, key=str))
    if len(budgets) > 1:
        budget_text = "NOT one budget, the model files record: " + budget_text
    m = describe_machine()
    info = {
        "command": "python " + " ".join(["reproduce/table3.py", *(sys.argv[1:] if argv is None else argv)]),
        "machine": f"{m['cpu']} ({m['cpu_count']} cores, torch {m['torch']}, {platform.system()})",
        "generator": args.generator, "seeds": args.seeds, "past": args.past, "future": args.future,
        "windows": args.windows, "train_sequences": args.train_sequences,
        "test_sequences": args.test_sequences,
        "budget": budget if args.stage == "all" else "as recorded in the model files",
        "model_settings": settings,
        "budget_text": budget_text + " (the R predictions fed back), the same windows for every model of "
                                     "a seed",
        "train_seconds": seconds,
        "train_seconds_text": ", ".join(f"{m} {np.nanmean(s) / 60:.1f} min" for m, s in seconds.items()),
        "train_minutes": train_minutes, "eval_minutes": (time.time() - t1) / 60,
        "minutes": (time.time() - t0) / 60,
    }
    text = json.dumps({"settings": info, **evaluation}, indent=2, default=str)
    (out / "table3.json").write_text(text + "\n")
    print(write_table(out, evaluation, info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
