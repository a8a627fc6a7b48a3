"""Configuration and command-line faults: refused early, reported in one line, nothing half-written.

Complements ``test_cli_faults.py``: empty presets, model / warm-up settings that used to fail only
once the networks were built, ``reproduce/train.py``'s one-line errors, path errors of the
``python -m vid2vid`` commands, argument checks of ``synth`` and ``flow``, and PNG-folder videos
that replace earlier frames only when complete.
"""

import json
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
from vid2vid.video import VideoWriter

ROOT = Path(__file__).resolve().parents[1]


def _labels(folder: Path, n: int = 6) -> Path:
    """``n`` road / car label maps of the tiny preset's size."""
    folder.mkdir(parents=True)
    for i in range(n):
        ids = np.full((32, 64), 7, np.uint8)
        ids[8:24, 4 * i: 4 * i + 16] = 26
        Image.fromarray(ids).save(folder / f"{i:04d}.png")
    return folder


def _checkpoint(path: Path) -> Path:
    from vid2vid.models import build_generator
    from vid2vid.models.io import export_generator

    cfg = get_preset("tiny").override(["data.use_instance=false"])
    export_generator(path, cfg, build_generator(cfg), step=0)
    return path


def _run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


def _train(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return _run(str(ROOT / "reproduce" / "train.py"), "--no-tensorboard", *argv, cwd=cwd)


def _one_error_line(res: subprocess.CompletedProcess) -> str:
    """The message of a run that ended with exit status 2 and one ``error:`` line last on stderr, no
    traceback (progress bars, e.g. of the synthetic data generation, may come before it)."""
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    errors = [line for line in lines if "error" in line.lower()]
    assert errors == lines[-1:] and lines[-1].startswith("error: "), res.stderr
    return lines[-1].removeprefix("error: ")


# ---------------------------------------------------------------------------- 1. presets in YAML


def test_an_empty_preset_line_is_refused_with_the_known_presets(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("preset:\ntrain: {lr: 1.0e-5}\n")
    with pytest.raises(ConfigError, match=r"run\.yaml: preset is empty; expected one of \[") as err:
        Config.from_yaml(path)
    assert all(repr(name) in str(err.value) for name in PRESETS)
    path.write_text("train: {lr: 1.0e-5}\n")  # no preset key at all: the defaults, as documented
    assert Config.from_yaml(path).preset == "cityscapes-512"


def test_train_with_a_misspelled_preset_in_yaml_prints_one_error_line(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"preset": "synthetc", "train": {"lr": 1e-4}}))
    message = _one_error_line(_train("--config", str(path), "--out", str(tmp_path / "run"), cwd=tmp_path))
    assert message.startswith(f"{path}: unknown preset 'synthetc'") and "did you mean 'synthetic'" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml"]  # no run folder, no data


def test_train_with_both_config_and_preset_prints_one_error_line(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("preset: tiny\n")
    message = _one_error_line(_train("--config", str(path), "--preset", "tiny", cwd=tmp_path))
    assert message.startswith("give --config or --preset, not both")


# ---------------------------------------------------------------------------- 2. value checks


@pytest.mark.parametrize("items, pattern", [
    (["model.n_layers_D=0"], r"model\.n_layers_D must be >= 1, got 0"),
    (["model.n_frames_D=1"], r"model\.n_frames_D must be >= 2 when model\.use_video_discriminator is true"),
    (["model.n_temporal_scales=0"],
     r"model\.n_temporal_scales must be >= 1 when model\.use_video_discriminator is true, got 0"),
    (["train.flow_warmup=10", "train.n_frames_start=2"],
     r"train\.flow_warmup=10 needs training windows longer than model\.n_prev=2 frames, "
     r"but train\.n_frames_start=2"),
])
def test_discriminator_and_warmup_settings_are_checked_before_anything_is_built(items, pattern):
    with pytest.raises(ConfigError, match=rf"override: {pattern}"):
        get_preset("tiny").override(items)


def test_settings_that_are_switched_off_are_not_checked():
    cfg = get_preset("tiny").override(["model.use_video_discriminator=false", "model.n_frames_D=1",
                                       "model.n_temporal_scales=0"])
    assert not cfg.model.use_video_discriminator
    cfg = get_preset("tiny").override(["model.use_flow=false", "train.flow_warmup=10",
                                       "train.n_frames_start=2"])
    assert cfg.train.flow_warmup == 10  # no flow, no warm-up: the trainer skips it


def test_a_bad_value_in_yaml_stops_train_in_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"preset": "tiny", "train": {"niter": 0, "niter_decay": 0}}))
    message = _one_error_line(_train("--config", str(path), "--out", str(tmp_path / "run"), cwd=tmp_path))
    assert message == f"{path}: train.niter + train.niter_decay must be >= 1 epoch, got 0 + 0"
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------- 3. one-line errors


