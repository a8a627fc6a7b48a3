"""Evaluate the Table 1-2 models on the same test videos with the same metrics, and write the tables.

    python reproduce/evaluate.py --runs runs/tables --results reproduce/results/synthetic

Called by ``reproduce/tables.py`` after training. For the built-in synthetic benchmark the test
videos are the evaluation split ``data/synthetic_eval`` (generated if missing: the same dataset
seed as the training data, whose test sequences it extends to ``--eval-sequences``; the training
sequences are not part of it). Metrics (``vid2vid.metrics``), every one printed with its settings:

- **video FID** on the synthetic-domain 3D CNN (``reproduce/train_feature_net.py``): clips of 8
  frames at 64 x 128, every second start; domain-specific numbers, comparable only among themselves;
- **per-frame FID** on the same network's features of still frames;
- **warping error**: mean ``|x~_t - warp(x~_{t-1}, w_t)|`` with the real video's ground-truth flow
  on pixels visible in both frames: does the output move like the real video;
- **L1 / PSNR** to the real frames (the appearance is random per sequence, so these mostly measure
  colour and layout), and the **foreground error** (L1 inside the ground-truth foreground mask);
- the paper's numbers beside ours (Cityscapes, I3D / ResNeXt FID and human preference);
- our human preference, from a study database (``--preference-db``, ``python -m vid2vid study``),
  else "not run". The clips for the study are written to ``<results>/ab_clips``, a study folder that
  ``python -m vid2vid study serve --clips <results>/ab_clips --db study.sqlite`` serves: every
  model's video of the first 4 test sequences, short (the first half of the frames) and long (all),
  vid2vid against each other model, and 2 attention checks.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "reproduce" / "configs" / "tables"

TABLE1 = ["pix2pixHD", "COVST", "vid2vid"]
TABLE2 = ["vid2vid", "no-fg-prior", "no-video-D", "no-flow"]
PAPER_T1 = {"pix2pixHD": "5.57 / 0.18", "COVST": "5.55 / 0.18", "vid2vid": "4.66 / 0.15"}
PAPER_T1_HPS = {"pix2pixHD": "0.87 / 0.83", "COVST": "0.84 / 0.80", "vid2vid": "-"}
PAPER_T2_HPS = {"no-fg-prior": "0.80", "no-video-D": "0.84", "no-flow": "0.67", "vid2vid": "-"}
LABELS = {"no-fg-prior": "vid2vid w/o background-foreground prior",
          "no-video-D": "vid2vid w/o conditional video discriminator",
          "no-flow": "vid2vid w/o flow warping"}


def load_test_videos(cfg, root: Path) -> list[dict]:
    """Every test sequence at the model's frame size: real frames, ground-truth flow and occlusion,
    foreground masks, and the label folder it is generated from."""
    from vid2vid.data.folder import VideoFolderDataset
    from vid2vid.data.layout import kind_dir

    ds = VideoFolderDataset(root, split="test", n_frames=None, label_nc=cfg.data.label_nc,
                            use_instance=cfg.data.use_instance, load_flow=True, load_occlusion=True,
                            load_size=(cfg.data.height, cfg.data.width), training=False)
    videos = []
    for i in range(len(ds)):
        item = ds[i]
        fg = torch.isin(item["label_ids"][:, 0], torch.tensor(cfg.data.foreground_ids))  # [T, H, W]
        videos.append({"name": item["sequence"], "real": item["image"], "flow": item["flow"],
                       "occlusion": item["occlusion"][:, 0] > 0.5, "fg": fg,
                       "labels_dir": kind_dir(root, "test", "A") / item["sequence"]})
    return videos


def generate(name: str, runs: Path, videos: list[dict], overrides: list[str]) -> list[torch.Tensor]:
    """The model's video of every test sequence, ``[T, 3, H, W]`` in ``[-1, 1]`` each."""
    from vid2vid.baselines import stabilize
    from vid2vid.inference import generate_frames, read_input_frames
    from vid2vid.models.io import load_generator

    source = "pix2pixHD" if name == "COVST" else name
    cfg, G, _ = load_generator(runs / source / "generator.pt")
    out = []
    for v in videos:
        frames = (x for _, x in generate_frames(G, cfg, read_input_frames(cfg, v["labels_dir"])))
        if name == "COVST":
            frames = stabilize(frames)
        out.append(torch.stack(list(frames)))
    return out


