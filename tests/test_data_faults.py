"""Faulty dataset files: non-finite flows, unpadded frame names, frames that do not pair by name,
lossy id maps, 16-bit frames, and the pre-flight check that decodes every file."""

import importlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from vid2vid.data import check_dataset
from vid2vid.data.folder import VideoFolderDataset
from vid2vid.data.layout import (
    DataError,
    frame_key,
    kind_dir,
    list_frames,
    read_flow,
    read_instance,
    read_label,
    read_mask,
    read_rgb,
    write_flow,
    write_instance,
    write_label,
    write_rgb,
)
from vid2vid.data.synthetic import write_dataset
from vid2vid.flow.warp import warp

warp_module = importlib.import_module("vid2vid.flow.warp")  # the module (vid2vid.flow.warp is the function)

H, W = 8, 12


def _file(root: Path, kind: str, seq: str, stem: str, ext: str = ".png") -> Path:
    return kind_dir(root, "train", kind) / seq / f"{stem}{ext}"


def make_named(root: Path, stems: list[str], seq: str = "seq0", flow: bool = True, inst: bool = True,
               seed: int = 0) -> dict[str, dict]:
    """One sequence whose files are named ``stems`` in every kind; each frame's label map is its
    position in time (label t everywhere), so the order read back is visible."""
    rng = np.random.default_rng(seed)
    written = {}
    for t, stem in enumerate(stems):
        item = {"A": np.full((H, W), t, np.uint8), "B": rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
                "inst": np.full((H, W), 1000 + t, np.int32)}
        write_label(_file(root, "A", seq, stem), item["A"])
        write_rgb(_file(root, "B", seq, stem), item["B"])
        if inst:
            write_instance(_file(root, "inst", seq, stem), item["inst"])
        if flow and t > 0:
            item["flow"] = np.full((H, W, 2), (t, -t), np.float32)
            write_flow(_file(root, "flow", seq, stem, ".npy"), item["flow"])
        written[stem] = item
    return written


# ------------------------------------------------------------------ 1. non-finite flow
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_flow_file_with_nan_or_inf_is_refused_naming_the_file(tmp_path, value):
    make_named(tmp_path, [f"{t:04d}" for t in range(3)])
    path = _file(tmp_path, "flow", "seq0", "0002", ".npy")
    flow = np.zeros((H, W, 2), np.float32)
    flow[3, 5, 1] = value
    np.save(path, flow)
    with pytest.raises(DataError, match=r"0002\.npy: flow holds 1 non-finite values .*row 3, column 5 "
                                        r"\(dy\)"):
        read_flow(path)
    ds = VideoFolderDataset(tmp_path, n_frames=2, load_flow=True, training=False)
    ds[0]  # frames 0, 1: fine
    with pytest.raises(DataError, match=r"seq0/0002\.npy: flow holds .*\(sequence 'seq0', frame 2\)"):
        ds[1]


def test_float64_flow_beyond_float32_range_is_refused(tmp_path):
    path = tmp_path / "f.npy"
    np.save(path, np.full((H, W, 2), 1e300))  # finite in float64, Inf in float32
    with pytest.raises(DataError, match="non-finite"):
        read_flow(path)


def test_warp_with_non_finite_flow_is_finite_and_differentiable(monkeypatch):
    grids = []
    real_grid_sample = warp_module.F.grid_sample

    def checked_grid_sample(image, grid, **kwargs):
        # on CPU a NaN grid can segfault grid_sample's backward: it must never get one
        grids.append(grid)
        assert torch.isfinite(grid).all(), "warp passed a non-finite grid to grid_sample"
        return real_grid_sample(image, grid, **kwargs)

    monkeypatch.setattr(warp_module.F, "grid_sample", checked_grid_sample)
    image = torch.randn(2, 3, H, W, requires_grad=True)
    flow = torch.full((2, 2, H, W), 1.0)
    flow[0, 0, 2, 3] = float("nan")
    flow[1, 1, 4, 4] = float("inf")
    flow[1, 0, 5, 6] = -float("inf")
    flow[0, 1, 1, 1] = 3e38  # finite but overflows once scaled to grid units
    flow.requires_grad_(True)
    out = warp(image, flow)
    assert torch.isfinite(out).all() and grids
    out.square().sum().backward()
    assert torch.isfinite(image.grad).all() and torch.isfinite(flow.grad).all()
    assert flow.grad[0, 0, 2, 3] == 0  # a replaced entry gets no gradient
    # a non-finite component means no displacement along that axis: the x-shift of 1 remains
    clean = flow.detach().clone()
    clean[0, 0, 2, 3] = 0.0
    torch.testing.assert_close(out[0, :, 2, 3], warp(image, clean)[0, :, 2, 3])
    # finite flows are unchanged by the guard
    torch.testing.assert_close(warp(image, torch.ones(2, 2, H, W))[..., :-1, :-1], image[..., 1:, 1:])


