"""A dataset of one's own: errors that name the fix, warnings where a dataset would be read other
than meant, no synthetic data at a misspelt root, a training budget in steps, .npy input maps."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from vid2vid.__main__ import main as vid2vid_main
from vid2vid.config import ConfigError, get_preset
from vid2vid.data.check import check_dataset
from vid2vid.data.encoding import image_to_tensor
from vid2vid.data.folder import SpatialTransform, VideoFolderDataset
from vid2vid.data.layout import (
    DataError,
    DataWarning,
    kind_dir,
    write_flow,
    write_label,
    write_rgb,
)
from vid2vid.models import Generator
from vid2vid.training.schedule import lr_factor, schedule_epoch, sequence_length
from vid2vid.training.trainer import Trainer, build_dataset

REPO = Path(__file__).resolve().parents[1]
H, W = 16, 32


def make_edges(root: Path, sequences: int = 1, frames: int = 3, size: tuple[int, int] = (H, W),
               flow: bool = False, seed: int = 0) -> None:
    """An edges -> video dataset as a new user has it: Canny-like maps of 0 and 255 in grey PNGs
    (``_A``), RGB frames (``_B``), no instance maps; flow only when asked."""
    rng = np.random.default_rng(seed)
    for s in range(sequences):
        for t in range(frames):
            name = f"seq{s}/{t:04d}"
            edges = (rng.random(size) < 0.2).astype(np.uint8) * 255
            write_label(kind_dir(root, "train", "A") / f"{name}.png", edges)
            write_rgb(kind_dir(root, "train", "B") / f"{name}.png",
                      rng.integers(0, 256, (*size, 3), dtype=np.uint8))
            if flow and t > 0:
                write_flow(kind_dir(root, "train", "flow") / f"{name}.npy", np.zeros((*size, 2), np.float32))


def make_npy(root: Path, channels: int, frames: int = 3, size: tuple[int, int] = (H, W),
             seed: int = 0) -> list[np.ndarray]:
    """One sequence whose A maps are ``.npy`` files ``uint8 [H, W, channels]`` (the layout of
    ``prepare face``), with RGB frames of the same stems; returns the maps."""
    rng = np.random.default_rng(seed)
    maps = []
    for t in range(frames):
        a = rng.integers(0, 256, (*size, channels), dtype=np.uint8)
        path = kind_dir(root, "train", "A") / "seq0" / f"{t:04d}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, a)
        write_rgb(kind_dir(root, "train", "B") / "seq0" / f"{t:04d}.png",
                  rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        maps.append(a)
    return maps


def edges_cfg(root: Path, **overrides):
    """The tiny preset pointed at a user's edge maps, as the errors below lead a user to set it."""
    settings = {"data.root": str(root), "data.synthetic_sequences": 0, "data.label_nc": 0,
                "data.input_nc": 1, "data.use_instance": False, "model.use_fg_prior": False,
                "data.height": H, "data.width": W, "model.n_downsample": 1, **overrides}
    return get_preset("tiny").override(settings)


# ------------------------------------------------------------------ 1. errors that name the fix
def test_missing_inst_folder_names_use_instance_false(tmp_path):
    make_edges(tmp_path)
    with pytest.raises(DataError, match=r"train_inst: folder not found .*data\.use_instance=false"):
        VideoFolderDataset(tmp_path, label_nc=0, input_nc=1, use_instance=True)


def test_missing_flow_folder_names_the_flow_command_before_training(tmp_path):
    make_edges(tmp_path)
    with pytest.raises(DataError, match=rf"train_flow: folder not found .*`python -m vid2vid flow --data "
                                        rf"{tmp_path}`.*data\.flow_source=dis"):
        build_dataset(edges_cfg(tmp_path))  # what the trainer builds first