def measure(fake: list[torch.Tensor], videos: list[dict], video_features, frame_features) -> dict:
    from vid2vid.metrics.features import extract_features
    from vid2vid.metrics.frechet import frechet_distance_from_features
    from vid2vid.metrics.temporal import foreground_error, l1_error, psnr, warping_error

    real = [v["real"] for v in videos]
    f_real = extract_features(video_features, real, stride=2)
    f_fake = extract_features(video_features, fake, stride=2)
    i_real = torch.cat([frame_features(r) for r in real]).double().numpy()
    i_fake = torch.cat([frame_features(f) for f in fake]).double().numpy()
    return {
        "video_fid": frechet_distance_from_features(f_real, f_fake),
        "frame_fid": frechet_distance_from_features(i_real, i_fake),
        "warping_error": float(np.mean([warping_error(f, v["flow"][1:], v["occlusion"][1:])
                                        for f, v in zip(fake, videos, strict=True)])),
        "l1": float(np.mean([l1_error(f, v["real"]) for f, v in zip(fake, videos, strict=True)])),
        "psnr": float(np.mean([psnr(f, v["real"]) for f, v in zip(fake, videos, strict=True)])),
        "fg_error": float(np.mean([foreground_error(f, v["real"], v["fg"])
                                   for f, v in zip(fake, videos, strict=True)])),
        "n_clips": len(f_fake),
    }


def ensure_eval_data(cfg, root: Path, n_test: int) -> None:
    """The synthetic test split at ``root`` (made with ``cfg``'s synthetic settings); one made with
    other settings is refused, as training refuses its data."""
    from vid2vid.data.synthetic import SyntheticConfig, write_dataset

    if (root / "test_A").is_dir():
        info = root / "synthetic.json"
        if info.is_file():
            wanted = SyntheticConfig.from_data_config(cfg.data)
            mismatch = wanted.recorded_mismatch(json.loads(info.read_text()).get("config", {}))
            if mismatch:
                raise SystemExit(f"{info}: this evaluation split was made with {mismatch}; delete {root} or "
                                 "pass another --eval-root")
        return

    print(f"{root}: writing the synthetic evaluation split ({n_test} test sequences)")
    write_dataset(root, n_train=0, n_test=n_test, frames=cfg.data.synthetic_frames, height=cfg.data.height,
                  width=cfg.data.width, seed=cfg.train.seed,
                  config=SyntheticConfig.from_data_config(cfg.data))


def _fmt(x: float, digits: int = 4) -> str:
    return "nan" if x != x else f"{x:.{digits}g}"


