"""The synthetic street dataset: exact ground truth (flow, occlusion, labels) and files that round-trip."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from vid2vid.__main__ import main
from vid2vid.data import layout
from vid2vid.data.synthetic import SyntheticConfig, generate_sequence, write_dataset
from vid2vid.flow.warp import warp

CFG = SyntheticConfig(height=64, width=128, frames=6, objects=8)
SEEDS = (0, 1, 2, 3)
STREET = {"road": 7, "sidewalk": 8, "building": 11, "vegetation": 21, "sky": 23, "person": 24, "car": 26}


@pytest.fixture(scope="module")
def sequences():
    return [generate_sequence(seed, CFG) for seed in SEEDS]


def _frames(a: np.ndarray) -> torch.Tensor:
    """``[T, H, W(, C)]`` numpy -> ``[T, C, H, W]`` float tensor."""
    t = torch.from_numpy(np.ascontiguousarray(a)).float()
    return t[:, None] if t.dim() == 3 else t.permute(0, 3, 1, 2)


def _warp_errors(seq):
    """Per-pixel mean absolute RGB error (0..255) of warp(x_{t-1}, w_t) and of x_{t-1} against x_t, t >= 1."""
    rgb = _frames(seq.rgb)
    warped = warp(rgb[:-1], _frames(seq.flow)[1:])
    return (warped - rgb[1:]).abs().mean(1), (rgb[:-1] - rgb[1:]).abs().mean(1)  # [T-1, H, W] each


def test_warping_the_previous_frame_by_the_stored_flow_reproduces_the_frame(sequences):
    for seq in sequences:
        err, unwarped = _warp_errors(seq)
        visible = ~torch.from_numpy(seq.occlusion[1:])
        assert visible.float().mean() > 0.7  # most of a street frame is visible in the previous one
        assert err[visible].mean() < 1.5, f"seed {seq.meta['seed']}: warp error {err[visible].mean():.2f}"
        # Copying warped pixels beats copying the previous frame unwarped by far.
        assert unwarped[visible].mean() > 3 * err[visible].mean()


def test_large_warp_errors_lie_inside_the_occlusion_mask(sequences):
    big_total = 0
    for seq in sequences:
        err, _ = _warp_errors(seq)
        occluded = torch.from_numpy(seq.occlusion[1:])
        big = err > 25
        big_total += int(big.sum())
        assert (big & ~occluded).sum() <= 0.01 * big.sum(), f"seed {seq.meta['seed']}"
        assert err[~occluded].max() < 40
    assert big_total > 0  # occlusions are real: warping fails there


def test_occlusion_mask_is_nonempty_with_moving_objects_and_all_true_at_frame_0(sequences):
    for seq in sequences:
        assert seq.occlusion[0].all()
        assert seq.foreground.any()
        for t in range(1, CFG.frames):
            assert 0 < seq.occlusion[t].mean() < 0.5
        # Disocclusions around moving objects: occluded pixels next to foreground pixels.
        near_fg = seq.occlusion[1:] & ~seq.foreground[1:]
        assert near_fg.sum() > 0


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_pixels_entering_at_the_border_in_the_direction_of_the_pan_are_occluded(seed):
    cfg = replace(CFG, objects=0, zoom=0.0, roll_degrees=0.0, camera_speed=2.0)
    seq = generate_sequence(seed, cfg)
    velocity = seq.meta["camera_velocity"]  # street pixels per frame; > 0: the view slides right
    assert abs(velocity) >= 1.0
    entering, leaving = (cfg.width - 1, 0) if velocity > 0 else (0, cfg.width - 1)
    assert seq.occlusion[1:, :, entering].all()
    # The street content at the entering border came from up to |v| pixels outside the frame.
    depth = int(abs(velocity))
    cols = slice(cfg.width - depth, cfg.width) if velocity > 0 else slice(0, depth)
    street = ~np.isin(seq.label[1:, :, cols], [STREET["sky"]])
    assert seq.occlusion[1:, :, cols][street].all()
    # On the other side only layer edges (the skyline against the slower sky) are occluded.
    assert seq.occlusion[1:, :, leaving].mean() < 0.2
    assert np.sign(seq.flow[1:, ..., 0].mean()) == np.sign(velocity)


def test_label_instance_and_foreground_maps_agree(sequences):
    for seq in sequences:
        assert set(np.unique(seq.label)) <= set(STREET.values())
        fg = np.isin(seq.label, [STREET["person"], STREET["car"]])
        np.testing.assert_array_equal(seq.foreground, fg)
        np.testing.assert_array_equal(seq.instance[fg] // 1000, seq.label[fg])
        np.testing.assert_array_equal(seq.instance[~fg], seq.label[~fg])
        assert seq.rgb.dtype == np.uint8 and seq.label.dtype == np.uint8
        assert seq.instance.dtype == np.int32 and seq.flow.dtype == np.float32
        assert not seq.flow[0].any()


def test_flow_within_one_instance_is_one_similarity_transform(sequences):
    h, w = CFG.height, CFG.width
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    fits = 0
    for seq in sequences:
        for t in range(1, CFG.frames):
            for inst in np.unique(seq.instance[t]):
                m = seq.instance[t] == inst
                if m.sum() < 10:
                    continue
                x, y = xs[m], ys[m]
                q = np.stack([x, y], 1) + seq.flow[t][m]
                # q = [[a, -b], [b, a]] p + c: least squares over the instance's pixels.
                one, zero = np.ones_like(x), np.zeros_like(x)
                A = np.concatenate([np.stack([x, -y, one, zero], 1), np.stack([y, x, zero, one], 1)])
                b = np.concatenate([q[:, 0], q[:, 1]])
                sol, *_ = np.linalg.lstsq(A, b, rcond=None)
                assert np.abs(A @ sol - b).max() < 1e-3, f"seed {seq.meta['seed']} frame {t} instance {inst}"
                fits += 1
    assert fits > 50


def test_nearest_warp_of_the_previous_label_map_reproduces_the_label_map(sequences):
    for seq in sequences:
        flow = _frames(seq.flow)[1:]
        visible = ~torch.from_numpy(seq.occlusion[1:])
        for name in ("label", "instance"):
            maps = _frames(getattr(seq, name).astype(np.float64)).double()
            warped = warp(maps[:-1], flow.double(), mode="nearest")[:, 0]
            agree = (warped == maps[1:, 0])[visible].float().mean()
            assert agree > 0.99, f"seed {seq.meta['seed']} {name}: {agree:.4f}"


def test_same_seed_same_arrays_other_seed_other_arrays(sequences):
    again = generate_sequence(SEEDS[0], CFG)
    for key in again.keys():
        np.testing.assert_array_equal(again[key], sequences[0][key])
    assert not np.array_equal(sequences[0].rgb, sequences[1].rgb)
    assert not np.array_equal(sequences[0].label, sequences[1].label)


def test_each_class_looks_different_in_different_sequences(sequences):
    # Appearance is not a function of the labels: class mean colours spread widely across sequences.
    for name, cls in STREET.items():
        means = [seq.rgb[seq.label == cls].mean(0) for seq in sequences if (seq.label == cls).sum() > 50]
        assert len(means) >= 3, name
        spread = max(np.linalg.norm(a - b) for a in means for b in means)
        assert spread > 30, f"{name}: colours of the class differ by at most {spread:.1f} levels"


def test_illumination_drifts_slowly_over_time():
    cfg = replace(CFG, frames=30, height=32, width=64, illumination=0.08)
    lit = generate_sequence(7, cfg)
    flat = generate_sequence(7, replace(cfg, illumination=0.0))
    np.testing.assert_array_equal(lit.label, flat.label)  # the light changes nothing but the colours
    np.testing.assert_array_equal(lit.flow, flat.flow)
    ratio = lit.rgb.reshape(30, -1).astype(float).mean(1) / flat.rgb.reshape(30, -1).astype(float).mean(1)
    assert ratio.max() - ratio.min() > 0.03  # a visible drift over the sequence ...
    assert np.abs(np.diff(ratio)).max() < 0.02  # ... that is slow from frame to frame


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="16x16"):
        SyntheticConfig(height=8)
    with pytest.raises(TypeError, match="frames"):
        SyntheticConfig(frames=2.5)
    with pytest.raises(ValueError, match="illumination"):
        SyntheticConfig(illumination=-0.1)


def test_write_dataset_round_trips_through_the_layout_readers(tmp_path):
    cfg = replace(CFG, frames=3, height=48, width=96)
    root = write_dataset(tmp_path / "synth", n_train=2, n_test=1, seed=11, config=cfg, progress=False)
    info = json.loads((root / "synthetic.json").read_text())
    assert info["seed"] == 11 and info["frames"] == 3 and (info["height"], info["width"]) == (48, 96)
    assert info["foreground"] == [24, 26] and info["labels"]["car"] == 26
    for split_index, (split, n) in enumerate((("train", 2), ("test", 1))):
        names = [f"seq_{i:04d}" for i in range(n)]
        for kind in layout.KINDS:
            assert layout.list_sequences(layout.kind_dir(root, split, kind)) == names
        for i, name in enumerate(names):
            # Sequence i of a split does not depend on how many sequences were written.
            seq = generate_sequence([11, split_index, i], cfg)
            frames = layout.list_frames(layout.kind_dir(root, split, "B") / name)
            assert frames == ["00000.png", "00001.png", "00002.png"]
            flow_dir = layout.kind_dir(root, split, "flow") / name
            assert sorted(p.name for p in flow_dir.iterdir()) == ["00001.npy", "00002.npy"]
            occ_dir = layout.kind_dir(root, split, "occ") / name
            assert layout.list_frames(occ_dir) == ["00001.png", "00002.png"]
            for t, frame in enumerate(frames):
                np.testing.assert_array_equal(layout.read_label(root / f"{split}_A" / name / frame),
                                              seq.label[t])
                np.testing.assert_array_equal(layout.read_rgb(root / f"{split}_B" / name / frame), seq.rgb[t])
                np.testing.assert_array_equal(layout.read_instance(root / f"{split}_inst" / name / frame),
                                              seq.instance[t])
                if t > 0:
                    np.testing.assert_array_equal(layout.read_flow(flow_dir / f"{t:05d}.npy"), seq.flow[t])
                    np.testing.assert_array_equal(layout.read_mask(root / f"{split}_occ" / name / frame),
                                                  seq.occlusion[t])
    inst = layout.read_instance(root / "train_inst" / "seq_0000" / "00000.png")
    assert inst.max() > 255  # 16-bit ids survive (car 26000 + k)


def test_write_dataset_refuses_a_non_empty_folder_unless_overwrite(tmp_path):
    cfg = replace(CFG, frames=2, height=32, width=64)
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        write_dataset(tmp_path, 1, 0, config=cfg, progress=False)
    write_dataset(tmp_path, 2, 0, config=cfg, progress=False, overwrite=True)
    write_dataset(tmp_path, 1, 0, config=cfg, progress=False, overwrite=True)
    assert layout.list_sequences(tmp_path / "train_B") == ["seq_0000"]  # stale sequences removed
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_synth_command_writes_the_layout(tmp_path, capsys):
    out = tmp_path / "data"
    args = ["synth", "--out", str(out), "--sequences", "2", "--frames", "3", "--height", "32",
            "--width", "64", "--seed", "3", "--objects", "2", "--quiet"]
    assert main(args) == 0
    for split, n in (("train", 2), ("test", 1)):  # test sequences default to max(1, sequences // 4)
        assert len(layout.list_sequences(out / f"{split}_A")) == n
        assert layout.read_rgb(out / f"{split}_B" / "seq_0000" / "00002.png").shape == (32, 64, 3)
    assert json.loads((out / "synthetic.json").read_text())["config"]["objects"] == 2
    assert main(args) == 1  # refuses to write over it ...
    err = capsys.readouterr().err
    assert "not empty" in err and "--overwrite" in err  # naming the command-line flag that would
    assert main(args + ["--overwrite"]) == 0  # ... unless asked
    assert main(args + ["--overwrite", "--motion", "4"]) == 0  # the synthetic preset's faster videos
    config = json.loads((out / "synthetic.json").read_text())["config"]
    assert (config["camera_speed"], config["car_speed"], config["person_speed"]) == (6.0, 10.0, 0.6)
