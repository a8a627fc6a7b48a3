"""Evaluate the Table 1-2 models, every training seed, on the same test videos, decide the paper's
claims, and write the tables.

    python reproduce/evaluate.py --runs runs/tables --results reproduce/results/synthetic

Called by ``reproduce/tables.py`` after training; reads ``<runs>/<model>/seed<k>/generator.pt``
(at least 2 seeds per model: the seed is the unit of replication). For the built-in synthetic
benchmark the test videos are the evaluation split ``data/synthetic_tables_eval`` (generated if
missing with the benchmark's data settings, :data:`BENCHMARK_DATA`: the dataset seed of the
training data, whose test sequences it extends to ``--eval-sequences``; one made with other
settings is refused). Metrics (``vid2vid.metrics``), every one printed with its settings:

- per video, of every model and seed: **L1 / PSNR** to the real frames, the **foreground L1**
  (inside the ground-truth foreground mask), the **warping error** ``|x~_t - warp(x~_{t-1}, w_t)|``
  with the real video's ground-truth flow on pixels visible in both frames, its **excess** over the
  real video's, the **low-frequency warping error** (colour and brightness flicker along the motion),
  the **flicker on static pixels** (still-camera sequences; NaN where no pixel is static), the
  **sharpness ratio** (gradient energy over the real video's), the **streak ratio** (detail lost
  across x relative to across y, over the real video's: horizontal smearing along the pan), over the
  whole video and over its last 5 frames, and the **late / early L1** (the L1 of the last 5 frames
  over that of the first 5: whether errors pile up along the rollout);
- per model and seed: **video FID and KID** on the synthetic-domain 3D CNN
  (``reproduce/train_feature_net.py``: clips of 8 frames at 64 x 128, every second start) and
  **per-frame FID and KID** on the same network's features of still frames, each also with the
  camera-pan axis projected out (the direction along which the real features move with the
  ground-truth pan); per video, the video FID's jackknife pseudo-values, so that FID claims are
  decided per video like the others, and the **pan direction accuracy** (how often the network reads
  the camera's true pan direction in a panning video's clips: a motion check). The network must have
  been trained on the evaluation's scenes (its file records them; another is refused). The real
  videos' features are computed once and cached in ``<results>/real_features.npz``, keyed by the
  evaluation split, frame size and feature network;
- the paper's claims (:data:`vid2vid.metrics.claims.PAPER_CLAIMS`), each decided by the
  hierarchical bootstrap over seeds, then videos, of the paired per-video differences;
- the paper's numbers beside ours (Cityscapes, I3D / ResNeXt FID and human preference);
- our human preference, from a study database (``--preference-db``, ``python -m vid2vid study``),
  else "not run". Two sets of clips are written: ``<results>/ab_clips``, a study folder that
  ``python -m vid2vid study serve --clips <results>/ab_clips --db study.sqlite`` serves (the first
  seed's video of every test sequence by every model, short and long, vid2vid against each other
  model, 2 attention checks; the server balances the sides), and ``<results>/ab_handout/<comparison>``,
  side-by-side clips for raters without the server (:func:`vid2vid.metrics.preference.make_ab_clips`,
  vid2vid against each model on every seed and test sequence, at least 16 per comparison in the
  benchmark, sides counterbalanced) whose keys are kept apart in ``<results>/ab_keys``.

"COVST" names flow-guided smoothing of pix2pixHD's output (``vid2vid.baselines.stabilize``, no
training of its own), COVST-like but not Chen et al. 2017's network.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vid2vid.quality import STILL_PAN, camera_pan

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "reproduce" / "configs" / "tables"

# The benchmark's data, for training and evaluation alike (tables.py passes them to every model
# before the user's overrides): foreground colours predictable from the labels (so the foreground
# prior has something to learn) and a quarter of the sequences with a still camera (so flicker on
# static pixels can be measured). Its own root, as a dataset made with other settings is refused.
BENCHMARK_DATA = ["data.root=data/synthetic_tables", "data.synthetic_sequences=16",
                  "data.synthetic_foreground_palette=true", "data.synthetic_still_camera=0.25"]
BENCHMARK_EVAL_ROOT = "data/synthetic_tables_eval"

TRAINED = ["vid2vid", "pix2pixHD", "no-fg-prior", "no-video-D", "no-flow"]
TABLE1 = ["pix2pixHD", "COVST", "vid2vid"]
TABLE2 = ["vid2vid", "no-fg-prior", "no-video-D", "no-flow"]
MODELS = list(dict.fromkeys(TABLE1 + TABLE2))
PAPER_T1 = {"pix2pixHD": "5.57 / 0.18", "COVST": "5.55 / 0.18", "vid2vid": "4.66 / 0.15"}
PAPER_T1_HPS = {"pix2pixHD": "0.87 / 0.83", "COVST": "0.84 / 0.80", "vid2vid": "-"}
PAPER_T2_HPS = {"no-fg-prior": "0.80", "no-video-D": "0.84", "no-flow": "0.67", "vid2vid": "-"}
LABELS = {"COVST": "flow-guided smoothing (COVST-like)",
          "no-fg-prior": "vid2vid w/o background-foreground prior",
          "no-video-D": "vid2vid w/o conditional video discriminator",
          "no-flow": "vid2vid w/o flow warping"}

CLIP_STRIDE = 2  # video FID clips start every second frame
KID_SUBSETS = 10
# per-video metrics, in the tables' order, and the set-level ones of each model and seed
PER_VIDEO = {"l1": "L1", "psnr": "PSNR (dB)", "fg_error": "foreground L1", "warping_error": "warping error",
             "excess_warping_error": "excess warping error",
             "lf_warping_error": "low-frequency warping error",
             "static_flicker": "flicker on static pixels", "sharpness_ratio": "sharpness ratio",
             "streak_ratio": "streak ratio", "late_streak_ratio": "streak ratio of the last frames",
             "late_early_l1": "late / early L1"}
SET_LEVEL = {"video_fid": "video FID", "video_fid_no_pan": "video FID, pan projected out",
             "video_kid": "video KID", "video_kid_no_pan": "video KID, pan projected out",
             "frame_fid": "per-frame FID", "frame_fid_no_pan": "per-frame FID, pan projected out",
             "frame_kid": "per-frame KID", "frame_kid_no_pan": "per-frame KID, pan projected out"}
# motion check: the feature network's reading of the camera's pan direction against the truth, per
# video (clips of panning videos; NaN for a still camera or a network without a direction head)
MOTION_CHECK = {"direction_accuracy": "pan direction accuracy"}
CLAIM_METRICS = {"video_fid_pseudo": "video FID (jackknife, per video)",
                 "video_fid_no_pan_pseudo": "video FID, pan projected out (jackknife, per video)",
                 **PER_VIDEO}


def benchmark_config(overrides: list[str]):
    """The full model's configuration with the benchmark's data settings and ``overrides`` (which win)."""
    from vid2vid.config import Config

    return Config.from_yaml(CONFIGS / "vid2vid.yaml").override([*BENCHMARK_DATA, *overrides])


def run_dir(runs: Path, model: str, seed: int) -> Path:
    """Where ``model`` is trained with ``train.seed=seed``: ``<runs>/<model>/seed<seed>``."""
    return runs / model / f"seed{seed}"


def find_seeds(runs: Path) -> dict[str, dict[int, Path]]:
    """Every trained model's ``{seed: generator.pt}``; each model needs at least 2 seeds."""
    found = {}
    for model in TRAINED:
        gens = {}
        for path in sorted((runs / model).glob("seed*/generator.pt")):
            tail = path.parent.name[len("seed"):]
            if tail.isdigit():
                gens[int(tail)] = path
        if len(gens) < 2:
            raise SystemExit(f"{runs / model}: {len(gens)} trained seed(s) ({sorted(gens)}), expected "
                             f"seed<k>/generator.pt for at least 2 seeds (claims are decided over seeds); "
                             f"`python reproduce/tables.py --stage train --runs {runs}` trains them")
        found[model] = dict(sorted(gens.items()))
    return found


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