def write_tables(results: dict, settings: dict, out: Path, preference_db: str | Path | None = None) -> str:
    """Tables 1-2 as Markdown to ``<out>/tables.md``; the preference columns from the study database
    ``preference_db`` (vid2vid against each other model, per setting), else "not run"."""
    from vid2vid.study.report import markdown_table, preference_cell, study_report

    cols = ("video FID (synthetic 3D CNN) | per-frame FID | warping error | L1 | PSNR (dB) | "
            "foreground L1")
    study = study_report(preference_db) if preference_db is not None else None
    study_settings = " / ".join(study.settings) if study is not None else "short / long"

    def ours(name: str) -> str:
        return "-" if name == "vid2vid" else preference_cell(study, "vid2vid", name)

    def row(name: str, label: str, *paper: str) -> str:
        r = results[name]
        return (f"| {label} | {_fmt(r['video_fid'])} | {_fmt(r['frame_fid'])} | {_fmt(r['warping_error'])} | "
                f"{_fmt(r['l1'])} | {_fmt(r['psnr'])} | {_fmt(r['fg_error'])} | {' | '.join(paper)} | "
                f"{ours(name)} |")

    if study is None:
        preference = ["Our human preference: not run. The clips for a study are in `ab_clips/`: "
                      "`python -m vid2vid study serve --clips ab_clips --db study.sqlite`, then "
                      "`python reproduce/tables.py --stage tables --preference-db study.sqlite` fills the "
                      "preference columns."]
    else:
        preference = [f"Our human preference (`python -m vid2vid study report --db {preference_db}`), "
                      "vid2vid against each model, per setting:", "", markdown_table(study)]

    real = results["real video"]
    lines = [
        "# Tables 1-2 on the built-in synthetic benchmark",
        "",
        f"Command: `{settings['command']}`. Machine: {settings['machine']}. Evaluation took "
        f"{settings['evaluation_minutes']:.1f} min; training times per model are in `settings.json`.",
        "",
        f"Test videos: {settings['test_videos']} synthetic test sequences of {settings['frames']} frames at "
        f"{settings['frame_size']} (`{settings['eval_root']}`). Video FID: {settings['video_features']}. "
        "Per-frame FID: the same network on still frames. Warping error: mean |x_t - warp(x_{t-1}, w_t)| "
        "in [-1, 1] units with the real video's ground-truth flow, on pixels visible in both frames "
        f"(the real videos themselves score {_fmt(real['warping_error'])}, from the illumination drift "
        "and resampling). Lower is better except PSNR. These are domain-specific numbers: they rank the "
        "methods on this benchmark and cannot be compared with the paper's Cityscapes numbers, which "
        "are shown beside them for the ranking only.",
        "",
        "## Table 1: vid2vid against the baselines",
        "",
        f"| method | {cols} | paper (Cityscapes): FID I3D / ResNeXt | paper: preference for vid2vid "
        f"(short / long) | ours: preference for vid2vid ({study_settings}) |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[row(n, n, PAPER_T1[n], PAPER_T1_HPS[n]) for n in TABLE1],
        "",
        "## Table 2: ablations",
        "",
        f"| method | {cols} | paper: preference for the full model | ours: preference for the full model "
        f"({study_settings}) |",
        "|---|---|---|---|---|---|---|---|---|",
        *[row(n, LABELS.get(n, n), PAPER_T2_HPS[n]) for n in TABLE2],
        "",
        "Preference: the fraction of answers that chose vid2vid's video in a two-alternative forced choice "
        "[95% Wilson interval].",
        *preference,
        "",
    ]
    text = "\n".join(lines)
    (out / "tables.md").write_text(text)
    return text