def test_train_with_a_bad_config_prints_one_error_line_and_exits_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"preset": "tiny", "train": {"lr": -1.0}}))
    message = _one_error_line(_train("--config", str(path), cwd=tmp_path))
    assert message == f"{path}: train.lr must be a finite number > 0, got -1.0"
    message = _one_error_line(_train("--config", str(tmp_path / "missing.yaml"), cwd=tmp_path))
    assert message == f"{tmp_path / 'missing.yaml'}: config file not found"
    message = _one_error_line(_train("--preset", "tiny", "model.ngff=8", cwd=tmp_path))
    assert message.startswith("override: unknown config key 'model.ngff'; did you mean 'model.ngf'")


def test_train_with_a_missing_dataset_prints_one_error_line(tmp_path):
    res = _train("--preset", "tiny", "--out", str(tmp_path / "run"), f"data.root={tmp_path / 'nowhere'}",
                 "data.synthetic_sequences=0", cwd=tmp_path)
    assert _one_error_line(res).startswith(str(tmp_path / "nowhere"))


def test_train_on_synthetic_data_of_other_speeds_prints_one_error_line(tmp_path):
    root = tmp_path / "synthetic"
    (root / "train_A").mkdir(parents=True)
    (root / "synthetic.json").write_text(json.dumps({"config": {"camera_speed": 0.0, "car_speed": 0.0}}))
    res = _train("--preset", "tiny", "--out", str(tmp_path / "run"), f"data.root={root}", cwd=tmp_path)
    message = _one_error_line(res)
    assert message.startswith(f"{root / 'synthetic.json'}: this synthetic dataset was made with speeds")


def test_generate_into_a_path_below_a_file_prints_one_error_line(tmp_path):
    checkpoint = _checkpoint(tmp_path / "generator.pt")
    labels = _labels(tmp_path / "labels", n=2)
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    res = _run("-m", "vid2vid", "generate", "--checkpoint", str(checkpoint), "--input", str(labels),
               "--out", str(tmp_path / "notes.txt" / "out.mp4"))
    assert "Not a directory" in _one_error_line(res)


def test_a_multi_line_message_is_printed_on_one_line(monkeypatch, capsys):
    from vid2vid.commands import summary

    def fails(args):
        raise DataError("frames/0003.png: unreadable\n  (truncated PNG)")

    monkeypatch.setattr(summary, "run", fails)
    assert main(["summary", "--preset", "tiny"]) == 2
    assert capsys.readouterr().err == "error: frames/0003.png: unreadable (truncated PNG)\n"


def test_errors_that_are_bugs_keep_their_traceback(monkeypatch):
    from vid2vid.commands import summary

    def fails(args):
        raise KeyError("a bug")

    monkeypatch.setattr(summary, "run", fails)
    with pytest.raises(KeyError, match="a bug"):
        main(["summary", "--preset", "tiny"])


