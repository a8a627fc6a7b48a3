"""The synthetic dataset's options for the paper's premises: a foreground palette (appearance predictable
from the labels) and still cameras (static background pixels); off, they change nothing."""

import colorsys
import json
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from vid2vid.__main__ import main
from vid2vid.config import ConfigError, get_preset
from vid2vid.data import layout
from vid2vid.data.layout import DataError
from vid2vid.data.synthetic import SyntheticConfig, camera_is_still, generate_sequence, write_dataset
from vid2vid.data.synthetic_scene import FOREGROUND_PALETTE

REPO = Path(__file__).resolve().parents[1]
CFG = SyntheticConfig(height=32, width=64, frames=4, objects=6)
PERSON, CAR = 24, 26


def _assert_same(a, b) -> None:
    for key in a.keys():
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_default_output_equals_the_options_at_their_neutral_values():
    neutral = replace(CFG, foreground_palette=False, still_camera=0.0)
    for seed in (0, 1, [0, 1, 2]):
        _assert_same(generate_sequence(seed, CFG), generate_sequence(seed, neutral))
    full = SyntheticConfig(height=64, width=128, frames=3).with_motion(4.0)  # the synthetic preset's videos
    _assert_same(generate_sequence([0, 0, 0], full),
                 generate_sequence([0, 0, 0], replace(full, foreground_palette=False, still_camera=0.0)))


def test_a_still_fraction_leaves_the_moving_sequences_as_they_were():
    cfg = replace(CFG, still_camera=0.5)
    seeds = [[3, 0, i] for i in range(8)]
    still = [camera_is_still(s, cfg.still_camera) for s in seeds]
    assert 0 < sum(still) < len(seeds)
    for seed, is_still in zip(seeds, still, strict=True):
        seq = generate_sequence(seed, cfg)
        assert seq.meta["still_camera"] is is_still
        if is_still:
            assert seq.meta["camera_velocity"] == 0.0 and seq.meta["zoom_per_frame"] == 0.0
        else:
            _assert_same(seq, generate_sequence(seed, CFG))


def test_the_palette_changes_only_the_foreground_colours():
    for seed in (0, 1, 2):
        plain = generate_sequence(seed, CFG)
        palette = generate_sequence(seed, replace(CFG, foreground_palette=True))
        for key in ("label", "instance", "flow", "occlusion", "foreground"):
            np.testing.assert_array_equal(plain[key], palette[key], err_msg=key)
        np.testing.assert_array_equal(plain.rgb[~plain.foreground], palette.rgb[~palette.foreground])
        assert not np.array_equal(plain.rgb[plain.foreground], palette.rgb[palette.foreground])


def _object_colours(cfg: SyntheticConfig, cls: int, seeds: range, saturated: float = 0.0) -> np.ndarray:
    """``[N, 3]``: each object's mean RGB over its pixels in all frames (those with HSV saturation above
    ``saturated``: a car's painted body rather than its grey windows and black wheels)."""
    colours = []
    for seed in seeds:
        seq = generate_sequence(seed, cfg)
        sat = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2HSV)[..., 1] for f in seq.rgb]) / 255.0
        for inst in np.unique(seq.instance[seq.label == cls]):
            m = (seq.instance == inst) & (sat >= saturated)
            if m.sum() >= 20:
                colours.append(seq.rgb[m].mean(0))
    return np.array(colours)


def _spread(colours: np.ndarray) -> float:
    """Root-mean-square distance of the colours from their mean, in 0..255 levels."""
    return float(np.sqrt(((colours - colours.mean(0)) ** 2).sum(1).mean()))


def test_with_the_palette_every_car_body_has_the_palette_colour():
    cars = replace(CFG, person_fraction=0.0)
    plain = _object_colours(cars, CAR, range(12), saturated=0.4)
    palette = _object_colours(replace(cars, foreground_palette=True), CAR, range(12), saturated=0.4)
    assert len(plain) >= 20 and len(palette) >= 40
    assert _spread(plain) > 50  # random bodies: any hue, any shade
    assert _spread(palette) < 20 and _spread(palette) < 0.3 * _spread(plain)
    assert np.linalg.norm(palette - palette.mean(0), axis=1).max() < 45
    hue = FOREGROUND_PALETTE["car_body"][0]
    for rgb in palette:
        h = colorsys.rgb_to_hsv(*(rgb / 255.0))[0] * 360.0
        assert abs((h - hue + 180.0) % 360.0 - 180.0) < 12, f"car hue {h:.0f}, palette {hue:.0f}"