def test_missing_flow_files_name_the_flow_command(tmp_path):
    make_edges(tmp_path, sequences=2, flow=True)
    (kind_dir(tmp_path, "train", "flow") / "seq1" / "0002.npy").unlink()
    with pytest.raises(DataError, match=r"sequence 'seq1'.*no flow file for frame '0002'.*`python -m "
                                        r"vid2vid flow --data"):
        VideoFolderDataset(tmp_path, label_nc=0, input_nc=1, use_instance=False, load_flow=True)


def test_missing_occlusion_folder_names_the_mask_target(tmp_path):
    make_edges(tmp_path, flow=True)
    with pytest.raises(DataError, match=r"train_occ: folder not found .*loss\.mask_target=confidence"):
        VideoFolderDataset(tmp_path, label_nc=0, input_nc=1, use_instance=False, load_flow=True,
                           load_occlusion=True)


def test_missing_root_is_named_as_data_root(tmp_path):
    with pytest.raises(DataError, match=rf"{tmp_path / 'nowhere'}: dataset root not found \(data\.root"):
        VideoFolderDataset(tmp_path / "nowhere")


def test_edge_map_read_as_label_ids_suggests_label_nc_0(tmp_path):
    make_edges(tmp_path)
    ds = VideoFolderDataset(tmp_path, n_frames=2, label_nc=35, use_instance=False, training=False)
    with pytest.raises(DataError, match=r"seq0/0000\.png: label ids must lie in \[0, 34\] .*found \[255\]; "
                                        r".*only the values 0 and 255.*edge map.*data\.label_nc=0 .*"
                                        r"\(sequence 'seq0', frame 0\)"):
        ds[0]


def test_grey_levels_read_as_label_ids_suggest_a_continuous_map(tmp_path):
    make_edges(tmp_path)
    write_label(kind_dir(tmp_path, "train", "A") / "seq0" / "0000.png",
                np.tile(np.arange(W, dtype=np.uint8) * 8, (H, 1)))  # 32 grey levels up to 248
    ds = VideoFolderDataset(tmp_path, n_frames=1, label_nc=20, use_instance=False, training=False)
    with pytest.raises(DataError, match=r"32 distinct values, more than label_nc.*data\.label_nc=0"):
        ds[0]


def test_an_id_out_of_range_in_a_label_map_gets_no_edge_hint(tmp_path):
    make_edges(tmp_path)
    ids = np.zeros((H, W), np.uint8)
    ids[2, 3] = 40
    write_label(kind_dir(tmp_path, "train", "A") / "seq0" / "0000.png", ids)
    ds = VideoFolderDataset(tmp_path, n_frames=1, label_nc=35, use_instance=False, training=False)
    with pytest.raises(DataError, match=r"found \[40\] \(sequence") as err:
        ds[0]
    assert "label_nc=0" not in str(err.value)