# ------------------------------------------------------------------ 2. natural frame order
@pytest.mark.parametrize("pattern", ["{}", "frame_{}"])
def test_unpadded_frame_names_load_in_numeric_order(tmp_path, pattern):
    stems = [pattern.format(t) for t in range(8, 16)]  # 8, 9, 10, ..., 15: text order puts 10 first
    written = make_named(tmp_path, stems)
    assert list_frames(kind_dir(tmp_path, "train", "B") / "seq0") == [f"{s}.png" for s in stems]
    ds = VideoFolderDataset(tmp_path, n_frames=None, load_flow=True, training=False)
    item = ds[0]
    assert item["label_ids"][:, 0, 0, 0].tolist() == list(range(len(stems)))
    assert item["inst"][:, 0, 0, 0].tolist() == [1000 + t for t in range(len(stems))]
    for t, stem in enumerate(stems):
        expected = torch.from_numpy(written[stem]["B"]).permute(2, 0, 1).float() / 127.5 - 1
        torch.testing.assert_close(item["image"][t], expected)
        if t > 0:
            assert item["flow"][t, :, 0, 0].tolist() == [t, -t]


# ------------------------------------------------------------------ 3. pairing by name
def test_frames_of_a_and_b_are_paired_by_name_not_position(tmp_path):
    make_named(tmp_path, ["0000", "0001", "0002", "0003"], flow=False)
    _file(tmp_path, "B", "seq0", "0003").rename(_file(tmp_path, "B", "seq0", "0004"))  # same count
    with pytest.raises(DataError, match=r"sequence 'seq0': the B file names in .*train_B/seq0 do not match "
                                        r".*no B file for frame '0003' \(A file '0003\.png'\); "
                                        r"B file '0004\.png' matches no A frame"):
        VideoFolderDataset(tmp_path, n_frames=2)


def test_a_frame_missing_from_one_kind_is_named(tmp_path):
    make_named(tmp_path, ["0000", "0001", "0002", "0003"])
    _file(tmp_path, "inst", "seq0", "0001").unlink()
    with pytest.raises(DataError, match=r"sequence 'seq0': .* has 4 frames but .*train_inst/seq0 has 3 inst "
                                        r"files, expected 4 .*no inst file for frame '0001'"):
        VideoFolderDataset(tmp_path, n_frames=2)


def test_flow_files_are_named_after_frame_t_not_t_minus_1(tmp_path):
    make_named(tmp_path, ["0000", "0001", "0002"])
    flow_dir = kind_dir(tmp_path, "train", "flow") / "seq0"
    for stem, new in (("0001", "0000"), ("0002", "0001")):  # flows named after frame t-1: wrong
        (flow_dir / f"{stem}.npy").rename(flow_dir / f"{new}.npy")
    with pytest.raises(DataError, match=r"no flow file for frame '0002'.*flow file '0000\.npy' matches no "
                                        r"A frame; the first frame '0000' has no flow file"):
        VideoFolderDataset(tmp_path, n_frames=2, load_flow=True)


def test_differently_tagged_names_of_one_frame_pair(tmp_path):
    """Cityscapes: ``*_gtFine_labelIds.png`` (A) pairs with ``*_leftImg8bit.png`` (B)."""
    rng = np.random.default_rng(0)
    frames = {}
    for t in (19, 20, 21):
        stem = f"aachen_000000_{t:06d}"
        label, rgb = np.full((H, W), t, np.uint8), rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        write_label(_file(tmp_path, "A", "aachen", f"{stem}_gtFine_labelIds"), label)
        write_rgb(_file(tmp_path, "B", "aachen", f"{stem}_leftImg8bit"), rgb)
        frames[t] = rgb
    assert frame_key("aachen_000000_000019_leftImg8bit.png") == "aachen_000000_000019"
    item = VideoFolderDataset(tmp_path, n_frames=None, training=False)[0]
    assert item["label_ids"][:, 0, 0, 0].tolist() == [19, 20, 21]
    torch.testing.assert_close(item["image"][2], torch.from_numpy(frames[21]).permute(2, 0, 1) / 127.5 - 1)


