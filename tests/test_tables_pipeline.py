"""The Tables 1-2 pipeline end to end at tiny scale: six models trained (five) or derived (COVST),
evaluated on the same test videos with the same metrics, tables written."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
TRAINED = ["vid2vid", "pix2pixHD", "no-fg-prior", "no-video-D", "no-flow"]
MODELS = ["pix2pixHD", "COVST", "vid2vid", "no-fg-prior", "no-video-D", "no-flow"]
# (model.n_prev > 0, use_flow, use_fg_prior, use_video_discriminator) each trained model must have
ARCHITECTURE = {"vid2vid": (True, True, True, True), "pix2pixHD": (False, False, False, False),
                "no-fg-prior": (True, True, False, True), "no-video-D": (True, True, True, False),
                "no-flow": (True, False, True, True)}
METRICS = ["video_fid", "frame_fid", "warping_error", "l1", "psnr", "fg_error"]  # the tables' column order


def _table_rows(tables: str) -> dict[str, list[list[str]]]:
    """The metric cells of every data row of tables.md, by row label (vid2vid has a row in each table)."""
    rows: dict[str, list[list[str]]] = {}
    for line in tables.splitlines():
        if line.startswith("| ") and not line.startswith("| method"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows.setdefault(cells[0], []).append(cells[1:1 + len(METRICS)])
    return rows


def _recompute(runs: Path, eval_root: Path, overrides: list[str]) -> dict[str, dict[str, float]]:
    """Each model's per-frame metrics computed here from its own generator.pt (COVST: pix2pixHD's,
    stabilised), on the evaluation split's ground truth."""
    from vid2vid.baselines import stabilize
    from vid2vid.config import Config
    from vid2vid.inference import generate_frames, read_input_frames
    from vid2vid.metrics.temporal import foreground_error, l1_error, psnr, warping_error
    from vid2vid.models.io import load_generator

    sys.path.insert(0, str(REPO / "reproduce"))
    from evaluate import load_test_videos

    cfg = Config.from_yaml(REPO / "reproduce" / "configs" / "tables" / "vid2vid.yaml").override(overrides)
    videos = load_test_videos(cfg, eval_root)
    out = {}
    for name in MODELS:
        cfg, G, _ = load_generator(runs / ("pix2pixHD" if name == "COVST" else name) / "generator.pt")
        fakes = []
        for v in videos:
            frames = (x for _, x in generate_frames(G, cfg, read_input_frames(cfg, v["labels_dir"])))
            fakes.append(torch.stack(list(stabilize(frames) if name == "COVST" else frames)))
        pairs = list(zip(fakes, videos, strict=True))
        out[name] = {"l1": sum(l1_error(f, v["real"]) for f, v in pairs) / len(pairs),
                     "psnr": sum(psnr(f, v["real"]) for f, v in pairs) / len(pairs),
                     "fg_error": sum(foreground_error(f, v["real"], v["fg"]) for f, v in pairs) / len(pairs),
                     "warping_error": sum(warping_error(f, v["flow"][1:], v["occlusion"][1:])
                                          for f, v in pairs) / len(pairs)}
    return out