# ------------------------------------------------------------------ 2. warnings
def test_grey_maps_read_as_three_channels_warn_once_naming_folder_and_key(tmp_path):
    make_edges(tmp_path, frames=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = VideoFolderDataset(tmp_path, n_frames=2, label_nc=0, input_nc=3, use_instance=False,
                                training=False)
        items = [ds[i] for i in range(len(ds))]
    ours = [w for w in caught if issubclass(w.category, DataWarning)]
    assert len(ours) == 1  # once per dataset, however many items are read
    message = str(ours[0].message)
    assert str(kind_dir(tmp_path, "train", "A")) in message and "data.input_nc=1" in message
    assert torch.equal(items[0]["label"][:, 0], items[0]["label"][:, 2])  # what it warns about


def test_grey_maps_read_as_one_channel_do_not_warn(tmp_path):
    make_edges(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        ds = VideoFolderDataset(tmp_path, n_frames=2, label_nc=0, input_nc=1, use_instance=False)
    assert ds[0]["label"].shape[1] == 1


def test_frames_of_another_aspect_ratio_warn_with_the_sizes_and_keys(tmp_path):
    make_edges(tmp_path, size=(24, 32))  # 4:3 frames, a 2:1 load size
    with pytest.warns(DataWarning, match=r"frames of 32 x 24 .* resized to 64 x 32 \(data\.width x "
                                         r"data\.height\).*squashed.*data\.height=32 and "
                                         r"data\.width about 43"):
        ds = VideoFolderDataset(tmp_path, n_frames=2, label_nc=0, input_nc=1, use_instance=False,
                                load_size=(32, 64))
    assert ds[0]["image"].shape[-2:] == (32, 64)


def test_frames_of_the_same_aspect_ratio_do_not_warn(tmp_path):
    make_edges(tmp_path, size=(32, 64))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        VideoFolderDataset(tmp_path, n_frames=2, label_nc=0, input_nc=1, use_instance=False,
                           load_size=(16, 32))


# ------------------------------------------------------------------ 2b. synthetic data only where asked
@pytest.fixture
def train_module():
    sys.path.insert(0, str(REPO / "reproduce"))
    import train

    yield train
    sys.path.remove(str(REPO / "reproduce"))


def test_misspelt_root_with_a_synthetic_preset_is_refused_naming_the_path(train_module, tmp_path):
    misspelt = tmp_path / "datasets" / "edgse"
    args = train_module.parse_args(["--preset", "tiny", "--out", str(tmp_path / "run"),
                                    f"data.root={misspelt}"])
    with pytest.raises(DataError, match=rf"{misspelt}: no dataset found .*only at its own data\.root "
                                        rf"\(data/tiny\).*check the path.*data\.synthetic_sequences=2"):
        train_module.train(args)
    assert not misspelt.exists() and not (tmp_path / "run").exists()


def test_synthetic_data_is_made_where_asked_for(train_module, tmp_path):
    parse = train_module.parse_args
    cfg_of = train_module.load_config
    asked = train_module.synthetic_data_requested
    args = parse(["--preset", "tiny"])
    assert asked(cfg_of(args), args)  # the preset's own root
    args = parse(["--preset", "tiny", f"data.root={tmp_path}", "data.synthetic_sequences=2"])
    assert asked(cfg_of(args), args)  # explicitly
    config = tmp_path / "mine.yaml"
    config.write_text(f"preset: tiny\ndata:\n  root: {tmp_path / 'synth'}\n  synthetic_sequences: 2\n")
    args = parse(["--config", str(config)])
    assert asked(cfg_of(args), args)
    args = parse(["--preset", "synthetic", f"data.root={tmp_path / 'synthetc'}"])
    assert not asked(cfg_of(args), args)


def test_the_presets_own_root_still_generates_and_trains(train_module, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the tiny preset's root is data/tiny, relative
    status = train_module.main(["--preset", "tiny", "--out", "run", "--max-steps", "1", "--no-tensorboard",
                                "data.check_max_files=0"])
    assert status == 0, capsys.readouterr().err
    assert (tmp_path / "data" / "tiny" / "train_A").is_dir() and (tmp_path / "run" / "generator.pt").is_file()


# ------------------------------------------------------------------ 3. a budget in steps
def test_total_steps_must_not_be_negative():
    with pytest.raises(ConfigError, match=r"train\.total_steps must be >= 0, got -1"):
        get_preset("tiny").override(["train.total_steps=-1"])


def test_total_steps_share_the_schedule_as_niter_to_niter_decay():
    # 10 + 10 epochs over 1000 steps: constant for 500 steps, then linear to zero at step 1000
    factor = [lr_factor(schedule_epoch(i, 1000, 10, 10), 10, 10) for i in (0, 250, 499, 500, 750, 900, 1000)]
    assert factor == pytest.approx([1.0, 1.0, 1.0, 1.0, 0.5, 0.2, 0.0])
    # windows of 6 doubling every niter_step = 5 epochs = 250 steps, capped at 30
    lengths = [sequence_length(schedule_epoch(i, 1000, 10, 10), 6, 30, 5) for i in (0, 249, 250, 500, 999)]
    assert lengths == [6, 6, 12, 24, 30]


def test_a_run_with_total_steps_follows_the_schedule_and_stops_there(tiny_data, tmp_path):
    # tiny: 1 + 1 epochs, windows of 4 doubling every epoch up to 8; 6 steps = 2 "epochs" of 3 steps,
    # while one pass over the 2 training videos is 2 steps
    cfg = get_preset("tiny").override({"data.root": str(tiny_data), "data.synthetic_sequences": 0,
                                       "train.total_steps": 6, "train.checkpoint_every": 100})
    trainer = Trainer(cfg, tmp_path, log_with=None)
    seen = []
    train_batch = trainer.train_batch

    def recording(batch):
        seen.append((batch["label"].shape[1], trainer.opt_G.param_groups[0]["lr"] / cfg.train.lr))
        return train_batch(batch)

    trainer.train_batch = recording
    trainer.fit()
    assert trainer.step == 6 and len(seen) == 6
    assert [t for t, _ in seen] == [4, 4, 4, 8, 8, 8]
    assert [f for _, f in seen] == pytest.approx([1, 1, 1, 1, 2 / 3, 1 / 3])


def test_a_run_with_total_steps_resumes_exactly_across_the_window_change(tiny_data, tmp_path):
    # 6 steps: windows of 4, then of 6 from step 3 on, in the middle of the second pass (2 steps each)
    cfg = get_preset("tiny").override({"data.root": str(tiny_data), "data.synthetic_sequences": 0,
                                       "train.total_steps": 6, "train.n_frames_total": 6,
                                       "train.checkpoint_every": 100})
    straight = Trainer(cfg, tmp_path / "a", log_with=None)
    straight.fit()
    first = Trainer(cfg, tmp_path / "b", max_steps=3, log_with=None)
    first.fit()
    assert (first.epoch, first.batch_in_epoch) == (2, 0)  # the checkpoint starts a new pass
    resumed = Trainer(cfg, tmp_path / "b", resume=True, log_with=None)
    resumed.fit()
    assert resumed.step == 6
    for k, v in straight.G.state_dict().items():
        torch.testing.assert_close(resumed.G.state_dict()[k], v, msg=k)


# ------------------------------------------------------------------ 4. .npy input maps
def test_npy_input_maps_are_read_as_continuous_maps_of_c_channels(tmp_path):
    maps = make_npy(tmp_path, channels=5)
    ds = VideoFolderDataset(tmp_path, n_frames=2, label_nc=0, input_nc=5, use_instance=False, training=False)
    item = ds[0]
    assert item["label"].shape == (2, 5, H, W) and "label_ids" not in item
    torch.testing.assert_close(item["label"][1], image_to_tensor(maps[1]))


def test_npy_input_maps_get_the_frames_spatial_transform(tmp_path):
    maps = make_npy(tmp_path, channels=4)
    ds = VideoFolderDataset(tmp_path, n_frames=2, label_nc=0, input_nc=4, use_instance=False)
    transform = SpatialTransform((24, 48), (4, 6, 16, 32), flip=True)
    item = ds.load_window("seq0", [0, 2], transform=transform)
    expected = transform.image(torch.stack([image_to_tensor(maps[0]), image_to_tensor(maps[2])]))
    torch.testing.assert_close(item["label"], expected)
    assert item["label"].shape == item["image"].shape[:1] + (4, 16, 32)


@pytest.mark.parametrize("array, expected", [
    (np.zeros((H, W, 5), np.float32), r"expected a uint8 input map \(values 0-255\), found dtype float32"),
    (np.zeros((H, W), np.uint8), r"expected an input map of shape \[H, W, C\], found \(16, 32\)"),
    (np.zeros((H, W, 3), np.uint8), r"input map of 3 channels .*but data\.input_nc=5; set data\.input_nc=3"),
])
def test_bad_npy_input_maps_name_the_file_and_what_was_expected(tmp_path, array, expected):
    make_npy(tmp_path, channels=5)
    np.save(kind_dir(tmp_path, "train", "A") / "seq0" / "0001.npy", array)
    ds = VideoFolderDataset(tmp_path, n_frames=1, label_nc=0, input_nc=5, use_instance=False, training=False)
    with pytest.raises(DataError, match=rf"seq0/0001\.npy: {expected}.*\(sequence 'seq0', frame 1\)"):
        ds[1]


def test_npy_maps_with_label_ids_and_image_maps_of_many_channels_are_refused_at_once(tmp_path):
    make_npy(tmp_path, channels=5)
    with pytest.raises(DataError, match=r"0000\.npy: a \.npy A file is a continuous input map.*"
                                        r"data\.label_nc=0"):
        VideoFolderDataset(tmp_path, label_nc=35, use_instance=False)
    make_edges(tmp_path / "edges")
    with pytest.raises(DataError, match=r"0000\.png: an image input map has 1 or 3 channels, but "
                                        r"data\.input_nc=15; store .* as \.npy files, uint8 \[H, W, 15\]"):
        VideoFolderDataset(tmp_path / "edges", label_nc=0, input_nc=15, use_instance=False)


def test_check_decodes_npy_input_maps(tmp_path, capsys):
    make_npy(tmp_path, channels=5)
    summary = check_dataset(tmp_path, label_nc=0, input_nc=5)
    assert summary.files == {"A": 3, "B": 3}
    assert vid2vid_main(["check", str(tmp_path), "--label-nc", "0", "--input-nc", "5", "--quiet"]) == 0
    assert "3 frames, 6 files OK" in capsys.readouterr().out
    np.save(kind_dir(tmp_path, "train", "A") / "seq0" / "0002.npy", np.zeros((H, W, 5), np.int16))
    assert vid2vid_main(["check", str(tmp_path), "--label-nc", "0", "--input-nc", "5", "--quiet"]) == 1
    assert "0002.npy: expected a uint8 input map" in capsys.readouterr().err


def test_face_preset_takes_15_channel_npy_maps_into_its_generator(tmp_path):
    face = get_preset("face-512")
    assert (face.data.label_nc, face.data.input_nc, face.data.use_instance) == (0, 15, False)
    with torch.device("meta"):
        G = Generator.from_config(face)
    first = next(m for m in G.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == (face.model.n_prev + 1) * 15  # L + 1 stacked maps of 15 channels
    # the same path at a size a CPU runs: a dataset item of .npy maps through G
    make_npy(tmp_path, channels=15)
    small = face.override({"data.root": str(tmp_path), "data.height": H, "data.width": W,
                           "model.ngf": 4, "model.n_downsample": 1, "model.n_blocks_enc": 1,
                           "model.n_blocks_dec": 1, "model.n_scales": 1, "data.flow_source": "dis"})
    item = build_dataset(small, training=False, n_frames=3)[0]
    out = Generator.from_config(small)(item["label"][None], item["image"][None, :2])
    assert out.x.shape == (1, 3, H, W)


def test_generation_reads_npy_input_maps(tmp_path):
    from vid2vid.inference import read_input_frames

    maps = make_npy(tmp_path, channels=15)
    cfg = get_preset("face-512").override({"data.height": H, "data.width": W, "model.n_downsample": 1})
    frames = list(read_input_frames(cfg, kind_dir(tmp_path, "train", "A") / "seq0"))
    assert [f.name for f in frames] == ["0000.npy", "0001.npy", "0002.npy"]
    torch.testing.assert_close(frames[2].label, image_to_tensor(maps[2]))  # [15, H, W], already H x W
    assert frames[0].label_ids is None and frames[0].picture.shape[:2] == (H, W)