def test_two_files_of_one_frame_are_refused(tmp_path):
    make_named(tmp_path, ["0000", "0001"], flow=False)
    write_rgb(_file(tmp_path, "B", "seq0", "0001", ".bmp"), np.zeros((H, W, 3), np.uint8))
    with pytest.raises(DataError, match=r"train_B/seq0: '0001\.bmp' and '0001\.png' are both frame '0001'"):
        VideoFolderDataset(tmp_path, n_frames=2)


# ------------------------------------------------------------------ 4. lossy id maps
def _write_jpeg(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".jpg", array)
    assert ok
    buf.tofile(str(path))


def test_jpeg_label_and_instance_maps_are_refused(tmp_path):
    ids = np.zeros((H, W), np.uint8)
    ids[:, W // 2:] = 7
    _write_jpeg(tmp_path / "label.jpg", ids)
    _write_jpeg(tmp_path / "inst.jpeg", ids)
    _write_jpeg(tmp_path / "disguised.png", ids)  # JPEG bytes under a PNG name
    with pytest.raises(DataError, match=r"label\.jpg: label map stored as JPEG; lossy compression changes "
                                        r"the ids.*save label maps as PNG"):
        read_label(tmp_path / "label.jpg")
    with pytest.raises(DataError, match=r"inst\.jpeg: instance map stored as JPEG; lossy"):
        read_instance(tmp_path / "inst.jpeg")
    with pytest.raises(DataError, match=r"disguised\.png: label map stored as JPEG"):
        read_label(tmp_path / "disguised.png")
    assert read_label(tmp_path / "label.jpg", ids=False).shape == (H, W)  # a continuous map may be JPEG


def test_dataset_with_jpeg_labels_names_the_file_and_frame(tmp_path):
    make_named(tmp_path, ["0000", "0001"], flow=False, inst=False)
    _file(tmp_path, "A", "seq0", "0001").unlink()
    _write_jpeg(_file(tmp_path, "A", "seq0", "0001", ".jpg"), np.full((H, W), 1, np.uint8))
    ds = VideoFolderDataset(tmp_path, n_frames=2, training=False)
    with pytest.raises(DataError, match=r"0001\.jpg: label map stored as JPEG.*\(sequence 'seq0', frame 1\)"):
        ds[0]


# ------------------------------------------------------------------ 5. 16-bit frames
def test_16_bit_frames_are_read_with_their_true_depth(tmp_path):
    rng = np.random.default_rng(0)
    rgb8 = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    rgb16 = rgb8.astype(np.uint16) * 257  # the same picture at 16 bits (255 -> 65535)
    rgb16[0, 0] += 100  # not an exact multiple: rounds to the nearest 8-bit value
    assert cv2.imwrite(str(tmp_path / "rgb16.png"), cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(read_rgb(tmp_path / "rgb16.png"), rgb8)
    grey16 = rgb16[..., 0]
    Image.fromarray(grey16).save(tmp_path / "grey16.png")  # PIL mode I;16
    assert Image.open(tmp_path / "grey16.png").mode == "I;16"
    np.testing.assert_array_equal(read_rgb(tmp_path / "grey16.png"), np.repeat(rgb8[..., :1], 3, axis=-1))
    black = np.zeros((H, W), np.uint16)
    Image.fromarray(black).save(tmp_path / "black16.png")
    assert (read_rgb(tmp_path / "black16.png") == 0).all()  # all zero: black at any depth


def test_16_bit_frames_holding_8_bit_values_are_refused(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    assert cv2.imwrite(str(tmp_path / "wide.png"), rgb.astype(np.uint16))
    with pytest.raises(DataError, match=r"wide\.png: 16-bit file holding 8-bit values \(largest value 255 "
                                        r"of 65535.*save it as an 8-bit image"):
        read_rgb(tmp_path / "wide.png")
    Image.fromarray(rgb[..., 0].astype(np.uint16)).save(tmp_path / "wide_grey.png")
    with pytest.raises(DataError, match="16-bit file holding 8-bit values"):
        read_rgb(tmp_path / "wide_grey.png")


# ------------------------------------------------------------------ 6. pre-flight check
def test_check_dataset_passes_a_clean_synthetic_dataset(tmp_path):
    root = write_dataset(tmp_path / "synth", n_train=2, n_test=1, frames=4, height=32, width=64,
                         progress=False)
    summary = check_dataset(root, "train")
    assert summary.sequences == 2 and summary.frames == 8
    assert summary.files == {"A": 8, "B": 8, "inst": 8, "flow": 6, "occ": 6}
    assert summary.n_files == 36 and "36 files OK" in str(summary)
    ds = VideoFolderDataset(root, "test", n_frames=2, use_instance=False, training=False)
    assert check_dataset(ds).files == {"A": 4, "B": 4}  # a dataset checks exactly the files it loads


def test_check_dataset_lists_every_bad_file_in_one_error(tmp_path):
    root = write_dataset(tmp_path / "synth", n_train=2, n_test=0, frames=4, height=32, width=64,
                         progress=False)
    truncated = kind_dir(root, "train", "B") / "seq_0001" / "00003.png"
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    bad_flow = kind_dir(root, "train", "flow") / "seq_0000" / "00002.npy"
    flow = read_flow(bad_flow)
    flow[0, 0, 0] = np.nan
    np.save(bad_flow, flow)
    wrong_size = kind_dir(root, "train", "inst") / "seq_0000" / "00001.png"
    write_instance(wrong_size, np.zeros((16, 64), np.int32))
    bad_label = kind_dir(root, "train", "A") / "seq_0001" / "00000.png"
    write_label(bad_label, np.full((32, 64), 200, np.uint8))
    with pytest.raises(DataError) as info:
        check_dataset(root, "train", label_nc=35, progress=False, workers=2)
    message = str(info.value)
    assert "4 bad file(s) of 36 checked" in message
    assert "seq_0001/00003.png: unreadable or truncated image (sequence 'seq_0001', frame 3)" in message
    assert "seq_0000/00002.npy: flow holds 1 non-finite values" in message
    assert "seq_0000/00001.png: size 16x64 differs from its A map (32x64) (sequence 'seq_0000', frame 1)" \
        in message
    assert "seq_0001/00000.png: label ids must lie in [0, 34] (label_nc = 35), found [200]" in message
    with pytest.raises(DataError, match=r"1 bad file\(s\)"):  # the dataset's own check skips unloaded kinds
        check_dataset(VideoFolderDataset(root, n_frames=2, label_nc=255, use_instance=False, training=False))


def test_16_bit_masks_are_read_with_their_true_depth(tmp_path):
    mask = np.zeros((H, W), bool)
    mask[2:5, 3:7] = True
    Image.fromarray(mask.astype(np.uint16) * 65535).save(tmp_path / "occ16.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "occ16.png"), mask)
    Image.fromarray(mask.astype(np.uint16) * 255).save(tmp_path / "occ16_8.png")
    with pytest.raises(DataError, match=r"occ16_8\.png: 16-bit file holding 8-bit values"):
        read_mask(tmp_path / "occ16_8.png")


def test_inference_pairs_real_frames_and_edge_maps_by_name(tmp_path):
    from vid2vid.config import get_preset
    from vid2vid.inference import read_input_frames

    written = make_named(tmp_path, ["8", "9", "10"], flow=False, inst=False)
    cfg = get_preset("tiny").override(["data.height=8", "data.width=12", "data.use_instance=false"])
    a, b = kind_dir(tmp_path, "train", "A") / "seq0", kind_dir(tmp_path, "train", "B") / "seq0"
    frames = list(read_input_frames(cfg, a, real_dir=b))
    assert [f.name for f in frames] == ["8.png", "9.png", "10.png"]
    for f, stem in zip(frames, ["8", "9", "10"], strict=True):  # each real frame is its own, in order
        assert int(f.label_ids.max()) == int(written[stem]["A"].max())
        assert np.allclose(f.real.permute(1, 2, 0).numpy() * 127.5 + 127.5, written[stem]["B"], atol=1)
    (b / "9.png").rename(b / "11.png")  # frame 9 has no real frame: refused, not shifted by one
    with pytest.raises(DataError, match=r"no real frame for label frame\(s\) \['9.png'\]"):
        list(read_input_frames(cfg, a, real_dir=b))
    # an edge map (label_nc 0) may be a JPEG: only id maps are refused
    edge = tmp_path / "edges"
    edge.mkdir()
    cv2.imwrite(str(edge / "0.jpg"), np.full((H, W), 200, np.uint8))
    cfg1 = cfg.override(["data.label_nc=0", "data.input_nc=1", "model.use_fg_prior=false"])
    (frame,) = list(read_input_frames(cfg1, edge))
    assert frame.label.shape[-2:] == (H, W) and float(frame.label.mean()) > 0.4