def generate(name: str, generator: Path, videos: list[dict], overrides: list[str] = ()) -> list[torch.Tensor]:
    """The video of every test sequence, ``[T, 3, H, W]`` in ``[-1, 1]`` each, by the generator at
    ``generator`` (``name`` "COVST": pix2pixHD's generator, its output smoothed along estimated flow),
    run with its stored configuration changed by ``overrides`` (settings that keep the weights)."""
    from vid2vid.baselines import stabilize
    from vid2vid.inference import generate_frames, read_input_frames
    from vid2vid.models.io import load_generator

    cfg, G, _ = load_generator(generator, overrides=overrides)
    out = []
    for v in videos:
        frames = (x for _, x in generate_frames(G, cfg, read_input_frames(cfg, v["labels_dir"])))
        if name == "COVST":
            frames = stabilize(frames)
        out.append(torch.stack(list(frames)))
    return out


def per_video_metrics(fake: torch.Tensor, video: dict, real_warping_error: float) -> dict[str, float]:
    """The :data:`PER_VIDEO` metrics of one generated video against its real one (``video``, from
    :func:`load_test_videos`); ``real_warping_error``: the real video's, for the excess."""
    from vid2vid.metrics.temporal import flicker, foreground_error, l1_error, psnr, warping_error
    from vid2vid.metrics.validity import (
        DRIFT_FRAMES,
        excess,
        late_early_l1,
        low_frequency_warping_error,
        sharpness_ratio,
        streak_ratio,
    )

    flow, occluded = video["flow"][1:], video["occlusion"][1:]
    we = warping_error(fake, flow, occluded)
    ends = max(1, min(DRIFT_FRAMES, fake.shape[0] // 2))  # frames at each end (fewer in short videos)
    return {"l1": l1_error(fake, video["real"]), "psnr": psnr(fake, video["real"]),
            "fg_error": foreground_error(fake, video["real"], video["fg"]), "warping_error": we,
            "excess_warping_error": excess(we, real_warping_error),
            "lf_warping_error": low_frequency_warping_error(fake, flow, ~occluded),
            "static_flicker": flicker(fake, flows=flow, occlusion=occluded),
            "sharpness_ratio": sharpness_ratio(fake, video["real"]),
            "streak_ratio": streak_ratio(fake, video["real"]),
            "late_streak_ratio": streak_ratio(fake[-ends:], video["real"][-ends:]),
            "late_early_l1": late_early_l1(fake, video["real"], ends)}


def video_pans(videos: list[dict]) -> np.ndarray:
    """Each test video's camera pan (:func:`vid2vid.quality.camera_pan`, pixels per frame)."""
    return np.array([camera_pan(v) for v in videos])


def pan_axis(features: np.ndarray, pans: np.ndarray) -> np.ndarray:
    """The camera-pan axis of real features ``[N, d]`` whose videos pan by ``pans [N]``: the unit
    regression direction of the features on the pan (how the mean feature moves per pixel of pan)."""
    centred = pans - pans.mean()
    if not np.any(np.abs(centred) > 1e-6):
        raise SystemExit("the evaluation videos all pan alike: no camera-pan axis to project out; use an "
                         "evaluation split with more sequences (--eval-sequences)")
    axis = (features - features.mean(axis=0)).T @ centred
    return axis / np.linalg.norm(axis)


def _features(videos: list[torch.Tensor], video_features, frame_features) -> dict[str, np.ndarray]:
    """Clip and frame features of ``videos`` and the video index of each clip and frame."""
    from vid2vid.metrics.features import extract_features

    clips = [extract_features(video_features, [v], stride=CLIP_STRIDE) for v in videos]
    frames = [frame_features(v).double().numpy() for v in videos]
    return {"video": np.concatenate(clips), "frame": np.concatenate(frames),
            "video_of_clip": np.repeat(np.arange(len(videos)), [len(c) for c in clips]),
            "video_of_frame": np.repeat(np.arange(len(videos)), [len(f) for f in frames])}


def real_cache_key(root: Path, videos: list[dict], video_features, weights: str | None) -> str:
    """What the real videos' features depend on: the evaluation split's record and sequences, the frame
    size and count, the feature network (with its weights' bytes) and the clip stride."""
    record = root / "synthetic.json"
    weight_bytes = Path(weights).read_bytes() if weights else b"untrained, torch seed 0"
    key = {"split": json.loads(record.read_text()) if record.is_file() else str(root.resolve()),
           "sequences": [v["name"] for v in videos], "shape": list(videos[0]["real"].shape),
           "features": video_features.describe(), "weights_sha256": hashlib.sha256(weight_bytes).hexdigest(),
           "stride": CLIP_STRIDE}
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def real_reference(videos: list[dict], video_features, frame_features, cache: Path, key: str) -> dict:
    """The real videos' features (:func:`_features`), pans and camera-pan axes (video and frame), from
    ``cache`` when it was written with ``key``, else computed and written there."""
    if cache.is_file():
        with np.load(cache) as data:
            if str(data["key"]) == key:
                print(f"{cache}: real-video features reused", flush=True)
                return {k: data[k] for k in data.files if k != "key"}
        print(f"{cache}: written for another evaluation split or feature network; recomputing", flush=True)
    real = _features([v["real"] for v in videos], video_features, frame_features)
    pans = video_pans(videos)
    real["pans"] = pans
    real["video_axis"] = pan_axis(real["video"], pans[real["video_of_clip"]])
    real["frame_axis"] = pan_axis(real["frame"], pans[real["video_of_frame"]])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, key=np.array(key), **real)
    return real


def set_metrics(fake: dict[str, np.ndarray], real: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """The :data:`SET_LEVEL` metrics of generated features (:func:`_features`) against the real ones,
    and the per-video jackknife pseudo-values of the video FID, as is and with the pan axis out."""
    from vid2vid.metrics.claims import jackknife_pseudo_values
    from vid2vid.metrics.frechet import frechet_distance_from_features
    from vid2vid.metrics.kid import distances_without, project_out

    out = {}
    for kind in ("video", "frame"):
        for suffix, axis in (("", None), ("_no_pan", real[f"{kind}_axis"])):
            d = distances_without(real[kind], fake[kind], axis, n_subsets=KID_SUBSETS)
            out[f"{kind}_fid{suffix}"], out[f"{kind}_kid{suffix}"] = d["fid"], d["kid"]
    out["n_clips"] = len(fake["video"])
    axis = real["video_axis"]
    pseudo = {
        "video_fid_pseudo": jackknife_pseudo_values(real["video"], fake["video"], fake["video_of_clip"],
                                                    frechet_distance_from_features),
        "video_fid_no_pan_pseudo": jackknife_pseudo_values(
            project_out(real["video"], axis), project_out(fake["video"], axis), fake["video_of_clip"],
            frechet_distance_from_features)}
    return out, {k: v.tolist() for k, v in pseudo.items()}


def direction_accuracy(videos: list[torch.Tensor], pans: np.ndarray, video_features) -> list[float]:
    """Per video, the fraction of its clips (every :data:`CLIP_STRIDE`-th start) in which the feature
    network reads the camera's true pan direction (the sign of ``pans``): whether a generated video
    moves the way its labels do. NaN for a still camera (``|pan| < STILL_PAN``) and for a network
    without a direction head (a Kinetics network)."""
    from vid2vid.metrics.features import video_clips

    if not hasattr(video_features, "pan_directions"):
        return [float("nan")] * len(videos)
    out = []
    for video, pan in zip(videos, pans, strict=True):
        if abs(pan) < STILL_PAN:
            out.append(float("nan"))
            continue
        read = video_features.pan_directions(video_clips(video, video_features.clip_length, CLIP_STRIDE))
        out.append(float((read == int(pan > 0)).double().mean()))
    return out


def measure_run(fakes: list[torch.Tensor], videos: list[dict], real: dict, real_per_video: dict,
                video_features, frame_features) -> dict:
    """One model and seed: ``{"per_video": {"video": names, metric: [values]}, "aggregate": {...}}``;
    the aggregate holds the means of the per-video metrics (flicker over the videos that have static
    pixels, counted in ``static_flicker_videos``; the direction accuracy over the panning videos) and
    the set-level metrics."""
    rows = [per_video_metrics(f, v, w) for f, v, w in zip(fakes, videos, real_per_video["warping_error"],
                                                           strict=True)]
    per_video = {"video": [v["name"] for v in videos], **{k: [r[k] for r in rows] for k in PER_VIDEO}}
    per_video["direction_accuracy"] = direction_accuracy(fakes, real["pans"], video_features)
    sets, pseudo = set_metrics(_features(fakes, video_features, frame_features), real)
    per_video.update(pseudo)
    return {"per_video": per_video, "aggregate": {**_means(per_video), **sets}}


def _means(per_video: dict) -> dict:
    """Means over the videos; flicker and direction accuracy over the videos that have them (NaN
    where none has)."""
    partial = ("static_flicker", "direction_accuracy")
    means = {k: float(np.mean(per_video[k])) for k in PER_VIDEO if k not in partial}
    for k in partial:
        values = np.asarray(per_video.get(k, []), dtype=float)
        finite = np.isfinite(values)
        means[k] = float(values[finite].mean()) if finite.any() else float("nan")
    flicker = np.asarray(per_video["static_flicker"], dtype=float)
    means["static_flicker_videos"] = int(np.isfinite(flicker).sum())
    return means


def summarise(seeds: dict[int, dict]) -> dict:
    """A model's entry of ``results.json``: the mean over seeds of every aggregate (the tables' number),
    ``"sd"`` across seeds, and ``"seeds"`` with every seed's per-video and aggregate numbers."""
    keys = [k for k in seeds[min(seeds)]["aggregate"] if k not in ("n_clips", "static_flicker_videos")]
    values = {k: np.array([s["aggregate"][k] for s in seeds.values()], dtype=float) for k in keys}
    first = seeds[min(seeds)]["aggregate"]
    return {**{k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for k, v in values.items()},
            "n_clips": first["n_clips"], "static_flicker_videos": first["static_flicker_videos"],
            "sd": {k: float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else float("nan")
                   for k, v in values.items()},
            "seeds": {str(s): r for s, r in seeds.items()}}


def decide_claims(per_video: dict[str, dict[int, dict]], results: dict, n_boot: int) -> list[dict]:
    """Every claim of :data:`vid2vid.metrics.claims.PAPER_CLAIMS` on the models' per-video numbers."""
    from vid2vid.metrics.claims import PAPER_CLAIMS, decide_claim

    frame_fid = {m: results[m]["frame_fid"] for m in MODELS}
    sharpness = {m: results[m]["sharpness_ratio"] for m in MODELS}
    return [decide_claim(c, per_video, frame_fid, sharpness, n_boot=n_boot) for c in PAPER_CLAIMS]


def measure(fake: list[torch.Tensor], videos: list[dict], video_features, frame_features) -> dict:
    """Aggregate metrics of generated videos against the real ones (``reproduce/table3.py``'s rows)."""
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


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "-"
    return "nan" if x != x else f"{x:.{digits}g}"


def _cell(r: dict, key: str) -> str:
    """``mean ± sd`` across seeds of one metric (``"-"`` when a results.json written before seeds, one
    run per model, lacks it)."""
    if key not in r:
        return "-"
    sd = r.get("sd", {}).get(key)
    return _fmt(r[key]) if sd is None or sd != sd else f"{_fmt(r[key])} ± {_fmt(sd, 2)}"


TABLE_COLUMNS = ["video_fid", "video_fid_no_pan", "video_kid", "frame_fid", "direction_accuracy",
                 "warping_error", "excess_warping_error", "lf_warping_error", "static_flicker",
                 "sharpness_ratio", "streak_ratio", "late_streak_ratio", "late_early_l1", "l1", "psnr",
                 "fg_error"]
COLUMN_NAMES = {**SET_LEVEL, **MOTION_CHECK, **PER_VIDEO}


def claims_table(claims: list[dict]) -> list[str]:
    """The claims as Markdown rows: the interval of model minus reference, its MDE and the verdict
    beside the paper's number."""
    from vid2vid.metrics.claims import format_interval

    lines = ["| claim (direction fixed in advance) | metric | seeds x videos | model - reference: mean "
             "[95% interval] | MDE | verdict | temporal win | paper |", "|---|---|---|---|---|---|---|---|"]
    for c in claims:
        size = "-" if c["n_seeds"] is None else f"{c['n_seeds']} x {c['n_videos'] // c['n_seeds']}"
        if c.get("dropped_videos"):
            size += f" ({c['dropped_videos']} non-finite left out)"
        win = "-"
        if "win_valid" in c:
            win = f"{c['winner']}: {c['win_check']}"
        elif c.get("note"):
            win = c["note"]
        verdict = c["verdict"] + (" (temporal win invalid)" if c.get("win_valid") is False else "")
        lines.append(f"| {c['text']} | {CLAIM_METRICS.get(c['metric'], c['metric'])} | {size} | "
                     f"{format_interval(c)} | {_fmt(c['mde'], 3)} | **{verdict}** | {win} | {c['paper']} |")
    return lines


def write_tables(results: dict, settings: dict, out: Path, preference_db: str | Path | None = None) -> str:
    """Tables 1-2 and the claims as Markdown to ``<out>/tables.md``; the preference columns from the
    study database ``preference_db`` (vid2vid against each other model, per setting), else "not run"."""
    from vid2vid.study.report import markdown_table, preference_cell, study_report

    cols = " | ".join(COLUMN_NAMES[k] for k in TABLE_COLUMNS)
    rule = "|---" * (len(TABLE_COLUMNS) + 1)
    study = study_report(preference_db) if preference_db is not None else None
    study_settings = " / ".join(study.settings) if study is not None else "short / long"

    def ours(name: str) -> str:
        return "-" if name in ("vid2vid", "real video") else preference_cell(study, "vid2vid", name)

    def row(name: str, *paper: str) -> str:
        cells = " | ".join(_cell(results[name], k) for k in TABLE_COLUMNS)
        return f"| {LABELS.get(name, name)} | {cells} | {' | '.join(paper)} | {ours(name)} |"

    if study is None:
        preference = ["Our human preference: not run. The clips for a study are in `ab_clips/`: "
                      "`python -m vid2vid study serve --clips ab_clips --db study.sqlite`, then "
                      "`python reproduce/tables.py --stage tables --preference-db study.sqlite` fills the "
                      "preference columns. Side-by-side clips for raters without the server are in "
                      "`ab_handout/` (their keys, which say the sides, in `ab_keys/`)."]
    else:
        preference = [f"Our human preference (`python -m vid2vid study report --db {preference_db}`), "
                      "vid2vid against each model, per setting:", "", markdown_table(study)]
    if "claims" in results:
        claims = ["Each claim was fixed, with its direction, before any result was seen "
                  "(`vid2vid.metrics.claims.PAPER_CLAIMS`). Interval: 95% hierarchical bootstrap "
                  f"({settings.get('n_boot', 10000)} replicates) of the paired per-video difference, model "
                  "minus reference on the same test videos, resampling seeds, then videos within seeds. "
                  "Reproduced: the interval excludes 0 on the claimed side; not reproduced: on the other "
                  "side; inconclusive: it contains 0. MDE: the smallest true difference these seeds and "
                  "videos detect with 80% power (2.8 bootstrap standard errors). FID has no per-video "
                  "value: its claims use each video's jackknife pseudo-value (leave its clips out). A "
                  "temporal win is invalid when the winner is blurrier than real (sharpness ratio < 0.8) "
                  "or has a worse per-frame FID than the loser "
                  "(`vid2vid.metrics.validity.temporal_win_is_valid`).", "",
                  *claims_table(results["claims"])]
    else:
        claims = ["No claims in this results.json (written before the seeds were the unit): "
                  "`python reproduce/tables.py --stage evaluate` decides them."]

    real = results["real video"]
    seeds = settings.get("seeds", {})
    seed_text = ", ".join(f"{m} {len(s)}" for m, s in seeds.items()) if seeds else "one per model"
    lines = [
        "# Tables 1-2 on the built-in synthetic benchmark",
        "",
        f"Command: `{settings['command']}`. Machine: {settings['machine']}. Evaluation took "
        f"{settings['evaluation_minutes']:.1f} min; training times per model and seed are in "
        "`settings.json`.",
        "",
        f"Training seeds per model: {seed_text}. Every number is the mean over the seeds ± their "
        "standard deviation (per-video numbers of every seed: `results.json`). Test videos: "
        f"{settings['test_videos']} synthetic test sequences of {settings['frames']} frames at "
        f"{settings['frame_size']} (`{settings['eval_root']}`; "
        f"{settings.get('data', 'data settings not recorded')}). Video FID and KID: "
        f"{settings['video_features']}. Per-frame FID: the same network on still frames. Pan direction "
        "accuracy: how often that network reads the true direction of the camera's pan in the clips of "
        "the panning videos (a motion check). \"Pan projected "
        "out\": the features' component along the real videos' camera-pan axis removed first. Warping "
        "error: mean |x_t - warp(x_{t-1}, w_t)| in [-1, 1] units with the real video's ground-truth flow, "
        "on pixels visible in both frames (the real videos themselves score "
        f"{_fmt(real['warping_error'])}, from the illumination drift and resampling); excess: minus the "
        "real video's; low-frequency: the signed residual averaged over 8x8 tiles first; flicker: mean "
        "|x_t - x_{t-1}| on static pixels (still-camera sequences only); sharpness ratio: gradient energy "
        "over the real video's; streak ratio: the vertical over the horizontal gradient energy, over the "
        "real video's (above 1: smeared along x, the camera pan's direction), also over the last 5 frames "
        "alone; late / early L1: the L1 of the last 5 frames over the first 5's (above 1: the video gets "
        "worse along the rollout). Lower is better except PSNR (sharpness, streaks and late / early: "
        "best at 1). These are domain-specific numbers: they rank the methods on "
        "this benchmark and cannot be compared with the paper's Cityscapes numbers, which are shown beside "
        "them for the ranking only. Flow-guided smoothing (COVST-like) is pix2pixHD's output smoothed "
        "along estimated flow (`vid2vid.baselines.stabilize`), not Chen et al. 2017's network.",
        "",
        "## Claims",
        "",
        *claims,
        "",
        "## Table 1: vid2vid against the baselines",
        "",
        f"| method | {cols} | paper (Cityscapes): FID I3D / ResNeXt | paper: preference for vid2vid "
        f"(short / long) | ours: preference for vid2vid ({study_settings}) |",
        rule + "|---|---|---|",
        row("real video", "-", "-"),
        *[row(n, PAPER_T1[n], PAPER_T1_HPS[n]) for n in TABLE1],
        "",
        "## Table 2: ablations",
        "",
        f"| method | {cols} | paper: preference for the full model | ours: preference for the full model "
        f"({study_settings}) |",
        rule + "|---|---|",
        *[row(n, PAPER_T2_HPS[n]) for n in TABLE2],
        "",
        "Preference: the fraction of answers that chose vid2vid's video in a two-alternative forced choice "
        "[95% Wilson interval].",
        *preference,
        "",
    ]
    text = "\n".join(lines)
    (out / "tables.md").write_text(text)
    return text


def write_ab_clips(fakes: dict[str, dict[int, list[np.ndarray]]], videos: list[dict], out: Path) -> Path:
    """The study folder ``<out>/ab_clips`` (``python -m vid2vid study serve`` reads it): every model's
    video (its first seed's) of every test sequence, short (the first half of the frames) and long
    (all), vid2vid against each other model, and 2 attention checks. Returns its manifest."""
    from vid2vid.study import write_study

    frames = int(videos[0]["real"].shape[0])
    order = ["vid2vid", *[m for m in MODELS if m != "vid2vid"]]
    return write_study({m: fakes[m][min(fakes[m])] for m in order},
                       out / "ab_clips", sequences=[v["name"] for v in videos],
                       settings={"short": max(2, frames // 2), "long": None}, reference="vid2vid", checks=2,
                       seed=0)


def write_ab_handout(fakes: dict[str, dict[int, list[np.ndarray]]], out: Path) -> dict[str, dict]:
    """Side-by-side clips for raters without the study server, one folder per comparison
    ``<out>/ab_handout/vid2vid_vs_<model>`` (:func:`vid2vid.metrics.preference.make_ab_clips`: vid2vid
    against the model on every seed both have and every test sequence, sides counterbalanced), keys in
    ``<out>/ab_keys``. Returns ``{model: {"clips", "key"}}``; fewer clips than
    ``BENCHMARK_MIN_CLIPS`` (16) is said so (a smoke run)."""
    from vid2vid.metrics.preference import BENCHMARK_MIN_CLIPS, make_ab_clips

    written = {}
    for model in MODELS:
        if model == "vid2vid":
            continue
        seeds = sorted(set(fakes["vid2vid"]) & set(fakes[model]))
        a = [v for s in seeds for v in fakes["vid2vid"][s]]
        b = [v for s in seeds for v in fakes[model][s]]
        folder = out / "ab_handout" / f"vid2vid_vs_{model}"
        if folder.is_dir():
            shutil.rmtree(folder)  # a rerun may write fewer clips
        key = make_ab_clips(a, b, folder, seed=0, names=("vid2vid", model), key_dir=out / "ab_keys")
        written[model] = {"clips": len(a), "key": str(key)}
        if len(a) < BENCHMARK_MIN_CLIPS:
            print(f"{folder}: {len(a)} clips, fewer than the benchmark's {BENCHMARK_MIN_CLIPS} per "
                  "comparison", flush=True)
    return written


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


def check_feature_scenes(video_features, cfg, weights: str) -> None:
    """Refuse a synthetic feature network (``weights``) trained on other scenes than ``cfg``'s data
    (motion, foreground palette, still cameras): its FIDs would measure the difference of scenes."""
    from vid2vid.data.synthetic import SyntheticConfig
    from vid2vid.metrics.synthetic_features import scene_mismatch

    mismatch = scene_mismatch(video_features.scene, SyntheticConfig.from_data_config(cfg.data))
    if mismatch:
        raise SystemExit(f"{weights}: the feature network was trained on other scenes than the evaluation's "
                         f"({mismatch}); train one for them with `python reproduce/train_feature_net.py` "
                         "(--scene benchmark: Tables 1-2; --scene preset: the pretrained models' data)")


def evaluation_setup(overrides: list[str], eval_root: str, eval_sequences: int, feature_net: str,
                     cache: Path) -> argparse.Namespace:
    """What every evaluation on the benchmark needs, made once: ``cfg`` (:func:`benchmark_config`), the
    evaluation split ``root`` (made if missing) and its ``videos``, the feature networks
    (``feature_net``: a file, or "none" for an untrained one, smoke tests only; checked against the
    scenes), the real videos' features ``real`` (cached in ``cache``) and their warping errors
    ``real_we`` (``{"warping_error": [...]}``)."""
    from vid2vid.metrics.features import StaticClipImageFeatures, get_feature_extractor
    from vid2vid.metrics.temporal import warping_error

    cfg = benchmark_config(overrides)
    root = Path(eval_root)
    if cfg.data.synthetic_sequences > 0:
        ensure_eval_data(cfg, root, eval_sequences)
    videos = load_test_videos(cfg, root)
    weights = None if feature_net == "none" else feature_net
    with torch.random.fork_rng():
        torch.manual_seed(0)  # an untrained network draws the same weights every run (the cache's key)
        video_features = get_feature_extractor("synthetic", weights=weights)
    if weights is not None and cfg.data.synthetic_sequences > 0:
        check_feature_scenes(video_features, cfg, weights)
    frame_features = StaticClipImageFeatures(video_features)
    real = real_reference(videos, video_features, frame_features, cache,
                          real_cache_key(root, videos, video_features, weights))
    real_we = {"warping_error": [warping_error(v["real"], v["flow"][1:], v["occlusion"][1:]) for v in videos]}
    return argparse.Namespace(cfg=cfg, root=root, videos=videos, video_features=video_features,
                              frame_features=frame_features, real=real, real_we=real_we)


def evaluate_all(runs: Path, out: Path, overrides: list[str], eval_root: str = BENCHMARK_EVAL_ROOT,
                 eval_sequences: int = 16, feature_net: str = "reproduce/results/synthetic/feature_net.pt",
                 command: str | None = None, preference_db: str | Path | None = None,
                 n_boot: int = 10000) -> dict:
    """Generate every test video with every model and seed, measure them, decide the claims, write
    ``results.json``, ``settings.json``, ``tables.md`` and the preference clips to ``out``."""
    from vid2vid.machine import describe_machine
    from vid2vid.video import to_uint8

    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    generators = find_seeds(runs)
    bench = evaluation_setup(overrides, eval_root, eval_sequences, feature_net, out / "real_features.npz")
    cfg, root, videos = bench.cfg, bench.root, bench.videos
    video_features, frame_features, real, real_we = (bench.video_features, bench.frame_features, bench.real,
                                                     bench.real_we)
    real_run = measure_run([v["real"] for v in videos], videos, real, real_we, video_features, frame_features)
    results: dict = {"real video": {**real_run["aggregate"], "per_video": real_run["per_video"]}}
    per_video: dict[str, dict[int, dict]] = {}
    fakes: dict[str, dict[int, list[np.ndarray]]] = {}
    for name in MODELS:
        source = generators["pix2pixHD" if name == "COVST" else name]
        runs_of = {}
        for seed, generator in source.items():
            print(f"evaluating {name}, seed {seed} ({generator})", flush=True)
            videos_out = generate(name, generator, videos)
            runs_of[seed] = {"generator": str(generator),
                             **measure_run(videos_out, videos, real, real_we, video_features, frame_features)}
            fakes.setdefault(name, {})[seed] = [to_uint8(v) for v in videos_out]
            print(json.dumps({name: {"seed": seed, **runs_of[seed]["aggregate"]}}), flush=True)
        results[name] = summarise(runs_of)
        per_video[name] = {s: r["per_video"] for s, r in runs_of.items()}
    results["claims"] = decide_claims(per_video, results, n_boot)
    write_ab_clips(fakes, videos, out)
    handout = write_ab_handout(fakes, out)
    train_seconds = {}
    for name, seeds in generators.items():
        for seed, generator in seeds.items():
            done = generator.parent / "done"
            if done.is_file():
                train_seconds[f"{name}/seed{seed}"] = done.read_text().strip()
    settings = {
        "command": command or "python reproduce/tables.py",
        "machine": ", ".join(f"{k} {v}" for k, v in describe_machine().items()) + f", {platform.system()}",
        "eval_root": str(root), "test_videos": len(videos), "frames": int(videos[0]["real"].shape[0]),
        "frame_size": f"{cfg.data.height}x{cfg.data.width}",
        "data": (f"foreground palette {cfg.data.synthetic_foreground_palette}, still-camera fraction "
                 f"{cfg.data.synthetic_still_camera}, motion x{cfg.data.synthetic_motion}"),
        "video_features": ", ".join(f"{k} {v}" for k, v in video_features.describe().items()),
        "frame_features": ", ".join(f"{k} {v}" for k, v in frame_features.describe().items()),
        "seeds": {n: sorted(s) for n, s in generators.items()}, "n_boot": n_boot,
        "training_time": train_seconds,
        "models": {n: {str(s): str(p) for s, p in seeds.items()} for n, seeds in generators.items()},
        "configs": {n: f"reproduce/configs/tables/{n}.yaml" for n in TRAINED},
        "covst": "flow-guided smoothing (COVST-like): pix2pixHD outputs smoothed by "
                 "vid2vid.baselines.stabilize (DIS flow, alpha 0.8, threshold 0.02), no training of its own; "
                 "not Chen et al. 2017",
        "ab_handout": handout,
        "evaluation_minutes": (time.time() - t0) / 60,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "settings.json").write_text(json.dumps(settings, indent=2))
    print(write_tables(results, settings, out, preference_db))
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs/tables")
    p.add_argument("--results", default="reproduce/results/synthetic")
    p.add_argument("--eval-root", default=BENCHMARK_EVAL_ROOT)
    p.add_argument("--eval-sequences", type=int, default=16)
    p.add_argument("--feature-net", default="reproduce/results/synthetic/feature_net.pt",
                   help="weights of the synthetic-domain feature network; 'none' = untrained (smoke tests)")
    p.add_argument("--preference-db", default=None,
                   help="study database (python -m vid2vid study serve) whose answers fill the preference "
                        "columns")
    p.add_argument("--n-boot", type=int, default=10000, help="bootstrap replicates per claim")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    evaluate_all(Path(args.runs), Path(args.results), args.overrides, args.eval_root, args.eval_sequences,
                 args.feature_net, command="python " + " ".join(["reproduce/evaluate.py", *sys.argv[1:]]),
                 preference_db=args.preference_db, n_boot=args.n_boot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