def test_train_into_a_folder_with_another_run_needs_overwrite(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "generator.pt").write_text("an earlier run's generator")
    # the synthetic data at a root of the test's own: asked for explicitly
    argv = ("--preset", "tiny", "--out", str(out), f"data.root={tmp_path / 'data'}",
            "data.synthetic_sequences=2")
    message = _one_error_line(_train(*argv, cwd=tmp_path))  # the trainer's OutputExistsError
    assert message.startswith(f"{out}: already holds a run") and "--overwrite" in message
    assert (out / "generator.pt").read_text() == "an earlier run's generator"
    res = _train(*argv, "--overwrite", "--max-steps", "1", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    from vid2vid.models.io import load_generator

    assert load_generator(out / "generator.pt")[2] == 1  # a new generator, of step 1


@pytest.mark.parametrize("argv, message", [
    (["--resume", "--overwrite"], "argument --overwrite: not allowed with argument --resume"),
    (["--max-steps", "0"], "argument --max-steps: expected an integer >= 1, got '0'"),
])
def test_train_refuses_contradictory_or_empty_runs(argv, message, tmp_path):
    res = _train(*argv, cwd=tmp_path)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------- 4. argument checks


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "fast"])
def test_synth_refuses_a_bad_motion_factor(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["synth", "--out", str(tmp_path / "data"), "--motion", value])
    assert exit_.value.code == 2
    assert f"argument --motion: expected a finite number >= 0, got {value!r}" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_flow_refuses_zero_raft_iterations(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["flow", "--data", str(tmp_path), "--method", "raft", "--raft-iters", "0"])
    assert exit_.value.code == 2
    assert "argument --raft-iters: expected an integer >= 1, got '0'" in capsys.readouterr().err


# ---------------------------------------------------------------------------- 5. PNG folders


def _frames(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_generate_into_a_png_folder_replaces_earlier_frames_only_when_complete(tmp_path, monkeypatch, request,
                                                                              capsys):

    checkpoint = _checkpoint(tmp_path / "generator.pt")
    labels = _labels(tmp_path / "labels", n=6)
    out = tmp_path / "frames"
    argv = ["generate", "--checkpoint", str(checkpoint), "--input", str(labels), "--out", str(out)]
    assert main(argv) == 0
    before = _frames(out)
    assert list(before) == [f"{i:06d}.png" for i in range(6)]

    request.getfixturevalue("generate_fails_at_frame_3")  # the next write fails at frame 3
    assert main([*argv, "--side-by-side"]) == 2  # other frames (wider panels) than the earlier ones
    assert capsys.readouterr().err == "error: frame 3: unreadable or truncated image\n"
    assert _frames(out) == before  # no partial frames, no hidden folder left behind
    monkeypatch.undo()

    assert main([*argv, "--side-by-side", "--max-frames", "2"]) == 0
    after = _frames(out)
    assert list(after) == ["000000.png", "000001.png"]  # the earlier video's frames 2..5 are gone
    assert after["000000.png"] != before["000000.png"]


def test_a_png_video_that_fails_leaves_no_folder_and_keeps_other_files(tmp_path):
    frame = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(RuntimeError, match="stopped"):
        with VideoWriter(tmp_path / "new" / "shot_%03d.png") as video:
            video.write(frame)
            assert not (tmp_path / "new" / "shot_000.png").exists()  # staged, not yet in place
            raise RuntimeError("stopped")
    assert not list(tmp_path.iterdir())  # the folder was made for this video: removed again
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "notes.txt").write_text("keep")
    (tmp_path / "old" / "shot_005.png").write_bytes(b"not a frame of this video's run")
    with VideoWriter(tmp_path / "old" / "shot_%03d.png") as video:
        video.write(frame)
    names = sorted(p.name for p in (tmp_path / "old").iterdir())
    assert names == ["notes.txt", "shot_000.png", "shot_005.png"]  # not consecutive: not this video's