def write_ab_clips(fakes: dict[str, list[torch.Tensor]], videos: list[dict], out: Path,
                   n_videos: int = 4) -> Path:
    """The study folder ``<out>/ab_clips`` (``python -m vid2vid study serve`` reads it): every model's
    video of the first ``n_videos`` test sequences, short (the first half of the frames) and long
    (all), vid2vid against each other model, and 2 attention checks. Returns its manifest."""
    from vid2vid.study import write_study

    frames = int(videos[0]["real"].shape[0])
    methods = dict.fromkeys(["vid2vid", *TABLE1, *TABLE2])
    return write_study({m: fakes[m][:n_videos] for m in methods}, out / "ab_clips",
                       sequences=[v["name"] for v in videos[:n_videos]],
                       settings={"short": max(2, frames // 2), "long": None}, reference="vid2vid", checks=2,
                       seed=0)


def rewrite_tables(out: Path, preference_db: str | Path | None = None) -> str:
    """``<out>/tables.md`` again from ``results.json`` and ``settings.json`` (no evaluation), e.g.
    with the preference columns of a study that has run since."""
    files = [out / "results.json", out / "settings.json"]
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(f"{file}: not found; `python reproduce/tables.py --stage evaluate` "
                                    "writes it")
    results, settings = (json.loads(f.read_text()) for f in files)
    return write_tables(results, settings, out, preference_db)


def evaluate_all(runs: Path, out: Path, overrides: list[str], eval_root: str = "data/synthetic_eval",
                 eval_sequences: int = 16, feature_net: str = "reproduce/results/synthetic/feature_net.pt",
                 command: str | None = None, preference_db: str | Path | None = None) -> dict:
    from vid2vid.config import Config
    from vid2vid.machine import describe_machine
    from vid2vid.metrics.features import StaticClipImageFeatures, get_feature_extractor

    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    cfg = Config.from_yaml(CONFIGS / "vid2vid.yaml").override(overrides) if overrides else \
        Config.from_yaml(CONFIGS / "vid2vid.yaml")
    root = Path(eval_root)
    if cfg.data.synthetic_sequences > 0:
        ensure_eval_data(cfg, root, eval_sequences)
    videos = load_test_videos(cfg, root)
    # "none": an untrained network, for smoke tests of the pipeline only (its FIDs mean nothing)
    weights = None if feature_net == "none" else feature_net
    video_features = get_feature_extractor("synthetic", weights=weights)
    frame_features = StaticClipImageFeatures(video_features)
    results = {"real video": measure([v["real"] for v in videos], videos, video_features, frame_features)}
    fakes = {}
    for name in dict.fromkeys(TABLE1 + TABLE2):
        print(f"evaluating {name}", flush=True)
        fakes[name] = generate(name, runs, videos, overrides)
        results[name] = measure(fakes[name], videos, video_features, frame_features)
        print(json.dumps({name: results[name]}), flush=True)
    write_ab_clips(fakes, videos, out)
    train_seconds = {}
    for name in dict.fromkeys(TABLE1 + TABLE2):
        done = runs / ("pix2pixHD" if name == "COVST" else name) / "done"
        if done.is_file():
            train_seconds[name] = done.read_text().strip()
    settings = {
        "command": command or "python reproduce/tables.py",
        "machine": ", ".join(f"{k} {v}" for k, v in describe_machine().items()) + f", {platform.system()}",
        "eval_root": str(root), "test_videos": len(videos), "frames": int(videos[0]["real"].shape[0]),
        "frame_size": f"{cfg.data.height}x{cfg.data.width}",
        "video_features": ", ".join(f"{k} {v}" for k, v in video_features.describe().items()),
        "frame_features": ", ".join(f"{k} {v}" for k, v in frame_features.describe().items()),
        "training_time": train_seconds, "models": {n: str(runs / n / "generator.pt") for n in TABLE1 + TABLE2
                                                  if n != "COVST"},
        "configs": {n: f"reproduce/configs/tables/{n}.yaml" for n in TABLE1 + TABLE2 if n != "COVST"},
        "covst": "pix2pixHD outputs stabilised by vid2vid.baselines.stabilize (DIS flow, alpha 0.8, "
                 "threshold 0.02)",
        "evaluation_minutes": (time.time() - t0) / 60,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "settings.json").write_text(json.dumps(settings, indent=2))
    print(write_tables(results, settings, out, preference_db))
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs/tables")
    p.add_argument("--results", default="reproduce/results/synthetic")
    p.add_argument("--eval-root", default="data/synthetic_eval")
    p.add_argument("--eval-sequences", type=int, default=16)
    p.add_argument("--feature-net", default="reproduce/results/synthetic/feature_net.pt",
                   help="weights of the synthetic-domain feature network; 'none' = untrained (smoke tests)")
    p.add_argument("--preference-db", default=None,
                   help="study database (python -m vid2vid study serve) whose answers fill the preference "
                        "columns")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    evaluate_all(Path(args.runs), Path(args.results), args.overrides, args.eval_root, args.eval_sequences,
                 args.feature_net, command="python " + " ".join(["reproduce/evaluate.py", *sys.argv[1:]]),
                 preference_db=args.preference_db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
