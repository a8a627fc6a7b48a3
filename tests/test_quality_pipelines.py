"""The quality investigation and the pretraining pipeline end to end at tiny scale: models trained,
rolled out on fresh test videos, measured, tables and pictures written."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vid2vid.models.io import load_generator

REPO = Path(__file__).resolve().parents[1]
TINY = ["data.synthetic_frames=10", "data.height=32", "data.width=64", "data.num_workers=0",
        "model.ngf=8", "model.n_blocks_enc=1", "model.n_blocks_dec=1", "model.fg_ngf=4",
        "model.fg_n_blocks=1",
        "model.ndf=8", "model.n_layers_D=2", "train.n_frames_start=4", "train.n_frames_total=4",
        "train.flow_warmup=3"]


def run(*args: str) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return res


@pytest.mark.slow
def test_pretrain_trains_both_models_measures_every_snapshot_and_writes_the_readme(tmp_path):
    out = tmp_path / "pretrained"
    run("reproduce/pretrain.py", "--steps", "2", "--snapshot-every", "1", "--sequences", "2", "--runs",
        str(tmp_path / "runs"), "--out", str(out), "--eval-sequences", "1", "--eval-root",
        str(tmp_path / "eval"), "--data-root", str(tmp_path / "data"), *TINY)
    assert (out / "synthetic_vid2vid.pt").is_file() and (out / "synthetic_per_frame.pt").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"vid2vid", "per_frame"}
    assert set(metrics["vid2vid"]) == {"1", "2"}  # the snapshot of step 1 and the final generator
    final = metrics["vid2vid"]["2"]
    assert 0 <= final["mask_auc"] <= 1 and final["flow_epe"] >= 0
    assert "flow_epe" not in metrics["per_frame"]["2"]
    readme = (out / "README.md").read_text()
    assert "vid2vid / per-frame: warping error" in readme and "| per_frame | 2 |" in readme
    assert (out / "frames.png").stat().st_size > 0 and (out / "log_vid2vid.jsonl").is_file()
    assert (out / "sample.gif").stat().st_size > 0
    assert "flow head was warmed up for" in readme and (out / "warmup_vid2vid.jsonl").is_file()
    # what the models learnt from, how, and where the README's test video is
    assert "cars and clothes in random colours, every camera panning" in readme
    assert "per_frame fp32" in readme  # reproduce/configs/tables/pix2pixHD.yaml pins fp32
    assert f"--input {tmp_path / 'eval' / 'quality_eval_motion4'}/test_A/seq_0000" in readme

    # judged and committed at an earlier snapshot
    run("reproduce/pretrain.py", "--stage", "evaluate", "--final-step", "1", "--sequences", "2", "--runs",
        str(tmp_path / "runs"), "--out", str(out), "--eval-sequences", "1", "--eval-root",
        str(tmp_path / "eval"))
    assert set(json.loads((out / "metrics.json").read_text())["vid2vid"]) == {"1"}
    assert "step-1 snapshots" in (out / "README.md").read_text()
    assert [json.loads(r)["step"] for r in (out / "log_per_frame.jsonl").read_text().splitlines()] == [1]

    # one step per model: vid2vid's earlier snapshot against the per-frame model's last
    run("reproduce/pretrain.py", "--stage", "evaluate", "--final-step", "vid2vid=1", "per_frame=2",
        "--sequences", "2", "--runs", str(tmp_path / "runs"), "--out", str(out), "--eval-sequences", "1",
        "--eval-root", str(tmp_path / "eval"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["vid2vid"]) == {"1"} and set(metrics["per_frame"]) == {"1", "2"}
    assert "snapshots of steps vid2vid 1, per_frame 2" in (out / "README.md").read_text()

    # vid2vid committed as the mean of its snapshots of steps 1 and 2
    run("reproduce/pretrain.py", "--stage", "evaluate", "--average-from", "vid2vid=1", "--sequences", "2",
        "--runs", str(tmp_path / "runs"), "--out", str(out), "--eval-sequences", "1",
        "--eval-root", str(tmp_path / "eval"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["vid2vid"]) == {"1", "2", "1-2"} and set(metrics["per_frame"]) == {"1", "2"}
    assert metrics["vid2vid"]["1-2"] != metrics["vid2vid"]["2"]
    readme = (out / "README.md").read_text()
    assert "| vid2vid | 1-2 (committed) |" in readme and "mean of its snapshots from step 1 to 2" in readme
    _, G, _ = load_generator(out / "synthetic_vid2vid.pt")
    _, G2, _ = load_generator(tmp_path / "runs" / "vid2vid" / "snapshots" / "step_00000002.pt")
    assert any(not torch.equal(a, b) for a, b in zip(G.state_dict().values(), G2.state_dict().values(),
                                                       strict=True))

    # then its flow branch refined on 3 other training videos: a row of its own, committed
    run("reproduce/pretrain.py", "--stage", "evaluate", "--average-from", "vid2vid=1", "--refine-flow", "2",
        "--refine-sequences", "3", "--refine-data-root", str(tmp_path / "data3"), "--sequences", "2",
        "--runs", str(tmp_path / "runs"), "--out", str(out), "--eval-sequences", "1",
        "--eval-root", str(tmp_path / "eval"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["vid2vid"]) == {"1", "2", "1-2", "1-2 + flow 2 on 3"}
    readme = (out / "README.md").read_text()
    assert "| vid2vid | 1-2 + flow 2 on 3 (committed) |" in readme
    assert "branch was then trained on alone for 2 more updates on 3 training videos" in readme
    assert "mean of its snapshots from step 1 to 2 (row 1-2;" in readme
    assert len((out / "flow_refine_vid2vid.jsonl").read_text().splitlines()) == 1  # log_every 10: the last
    _, G3, _ = load_generator(out / "synthetic_vid2vid.pt")
    changed = {k for (k, a), b in zip(G.state_dict().items(), G3.state_dict().values(), strict=True)
               if not torch.equal(a, b)}
    assert changed and all("flow" in k or "mask_head" in k for k in changed)
    assert len(list((tmp_path / "data3" / "train_A").iterdir())) == 3


def test_precision_study_trains_both_precisions_per_seed_and_compares_them(tmp_path):
    out = tmp_path / "res"
    run("reproduce/precision_study.py", "--steps", "2", "--runs", str(tmp_path / "runs"), "--results",
        str(out),
        "--eval-sequences", "1", "--eval-root", str(tmp_path / "eval"), f"data.root={tmp_path / 'data'}",
        "data.synthetic_sequences=2", *TINY)
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"fp32_seed0", "bf16_seed0", "fp32_seed1", "bf16_seed1"}
    assert all(r["seconds_per_step"] > 0 and 0 <= r["mask_auc"] <= 1 for r in results.values())
    for name in results:  # each run trained at its own precision (its banner says which)
        log = (tmp_path / "runs" / name / "train.log").read_text()
        assert ("precision mixed bf16" if name.startswith("bf16") else "precision fp32") in log, name
    readme = (out / "README.md").read_text()
    assert "| flow_epe |" in readme and "bf16 mean" in readme and (out / "loss_curves.png").stat().st_size > 0


@pytest.mark.slow
def test_quality_investigation_trains_variants_and_tables_them(tmp_path):
    results = tmp_path / "results"
    run("reproduce/quality.py", "--variants", "reference", "per-frame", "--steps", "2", "--runs",
        str(tmp_path / "runs"), "--results", str(results), "--eval-sequences", "1", "--eval-root",
        str(tmp_path / "eval"), "--data-root", str(tmp_path / "data"), "data.synthetic_sequences=2", *TINY)
    table = (results / "table.md").read_text()
    assert "| reference | 2 |" in table and "| per-frame | 2 |" in table
    reference = json.loads((results / "reference.json").read_text())
    assert reference["real_checkerboard"] > 0 and "mask_auc" in reference
    assert (results / "per-frame.png").stat().st_size > 0


def test_dv_norm_study_writes_every_run_with_the_batch_norm_split_and_mixed_scores(tmp_path):
    run("reproduce/dv_norm.py", "--steps", "4", "--eval-every", "2", "--seeds", "0", "--norms", "none",
        "batch", "--out", str(tmp_path))
    results = json.loads((tmp_path / "results.json").read_text())
    text = json.dumps(results)
    assert '"none"' in text and '"batch"' in text and "mixed" in text
    assert "| none | 0 |" in (tmp_path / "README.md").read_text()


def test_oracle_with_true_flow_and_occlusion_warps_every_visible_pixel_exactly(tmp_path):
    """``quality.py --oracle``: replacing both heads by the ground truth leaves no warping error on
    visible pixels (the metric warps along the same flow); "as trained" is the plain rollout."""
    import torch

    sys.path.insert(0, str(REPO / "reproduce"))
    import quality

    from vid2vid.config import get_preset
    from vid2vid.data.synthetic import SyntheticConfig, write_dataset
    from vid2vid.models import build_generator
    from vid2vid.quality import evaluate_generator, load_test_videos

    overrides = [o for o in TINY if not o.startswith("train.")] + ["data.synthetic_frames=6"]
    cfg = get_preset("synthetic").override(overrides)
    write_dataset(tmp_path, n_train=0, n_test=1, frames=6, height=32, width=64, seed=1,
                  config=SyntheticConfig().with_motion(4.0), progress=False)
    videos = load_test_videos(cfg, tmp_path)
    torch.manual_seed(0)
    G = build_generator(cfg).eval()
    plain = evaluate_generator(G, cfg, videos, dis=False)
    for name, expect_zero in (("as trained", False), ("true flow and occlusion", True)):
        wrapper = quality.oracle_generator(G, videos, name)
        report = evaluate_generator(wrapper, cfg, videos, dis=False)
        if expect_zero:
            assert report["warping_error"] < 1e-5 < plain["warping_error"]
            assert report["flow_epe"] == 0 and report["mask_visible"] == 0
        else:
            assert report["warping_error"] == pytest.approx(plain["warping_error"])


def _tiny_generator_and_test_videos(tmp_path: Path, flow_x: float = 0.0) -> tuple[Path, Path]:
    """A tiny untrained ``synthetic``-preset generator (its flow head predicting ``flow_x`` pixels along
    x everywhere) saved to ``tmp_path / "g.pt"``, and 2 test videos of 6 frames at 4x motion where
    ``quality.py`` looks for them; returns both paths."""
    import torch

    from vid2vid.config import get_preset
    from vid2vid.data.synthetic import SyntheticConfig, write_dataset
    from vid2vid.models import build_generator
    from vid2vid.models.io import export_generator

    # the warp unchecked (the preset checks it), so that a test can turn the check on
    overrides = [o for o in TINY if not o.startswith("train.")] + ["data.synthetic_frames=6",
                                                                   "model.label_occlusion=false"]
    cfg = get_preset("synthetic").override(overrides)
    root = tmp_path / "eval"
    write_dataset(root / "quality_eval_motion4", n_train=0, n_test=2, frames=6, height=32, width=64, seed=1,
                  config=SyntheticConfig().with_motion(4.0), progress=False)
    torch.manual_seed(0)
    G = build_generator(cfg)
    if flow_x:
        with torch.no_grad():
            G.scales[0].flow_head.conv.bias.copy_(torch.tensor([flow_x, 0.0]) / G.flow_scale)
    return export_generator(tmp_path / "g.pt", cfg, G, 1), root


def test_where_splits_the_warping_error_over_pixels_that_cover_the_frame(tmp_path):
    """``quality.py --where``: the parts (background / foreground, the flow-error bins) cover every
    visible pixel once, their errors average back to the whole, and the true pan is the data's."""
    sys.path.insert(0, str(REPO / "reproduce"))
    import quality

    path, root = _tiny_generator_and_test_videos(tmp_path)
    table, r = quality.where_table(path, 2, root)
    m, share = r["means"], r["shares"]
    assert share["background share"] + share["foreground share"] == pytest.approx(1)
    bins = [k[: -len(" share")] for k in share if k.startswith("epe ")]
    assert sum(share[b + " share"] for b in bins) == pytest.approx(1)
    whole = sum(share[b + " share"] * m[b + " error"] for b in bins if share[b + " share"] > 0)
    assert whole == pytest.approx(m["all error"], rel=1e-5)
    assert len(r["pans"]) == 2 and all(abs(true) > 1 for true, _, _ in r["pans"])  # 4 px/frame motion
    assert "| background |" in table and "| video | true pan" in table


