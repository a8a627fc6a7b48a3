"""Future video prediction (the paper's Table 3): the label model, PredNet, MCNet, ``python -m vid2vid
predict`` and ``reproduce/table3.py``, at sizes that run in seconds on one thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from vid2vid.__main__ import main
from vid2vid.data.synthetic import SYNTHETIC_LABELS
from vid2vid.prediction.checkpoint import build_model, load_predictor, save_predictor
from vid2vid.prediction.data import Clip, sample_windows
from vid2vid.prediction.labels import LabelPredictor, LabelPredictorConfig, rollout_labels
from vid2vid.prediction.mcnet import MCNet, MCNetConfig
from vid2vid.prediction.prednet import PredNet, PredNetConfig
from vid2vid.prediction.training import PredictionTraining, train_predictor, window_loss

ROOT = Path(__file__).resolve().parents[1]
ROAD, CAR = 7, 26


def _square_clip(x0: int, frames: int = 8, speed: int = 2, size: tuple[int, int] = (16, 32)) -> Clip:
    """A car-labelled 6 x 6 square moving ``speed`` pixels right per frame over road: label and
    instance maps (the square is instance 26000) and RGB frames (grey road, white square)."""
    H, W = size
    labels = torch.full((frames, H, W), ROAD, dtype=torch.uint8)
    for t in range(frames):
        x = x0 + speed * t
        labels[t, 5:11, x:x + 6] = CAR
    inst = labels.long() * torch.where(labels == CAR, 1000, 1)
    rgb = torch.where(labels[:, None] == CAR, 255, 100).expand(-1, 3, -1, -1).to(torch.uint8).contiguous()
    return Clip(f"square_{x0}", labels, inst, rgb)


# ------------------------------------------------------------------------------------------ models


def test_label_rollout_predicts_n_frames_of_probabilities_labels_and_instances():
    model = LabelPredictor(LabelPredictorConfig(classes=[ROAD, CAR], n_past=3, ngf=4, n_blocks=1))
    clip = _square_clip(2)
    out = rollout_labels(model, clip.labels[None, :3], 5, clip.inst[None, :3])
    assert out.probs.shape == (1, 5, 2, 16, 32) and out.labels.shape == (1, 5, 16, 32)
    assert out.inst.shape == (1, 5, 16, 32) and out.flows.shape == (1, 5, 2, 16, 32)
    assert out.masks.shape == (1, 5, 1, 16, 32)
    torch.testing.assert_close(out.probs.sum(2), torch.ones(1, 5, 16, 32))
    assert set(out.labels.unique().tolist()) <= {ROAD, CAR}
    # the untrained flow is zero: the instance map of the last observed frame, where the labels agree
    car = out.labels[0, 0] == CAR
    assert bool((out.inst[0, 0][car] == CAR * 1000).all()) and bool((out.inst[0, 0][~car] == ROAD).all())


def test_label_rollout_reads_only_the_last_k_observed_maps():
    model = LabelPredictor(LabelPredictorConfig(classes=[ROAD, CAR], n_past=2, ngf=4, n_blocks=1))
    clip = _square_clip(2)
    a = rollout_labels(model, clip.labels[None, :4], 3, clip.inst[None, :4]).probs
    b = rollout_labels(model, clip.labels[None, 2:4], 3, clip.inst[None, 2:4]).probs
    torch.testing.assert_close(a, b)


def test_label_ids_outside_the_vocabulary_name_the_input_and_the_known_classes():
    model = LabelPredictor(LabelPredictorConfig(classes=[ROAD, CAR], n_past=2, ngf=4, n_blocks=1))
    clip = _square_clip(2)
    bad = clip.labels[None, :2].clone()
    bad[0, 0, 0, 0] = 11
    message = r"seq_07: label id\(s\) \[11\] are not among the 2 classes .*\[7, 26\]"
    with pytest.raises(ValueError, match=message):
        rollout_labels(model, bad, 2, clip.inst[None, :2], where="seq_07")


def test_the_label_model_learns_a_moving_square_better_than_copying_the_last_map():
    train = [_square_clip(x0) for x0 in (0, 3, 6)]
    training = PredictionTraining(steps=60, batch_size=4, n_past=2, n_future=2, lr=3e-3, flip=False,
                                  model={"ngf": 8, "n_blocks": 1, "n_pool": 0, "n_downsample": 1})
    model, info = train_predictor("labels", train, training)
    test = _square_clip(1)
    with torch.no_grad():
        out = rollout_labels(model, test.labels[None, 2:4], 3, test.inst[None, 2:4])
    truth = test.labels[4:7].long()
    predicted = (out.labels[0] == truth).float().mean()
    copied = (test.labels[3].long() == truth).float().mean()
    assert info["log"][-1]["loss"] < info["log"][0]["loss"]
    # it moves the square: copying the last map misses the square's leading and trailing edges
    assert float(copied) < 0.92 and float(predicted) > 0.97, (float(predicted), float(copied))


@pytest.mark.parametrize("model", [PredNet(PredNetConfig([3, 4, 8])), MCNet(MCNetConfig([4, 8, 16]))],
                         ids=["prednet", "mcnet"])
def test_pixel_models_predict_n_frames_from_the_past_alone(model):
    past = torch.rand(2, 3, 3, 16, 32) * 2 - 1
    future = model.predict(past, 4)
    assert future.shape == (2, 4, 3, 16, 32) and float(future.detach().abs().max()) <= 1
    # autoregressive: the frames after the observed ones are never read
    frames = torch.cat([past, torch.rand(2, 4, 3, 16, 32)], 1)
    other = torch.cat([past, torch.zeros(2, 4, 3, 16, 32)], 1)
    out = model(frames, n_observed=3)[:, -4:]
    torch.testing.assert_close(out, model(other, n_observed=3)[:, -4:])
    torch.testing.assert_close(out, future)


@pytest.mark.parametrize("kind,settings", [("prednet", {"channels": [3, 8, 16]}),
                                           ("mcnet", {"widths": [8, 16]})])
def test_pixel_models_get_gradients_everywhere_and_overfit_one_clip(kind, settings):
    clip = _square_clip(0, frames=5, size=(16, 16))
    model = build_model(kind, settings)
    batch = {"frames": clip.real()[None]}
    loss = window_loss(kind, model, batch, n_past=2)
    loss.backward()
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in model.parameters())
    training = PredictionTraining(steps=80, batch_size=1, n_past=2, n_future=3, lr=3e-3, flip=False,
                                  log_every=10, model=settings)
    model, info = train_predictor(kind, [clip], training)
    first, last = info["log"][0]["loss"], info["log"][-1]["loss"]
    assert last < 0.5 * first, (kind, first, last)


def test_windows_are_drawn_alike_for_every_model_and_mirror_the_flow():
    clip = _square_clip(0)
    clip.flow = torch.zeros(8, 2, 16, 32)
    clip.flow[1:, 0] = -2.0
    clip.occlusion = torch.zeros(8, 16, 32, dtype=torch.bool)
    a = sample_windows([clip], 6, 4, torch.Generator().manual_seed(5))
    b = sample_windows([clip], 6, 4, torch.Generator().manual_seed(5))
    assert a.keys() == {"labels", "inst", "frames", "flow", "occlusion"}
    assert all(torch.equal(a[k], b[k]) for k in a)
    for labels, flow in zip(a["labels"], a["flow"], strict=True):
        as_is = [t for t in range(5) if torch.equal(labels, clip.labels[t:t + 4].long())]
        mirrored = [t for t in range(5) if torch.equal(labels, clip.labels[t:t + 4].long().flip(-1))]
        assert as_is or mirrored
        assert float(flow[1:, 0].mean()) == (2.0 if mirrored else -2.0)  # mirrored motion: dx flips sign


def test_a_model_file_round_trips_and_names_a_wrong_kind(tmp_path):
    model = build_model("mcnet", {"widths": [4, 8]})
    save_predictor(tmp_path / "m.pt", "mcnet", model, 3, {"note": "x"})
    kind, loaded, info = load_predictor(tmp_path / "m.pt")
    assert kind == "mcnet" and info["step"] == 3 and info["note"] == "x"
    torch.testing.assert_close(loaded.state_dict(), model.state_dict())
    with pytest.raises(ValueError, match=r"m\.pt: a mcnet model .*expected a labels model"):
        load_predictor(tmp_path / "m.pt", expect="labels")
    with pytest.raises(FileNotFoundError, match=r"nothing\.pt: prediction model file not found"):
        load_predictor(tmp_path / "nothing.pt")


# ------------------------------------------------------------------------------------------ predict


@pytest.fixture(scope="module")
def predict_files(tmp_path_factory, tiny_data):
    """A tiny vid2vid generator (the ``tiny`` preset, 32 x 64) and an untrained label model (K = 2)
    over the tiny dataset's classes."""
    from vid2vid.config import get_preset
    from vid2vid.models import build_generator
    from vid2vid.models.io import export_generator

    folder = tmp_path_factory.mktemp("predict")
    cfg = get_preset("tiny")
    torch.manual_seed(0)
    export_generator(folder / "G.pt", cfg, build_generator(cfg), step=0)
    classes = sorted(SYNTHETIC_LABELS.values())  # every class the synthetic videos can show
    labels = build_model("labels", {"classes": classes, "n_past": 2, "ngf": 4, "n_blocks": 1})
    save_predictor(folder / "labels.pt", "labels", labels, 0, {})
    return folder


