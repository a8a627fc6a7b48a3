"""The video-folder dataset: item contents, sampling, flow-consistent augmentation, validation."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vid2vid.data.encoding import instance_edges, one_hot
from vid2vid.data.folder import SpatialTransform, VideoFolderDataset
from vid2vid.data.layout import (
    DataError,
    kind_dir,
    write_flow,
    write_instance,
    write_label,
    write_mask,
    write_rgb,
)

H, W = 16, 24


def _path(root: Path, kind: str, seq: str, t: int, ext: str = ".png", split: str = "train") -> Path:
    return kind_dir(root, split, kind) / seq / f"{t:04d}{ext}"


def make_dataset(root: Path, lengths=(5, 5), size=(H, W), label_nc=35, inst=True, flow=False, occ=False,
                 seed=0) -> dict:
    """Random label / frame / instance files; returns the arrays written, by (sequence, frame)."""
    rng = np.random.default_rng(seed)
    written = {}
    for s, n in enumerate(lengths):
        seq = f"seq{s}"
        for t in range(n):
            label = rng.integers(0, label_nc, size, dtype=np.uint8)
            rgb = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            ids = label.astype(np.int32) * 1000 + rng.integers(0, 2, size)
            write_label(_path(root, "A", seq, t), label)
            write_rgb(_path(root, "B", seq, t), rgb)
            if inst:
                write_instance(_path(root, "inst", seq, t), ids)
            item = {"A": label, "B": rgb, "inst": ids}
            if flow and t > 0:
                item["flow"] = rng.uniform(-2, 2, (*size, 2)).astype(np.float32)
                write_flow(_path(root, "flow", seq, t, ".npy"), item["flow"])
            if occ and t > 0:
                item["occ"] = rng.random(size) < 0.2
                write_mask(_path(root, "occ", seq, t), item["occ"])
            written[seq, t] = item
    return written


def write_shift_sequence(root: Path, dx: int, dy: int, n: int = 4, size=(H, W), seed=0) -> None:
    """Frames that are integer shifts of one random texture: frame_t(x, y) = frame_{t-1}(x+dx, y+dy),
    so the backward flow t -> t-1 is exactly the constant (dx, dy)."""
    rng = np.random.default_rng(seed)
    m = (max(abs(dx), abs(dy)) + 1) * n
    texture = rng.integers(0, 256, (size[0] + 2 * m, size[1] + 2 * m, 3), dtype=np.uint8)
    for t in range(n):
        top, left = m + t * dy, m + t * dx
        write_rgb(_path(root, "B", "shift", t), texture[top:top + size[0], left:left + size[1]])
        write_label(_path(root, "A", "shift", t), np.full(size, 7, np.uint8))
        if t > 0:
            write_flow(_path(root, "flow", "shift", t, ".npy"), np.full((*size, 2), (dx, dy), np.float32))


def warp_error(item: dict, margin: int) -> float:
    """Largest |warp(image[t-1], flow[t]) - image[t]| over the frame minus a border of ``margin``."""
    from vid2vid.flow.warp import warp

    image, flow = item["image"], item["flow"]
    pred = warp(image[:-1], flow[1:])
    diff = (pred - image[1:])[..., margin:-margin, margin:-margin]
    return float(diff.abs().max())


# ------------------------------------------------------------------ item contents
def test_item_holds_the_files_as_tensors_of_the_documented_shapes(tmp_path):
    written = make_dataset(tmp_path, flow=True, occ=True)
    ds = VideoFolderDataset(tmp_path, n_frames=3, load_flow=True, load_occlusion=True, training=False)
    assert ds.use_instance and ds.semantic_nc == 36
    item = ds[1]  # sequence seq0, window starting at frame 1
    assert item["sequence"] == "seq0" and item["frame_indices"].tolist() == [1, 2, 3]
    assert item["label"].shape == (3, 36, H, W) and item["label"].dtype == torch.float32
    assert item["label_ids"].shape == (3, 1, H, W) and item["label_ids"].dtype == torch.int64
    assert item["image"].shape == (3, 3, H, W) and item["inst"].shape == (3, 1, H, W)
    assert item["flow"].shape == (3, 2, H, W) and item["occlusion"].shape == (3, 1, H, W)
    for k, t in enumerate([1, 2, 3]):
        ref = written["seq0", t]
        np.testing.assert_array_equal(item["label_ids"][k, 0].numpy(), ref["A"])
        np.testing.assert_array_equal(item["inst"][k, 0].numpy(), ref["inst"])
        expected_rgb = torch.from_numpy(ref["B"]).permute(2, 0, 1).float() / 127.5 - 1
        torch.testing.assert_close(item["image"][k], expected_rgb)
        if k > 0:  # entry 0 has no flow inside the window
            np.testing.assert_array_equal(item["flow"][k].permute(1, 2, 0).numpy(), ref["flow"])
            np.testing.assert_array_equal(item["occlusion"][k, 0].numpy() > 0.5, ref["occ"])
    assert torch.equal(item["label"][:, :35], one_hot(item["label_ids"][:, 0], 35))
    assert torch.equal(item["label"][:, 35:], instance_edges(item["inst"][:, 0]))
    assert item["flow"][0].eq(0).all() and item["occlusion"][0].eq(0).all()
    assert item["flow_valid"].tolist() == [False, True, True]
    assert item["image"].min() >= -1 and item["image"].max() <= 1


def test_without_instances_the_edge_channel_is_absent(tmp_path):
    make_dataset(tmp_path, inst=False)
    ds = VideoFolderDataset(tmp_path, n_frames=2, training=False)  # use_instance auto: no _inst folder
    item = ds[0]
    assert not ds.use_instance and ds.semantic_nc == 35
    assert item["label"].shape == (2, 35, H, W) and "inst" not in item
    with pytest.raises(DataError, match="train_inst: folder not found"):
        VideoFolderDataset(tmp_path, n_frames=2, use_instance=True)


@pytest.mark.parametrize("input_nc", [1, 3])
def test_continuous_source_maps_are_used_as_they_are_in_the_signed_range(tmp_path, input_nc):
    rng = np.random.default_rng(0)
    maps = []
    for t in range(3):
        m = rng.integers(0, 256, (H, W) if input_nc == 1 else (H, W, 3), dtype=np.uint8)
        (write_label if input_nc == 1 else write_rgb)(_path(tmp_path, "A", "face", t), m)
        write_rgb(_path(tmp_path, "B", "face", t), m if input_nc == 3 else np.stack([m] * 3, -1))
        maps.append(m)
    ds = VideoFolderDataset(tmp_path, n_frames=3, label_nc=0, input_nc=input_nc, training=False)
    item = ds[0]
    assert ds.semantic_nc == input_nc and "label_ids" not in item
    expected = torch.from_numpy(np.stack(maps)).float() / 127.5 - 1
    expected = expected[:, None] if input_nc == 1 else expected.permute(0, 3, 1, 2)
    torch.testing.assert_close(item["label"], expected)


def test_default_collate_batches_items(tmp_path):
    make_dataset(tmp_path, flow=True)
    ds = VideoFolderDataset(tmp_path, n_frames=3, load_flow=True, crop_size=(8, 12), scale_range=(1, 1.5),
                            seed=0)
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["label"].shape == (2, 3, 36, 8, 12)
    assert batch["image"].shape == (2, 3, 3, 8, 12) and batch["flow"].shape == (2, 3, 2, 8, 12)
    assert batch["flow_valid"].shape == (2, 3) and batch["frame_indices"].shape == (2, 3)
    assert batch["sequence"] == ["seq0", "seq1"]


# ------------------------------------------------------------------ sampling
def test_evaluation_enumerates_every_window_in_order(tmp_path):
    make_dataset(tmp_path, lengths=(5, 4))
    ds = VideoFolderDataset(tmp_path, n_frames=3, training=False)
    assert len(ds) == 3 + 2
    got = [(ds[i]["sequence"], ds[i]["frame_indices"].tolist()) for i in range(len(ds))]
    assert got == [("seq0", [0, 1, 2]), ("seq0", [1, 2, 3]), ("seq0", [2, 3, 4]),
                   ("seq1", [0, 1, 2]), ("seq1", [1, 2, 3])]
    with pytest.raises(IndexError):
        ds[len(ds)]
    strided = VideoFolderDataset(tmp_path, n_frames=2, stride=2, training=False)
    assert [strided[i]["frame_indices"].tolist() for i in range(len(strided))] == \
        [[0, 2], [1, 3], [2, 4], [0, 2], [1, 3]]


def test_whole_sequences_when_n_frames_is_none(tmp_path):
    make_dataset(tmp_path, lengths=(5, 3))
    ds = VideoFolderDataset(tmp_path, n_frames=None, training=False)
    assert len(ds) == 2
    assert ds[0]["label"].shape[0] == 5 and ds[1]["frame_indices"].tolist() == [0, 1, 2]


def test_training_draws_random_windows_and_strides_reproducibly(tmp_path):
    make_dataset(tmp_path, lengths=(9, 7))
    ds = VideoFolderDataset(tmp_path, n_frames=3, max_stride=3, repeat=4, seed=5, flip=False)
    assert len(ds) == 2 * 4
    seen_strides, seen_starts = set(), set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            frames = item["frame_indices"].tolist()
            n = 9 if item["sequence"] == "seq0" else 7
            assert item["sequence"] == f"seq{i % 2}"
            stride = frames[1] - frames[0]
            assert frames == [frames[0] + k * stride for k in range(3)] and 1 <= stride <= 3
            assert 0 <= frames[0] and frames[-1] < n
            seen_strides.add(stride)
            seen_starts.add(frames[0])
    assert seen_strides == {1, 2, 3} and len(seen_starts) > 3
    ds.set_epoch(2)
    a, b = ds[3], ds[3]
    assert torch.equal(a["frame_indices"], b["frame_indices"]) and torch.equal(a["image"], b["image"])


def test_set_n_frames_rebuilds_the_index_for_the_temporal_curriculum(tmp_path):
    make_dataset(tmp_path, lengths=(5, 8))
    ds = VideoFolderDataset(tmp_path, n_frames=2, training=False)
    assert len(ds) == 4 + 7
    with pytest.warns(UserWarning, match="'seq0' \\(5\\).*skipped"):
        ds.set_n_frames(6)
    assert ds.sequences == ["seq1"] and len(ds) == 3
    assert ds[0]["label"].shape[0] == 6


# ------------------------------------------------------------------ augmentation
def test_spatial_transform_scales_flow_vectors_per_axis_and_negates_dx_on_flip():
    flow = torch.zeros(1, 2, 4, 6)
    flow[:, 0], flow[:, 1] = 1.5, -0.5
    t = SpatialTransform(resize=(8, 18), crop=(1, 2, 6, 9), flip=False)
    out = t.flow(flow)
    assert out.shape == (1, 2, 6, 9)
    torch.testing.assert_close(out[:, 0], torch.full((1, 6, 9), 4.5))  # x scaled by 18 / 6
    torch.testing.assert_close(out[:, 1], torch.full((1, 6, 9), -1.0))  # y scaled by 8 / 4
    flipped = SpatialTransform(resize=(8, 18), crop=(1, 2, 6, 9), flip=True).flow(flow)
    torch.testing.assert_close(flipped[:, 0], -out[:, 0])
    torch.testing.assert_close(flipped[:, 1], out[:, 1])
    ids = torch.arange(24).view(1, 1, 4, 6)
    assert torch.equal(SpatialTransform.identity((4, 6)).nearest(ids), ids)
    mirrored = SpatialTransform((4, 6), (0, 0, 4, 6), flip=True).nearest(ids)
    assert torch.equal(mirrored, ids.flip(-1))


def test_nearest_maps_and_bilinear_frames_share_one_pixel_grid():
    # Along one axis a nearest-resized label must be the class holding most of the bilinear
    # weight at that pixel (exact for enlargements: the nearest source pixel weighs >= 1/2).
    # A grid misaligned by half a pixel ("nearest" instead of "nearest-exact") breaks this.
    rng = np.random.default_rng(0)
    columns = torch.from_numpy(rng.integers(0, 4, 7))
    for ids in (columns.expand(6, 7), columns[:6, None].expand(6, 7)):  # varies along x, then y
        ids = ids[None, None]  # [1, 1, 6, 7]
        for resize in [(9, 10), (13, 17), (15, 8), (20, 31)]:
            t = SpatialTransform(resize, (0, 0, *resize), flip=False)
            votes = t.image(one_hot(ids[:, 0], 4))  # [1, 4, h, w] bilinear weight of each class
            top = votes.max(dim=1)
            clear = top.values > 0.5 + 1e-4  # leave out exact ties
            assert clear.float().mean() > 0.5
            assert torch.equal(t.nearest(ids)[:, 0][clear], top.indices[clear])


def test_sampled_transforms_keep_the_crop_inside_and_evaluation_is_centred():
    rng = np.random.default_rng(0)
    for _ in range(50):
        t = SpatialTransform.sample((16, 24), rng, crop_size=(8, 12), scale_range=(0.25, 2.0), flip=True)
        top, left, h, w = t.crop
        assert (h, w) == (8, 12) and top + h <= t.resize[0] and left + w <= t.resize[1]
    t = SpatialTransform.sample((16, 24), None, load_size=(20, 30), crop_size=(10, 10), flip=True)
    assert t.resize == (20, 30) and t.crop == (5, 10, 10, 10) and not t.flip
    with pytest.raises(ValueError, match="larger than the load size"):
        SpatialTransform.sample((16, 24), None, crop_size=(32, 8))


def test_flow_still_warps_frame_t_minus_1_onto_t_after_scale_crop_and_flip(tmp_path):
    dx, dy = 1, -1
    write_shift_sequence(tmp_path, dx, dy)
    plain = VideoFolderDataset(tmp_path, n_frames=4, use_instance=False, load_flow=True, training=False)
    item = plain[0]
    assert warp_error(item, margin=2) < 1e-5  # the fabricated flow is exact before augmentation

    ds = VideoFolderDataset(tmp_path, n_frames=4, use_instance=False, load_flow=True, crop_size=(H, W),
                            scale_range=(2.0, 2.0), flip=True, seed=0)
    seen_dx = set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        item = ds[0]
        assert item["image"].shape == (4, 3, H, W)
        flow = item["flow"][1:]
        assert flow[:, 1].eq(2 * dy).all()  # dy doubled by the 2x scale
        assert flow[:, 0].eq(2 * dx).all() or flow[:, 0].eq(-2 * dx).all()  # dx doubled, negated if flipped
        seen_dx.add(int(flow[0, 0, 0, 0]))
        # 2 px of flow plus the 1 px ring where the upsampled border was clamped
        assert warp_error(item, margin=2 * 2 + 1) < 1e-4
    assert seen_dx == {2 * dx, -2 * dx}  # both flipped and unflipped windows were drawn


def test_labels_and_frames_stay_aligned_under_augmentation(tmp_path):
    rng = np.random.default_rng(3)
    # a random colour per label id: a blend of two colours is (almost surely) no third colour
    colours = rng.integers(0, 256, (35, 3), dtype=np.uint8)
    for t in range(2):
        blocks = rng.integers(0, 35, (H // 4, W // 4))
        label = np.kron(blocks, np.ones((4, 4), np.int64)).astype(np.uint8)
        write_label(_path(tmp_path, "A", "blocks", t), label)
        write_rgb(_path(tmp_path, "B", "blocks", t), colours[label])
        write_instance(_path(tmp_path, "inst", "blocks", t), label.astype(np.int32) * 1000)
    ds = VideoFolderDataset(tmp_path, n_frames=2, crop_size=(12, 18), scale_range=(1.0, 2.5), flip=True,
                            seed=1)
    values = torch.from_numpy(colours.T.astype(np.float32)) / 127.5 - 1
    values = values[None, :, :, None, None]  # [1, 3, 35, 1, 1]
    for epoch in range(6):
        ds.set_epoch(epoch)
        item = ds[0]
        ids = item["label_ids"][:, 0]  # [T, H, W]
        assert torch.equal(item["inst"][:, 0], ids * 1000)
        # where bilinear interpolation saw a single block the frame is exactly that block's colour
        dist = (item["image"][:, :, None] - values).abs().amax(dim=1)  # [T, 35, H, W]
        pure = dist.min(dim=1)
        inside = pure.values < 1e-5
        assert inside.float().mean() > 0.3
        assert torch.equal(pure.indices[inside], ids[inside])


def test_frame_strides_chain_flows_and_occlusions(tmp_path):
    write_shift_sequence(tmp_path, 1, 0, n=5)
    for t in range(1, 5):  # one occluded pixel per frame, at column t
        occ = np.zeros((H, W), bool)
        occ[5, 3 * t] = True
        write_mask(_path(tmp_path, "occ", "shift", t), occ)
    ds = VideoFolderDataset(tmp_path, n_frames=3, stride=2, use_instance=False, load_flow=True,
                            load_occlusion=True, training=False)
    item = ds[0]  # frames 0, 2, 4
    assert item["frame_indices"].tolist() == [0, 2, 4]
    assert item["flow"][1:, 0].eq(2).all() and item["flow"][1:, 1].eq(0).all()
    assert warp_error(item, margin=3) < 1e-5
    # frame 4 back to 2: occluded at 4 itself, or where the path passes a pixel occluded at 3
    # (pixel x of frame 4 came from x + 1 of frame 3)
    assert sorted(item["occlusion"][2, 0].nonzero().tolist()) == [[5, 3 * 3 - 1], [5, 3 * 4]]


# ------------------------------------------------------------------ validation
def test_sequences_missing_from_b_are_named(tmp_path):
    make_dataset(tmp_path)
    for f in (kind_dir(tmp_path, "train", "B") / "seq1").iterdir():
        f.unlink()
    (kind_dir(tmp_path, "train", "B") / "seq1").rmdir()
    with pytest.raises(DataError, match=r"train_B: missing sequence folder\(s\) \['seq1'\]"):
        VideoFolderDataset(tmp_path)


def test_extra_sequences_in_b_are_named(tmp_path):
    make_dataset(tmp_path)
    write_rgb(_path(tmp_path, "B", "stray", 0), np.zeros((H, W, 3), np.uint8))
    with pytest.raises(DataError, match=r"\['stray'\] have no counterpart"):
        VideoFolderDataset(tmp_path)


def test_frame_counts_that_differ_name_the_sequence(tmp_path):
    make_dataset(tmp_path)
    _path(tmp_path, "inst", "seq1", 4).unlink()
    with pytest.raises(DataError, match="sequence 'seq1': .* has 5 frames but .*train_inst/seq1 has 4"):
        VideoFolderDataset(tmp_path)


def test_missing_b_folder_and_empty_folders(tmp_path):
    kind_dir(tmp_path, "train", "A").mkdir(parents=True)
    with pytest.raises(DataError, match="no sequence folders"):
        VideoFolderDataset(tmp_path)
    (kind_dir(tmp_path, "train", "A") / "empty").mkdir()
    with pytest.raises(DataError, match="sequence 'empty' holds no frames"):
        VideoFolderDataset(tmp_path)
    with pytest.raises(DataError, match="test_A: folder not found"):
        VideoFolderDataset(tmp_path, split="test")
    other = tmp_path / "other"
    write_label(_path(other, "A", "s", 0), np.zeros((H, W), np.uint8))
    with pytest.raises(DataError, match="train_B: folder not found"):
        VideoFolderDataset(other, n_frames=1)
    assert "image" not in VideoFolderDataset(other, n_frames=1, load_image=False)[0]


def test_truncated_png_names_file_sequence_and_frame(tmp_path):
    make_dataset(tmp_path)
    path = _path(tmp_path, "B", "seq0", 2)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    ds = VideoFolderDataset(tmp_path, n_frames=2, training=False)
    ds[0]  # frames 0 and 1 are fine
    with pytest.raises(DataError, match=r"seq0/0002\.png: unreadable or truncated.*sequence 'seq0', frame 2"):
        ds[1]


def test_label_ids_beyond_label_nc_name_the_file(tmp_path):
    make_dataset(tmp_path, label_nc=35)
    bad = np.zeros((H, W), np.uint8)
    bad[3, 4] = 40
    write_label(_path(tmp_path, "A", "seq1", 1), bad)
    ds = VideoFolderDataset(tmp_path, n_frames=2, training=False)
    with pytest.raises(DataError, match=r"seq1/0001\.png: label ids .*label_nc = 35\), found \[40\] "
                                         r"\(sequence 'seq1', frame 1\)"):
        ds[4]  # seq1, frames 0 and 1


def test_sizes_that_differ_within_a_sequence_or_a_frame(tmp_path):
    make_dataset(tmp_path, lengths=(4,))
    write_label(_path(tmp_path, "A", "seq0", 3), np.zeros((H, W - 4), np.uint8))
    write_rgb(_path(tmp_path, "B", "seq0", 3), np.zeros((H, W - 4, 3), np.uint8))
    write_instance(_path(tmp_path, "inst", "seq0", 3), np.zeros((H, W - 4), np.int32))
    write_rgb(_path(tmp_path, "B", "seq0", 1), np.zeros((H + 2, W, 3), np.uint8))
    ds = VideoFolderDataset(tmp_path, n_frames=1, training=False)
    ds[0]
    with pytest.raises(DataError, match=r"B/seq0/0001\.png: size 18x24 differs from its A map .*frame 1\)"):
        ds[1]
    with pytest.raises(DataError, match=r"A/seq0/0003\.png: size 16x20 differs from .*0000\.png \(16x24\) "
                                        r"of the same sequence \(sequence 'seq0', frame 3\)"):
        ds[3]


def test_short_sequences_are_skipped_with_a_warning_or_rejected(tmp_path):
    make_dataset(tmp_path, lengths=(5, 2))
    with pytest.warns(UserWarning, match=r"'seq1' \(2\) have fewer frames than a window of 3"):
        ds = VideoFolderDataset(tmp_path, n_frames=3)
    assert ds.sequences == ["seq0"]
    with pytest.raises(DataError, match="'seq1' \\(2\\)"):
        VideoFolderDataset(tmp_path, n_frames=3, short_sequences="error")
    with pytest.raises(DataError, match="no sequence is long enough"):
        VideoFolderDataset(tmp_path, n_frames=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        VideoFolderDataset(tmp_path, n_frames=2)  # both long enough: no warning


def test_flow_files_of_the_wrong_shape_or_count(tmp_path):
    make_dataset(tmp_path, flow=True)
    write_flow(_path(tmp_path, "flow", "seq0", 2, ".npy"), np.zeros((H // 2, W // 2, 2), np.float32))
    np.save(_path(tmp_path, "flow", "seq0", 4, ".npy"), np.zeros((H, W, 3), np.float32))
    ds = VideoFolderDataset(tmp_path, n_frames=2, load_flow=True, training=False)
    ds[0]
    with pytest.raises(DataError, match=r"seq0/0002\.npy: expected flow of shape \(16, 24, 2\) .* found "
                                        r"\(8, 12, 2\) \(sequence 'seq0', frame 2\)"):
        ds[1]
    with pytest.raises(DataError, match=r"seq0/0004\.npy: expected flow of shape \[H, W, 2\].*frame 4"):
        ds[3]
    _path(tmp_path, "flow", "seq1", 3, ".npy").unlink()
    with pytest.raises(DataError, match="sequence 'seq1': .* has 5 frames but .*train_flow/seq1 has 3 flow "
                                        "files, expected 4"):
        VideoFolderDataset(tmp_path, n_frames=2, load_flow=True)
    for f in (kind_dir(tmp_path, "train", "flow") / "seq1").iterdir():
        f.unlink()
    (kind_dir(tmp_path, "train", "flow") / "seq1").rmdir()
    with pytest.raises(DataError, match=r"train_flow: missing sequence folder\(s\) \['seq1'\]"):
        VideoFolderDataset(tmp_path, n_frames=2, load_flow=True)


def test_evaluation_ignores_random_augmentation(tmp_path):
    written = make_dataset(tmp_path, lengths=(3,))
    ds = VideoFolderDataset(tmp_path, n_frames=3, crop_size=(8, 12), scale_range=(1.5, 2.0), flip=True,
                            training=False)
    a, b = ds[0], ds[0]
    assert torch.equal(a["image"], b["image"]) and a["image"].shape == (3, 3, 8, 12)
    # scale 1, centre crop (rows 4..11, columns 6..17), no flip
    np.testing.assert_array_equal(a["label_ids"][0, 0].numpy(), written["seq0", 0]["A"][4:12, 6:18])