def test_streaks_compare_each_frame_with_the_real_one_and_follow_the_warp_mode(tmp_path):
    """``quality.py --streaks``: per frame, the streak ratio of the rollout; the first frame has no
    previous frame to warp, so the warp mode changes only the later ones."""
    sys.path.insert(0, str(REPO / "reproduce"))
    import quality

    # a flow of half a pixel along x: the two resamplings differ
    path, root = _tiny_generator_and_test_videos(tmp_path, flow_x=0.5)
    table, bilinear = quality.streak_table(path, 2, root)
    _, bicubic = quality.streak_table(path, 2, root, warp_mode="bicubic")
    assert sorted(bilinear["streak"]) == [0, 1, 2, 5] and bicubic["warp_mode"] == "bicubic"
    assert bilinear["streak"][0] == pytest.approx(bicubic["streak"][0])
    assert bilinear["streak"][5] != pytest.approx(bicubic["streak"][5])
    assert all(r > 0 for r in bilinear["real_ratio"].values()) and "| 5 |" in table
    # by camera: these videos all pan; the real first frame is the real frame 0 whatever the flow
    assert bilinear["videos"] == {"panning": 2, "still": 0}
    assert bilinear["by_camera"]["panning"]["true flow"][0] == pytest.approx(1.0)
    assert bilinear["by_camera"]["panning"]["its flow"][0] == pytest.approx(1.0)
    assert all(r != r for r in bilinear["by_camera"]["still"]["generated"].values())  # none: NaN
    assert "| generated, panning | its flow, panning |" in table
    # a dead zone longer than the flow: nothing is warped, and "its flow" is the flow G warps with
    table, still = quality.streak_table(path, 2, root, overrides=["model.flow_deadzone=1.0"])
    assert "model.flow_deadzone=1.0" in table and still["streak"][0] == pytest.approx(bilinear["streak"][0])
    assert still["streak"][5] != pytest.approx(bilinear["streak"][5])
    assert all(x != x for x in still["still_flow"].values())  # no still-camera video: nothing to say
    assert all(r > 0 for r in still["checkerboard"]["panning"].values())
    assert still["checkerboard"]["panning"][0] == pytest.approx(bilinear["checkerboard"]["panning"][0])
    assert all(r != r for r in still["checkerboard"]["still"].values())
    assert "| frame | panning | still |" in table
    carried = [r["by_camera"]["panning"]["its flow"][5] for r in (still, bilinear)]
    assert carried[0] != pytest.approx(carried[1])


