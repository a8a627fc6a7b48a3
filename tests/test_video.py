"""Video writing (MP4 / GIF / PNG), panels, notebook animation and the ``preview`` command."""

import argparse

import av
import numpy as np
import pytest
import torch
from PIL import Image

from vid2vid.commands import preview
from vid2vid.data import layout
from vid2vid.data.labels import LABEL_ID, label_palette
from vid2vid.video import (
    CAPTION_ROWS,
    VideoWriter,
    animate,
    caption,
    label_to_color,
    mask_to_gray,
    side_by_side,
    to_uint8,
    write_video,
)


def _frames(n: int, h: int, w: int) -> list[np.ndarray]:
    """Smooth moving gradients: what a video codec compresses well, so errors stay small."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for k in range(n):
        r = 128 + 100 * np.sin((xs + 2 * k) / 12)
        g = 128 + 100 * np.cos((ys - k) / 10)
        b = 255 * (xs + ys) / (h + w)
        out.append(np.stack([r, g, b], axis=-1).round().astype(np.uint8))
    return out


def _mean_abs_error(decoded: list[np.ndarray], frames: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(d.astype(int) - f.astype(int)).mean()
                          for d, f in zip(decoded, frames, strict=True)]))


def _decode(path) -> tuple[str, list[np.ndarray]]:
    with av.open(str(path)) as container:
        codec = container.streams.video[0].codec_context.name
        return codec, [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_mp4_round_trip_from_a_generator(tmp_path):
    frames = _frames(12, 32, 48)
    path = write_video(tmp_path / "clip.mp4", (f for f in frames), fps=10)
    codec, decoded = _decode(path)
    assert codec == "h264"
    assert len(decoded) == 12
    assert decoded[0].shape == (32, 48, 3)
    err = _mean_abs_error(decoded, frames)
    assert err < 4.0, err  # lossy (4:2:0 chroma alone costs ~2.5 here; crf 18), but close
    # Frames keep their order: each decoded frame is closest to its own original.
    for i, d in enumerate(decoded):
        dists = [np.abs(d.astype(int) - f.astype(int)).mean() for f in frames]
        assert int(np.argmin(dists)) == i


def test_mp4_odd_size_is_padded_to_even(tmp_path):
    frames = _frames(4, 31, 45)
    _, decoded = _decode(write_video(tmp_path / "odd.mp4", frames))
    assert len(decoded) == 4 and decoded[0].shape == (32, 46, 3)
    err = np.mean([np.abs(d[:31, :45].astype(int) - f.astype(int)).mean()
                   for d, f in zip(decoded, frames, strict=True)])
    assert err < 4.0, err


def test_tensor_frames_in_minus_one_one(tmp_path):
    frames = _frames(3, 16, 16)
    tensors = [torch.from_numpy(f).permute(2, 0, 1).float() / 127.5 - 1 for f in frames]
    for f, t in zip(frames, tensors, strict=True):
        np.testing.assert_array_equal(to_uint8(t), f)
    np.testing.assert_array_equal(to_uint8(torch.stack(tensors)), np.stack(frames))
    write_video(tmp_path / "frames", tensors)
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "frames" / f"{i:06d}.png")), f)


def test_gif_round_trip(tmp_path):
    frames = _frames(5, 24, 30)
    write_video(tmp_path / "clip.gif", frames, fps=5)
    with Image.open(tmp_path / "clip.gif") as gif:
        assert gif.n_frames == 5
        assert gif.info["duration"] == 200
        decoded = []
        for i in range(gif.n_frames):
            gif.seek(i)
            decoded.append(np.asarray(gif.convert("RGB")))
    assert decoded[0].shape == (24, 30, 3)
    err = _mean_abs_error(decoded, frames)
    assert err < 6.0, err  # 256-colour palette per frame


def test_png_patterns(tmp_path):
    frames = _frames(3, 9, 11)  # odd sizes stay as they are in PNGs
    write_video(tmp_path / "a" / "frame_%03d.png", frames)
    write_video(tmp_path / "b" / "frame_{:02d}.png", frames)
    write_video(tmp_path / "c" / "shot.png", frames)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [f"frame_{i:03d}.png" for i in range(3)]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [f"frame_{i:02d}.png" for i in range(3)]
    assert sorted(p.name for p in (tmp_path / "c").iterdir())[0] == "shot_000000.png"
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a" / "frame_002.png")), frames[2])


def test_writer_rejects_size_changes_bad_frames_and_suffixes(tmp_path):
    with pytest.raises(ValueError, match=r"frame 1 is 8x8 but the first frame was 8x10"):
        with VideoWriter(tmp_path / "x.mp4") as video:
            video.write(np.zeros((8, 10, 3), np.uint8))
            video.write(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="float32"):
        VideoWriter(tmp_path / "y.mp4").write(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="unsupported video suffix"):
        VideoWriter(tmp_path / "z.avi")
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "empty.mp4", [])


def test_side_by_side_and_colour_helpers():
    label = np.array([[LABEL_ID["road"], LABEL_ID["car"]], [LABEL_ID["sky"], 0]], np.uint8)
    colours = label_to_color(label)
    palette = label_palette()
    assert colours.dtype == np.uint8 and colours.shape == (2, 2, 3)
    assert tuple(colours[0, 1]) == palette[LABEL_ID["car"]]
    mask = mask_to_gray(torch.tensor([[0.0, 1.0], [0.5, 1.0]]))
    np.testing.assert_array_equal(mask[..., 0], [[0, 255], [128, 255]])
    rgb = np.full((2, 3, 3), 7, np.uint8)
    out = side_by_side(colours, rgb, mask, gap=1)
    assert out.shape == (2, 2 + 1 + 3 + 1 + 2, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, :2], colours)
    np.testing.assert_array_equal(out[:, 2], 255)
    np.testing.assert_array_equal(out[:, 3:6], rgb)
    with pytest.raises(ValueError, match="share a height"):
        side_by_side(rgb, np.zeros((3, 3, 3), np.uint8))


@pytest.mark.parametrize("background", [0, 128, 255])
def test_caption_writes_white_text_on_a_dark_band_in_the_top_left_corner_only(background):
    panel = np.full((64, 128, 3), background, np.uint8)
    out = caption(panel, "generated")
    assert out.shape == panel.shape and out.dtype == np.uint8
    assert (panel == background).all()  # the input is left as it was
    changed = (out != panel).any(axis=-1)
    rows, cols = np.nonzero(changed)
    assert rows.max() < CAPTION_ROWS and cols.max() < 6 * len("generated") + 3  # 6 px per letter
    band = out[:CAPTION_ROWS, :6 * len("generated")]
    letters = (band == 255).all(axis=-1)
    assert 40 < letters.sum() < 0.6 * letters.size  # letters, not a filled box
    # the band under the letters is at most a third of the background: legible on white too
    assert (band[~letters] <= background // 3 + 1).all()
    np.testing.assert_array_equal(out[CAPTION_ROWS:], panel[CAPTION_ROWS:])
    np.testing.assert_array_equal(caption(panel, ""), panel)


def test_captions_differ_by_their_text():
    panel = np.full((64, 128, 3), 100, np.uint8)
    assert not np.array_equal(caption(panel, "real"), caption(panel, "labels"))


def test_side_by_side_captions_each_panel_and_keeps_the_frame_size():
    rng = np.random.default_rng(0)
    panels = [rng.integers(0, 256, (64, 128, 3), dtype=np.uint8) for _ in range(3)]
    names = ["labels", "generated", "real"]
    plain = side_by_side(*panels, gap=2)
    captioned = side_by_side(*panels, gap=2, captions=names)
    assert captioned.shape == plain.shape == (64, 3 * 128 + 2 * 2, 3)
    for i, name in enumerate(names):
        x = i * (128 + 2)
        np.testing.assert_array_equal(captioned[:, x:x + 128], caption(panels[i], name))
        assert (captioned[:CAPTION_ROWS, x:x + 128] != plain[:CAPTION_ROWS, x:x + 128]).any()
    np.testing.assert_array_equal(captioned[CAPTION_ROWS:], plain[CAPTION_ROWS:])
    with pytest.raises(ValueError, match="2 captions for 3 panels"):
        side_by_side(*panels, captions=names[:2])


def test_side_by_side_leaves_panels_under_32_rows_uncaptioned():
    panels = [np.full((31, 40, 3), 90, np.uint8)] * 2
    np.testing.assert_array_equal(side_by_side(*panels, captions=["a", "b"]), side_by_side(*panels))


def test_label_to_color_colours_every_non_negative_id_and_rejects_negative_ones():
    ids = np.array([[LABEL_ID["road"], LABEL_ID["car"]], [200, 26001]])  # 26001: an instance id
    rgb = label_to_color(torch.from_numpy(ids))
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    palette = label_palette(26002)
    for y in range(2):
        for x in range(2):
            assert tuple(rgb[y, x]) == palette[ids[y, x]]
    assert tuple(rgb[0, 0]) == (128, 64, 128)  # Cityscapes road colour
    # A negative id would index the palette from its end: refused instead.
    with pytest.raises(ValueError, match=r">= 0.*found -1"):
        label_to_color(np.array([[0, -1]]))
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        label_to_color(np.zeros((1, 2, 2), np.int64))
    assert label_to_color(np.zeros((0, 3), np.int64)).shape == (0, 3, 3)


def test_animate_returns_inline_html_with_every_frame():
    html = animate(_frames(3, 8, 12), fps=4)
    text = html if isinstance(html, str) else html.data
    assert "<script" in text and "animation" in text.lower()
    assert text.count("data:image/png;base64") == 3


# --------------------------------------------------------------------------------------------
# python -m vid2vid preview


def _fabricate(root, with_flow=True, with_occ=True, n=3, h=16, w=20):
    rng = np.random.default_rng(0)
    for k in range(n):
        stem = f"{k:04d}"
        label = np.full((h, w), LABEL_ID["road"], np.uint8)
        label[: h // 3] = LABEL_ID["sky"]
        label[h // 2:, k * 3:k * 3 + 5] = LABEL_ID["car"]
        layout.write_label(layout.kind_dir(root, "train", "A") / "seq_a" / f"{stem}.png", label)
        layout.write_rgb(layout.kind_dir(root, "train", "B") / "seq_a" / f"{stem}.png",
                         rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        if k and with_flow:
            flow = np.zeros((h, w, 2), np.float32)
            flow[..., 0] = -3.0  # the car moved 3 px right: pixel x came from x - 3
            layout.write_flow(layout.kind_dir(root, "train", "flow") / "seq_a" / f"{stem}.npy", flow)
        if k and with_occ:
            occ = np.zeros((h, w), bool)
            occ[h // 2:, k * 3:k * 3 + 3] = True
            layout.write_mask(layout.kind_dir(root, "train", "occ") / "seq_a" / f"{stem}.png", occ)


def _args(root, out, **kw) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    preview.add_arguments(parser)
    argv = ["--data", str(root), "--out", str(out)]
    for k, v in kw.items():
        argv += ["--" + k.replace("_", "-"), str(v)]
    return parser.parse_args(argv)


def test_preview_renders_four_panels(tmp_path, capsys):
    _fabricate(tmp_path)
    out = tmp_path / "preview.mp4"
    assert preview.run(_args(tmp_path, out)) == 0
    assert str(out) in capsys.readouterr().out
    codec, decoded = _decode(out)
    assert codec == "h264" and len(decoded) == 3
    assert decoded[0].shape == (16, 4 * 20 + 3 * 2, 3)  # four panels, three 2-px gaps


def test_preview_panels_hold_labels_rgb_flow_and_occlusion(tmp_path):
    _fabricate(tmp_path)
    frames = list(preview.preview_frames(tmp_path, "train", "seq_a"))
    assert len(frames) == 3
    w = 20
    label = layout.read_label(tmp_path / "train_A" / "seq_a" / "0001.png")
    rgb = layout.read_rgb(tmp_path / "train_B" / "seq_a" / "0001.png")
    panel = lambda f, i: f[:, i * (w + 2):i * (w + 2) + w]  # noqa: E731
    np.testing.assert_array_equal(panel(frames[1], 0), label_to_color(label))
    np.testing.assert_array_equal(panel(frames[1], 1), rgb)
    # First frame: no flow (white), no occlusion (black); later: saturated uniform flow, occluded strip.
    assert (panel(frames[0], 2) == 255).all() and (panel(frames[0], 3) == 0).all()
    flow_panel = panel(frames[1], 2)
    assert (flow_panel != 255).any() and (flow_panel == flow_panel[0, 0]).all()
    occ = panel(frames[1], 3)[..., 0] == 255
    np.testing.assert_array_equal(occ, layout.read_mask(tmp_path / "train_occ" / "seq_a" / "0001.png"))


def test_preview_without_flow_or_occlusion_has_two_panels(tmp_path):
    _fabricate(tmp_path, with_flow=False, with_occ=False)
    out = tmp_path / "frames"
    preview.run(_args(tmp_path, out, sequence="seq_a", max_frames=2))
    pngs = sorted(out.iterdir())
    assert len(pngs) == 2 and np.asarray(Image.open(pngs[0])).shape == (16, 2 * 20 + 2, 3)


def test_preview_errors_name_the_sequence_and_the_file(tmp_path):
    _fabricate(tmp_path)
    with pytest.raises(layout.DataError, match=r"no sequence 'nope'.*seq_a"):
        preview.run(_args(tmp_path, tmp_path / "p.mp4", sequence="nope"))
    layout.write_flow(tmp_path / "train_flow" / "seq_a" / "0002.npy", np.zeros((8, 8, 2), np.float32))
    with pytest.raises(layout.DataError, match=r"0002\.npy: size \(8, 8\) differs from \(16, 20\)"):
        list(preview.preview_frames(tmp_path, "train", "seq_a"))


def test_preview_captions_its_panels_and_says_frame_0_has_no_flow(tmp_path):
    _fabricate(tmp_path, h=64, w=128)
    frames = list(preview.preview_frames(tmp_path, "train", "seq_a"))
    w = 128
    panel = lambda f, i: f[:, i * (w + 2):i * (w + 2) + w]  # noqa: E731
    label = layout.read_label(tmp_path / "train_A" / "seq_a" / "0001.png")
    rgb = layout.read_rgb(tmp_path / "train_B" / "seq_a" / "0001.png")
    np.testing.assert_array_equal(panel(frames[1], 0), caption(label_to_color(label), "labels"))
    np.testing.assert_array_equal(panel(frames[1], 1), caption(rgb, "frame"))
    white, black = np.full((64, w, 3), 255, np.uint8), np.zeros((64, w, 3), np.uint8)
    np.testing.assert_array_equal(panel(frames[0], 2), caption(white, "no flow at frame 0"))
    np.testing.assert_array_equal(panel(frames[0], 3), caption(black, "occlusion"))
    flow_1 = panel(frames[1], 2)
    assert (flow_1[CAPTION_ROWS:] == flow_1[-1, -1]).all()  # the uniform flow below the caption
    np.testing.assert_array_equal(flow_1, caption(flow_1[-1:, -1:].repeat(64, 0).repeat(w, 1), "flow"))


@pytest.mark.parametrize("channels", [15, 3])
def test_preview_shows_npy_input_maps(tmp_path, channels):
    """Multi-channel ``.npy`` A maps (face-512's 15 channels, ``prepare``): the first channel in
    grey, or the map itself when it has 3 channels."""
    _fabricate(tmp_path, with_flow=False, with_occ=False)
    rng = np.random.default_rng(0)
    maps = {}
    for png in sorted((tmp_path / "train_A" / "seq_a").glob("*.png")):
        maps[png.stem] = rng.integers(0, 256, (16, 20, channels), dtype=np.uint8)
        png.unlink()
        np.save(png.with_suffix(".npy"), maps[png.stem])
    frames = list(preview.preview_frames(tmp_path, "train", "seq_a"))
    assert len(frames) == len(maps) == 3
    for frame, a in zip(frames, maps.values(), strict=True):
        want = a if channels == 3 else np.repeat(a[..., :1], 3, axis=-1)
        np.testing.assert_array_equal(frame[:, :20], want)