def test_with_the_palette_people_dress_alike():
    people = replace(CFG, person_fraction=1.0)
    plain = _object_colours(people, PERSON, range(10))
    palette = _object_colours(replace(people, foreground_palette=True), PERSON, range(10))
    assert len(plain) >= 20 and len(palette) >= 20
    assert _spread(palette) < 0.5 * _spread(plain)


@pytest.mark.parametrize("illumination", [0.0, 0.06])
def test_a_still_camera_leaves_the_background_static(illumination):
    cfg = replace(CFG, frames=5, still_camera=1.0, illumination=illumination)
    for seed in (0, 1, 2):
        seq = generate_sequence(seed, cfg)
        assert seq.meta["still_camera"] and seq.meta["roll_amplitude_degrees"] == 0.0
        background = ~seq.foreground
        assert not seq.flow[background].any()  # exactly zero, not just small
        assert seq.flow[seq.foreground].any()  # cars and people still move
        static = background[1:] & background[:-1] & ~seq.occlusion[1:]
        assert static.mean() > 0.7
        change = np.abs(seq.rgb[1:].astype(int) - seq.rgb[:-1].astype(int))[static]
        if illumination == 0:
            assert not change.any()
        else:  # only the slow illumination drift
            assert change.max() <= 2 and change.mean() < 1


def test_about_half_the_sequences_are_still_at_one_half():
    seeds = [[0, split, i] for split in (0, 1) for i in range(100)]
    half = np.array([camera_is_still(s, 0.5) for s in seeds])
    assert 0.4 < half.mean() < 0.6
    third = np.array([camera_is_still(s, 0.3) for s in seeds])
    assert not (third & ~half).any()  # a larger fraction keeps the smaller one's still sequences still
    assert all(camera_is_still(s, 1.0) for s in seeds[:20])
    assert not any(camera_is_still(s, 0.0) for s in seeds)


def test_config_rejects_bad_option_values():
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"SyntheticConfig\.still_camera: expected .*\[0, 1\]"):
            SyntheticConfig(still_camera=bad)
    with pytest.raises(TypeError, match=r"SyntheticConfig\.foreground_palette: expected bool"):
        SyntheticConfig(foreground_palette=1)
    # the run configuration refuses it when it is read, naming the key
    with pytest.raises(ConfigError, match=r"data\.synthetic_still_camera must lie in \[0, 1\], got 2\.0"):
        get_preset("tiny").override(["data.synthetic_still_camera=2"])
    # and a data section built around that check still gets the key named by from_data_config
    data = replace(get_preset("tiny").data, synthetic_still_camera=2.0)
    with pytest.raises(ConfigError, match=r"^data\.synthetic_still_camera: .*\[0, 1\], found 2\.0"):
        SyntheticConfig.from_data_config(data)


def test_run_config_keys_reach_the_dataset():
    cfg = get_preset("tiny").override(["data.synthetic_foreground_palette=true",
                                       "data.synthetic_still_camera=0.5", "data.synthetic_motion=4"])
    made = SyntheticConfig.from_data_config(cfg.data)
    assert made == replace(SyntheticConfig(), foreground_palette=True, still_camera=0.5).with_motion(4.0)
    assert SyntheticConfig.from_data_config(get_preset("tiny").data) == SyntheticConfig()


def test_a_trained_models_videos_follow_its_data_settings():
    data = get_preset("synthetic").override(["data.synthetic_foreground_palette=true",
                                             "data.synthetic_still_camera=0.25"]).data
    seen = SyntheticConfig.of_model(data)
    assert (seen.height, seen.width, seen.frames) == (64, 128, 30)
    assert seen.foreground_palette and seen.still_camera == 0.25
    assert seen.camera_speed == SyntheticConfig().with_motion(4.0).camera_speed  # the preset's motion
    panning = SyntheticConfig.of_model(data, frames=6, panning=True)
    assert panning.frames == 6 and panning.still_camera == 0.0 and panning.foreground_palette
    assert not any(camera_is_still([1, 1, i], panning.still_camera) for i in range(8))