def test_carrying_the_real_first_frame_keeps_it_where_nothing_moves_and_takes_the_real_where_occluded():
    from vid2vid.quality import camera_moves, carry_real_first_frame

    torch.manual_seed(0)
    real = torch.rand(4, 3, 8, 8) * 2 - 1
    still = {"image": real, "occlusion": torch.zeros(4, 1, 8, 8, dtype=torch.bool),
             "flow": torch.zeros(4, 2, 8, 8)}
    carried = carry_real_first_frame(still, still["flow"])
    assert torch.allclose(carried, real[0:1].expand(4, -1, -1, -1), atol=1e-5) and not camera_moves(still)
    covered = {**still, "occlusion": torch.ones(4, 1, 8, 8, dtype=torch.bool)}
    assert torch.allclose(carry_real_first_frame(covered, torch.full((4, 2, 8, 8), 3.0)), real)
    assert camera_moves({"flow": torch.full((4, 2, 8, 8), 1.0)})


def test_evaluate_runs_the_same_weights_with_a_setting_changed(tmp_path):
    """``quality.py --evaluate G --set model.label_occlusion=true``: the report says how it ran, and
    with a flow that moves 4 px the label check changes the frames (the uncovered road and the
    entering border are hallucinated)."""
    sys.path.insert(0, str(REPO / "reproduce"))
    import quality

    path, root = _tiny_generator_and_test_videos(tmp_path, flow_x=4.0)
    plain = quality.evaluate(path, 2, root=root)
    checked = quality.evaluate(path, 2, root=root, overrides=["model.label_occlusion=true"])
    assert plain["run_with"] == [] and checked["run_with"] == ["model.label_occlusion=true"]
    assert checked["l1"] != pytest.approx(plain["l1"])


