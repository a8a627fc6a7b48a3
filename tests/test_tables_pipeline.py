"""The Tables 1-2 pipeline over seeds: the claims' verdicts on fabricated per-video numbers, and the
whole pipeline at toy scale (``reproduce/tables.py --smoke``): every model trained per seed, every
seed's per-video numbers kept, one verdict per claim, resumable training."""

import csv
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vid2vid.metrics.claims import PAPER_CLAIMS, Claim, decide_claim, jackknife_pseudo_values

REPO = Path(__file__).resolve().parents[1]
TRAINED = ["vid2vid", "pix2pixHD", "no-fg-prior", "no-video-D", "no-flow"]
MODELS = ["pix2pixHD", "COVST", "vid2vid", "no-fg-prior", "no-video-D", "no-flow"]
# (model.n_prev > 0, use_flow, use_fg_prior, use_video_discriminator) each trained model must have
ARCHITECTURE = {"vid2vid": (True, True, True, True), "pix2pixHD": (False, False, False, False),
                "no-fg-prior": (True, True, False, True), "no-video-D": (True, True, True, False),
                "no-flow": (True, False, True, True)}
PER_VIDEO = ["l1", "psnr", "fg_error", "warping_error", "excess_warping_error", "lf_warping_error",
             "static_flicker", "sharpness_ratio", "streak_ratio", "late_streak_ratio", "late_early_l1",
             "video_fid_pseudo",
             "video_fid_no_pan_pseudo"]
SET_LEVEL = ["video_fid", "video_fid_no_pan", "video_kid", "video_kid_no_pan", "frame_fid",
             "frame_fid_no_pan", "frame_kid", "frame_kid_no_pan"]
VERDICTS = {"reproduced", "not reproduced", "inconclusive"}


# ------------------------------------------------------------------------ claims on fabricated numbers


def _per_video(shift: float, spread: float = 0.01, seeds: int = 3, videos: int = 8) -> dict:
    """model and reference per seed: the model is the reference plus ``shift`` and small noise."""
    rng = np.random.default_rng(1)
    ref = {s: rng.uniform(0.1, 0.3, videos) for s in range(seeds)}
    model = {s: ref[s] + shift + rng.normal(0, spread, videos) for s in range(seeds)}
    return {"model": {s: {"warping_error": model[s]} for s in model},
            "reference": {s: {"warping_error": ref[s]} for s in ref}}


@pytest.mark.parametrize(("direction", "shift", "expected"), [
    ("lower", -0.05, "reproduced"),  # the interval lies below 0, the claimed side
    ("lower", +0.05, "not reproduced"),  # below 0 was claimed; it lies above
    ("higher", +0.05, "reproduced"),
    ("higher", -0.05, "not reproduced"),
    ("lower", 0.0, "inconclusive"),  # the interval contains 0
    ("higher", 0.0, "inconclusive"),
])
def test_a_claims_verdict_follows_the_side_of_0_its_interval_lies_on(direction, shift, expected):
    claim = Claim("m vs r", "model", "reference", "warping_error", direction, "paper")
    result = decide_claim(claim, _per_video(shift), n_boot=2000)
    assert result["verdict"] == expected
    assert result["lo"] <= result["mean"] <= result["hi"]
    assert (result["lo"] > 0 or result["hi"] < 0) == (expected != "inconclusive")
    assert result["mean"] == pytest.approx(shift, abs=0.01)
    assert result["n_seeds"] == 3 and result["n_videos"] == 24 and 0 < result["mde"] < 0.05