def test_the_main_job_refuses_a_synthetic_dataset_of_other_options(tmp_path):
    sys.path.insert(0, str(REPO / "reproduce"))
    from train import ensure_synthetic_data

    root = tmp_path / "synthetic"
    (root / "train_A").mkdir(parents=True)
    plain = SyntheticConfig()  # a synthetic.json written before the options existed names neither
    (root / "synthetic.json").write_text(json.dumps({"config": {"camera_speed": plain.camera_speed,
                                                                "car_speed": plain.car_speed}}))
    ensure_synthetic_data(get_preset("tiny").override([f"data.root={root}"]), True)
    for key, value in (("still_camera", "0.5"), ("foreground_palette", "true")):
        cfg = get_preset("tiny").override([f"data.root={root}", f"data.synthetic_{key}={value}"])
        with pytest.raises(DataError, match=f"made with {key}=.*data.synthetic_{key}="):
            ensure_synthetic_data(cfg, True)


def test_synth_command_takes_the_options(tmp_path):
    out = tmp_path / "data"
    assert main(["synth", "--out", str(out), "--sequences", "2", "--frames", "3", "--height", "32",
                 "--width", "64", "--foreground-palette", "--still-camera", "1", "--quiet"]) == 0
    config = json.loads((out / "synthetic.json").read_text())["config"]
    assert config["foreground_palette"] is True and config["still_camera"] == 1.0
    seq = generate_sequence([0, 0, 1], SyntheticConfig(height=32, width=64, frames=3, foreground_palette=True,
                                                       still_camera=1.0))
    flow = layout.read_flow(layout.kind_dir(out, "train", "flow") / "seq_0001" / "00002.npy")
    np.testing.assert_array_equal(flow, seq.flow[2])
    assert not flow[~seq.foreground[2]].any()
    assert main(["synth", "--out", str(tmp_path / "bad"), "--sequences", "1", "--still-camera", "2",
                 "--quiet"]) == 1


def test_write_dataset_records_the_options(tmp_path):
    cfg = replace(CFG, frames=2, still_camera=0.5, foreground_palette=True)
    root = write_dataset(tmp_path / "d", n_train=1, n_test=0, config=cfg, progress=False)
    config = json.loads((root / "synthetic.json").read_text())["config"]
    assert (config["foreground_palette"], config["still_camera"]) == (True, 0.5)


def test_recorded_settings_are_compared_key_by_key_and_the_evaluation_split_refuses_others(tmp_path):
    wanted = SyntheticConfig().with_motion(4.0)
    record = {"camera_speed": wanted.camera_speed, "car_speed": wanted.car_speed}  # options off: absent
    assert wanted.recorded_mismatch(record) is None
    assert wanted.recorded_mismatch({**record, "car_speed": 1.0}).startswith("speeds {'camera_speed'")
    assert replace(wanted, still_camera=0.5).recorded_mismatch(record) == \
        "still_camera=0.0, but data.synthetic_still_camera=0.5"
    assert wanted.recorded_mismatch({**record, "foreground_palette": True}) == \
        "foreground_palette=True, but data.synthetic_foreground_palette=False"

    sys.path.insert(0, str(REPO / "reproduce"))
    from evaluate import ensure_eval_data

    root = tmp_path / "eval"
    (root / "test_A").mkdir(parents=True)
    (root / "synthetic.json").write_text(json.dumps({"config": record}))
    cfg = get_preset("tiny").override(["data.synthetic_motion=4"])
    ensure_eval_data(cfg, root, 1)  # the same settings: kept
    with pytest.raises(SystemExit, match=r"evaluation split was made with foreground_palette=False, but "
                                         r"data\.synthetic_foreground_palette=True; delete"):
        ensure_eval_data(cfg.override(["data.synthetic_foreground_palette=true"]), root, 1)