@pytest.mark.slow
def test_real_clip_prepares_trains_both_models_and_measures_them(tmp_path):
    """``reproduce/real_clip.py`` end to end at tiny scale on a clip the test writes (a textured
    backdrop panning under a moving block): dataset, two runs, metrics, table and picture."""
    import cv2
    import numpy as np

    from vid2vid.video import VideoWriter

    rng = np.random.default_rng(0)
    backdrop = cv2.GaussianBlur((rng.random((48, 200, 3)) * 255).astype(np.uint8), (0, 0), 2)
    backdrop = cv2.normalize(backdrop, None, 0, 255, cv2.NORM_MINMAX)
    clip = tmp_path / "clip.mp4"
    with VideoWriter(clip, fps=10) as writer:
        for t in range(24):
            frame = backdrop[:, 2 * t:2 * t + 64].copy()
            frame[10:20, 5 + 2 * t:15 + 2 * t] = 255
            writer.write(frame)
    res = run("reproduce/real_clip.py", "--video", str(clip), "--root", str(tmp_path / "data"),
              "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "res"), "--steps", "2",
              "--height", "32", "--width", "64", "--frames", "24", "--seq-len", "6",
              *[o for o in TINY if not o.startswith("data.synthetic")])
    metrics = json.loads((tmp_path / "res" / "metrics.json").read_text())
    for name in ("vid2vid", "per_frame"):
        m = metrics[name]
        assert m["step"] == 2 and m["sequences"] == 1
        for key in ("l1", "checkerboard", "warping_error", "change_unwarped", "change_warped"):
            assert np.isfinite(m[key]) and m[key] >= 0, (name, key)
        # the real video is the backdrop warped along its own flow: warping explains most of its change
        assert m["real_change_warped"] < 0.6 * m["real_change_unwarped"]
    assert "| warping error" in (tmp_path / "res" / "README.md").read_text()
    assert (tmp_path / "res" / "frames.png").is_file()
    assert "vid2vid / per-frame" in res.stdout