def _predict(files: Path, context: Path, out: Path, *extra: str) -> int:
    return main(["predict", "--checkpoint", str(files / "G.pt"), "--label-model", str(files / "labels.pt"),
                 "--context", str(context), "--out", str(out), *extra])


def test_predict_writes_the_observed_then_the_predicted_frames(tmp_path, tiny_data, predict_files):
    from PIL import Image

    context = tiny_data / "test_A" / "seq_0000"
    assert _predict(predict_files, context, tmp_path / "plain", "--future", "3") == 0
    assert len(list((tmp_path / "plain").iterdir())) == 2 + 3
    first = np.asarray(Image.open(sorted((tmp_path / "plain").iterdir())[0]))
    real = np.asarray(Image.open(tiny_data / "test_B" / "seq_0000" / "00000.png"))
    np.testing.assert_array_equal(first, real)  # the observed frames are the real ones
    assert _predict(predict_files, context, tmp_path / "side", "--future", "4", "--start", "1", "--real") == 0
    frames = sorted((tmp_path / "side").iterdir())
    assert len(frames) == 6 and np.asarray(Image.open(frames[-1])).shape == (32, 3 * 64 + 2 * 2, 3)


def test_predict_runs_from_the_command_line(tmp_path, tiny_data, predict_files):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    argv = ["predict", "--checkpoint", str(predict_files / "G.pt"), "--label-model",
            str(predict_files / "labels.pt"), "--context", str(tiny_data / "test_A" / "seq_0000"),
            "--past", "2", "--future", "2", "--out", str(tmp_path / "v.gif")]
    res = subprocess.run([sys.executable, "-m", "vid2vid", *argv], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "wrote 2 observed + 2 predicted frames" in res.stdout and (tmp_path / "v.gif").stat().st_size > 0


@pytest.mark.parametrize("case,pattern", [
    ("short context", r"seq_0000: 8 frames, too few for K = 2 observed frames from frame 7 \(needs 9\)"),
    ("short real future", r"seq_0000: 8 frames, too few for the real future: K = 2 observed and N = 7 "
                          r"future frames from frame 0 need 9"),
    ("missing checkpoint", r"nope\.pt: --checkpoint file not found"),
    ("missing label model", r"nope\.pt: --label-model file not found"),
    ("generator as label model",
     r"G\.pt: not a future-prediction model .*a vid2vid generator goes to --checkpoint"),
    ("past below the label model's", r"--past 1: the label model .*labels\.pt reads the last 2 label maps"),
    ("missing context", r"seq_9999: --context folder not found"),
])
def test_predict_refuses_bad_input_in_one_line(case, pattern, tmp_path, tiny_data, predict_files, capsys):
    import re

    context = tiny_data / "test_A" / "seq_0000"
    files = predict_files
    argv = {"checkpoint": str(files / "G.pt"), "label-model": str(files / "labels.pt"),
            "context": str(context)}
    extra = ["--future", "2"]
    if case == "short context":
        extra += ["--start", "7"]
    elif case == "short real future":
        extra = ["--future", "7", "--real"]
    elif case == "missing checkpoint":
        argv["checkpoint"] = str(tmp_path / "nope.pt")
    elif case == "missing label model":
        argv["label-model"] = str(tmp_path / "nope.pt")
    elif case == "generator as label model":
        argv["label-model"] = str(files / "G.pt")
    elif case == "past below the label model's":
        extra += ["--past", "1"]
    elif case == "missing context":
        argv["context"] = str(tiny_data / "test_A" / "seq_9999")
    args = ["predict", *[x for k, v in argv.items() for x in (f"--{k}", v)], "--out", str(tmp_path / "o"),
            *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and re.search(pattern, err), err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flag,value", [("--future", "0"), ("--past", "-1"), ("--start", "-2")])
def test_predict_counts_out_of_range_are_refused_by_the_parser(flag, value, tmp_path, capsys):
    args = ["predict", "--checkpoint", "g.pt", "--label-model", "l.pt", "--context", "c", "--out", "o",
            "--future", "2", flag, value]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2 and "expected an integer" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ table 3


@pytest.mark.slow
def test_table3_smoke_trains_predicts_measures_and_writes_the_table(tmp_path):
    res = subprocess.run([sys.executable, "reproduce/table3.py", "--smoke", "--runs", str(tmp_path / "runs"),
                          "--results", str(tmp_path / "results"), "--data-root", str(tmp_path / "data"),
                          "--feature-net", "none"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    table = (tmp_path / "results" / "table3.md").read_text()
    for row in ("| PredNet |", "| MCNet |", "| vid2vid |", "| copy last frame |",
                "| vid2vid on the true future labels |", "| label model |"):
        assert row in table, row
    assert "11.18 / 0.59" in table and "3.44 / 0.18" in table  # the paper's numbers beside ours
    data = json.loads((tmp_path / "results" / "table3.json").read_text())
    assert set(data["per_seed"]["0"]) == {"vid2vid", "PredNet", "MCNet", "labels"}
    assert data["settings"]["command"].startswith("python reproduce/table3.py --smoke")
    assert (tmp_path / "results" / "table3.png").stat().st_size > 0
    assert (tmp_path / "results" / "table3.gif").stat().st_size > 0


def test_train_predictor_writes_the_model_and_its_loss_log(tmp_path, tiny_data):
    res = subprocess.run([sys.executable, "reproduce/train_predictor.py", "--model", "labels", "--data",
                          str(tiny_data), "--out", str(tmp_path / "labels.pt"), "--steps", "2", "--past", "2",
                          "--future", "1", "--model-settings", '{"ngf": 4, "n_blocks": 0}'],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr
    kind, model, info = load_predictor(tmp_path / "labels.pt")
    assert kind == "labels" and model.n_past == 2 and info["step"] == 2 and info["flow_loss"] is True
    assert info["command"].startswith("python reproduce/train_predictor.py --model labels")
    log = [json.loads(line) for line in (tmp_path / "labels.log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [2]


def test_train_predictor_refuses_an_unknown_model_setting_in_one_line(tmp_path, tiny_data, capsys):
    sys.path.insert(0, str(ROOT / "reproduce"))
    from train_predictor import main as train_main

    assert train_main(["--model", "prednet", "--data", str(tiny_data), "--out", str(tmp_path / "p.pt"),
                       "--steps", "1", "--model-settings", '{"layers": 4}']) == 2
    err = capsys.readouterr().err
    assert "error: prednet model: unknown setting(s) ['layers']; known: ['channels', 'kernel']" in err
    assert not list(tmp_path.iterdir())


def test_table3_data_and_feature_network_follow_the_generators_data_settings(tmp_path):
    """Table 3's predictors learn from videos made as the generator's own were, in folders named by
    their settings, and its FIDs use the committed feature network of those scenes."""
    sys.path.insert(0, str(ROOT / "reproduce"))
    from table3 import committed_feature_net, ensure_data

    from vid2vid.config import get_preset
    from vid2vid.data.synthetic import SyntheticConfig

    plain = get_preset("synthetic").data
    bench = get_preset("synthetic").override(["data.synthetic_foreground_palette=true",
                                              "data.synthetic_still_camera=0.25"]).data
    assert committed_feature_net(SyntheticConfig.of_model(plain)).endswith("feature_net_preset.pt")
    assert committed_feature_net(SyntheticConfig.of_model(bench)).endswith("feature_net.pt")
    assert SyntheticConfig.of_model(bench).settings_suffix() == "_palette_still0.25"

    small = get_preset("tiny").data  # 32 x 64
    root = ensure_data(tmp_path / "d", "train", 1, 0, SyntheticConfig.of_model(small, 3))
    first = json.loads((root / "synthetic.json").read_text())["config"]
    assert not first["foreground_palette"] and first["frames"] == 3
    palette = replace(SyntheticConfig.of_model(small, 3), foreground_palette=True)
    ensure_data(root, "train", 1, 0, palette)  # other settings in the same folder: written again
    assert json.loads((root / "synthetic.json").read_text())["config"]["foreground_palette"]
