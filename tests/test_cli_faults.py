"""Bad configurations and bad command-line input end in one clear error; failed videos replace nothing."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from vid2vid.__main__ import main
from vid2vid.config import PRESETS, Config, ConfigError, get_preset
from vid2vid.data.layout import DataError
from vid2vid.video import VideoWriter, write_video

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "reproduce" / "configs").rglob("*.yaml"))


def _labels(folder: Path, n: int = 6) -> Path:
    """``n`` road / car label maps of the tiny preset's size."""
    folder.mkdir(parents=True)
    for i in range(n):
        ids = np.full((32, 64), 7, np.uint8)
        ids[8:24, 4 * i: 4 * i + 16] = 26
        Image.fromarray(ids).save(folder / f"{i:04d}.png")
    return folder


def _checkpoint(path: Path) -> tuple[Config, object]:
    from vid2vid.models import build_generator
    from vid2vid.models.io import export_generator

    cfg = get_preset("tiny").override(["data.use_instance=false"])
    G = build_generator(cfg)
    export_generator(path, cfg, G, step=0)
    return cfg, G


def _cli(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "vid2vid", *argv], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


# ---------------------------------------------------------------------------- configuration


def test_yaml_with_a_misspelled_preset_names_the_file_the_name_and_the_presets(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"preset": "cityscape-1024", "train": {"lr": 1e-5}}))
    with pytest.raises(ConfigError, match=r"run\.yaml: unknown preset 'cityscape-1024'.*'tiny'.*"
                                          r"did you mean 'cityscapes-1024'") as err:
        Config.from_yaml(path)
    assert all(name in str(err.value) for name in PRESETS)
    path.write_text("preset: [tiny]\n")
    with pytest.raises(ConfigError, match=r"run\.yaml: unknown preset \['tiny'\]"):
        Config.from_yaml(path)
    with pytest.raises(ConfigError, match=r"preset: unknown preset 'tinny'.*did you mean 'tiny'"):
        get_preset("tiny").override(["preset=tinny"])


@pytest.mark.parametrize("item, pattern", [
    ("train.niter=-1", r"train\.niter must be >= 0, got -1"),
    ("train.niter_decay=-3", r"train\.niter_decay must be >= 0, got -3"),
    ("train.checkpoint_every=-10", r"train\.checkpoint_every must be >= 1, got -10"),
    ("train.checkpoint_every=0", r"train\.checkpoint_every must be >= 1, got 0"),
    ("train.log_every=0", r"train\.log_every must be >= 1, got 0"),
    ("train.lr=0", r"train\.lr must be a finite number > 0, got 0\.0"),
    ("train.lr=-2e-4", r"train\.lr must be a finite number > 0, got -0\.0002"),
    ("train.lr=.nan", r"train\.lr must be a finite number > 0, got nan"),
    ("train.lr=.inf", r"train\.lr must be a finite number > 0, got inf"),
    ("train.beta1=1", r"train\.beta1 must lie in \[0, 1\), got 1\.0"),
    ("train.beta2=-0.5", r"train\.beta2 must lie in \[0, 1\), got -0\.5"),
    ("train.niter_step=-1", r"train\.niter_step must be >= 0, got -1"),
    ("train.niter_fix_global=-1", r"train\.niter_fix_global must be >= 0, got -1"),
    ("train.snapshot_every=-1", r"train\.snapshot_every must be >= 0, got -1"),
    ("train.sample_every=-1", r"train\.sample_every must be >= 0, got -1"),
    ("train.seed=-1", r"train\.seed must lie in \[0, 2\^32 - 1\], got -1"),
    ("data.num_workers=-1", r"data\.num_workers must be >= 0, got -1"),
    ("data.synthetic_sequences=-2", r"data\.synthetic_sequences must be >= 0, got -2"),
    ("data.synthetic_frames=0", r"data\.synthetic_frames must be >= 1, got 0"),
    ("data.synthetic_motion=-1", r"data\.synthetic_motion must be a finite number >= 0, got -1\.0"),
    ("data.synthetic_still_camera=1.5", r"data\.synthetic_still_camera must lie in \[0, 1\], got 1\.5"),
    ("model.flow_scale=0", r"model\.flow_scale must be a finite number > 0, got 0\.0"),
    ("loss.lambda_vgg=-1", r"loss\.lambda_vgg must be a finite number >= 0, got -1\.0"),
    ("loss.lambda_flow=.nan", r"loss\.lambda_flow must be a finite number >= 0, got nan"),
    ("loss.lambda_mask=-0.1", r"loss\.lambda_mask must be a finite number >= 0, got -0\.1"),
])
def test_out_of_range_values_name_the_key_the_rule_and_the_value(item, pattern):
    with pytest.raises(ConfigError, match=pattern):
        get_preset("tiny").override([item])