def test_a_temporal_win_bought_with_blur_is_flagged_and_non_finite_videos_are_left_out():
    claim = Claim("m lower", "model", "reference", "warping_error", "lower", "paper", temporal=True)
    data = _per_video(-0.05)
    data["model"][0]["warping_error"][0] = math.nan  # e.g. flicker on a video without static pixels
    blurry = decide_claim(claim, data, frame_fid={"model": 1.0, "reference": 2.0},
                          sharpness={"model": 0.5, "reference": 1.0}, n_boot=2000)
    assert blurry["verdict"] == "reproduced" and blurry["winner"] == "model" and blurry["win_valid"] is False
    assert "blurrier than real" in blurry["win_check"] and blurry["dropped_videos"] == 1
    assert blurry["n_videos"] == 23
    sharp = decide_claim(claim, data, frame_fid={"model": 1.0, "reference": 2.0},
                         sharpness={"model": 0.95, "reference": 1.0}, n_boot=2000)
    assert sharp["win_valid"] is True
    # the reference won: its win is the one checked
    lost = decide_claim(claim, _per_video(+0.05), frame_fid={"model": 1.0, "reference": 2.0},
                        sharpness={"model": 1.0, "reference": 1.0}, n_boot=2000)
    assert lost["verdict"] == "not reproduced" and lost["winner"] == "reference"
    assert lost["win_valid"] is False
    assert "worse appearance" in lost["win_check"]


def test_a_claim_needs_two_shared_seeds_and_says_which_models():
    claim = Claim("m lower", "model", "reference", "warping_error", "lower", "paper")
    data = _per_video(-0.05, seeds=1)
    with pytest.raises(ValueError, match=r"'m lower': model and reference share 1 seed"):
        decide_claim(claim, data)
    with pytest.raises(KeyError, match=r"no per-video results for model 'reference'"):
        decide_claim(claim, {"model": data["model"]})
    with pytest.raises(ValueError, match="direction must be 'lower' or 'higher'"):
        Claim("x", "a", "b", "l1", "smaller", "paper")


def test_jackknife_pseudo_values_of_a_linear_statistic_are_the_videos_own_values():
    rng = np.random.default_rng(0)
    fake = rng.normal(size=(12, 3))
    groups = np.repeat(np.arange(4), 3)  # 3 clips per video

    def mean_first(real, f):  # linear in the clips: the jackknife recovers each video's contribution
        return float(f[:, 0].mean() - real[:, 0].mean())

    real = rng.normal(size=(5, 3))
    pseudo = jackknife_pseudo_values(real, fake, groups, mean_first)
    expected = [fake[groups == i, 0].mean() - real[:, 0].mean() for i in range(4)]
    np.testing.assert_allclose(pseudo, expected, atol=1e-12)
    assert pseudo.mean() == pytest.approx(mean_first(real, fake))
    with pytest.raises(ValueError, match="at least 2 videos"):
        jackknife_pseudo_values(real, fake, np.zeros(12, int), mean_first)


def test_the_paper_claims_name_known_models_and_metrics_with_fixed_directions():
    sys.path.insert(0, str(REPO / "reproduce"))
    from evaluate import CLAIM_METRICS

    assert len({c.text for c in PAPER_CLAIMS}) == len(PAPER_CLAIMS)
    for c in PAPER_CLAIMS:
        assert {c.model, c.reference} <= set(MODELS) and c.metric in CLAIM_METRICS, c
        # Table 1: vid2vid beats the baselines; Table 2: removing a part makes the full model's metric worse
        assert ((c.model, c.direction) == ("vid2vid", "lower")
                or (c.reference, c.direction) == ("vid2vid", "higher")), c
    texts = " / ".join(c.text for c in PAPER_CLAIMS)
    for words in ("lower video FID than pix2pixHD", "lower warping error than pix2pixHD",
                  "removing the flow warping raises the warping error",
                  "removing the video discriminator raises video FID",
                  "removing the background-foreground prior raises video FID"):
        assert words in texts


# ------------------------------------------------------------------------------- the whole pipeline