@pytest.mark.slow
def test_tables_pipeline_trains_evaluates_and_writes_both_tables(tmp_path):
    runs, results_dir, eval_root = tmp_path / "runs", tmp_path / "results", tmp_path / "eval"
    tiny = ["data.root=" + str(tmp_path / "data"), "data.synthetic_sequences=2", "data.synthetic_frames=10",
            "data.height=32", "data.width=64", "data.num_workers=0", "model.ngf=8", "model.n_blocks_enc=1",
            "model.n_blocks_dec=1", "model.fg_ngf=4", "model.fg_n_blocks=1", "model.ndf=8",
            "model.n_layers_D=2", "train.niter=1", "train.niter_decay=0", "train.n_frames_start=4",
            "train.n_frames_total=4", "train.flow_warmup=3"]
    res = subprocess.run(
        [sys.executable, "reproduce/tables.py", "--runs", str(runs), "--results", str(results_dir),
         "--eval-root", str(eval_root), "--eval-sequences", "2", "--feature-net", "none", "--jobs", "2",
         *tiny],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    results = json.loads((results_dir / "results.json").read_text())
    settings = json.loads((results_dir / "settings.json").read_text())
    assert set(results) == {"real video", *MODELS}

    # every model trained with its own recipe (and the shared overrides): the architecture it was
    # saved with, and the losses its training logged (the per-frame model has no flow, warp, temporal
    # or mask terms and no video discriminator; no-video-D no D_V; no-flow no flow terms)
    from vid2vid.models.io import load_generator

    for name, (prev, flow, fg, video_d) in ARCHITECTURE.items():
        cfg, G, step = load_generator(runs / name / "generator.pt")
        m = cfg.model
        saved = (m.n_prev > 0, m.use_flow, m.use_fg_prior, m.use_video_discriminator)
        assert saved == (prev, flow, fg, video_d), name
        assert (G.n_prev > 0, G.use_flow, G.use_fg_prior) == (prev, flow, fg), name
        assert m.ngf == 8 and step > 0, name  # the shared overrides reach every model
        lines = (runs / name / "log.jsonl").read_text().splitlines()
        logged = set().union(*(json.loads(line) for line in lines))
        assert ("G_flow" in logged) == flow and ("G_warp" in logged) == flow, (name, logged)
        assert ("G_temporal" in logged) == prev, (name, logged)
        assert any(k.startswith(("D_V", "G_GAN_V")) for k in logged) == video_d, (name, logged)

    # the same test videos for every row, and every value in its range
    n_clips = results["real video"]["n_clips"]
    assert n_clips == 2 * 2  # 2 videos of 10 frames: clips of 8 frames at every second start
    for name, r in results.items():
        assert r["n_clips"] == n_clips, name
        assert all(math.isfinite(r[k]) and r[k] >= -1e-6 for k in ("video_fid", "frame_fid")), (name, r)
        assert all(0 <= r[k] <= 2 for k in ("warping_error", "l1", "fg_error")), (name, r)
        if name != "real video":
            assert r["l1"] > 0 and 0 < r["psnr"] < math.inf, (name, r)
    # the real video matches itself exactly: FID ~ 0, no error to itself
    real = results["real video"]
    assert abs(real["video_fid"]) < 1e-6 and real["l1"] == real["fg_error"] == 0 and real["psnr"] == math.inf
    assert 0 < real["warping_error"] < 0.05  # illumination drift and resampling only

    # each row is its own model's: recomputed here from that model's generator (COVST from
    # pix2pixHD's, stabilised: the same model, other frames)
    mine = _recompute(runs, eval_root, tiny)
    for name in MODELS:
        for k, v in mine[name].items():
            assert results[name][k] == pytest.approx(v, rel=1e-4, abs=1e-6), (name, k)
    assert len({round(results[n]["l1"], 6) for n in MODELS}) == len(MODELS)  # so the check above can tell
    assert results["COVST"]["l1"] != results["pix2pixHD"]["l1"]

    # both tables: every model's row with its numbers, the paper's beside them, and the command
    tables = (results_dir / "tables.md").read_text()
    assert "Table 1" in tables and "Table 2" in tables and "4.66 / 0.15" in tables and "not run" in tables
    assert f"Command: `{settings['command']}`" in tables
    command = settings["command"].split()
    assert command[:2] == ["python", "reproduce/tables.py"] and f"--runs {runs}" in settings["command"]
    assert all(o in command for o in tiny)
    rows = _table_rows(tables)
    labels = {"pix2pixHD": "pix2pixHD", "COVST": "COVST", "vid2vid": "vid2vid"}
    for name, words in (("no-fg-prior", "background-foreground prior"), ("no-video-D", "video discriminator"),
                        ("no-flow", "flow warping")):
        found = [label for label in rows if label.startswith("vid2vid w/o") and words in label]
        assert len(found) == 1, (name, list(rows))
        labels[name] = found[0]
    assert len(rows) == len(MODELS) and len(rows["vid2vid"]) == 2 and sorted(labels.values()) == sorted(rows)
    for name, label in labels.items():
        for cells in rows[label]:
            shown = [float(c) for c in cells]  # 4 significant digits
            assert shown == pytest.approx([results[name][k] for k in METRICS], rel=1e-3), (name, cells)

    assert settings["test_videos"] == 2 and settings["frames"] == 10 and settings["frame_size"] == "32x64"
    assert settings["models"] == {n: str(runs / n / "generator.pt") for n in TRAINED}
    # the clips of a preference study: a study folder `python -m vid2vid study serve` reads, with every
    # model's video of each test sequence, short and long, vid2vid against each other model
    from vid2vid.study import read_manifest

    manifest = read_manifest(results_dir / "ab_clips")
    assert manifest.reference == "vid2vid" and sorted(manifest.methods) == sorted(MODELS)
    assert {(p.a.method, p.b.method) for p in manifest.pairs() if not p.check} == \
        {("vid2vid", m) for m in MODELS if m != "vid2vid"}
    assert {c.setting for c in manifest.clips} == {"short", "long"}
    assert sum(c.check for c in manifest.clips) == 2
    assert len({c.sequence for c in manifest.clips}) == 2  # the two evaluation sequences
    assert all(manifest.path(c).stat().st_size > 0 for c in manifest.clips)