def test_a_run_needs_at_least_one_epoch():
    with pytest.raises(ConfigError, match=r"niter \+ train\.niter_decay must be >= 1 epoch, got 0 \+ 0"):
        get_preset("tiny").override(["train.niter=0", "train.niter_decay=0"])
    cfg = get_preset("tiny").override(["train.niter=0", "train.niter_decay=1", "loss.lambda_flow=0"])
    assert (cfg.train.niter, cfg.train.niter_decay, cfg.loss.lambda_flow) == (0, 1, 0.0)


def test_a_detached_mask_needs_the_occlusion_target():
    """The synthetic preset detaches the mask (only its loss trains it); with the reference's
    confidence target that loss only pushes it to 0, so the combination is refused, naming the fix."""
    with pytest.raises(ConfigError, match=r"model\.mask_detach=true needs loss\.mask_target=occlusion.*"
                                          r"set model\.mask_detach=false"):
        get_preset("synthetic").override(["loss.mask_target=confidence"])
    cfg = get_preset("synthetic").override(["loss.mask_target=confidence", "model.mask_detach=false"])
    assert (cfg.loss.mask_target, cfg.model.mask_detach) == ("confidence", False)


def test_a_bad_value_in_a_yaml_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"preset": "tiny", "train": {"niter": -1}}))
    with pytest.raises(ConfigError, match=r"bad\.yaml: train\.niter must be >= 0, got -1"):
        Config.from_yaml(path)
    path.write_text("train: {lr: [\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        Config.from_yaml(path)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT / "reproduce" / "configs")))
def test_every_shipped_config_still_loads(path):
    assert Config.from_yaml(path).preset == yaml.safe_load(path.read_text())["preset"]


def test_the_shipped_configs_were_found():
    assert len(CONFIGS) >= len(PRESETS)


# ---------------------------------------------------------------------------- command line


def test_generate_with_a_missing_checkpoint_prints_one_error_line(tmp_path):
    labels = _labels(tmp_path / "labels", n=1)
    res = _cli("generate", "--checkpoint", str(tmp_path / "missing.pt"), "--input", str(labels),
               "--out", str(tmp_path / "out.mp4"))
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing.pt'}: checkpoint file not found"]
    assert not (tmp_path / "out.mp4").exists()


def test_generate_with_a_bad_input_folder_prints_one_error_line(tmp_path):
    _checkpoint(tmp_path / "generator.pt")
    res = _cli("generate", "--checkpoint", str(tmp_path / "generator.pt"), "--input", str(tmp_path / "nope"),
               "--out", str(tmp_path / "out.mp4"))
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope'}: --input folder not found"]
    (tmp_path / "empty").mkdir()
    res = _cli("generate", "--checkpoint", str(tmp_path / "generator.pt"), "--input", str(tmp_path / "empty"),
               "--out", str(tmp_path / "out.mp4"))
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [f"error: {tmp_path / 'empty'}: no label frames found "
                                               f"(expected .png files)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "generator.pt"]


def test_generate_with_a_file_that_is_not_a_checkpoint_prints_one_error_line(tmp_path, capsys):
    labels = _labels(tmp_path / "labels", n=1)
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    rc = main(["generate", "--checkpoint", str(tmp_path / "notes.pt"), "--input", str(labels),
               "--out", str(tmp_path / "out.mp4")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"error: {tmp_path / 'notes.pt'}: not a loadable checkpoint")
    assert err.count("\n") == 1


def test_config_and_data_errors_exit_with_status_2_and_one_line(tmp_path, capsys):
    assert main(["summary", "--preset", "tiny", "train.niter=-1"]) == 2
    assert capsys.readouterr().err == "error: override: train.niter must be >= 0, got -1\n"
    assert main(["preview", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "p.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nowhere" in err and "folders not found" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("command", ["generate", "preview"])
@pytest.mark.parametrize("flag, value, message", [
    ("--fps", "0", "expected frames per second > 0, got '0'"),
    ("--fps", "-5", "expected frames per second > 0, got '-5'"),
    ("--fps", "nan", "expected frames per second > 0, got 'nan'"),
    ("--fps", "fast", "expected frames per second > 0, got 'fast'"),
    ("--max-frames", "-1", "expected an integer >= 1, got '-1'"),
    ("--max-frames", "0", "expected an integer >= 1, got '0'"),
    ("--max-frames", "2.5", "expected an integer >= 1, got '2.5'"),
])
def test_bad_fps_and_frame_counts_are_refused_by_the_parser(command, flag, value, message, tmp_path, capsys):
    argv = {"generate": ["--checkpoint", "g.pt", "--input", "labels", "--out", str(tmp_path / "o.mp4")],
            "preview": ["--data", "data", "--out", str(tmp_path / "o.mp4")]}[command]
    with pytest.raises(SystemExit) as exit_:
        main([command, *argv, flag, value])
    assert exit_.value.code == 2
    assert f"argument {flag}: {message}" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_the_library_refuses_a_zero_frame_rate_and_frame_count(tmp_path):
    from vid2vid.inference import generate_video

    with pytest.raises(ValueError, match=r"fps must be a finite number > 0, got 0"):
        VideoWriter(tmp_path / "x.mp4", fps=0)
    cfg = get_preset("tiny").override(["data.use_instance=false"])
    with pytest.raises(ValueError, match=r"max_frames must be >= 1"):
        generate_video(None, cfg, tmp_path, tmp_path / "x.mp4", max_frames=-1)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------- atomic videos


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_a_video_appears_only_when_complete(tmp_path, suffix):
    out = tmp_path / f"clip{suffix}"
    frames = [np.full((16, 16, 3), 40 * i, np.uint8) for i in range(4)]
    with VideoWriter(out, fps=5) as video:
        for frame in frames:
            video.write(frame)
        assert not out.exists()
    assert out.is_file() and [p.name for p in tmp_path.iterdir()] == [out.name]
    before = out.read_bytes()
    with pytest.raises(RuntimeError, match="stopped"):
        with VideoWriter(out, fps=5) as video:
            for i in range(48):  # enough for the H.264 encoder to write packets
                video.write(np.full((16, 16, 3), 5 * i, np.uint8))
            if suffix == ".mp4":  # written as it goes, under a hidden name with the same suffix
                assert sorted(p.name for p in tmp_path.iterdir()) == [".clip.partial.mp4", out.name]
            raise RuntimeError("stopped")
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
    write_video(out, frames[:2], fps=5)
    assert out.read_bytes() != before and [p.name for p in tmp_path.iterdir()] == [out.name]


def test_generation_that_fails_halfway_leaves_the_earlier_video(tmp_path, request):
    import vid2vid.inference as inference

    labels = _labels(tmp_path / "labels", n=6)
    cfg, G = _checkpoint(tmp_path / "generator.pt")
    out_dir = tmp_path / "videos"
    out = out_dir / "sample.mp4"
    path, n = inference.generate_video(G, cfg, labels, out)
    assert (path, n) == (out, 6)
    before = out.read_bytes()

    request.getfixturevalue("generate_fails_at_frame_3")  # the next write fails at frame 3
    with pytest.raises(DataError, match="frame 3"):
        inference.generate_video(G, cfg, labels, out, side=True)
    assert out.read_bytes() == before
    assert [p.name for p in out_dir.iterdir()] == ["sample.mp4"]


def test_generate_runs_with_a_setting_that_keeps_the_weights_and_refuses_one_that_does_not(tmp_path, capsys):
    """``generate --set``: the label-checked warp changes the frames of the same weights (the car
    moves 4 px per frame: the road it uncovers is hallucinated); a setting that changes the
    weights' shapes, or a bad key, is one error line naming the file or the key."""
    labels = _labels(tmp_path / "labels", n=4)
    _checkpoint(tmp_path / "generator.pt")
    frames = {}
    for name, extra in (("plain", []), ("checked", ["--set", "model.label_occlusion=true"])):
        rc = main(["generate", "--checkpoint", str(tmp_path / "generator.pt"), "--input", str(labels),
                   "--out", str(tmp_path / name), *extra])
        assert rc == 0
        frames[name] = [np.asarray(Image.open(p)) for p in sorted((tmp_path / name).glob("*.png"))]
    out = capsys.readouterr().out
    assert "run with model.label_occlusion=true" in out
    assert len(frames["plain"]) == len(frames["checked"]) == 4
    assert np.array_equal(frames["plain"][0], frames["checked"][0])  # the first frame has nothing to warp
    later = zip(frames["plain"][1:], frames["checked"][1:], strict=True)
    assert any(not np.array_equal(a, b) for a, b in later)
    rc = main(["generate", "--checkpoint", str(tmp_path / "generator.pt"), "--input", str(labels),
               "--out", str(tmp_path / "wide"), "--set", "model.ngf=64"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"error: {tmp_path / 'generator.pt'}: ") and "do not fit" in err
    rc = main(["generate", "--checkpoint", str(tmp_path / "generator.pt"), "--input", str(labels),
               "--out", str(tmp_path / "bad"), "--set", "model.nonsense=1"])
    err = capsys.readouterr().err
    assert rc == 2 and "nonsense" in err and err.count("\n") == 1