def _tables(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "reproduce/tables.py", "--smoke", "--runs", str(tmp_path / "runs"), "--results",
         str(tmp_path / "results"), "--eval-root", str(tmp_path / "eval"), "--n-boot", "2000", *extra],
        cwd=REPO, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_tables_smoke_trains_every_seed_keeps_per_video_numbers_and_decides_every_claim(tmp_path):
    res = _tables(tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    runs, results_dir = tmp_path / "runs", tmp_path / "results"
    results = json.loads((results_dir / "results.json").read_text())
    settings = json.loads((results_dir / "settings.json").read_text())
    assert set(results) == {"real video", "claims", *MODELS}

    # every model trained once per seed, with its own recipe, train.seed = k and the benchmark's data
    from vid2vid.models.io import load_generator

    for name, (prev, flow, fg, video_d) in ARCHITECTURE.items():
        for seed in (0, 1):
            cfg, G, step = load_generator(runs / name / f"seed{seed}" / "generator.pt")
            m = cfg.model
            saved = (m.n_prev > 0, m.use_flow, m.use_fg_prior, m.use_video_discriminator)
            assert saved == (prev, flow, fg, video_d), (name, seed)
            assert (G.n_prev > 0, G.use_flow, G.use_fg_prior) == (prev, flow, fg), name
            assert cfg.train.seed == seed and m.ngf == 8 and step > 0, (name, seed)
            assert cfg.data.synthetic_foreground_palette and cfg.data.synthetic_still_camera == 0.25
            lines = (runs / name / f"seed{seed}" / "log.jsonl").read_text().splitlines()
            logged = set().union(*(json.loads(line) for line in lines))
            assert ("G_flow" in logged) == flow and ("G_temporal" in logged) == prev, (name, logged)
            assert any(k.startswith(("D_V", "G_GAN_V")) for k in logged) == video_d, (name, logged)
    # the evaluation split was made with the same data settings
    record = json.loads((tmp_path / "eval" / "synthetic.json").read_text())["config"]
    assert record["foreground_palette"] is True and record["still_camera"] == 0.25

    # per model and seed: every per-video metric of the same 3 test videos, and the set-level ones
    names = results["real video"]["per_video"]["video"]
    assert len(names) == 3 and settings["seeds"] == {m: [0, 1] for m in TRAINED}
    for name in MODELS:
        r = results[name]
        assert sorted(r["seeds"]) == ["0", "1"], name
        for seed, run in r["seeds"].items():
            pv = run["per_video"]
            assert pv["video"] == names and all(len(pv[k]) == 3 for k in PER_VIDEO), (name, seed)
            assert len(pv["direction_accuracy"]) == 3, (name, seed)
            assert all(0 <= a <= 1 for a in pv["direction_accuracy"] if not math.isnan(a)), (name, seed)
            finite = [math.isfinite(x) for k in PER_VIDEO if k != "static_flicker" for x in pv[k]]
            assert all(finite), (name, seed)
            assert all(math.isfinite(run["aggregate"][k]) for k in SET_LEVEL), (name, seed)
            assert run["aggregate"]["l1"] == pytest.approx(np.mean(pv["l1"]))
            assert pv["excess_warping_error"] == pytest.approx(
                np.subtract(pv["warping_error"], results["real video"]["per_video"]["warping_error"]))
        # the table's number is the mean over the seeds
        per_seed = [s["aggregate"]["video_fid"] for s in r["seeds"].values()]
        assert r["video_fid"] == pytest.approx(np.mean(per_seed))
    real = results["real video"]
    assert abs(real["video_fid"]) < 1e-6 and real["l1"] == 0 and real["sharpness_ratio"] == 1
    first = {m: results[m]["seeds"]["0"]["per_video"]["l1"] for m in ("COVST", "pix2pixHD")}
    assert first["COVST"] != first["pix2pixHD"]  # smoothed: the same model, other frames

    # each seed's row is its own generator's: vid2vid seed 1 recomputed here
    sys.path.insert(0, str(REPO / "reproduce"))
    from evaluate import benchmark_config, generate, load_test_videos

    from vid2vid.metrics.temporal import l1_error

    overrides = [f"data.root={runs / 'data'}", "data.height=32", "data.width=64", "data.synthetic_frames=10"]
    videos = load_test_videos(benchmark_config(overrides), tmp_path / "eval")
    fakes = generate("vid2vid", runs / "vid2vid" / "seed1" / "generator.pt", videos)
    mine = [l1_error(f, v["real"]) for f, v in zip(fakes, videos, strict=True)]
    assert results["vid2vid"]["seeds"]["1"]["per_video"]["l1"] == pytest.approx(mine, rel=1e-5)

    # one verdict per claim, in results.json and in tables.md beside the paper's number
    claims = results["claims"]
    assert [c["text"] for c in claims] == [c.text for c in PAPER_CLAIMS]
    assert all(c["verdict"] in VERDICTS for c in claims)
    for c in claims:
        if c["lo"] is not None:
            side = "reproduced" if (c["hi"] < 0) == (c["direction"] == "lower") else "not reproduced"
            assert c["verdict"] == ("inconclusive" if c["lo"] <= 0 <= c["hi"] else side), c
            assert c["mde"] > 0 and c["n_seeds"] == 2
    tables = (results_dir / "tables.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in tables.splitlines() if line.startswith("| ")}
    for c in PAPER_CLAIMS:
        assert c.text in rows and c.paper in rows[c.text], c.text
        assert sum(f"**{v}" in rows[c.text] for v in VERDICTS) == 1, rows[c.text]
    assert "flow-guided smoothing (COVST-like)" in rows and "COVST" not in [r.strip() for r in rows]
    assert "Table 1" in tables and "Table 2" in tables and "4.66 / 0.15" in tables and "not run" in tables

    # preference clips: the served study, and side-by-side clips (2 seeds x 3 videos per comparison, sides
    # counterbalanced) with their keys outside the clip folders
    from vid2vid.study import read_manifest

    manifest = read_manifest(results_dir / "ab_clips")
    assert manifest.reference == "vid2vid" and sorted(manifest.methods) == sorted(MODELS)
    assert len({c.sequence for c in manifest.clips}) == 3
    for model in MODELS:
        if model == "vid2vid":
            continue
        folder = results_dir / "ab_handout" / f"vid2vid_vs_{model}"
        assert sorted(p.name for p in folder.iterdir()) == [f"clip_{i:04d}.mp4" for i in range(6)]
        with open(results_dir / "ab_keys" / f"vid2vid_vs_{model}_key.csv", newline="") as f:
            rows_key = list(csv.DictReader(f))
        assert len(rows_key) == 6 and sum(r["left"] == "vid2vid" for r in rows_key) == 3

    # resumable: a second call trains nothing and keeps every generator
    stamps = {p: p.stat().st_mtime_ns for p in runs.glob("*/seed*/generator.pt")}
    assert len(stamps) == 10
    again = _tables(tmp_path, "--stage", "train")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "train:" not in again.stdout
    assert {p: p.stat().st_mtime_ns for p in runs.glob("*/seed*/generator.pt")} == stamps
    # the real videos' features are cached with the evaluation split's key
    assert (results_dir / "real_features.npz").is_file()
    with np.load(results_dir / "real_features.npz") as cache:
        assert cache["video"].shape[0] == results["real video"]["n_clips"]


def test_direction_accuracy_is_per_panning_video_and_means_skip_the_still_ones():
    sys.path.insert(0, str(REPO / "reproduce"))
    import torch
    from evaluate import STILL_PAN, _means, direction_accuracy

    class ReadsBrightness:  # "pans right" where a clip's first frame is brighter than its last
        clip_length = 2

        def pan_directions(self, clips):
            return (clips[:, 0].mean(dim=(1, 2, 3)) > clips[:, -1].mean(dim=(1, 2, 3))).long()

    darkening = torch.linspace(1, -1, 6).view(6, 1, 1, 1).expand(6, 3, 4, 4)
    videos = [darkening, darkening, darkening.flip(0), darkening]
    pans = np.array([2.0, -1.5, -3.0, STILL_PAN / 2])
    acc = direction_accuracy(videos, pans, ReadsBrightness())
    assert acc[:3] == [1.0, 0.0, 1.0] and math.isnan(acc[3])  # right, wrong, right (it brightens)
    assert all(math.isnan(a) for a in direction_accuracy(videos, pans, object()))  # no direction head
    per_video = {k: [1.0, 2.0, 3.0, 4.0] for k in PER_VIDEO}
    per_video["static_flicker"] = [float("nan")] * 3 + [0.5]
    per_video["direction_accuracy"] = acc
    means = _means(per_video)
    assert means["l1"] == 2.5 and means["static_flicker"] == 0.5 and means["static_flicker_videos"] == 1
    assert means["direction_accuracy"] == pytest.approx(2 / 3)


def test_evaluation_refuses_a_feature_network_trained_on_other_scenes(tmp_path):
    sys.path.insert(0, str(REPO / "reproduce"))
    from evaluate import benchmark_config, check_feature_scenes

    from vid2vid.data.synthetic import SyntheticConfig
    from vid2vid.metrics.features import get_feature_extractor
    from vid2vid.metrics.synthetic_features import SyntheticFeatureNet, save_feature_net

    cfg = benchmark_config([])
    old = save_feature_net(SyntheticFeatureNet(), tmp_path / "old.pt")  # no scene record: the defaults
    with pytest.raises(SystemExit, match="old.pt.*data.synthetic_motion.*train_feature_net"):
        check_feature_scenes(get_feature_extractor("synthetic", weights=old), cfg, str(old))
    scene = dataclasses.asdict(SyntheticConfig.from_data_config(cfg.data))
    fit = save_feature_net(SyntheticFeatureNet(), tmp_path / "fit.pt", {"scene": scene})
    check_feature_scenes(get_feature_extractor("synthetic", weights=fit), cfg, str(fit))


def test_tables_refuses_one_seed_and_a_train_seed_override():
    sys.path.insert(0, str(REPO / "reproduce"))
    from tables import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--seeds", "1"])
    with pytest.raises(SystemExit):
        parse_args(["--per-frame-seeds", "1"])
    with pytest.raises(SystemExit):
        parse_args(["train.seed=3"])
    args = parse_args(["--smoke", "--runs", "r"])
    assert (args.seeds, args.per_frame_seeds, args.eval_sequences, args.feature_net) == (2, 2, 3, "none")
    assert args.overrides[0] == "data.root=r/data" and args.eval_root == "r/eval"
    assert parse_args([]).eval_root == "data/synthetic_tables_eval"
    assert parse_args([]).per_frame_seeds == 3


# ------------------------------------------------------------------------------- variant.py


def _variant_videos(shift: float, seeds=(0, 1, 2), videos: int = 6) -> dict:
    """Per seed, every compared metric over ``videos`` videos: a seeded spread plus ``shift``."""
    sys.path.insert(0, str(REPO / "reproduce"))
    from variant import METRICS

    rng = np.random.default_rng(1)
    return {s: {m: (1 + rng.normal(0, 0.01, videos) + shift).tolist() for m in METRICS} for s in seeds}


def test_variant_comparison_says_lower_higher_or_no_difference_per_metric():
    sys.path.insert(0, str(REPO / "reproduce"))
    from variant import METRICS, compare

    base = _variant_videos(0.0)
    for shift, outcome in ((-0.2, "lower"), (0.2, "higher"), (0.0, "no difference detected")):
        rows = compare({"base": base, "variant": _variant_videos(shift) if shift else base}, n_boot=500)
        assert [r["metric"] for r in rows] == list(METRICS)
        assert {r["outcome"] for r in rows} == {outcome}, (shift, rows[0])
        if shift:
            assert all(r["mean"] == pytest.approx(shift, abs=0.02) and r["n_seeds"] == 3 for r in rows)


def test_variant_refuses_a_seed_override_a_bad_name_and_one_seed():
    sys.path.insert(0, str(REPO / "reproduce"))
    from variant import parse_args

    for argv in (["--name", "x", "train.seed=1"], ["--name", "a/b", "model.norm_D=none"],
                 ["--name", "x", "--seeds", "1", "model.norm_D=none"], ["--name", "x"]):
        with pytest.raises(SystemExit):
            parse_args(argv)
    args = parse_args(["--smoke", "--name", "x", "--runs", "r", "model.norm_D=none"])
    assert args.eval_root == "r/eval" and args.common[0] == "data.root=r/data" and args.seeds == 2
    # --base-set: overrides of both sides (the base model's runs then carry them), said in the report
    args = parse_args(["--name", "x", "--base-set", "model.label_occlusion=true", "--base-set",
                       "train.mixed_precision=auto", "model.flow_deadzone=0.5"])
    assert args.common == ["model.label_occlusion=true", "train.mixed_precision=auto"]
    assert args.overrides == ["model.flow_deadzone=0.5"]
    with pytest.raises(SystemExit):
        parse_args(["--name", "x", "--base-set", "train.seed=2", "model.norm_D=none"])
    from variant import both_sides

    said = both_sides({"base": "vid2vid", "base_overrides": args.base_overrides})
    assert "`model.label_occlusion=true train.mixed_precision=auto`" in said
    assert "the base is `vid2vid`" in said
    assert both_sides({"base": "vid2vid", "base_overrides": []}) == ""
    assert both_sides({"base": "vid2vid", "common_overrides": ["data.root=r/data"]}) == ""  # smoke plumbing


@pytest.mark.slow
def test_variant_smoke_trains_both_sides_and_reports_every_metric(tmp_path):
    res = subprocess.run(
        [sys.executable, "reproduce/variant.py", "--smoke", "--name", "no-norm", "--runs",
         str(tmp_path / "runs"), "--results", str(tmp_path / "results"), "--n-boot", "500",
         "model.norm_D=none"],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    from vid2vid.models.io import load_generator

    runs = tmp_path / "runs"
    for path, norm in ((runs / "vid2vid", "instance"), (runs / "variants" / "no-norm", "none")):
        for seed in (0, 1):
            cfg, _, _ = load_generator(path / f"seed{seed}" / "generator.pt")
            assert cfg.model.norm_D == norm and cfg.train.seed == seed, (path, seed)
    report = json.loads((tmp_path / "results" / "no-norm.json").read_text())
    assert report["overrides"] == ["model.norm_D=none"] and report["base"] == "vid2vid"
    outcomes = {r["metric"]: r["outcome"] for r in report["comparison"]}
    assert set(outcomes.values()) <= {"lower", "higher", "no difference detected", "not measured"}
    assert outcomes["static_flicker"] == "not measured"  # 3 toy test videos, none with a still camera
    assert len(report["results"]["variant"]["seeds"]) == 2
    text = (tmp_path / "results" / "no-norm.md").read_text()
    assert "Variant `no-norm` against `vid2vid`" in text and "pan direction accuracy" in text
    # the picture: frames 0, 5 and the last (9) of a panning test video, base | variant | real, 32 x 64 each
    pic = report["picture"]
    assert pic["frames"] == [0, 5, 9] and pic["columns"] == ["base", "variant", "real"]
    from PIL import Image

    with Image.open(tmp_path / "results" / "no-norm.png") as im:
        assert im.size == (3 * 64 + 2 * 2, 3 * 32 + 2 * 2)
    assert "![frames](no-norm.png)" in text
    # --at-inference: the base model's own generators run with the overrides; nothing is trained
    res = subprocess.run(
        [sys.executable, "reproduce/variant.py", "--smoke", "--at-inference", "--name", "lo", "--runs",
         str(runs), "--results", str(tmp_path / "results"), "--n-boot", "200", "model.label_occlusion=true"],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert not (runs / "variants" / "lo").exists()
    report = json.loads((tmp_path / "results" / "lo.json").read_text())
    assert report["at_inference"] and report["overrides"] == ["model.label_occlusion=true"]
    base, variant = report["results"]["base"], report["results"]["variant"]
    assert sorted(variant["seeds"]) == sorted(base["seeds"]) == ["0", "1"]
    assert variant["l1"] != base["l1"]  # the same weights, run differently
    assert "nothing trained" in (tmp_path / "results" / "lo.md").read_text()