def test_quality_test_videos_follow_the_models_data_settings(tmp_path):
    """A model trained on the benchmark's data (foreground palette, still cameras) is measured on
    test videos made the same way, in a folder of their own: never on videos of other settings."""
    sys.path.insert(0, str(REPO / "reproduce"))
    from quality import ensure_eval_data

    from vid2vid.config import get_preset

    base = get_preset("tiny").override(["data.synthetic_frames=3", "data.synthetic_motion=4"])
    bench = base.override(["data.synthetic_foreground_palette=true", "data.synthetic_still_camera=0.5"])
    plain_root, bench_root = ensure_eval_data(base, 2, tmp_path), ensure_eval_data(bench, 2, tmp_path)
    assert plain_root.name == "quality_eval_motion4"
    assert bench_root.name == "quality_eval_motion4_palette_still0.5"
    recorded = json.loads((bench_root / "synthetic.json").read_text())["config"]
    assert recorded["foreground_palette"] is True and recorded["still_camera"] == 0.5
    plain = json.loads((plain_root / "synthetic.json").read_text())["config"]
    assert plain.get("foreground_palette") in (None, False)


def test_the_pictures_show_the_first_video_whose_camera_pans():
    """``first_panning`` (pretrain.py's and variant.py's pictures): the camera's pan is the median
    horizontal flow, so a car moving over a still background does not count."""
    from vid2vid.quality import camera_pan, first_panning

    still, pan = torch.zeros(5, 2, 8, 8), torch.zeros(5, 2, 8, 8)
    still[1:, :, :2] = 4.0  # a car moving over a still background: the median pixel stays put
    pan[1:, 0] = 4.0  # frame 0 has no previous frame, so its flow is empty
    assert first_panning([{"flow": still}, {"flow": still}, {"flow": pan}]) == 2
    assert first_panning([{"flow": still}]) == 0  # none pans: the first
    assert camera_pan({"flow": -pan}) == -4.0  # the sign is the direction
