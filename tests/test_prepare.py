"""``python -m vid2vid prepare KIND``: videos the tests write themselves become datasets.

Every video here is tiny (48 x 64 or 128 x 128, a dozen frames), so that each test takes about a
second; the command runs in-process through ``vid2vid.__main__.main``.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from vid2vid.__main__ import main
from vid2vid.config import Config, get_preset
from vid2vid.data.layout import (
    frame_key,
    list_frames,
    list_sequences,
    read_flow,
    read_instance,
    read_label,
    read_rgb,
    write_label,
    write_rgb,
)
from vid2vid.prepare import face, pose
from vid2vid.prepare.dataset import (
    DatasetWriter,
    Sample,
    check_settings,
    held_out,
    prepare_out,
    train_settings,
)
from vid2vid.prepare.source import Fit, FrameSource

OPENCV_CLIPS = Path("/usr/share/doc/opencv-doc/examples/data")


# ---------------------------------------------------------------------------- test videos


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10, codec: str = "libx264") -> Path:
    """Encode ``uint8 [H, W, 3]`` RGB frames with PyAV (the container follows the suffix)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def moving_box(n: int = 12, h: int = 48, w: int = 64) -> list[np.ndarray]:
    """A bright box moving 3 pixels right per frame over a dark background, and a still disc."""
    frames = []
    for t in range(n):
        img = np.full((h, w, 3), 30, np.uint8)
        cv2.circle(img, (w - 12, h - 12), 6, (60, 160, 220), -1)
        cv2.rectangle(img, (4 + 3 * t, 12), (16 + 3 * t, 30), (230, 220, 90), -1)
        frames.append(img)
    return frames


def box_x(rgb: np.ndarray) -> float:
    """The x centroid of the bright yellow box of :func:`moving_box`."""
    mask = (rgb[..., 0] > 150) & (rgb[..., 2] < 150)
    return float(np.nonzero(mask)[1].mean())


def face_frames(n: int = 12, blurred: int | None = 5) -> list[np.ndarray]:
    """The astronaut's face (skimage), 128 x 128, moved by a small rotation, zoom and shift per
    frame; frame ``blurred`` is blurred until dlib finds no face (but no shot cut: its landmarks
    must be interpolated)."""
    from skimage.data import astronaut

    img = astronaut()[0:256, 100:356]
    frames = []
    for t in range(n):
        M = cv2.getRotationMatrix2D((128, 128), 2 * np.sin(t / 3), 1 + 0.01 * t)
        M[:, 2] += (2 * t - 10, 4 * np.cos(t / 2))
        moved = cv2.warpAffine(img, M, (256, 256), borderMode=cv2.BORDER_REFLECT)
        frames.append(cv2.resize(moved, (128, 128), interpolation=cv2.INTER_AREA))
    if blurred is not None:
        frames[blurred] = cv2.GaussianBlur(frames[blurred], (0, 0), 3)
    return frames


@pytest.fixture(scope="module")
def box_video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("videos") / "boxes.mp4", moving_box())


@pytest.fixture(scope="module")
def face_video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("videos") / "astronaut.mp4", face_frames())


def prepare(*args: str | Path) -> int:
    return main(["prepare", *map(str, args)])


def frames_of(root: Path, split: str, kind: str = "B") -> list[Path]:
    """Every file of ``<root>/<split>_<kind>`` in sequence, then time order."""
    folder = root / f"{split}_{kind}"
    exts = (".npy", ".png", ".json")
    return [folder / s / f for s in list_sequences(folder) for f in list_frames(folder / s, exts)]


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# ---------------------------------------------------------------------------- sources


def test_fps_resamples_by_time_stamp_and_max_frames_stops(box_video):
    assert [f.index for f in FrameSource(box_video)] == list(range(12))
    assert [f.index for f in FrameSource(box_video, fps=5)] == [0, 2, 4, 6, 8, 10]
    assert [f.index for f in FrameSource(box_video, fps=20)] == [i // 2 for i in range(23)]
    assert [f.index for f in FrameSource(box_video, fps=5, max_frames=4)] == [0, 2, 4, 6]
    assert FrameSource(box_video, fps=5).source_count() == 12


@pytest.mark.parametrize(("suffix", "codec"), [(".mp4", "libx264"), (".avi", "mpeg4"), (".mov", "mpeg4")])
def test_containers_decode_every_frame_in_order(tmp_path, suffix, codec):
    video = write_video(tmp_path / f"clip{suffix}", moving_box(), codec=codec)
    xs = [box_x(f.rgb) for f in FrameSource(video)]
    assert len(xs) == 12 and xs == sorted(xs)


def test_frame_folder_is_read_in_natural_order_and_refuses_fps(tmp_path, capsys):
    folder = tmp_path / "frames"
    for i, f in enumerate(moving_box(n=11)):  # unpadded names: 10.png sorts after 9.png
        write_rgb(folder / f"{i}.png", f)
    xs = [box_x(f.rgb) for f in FrameSource(folder)]
    assert xs == sorted(xs) and len(xs) == 11
    root = tmp_path / "out"
    assert prepare("edges", "--video", folder, "--out", root, "--height", "32", "--width", "48",
                   "--test-fraction", "0", "--flow", "none", "--quiet") == 0
    written = [box_x(read_rgb(p)) for p in frames_of(root, "train")]
    assert list_sequences(root / "train_B") == ["frames_000"] and written == sorted(written)
    assert prepare("edges", "--video", folder, "--fps", "5", "--out", tmp_path / "o2", "--quiet") == 2
    assert "no time stamps to resample by" in error_line(capsys)


def test_fit_maps_points_as_it_maps_pixels():
    img = np.zeros((48, 64), np.uint8)
    img[20, 40] = 255
    for mode, out in (("crop", (32, 32)), ("stretch", (32, 32)), ("crop", (24, 48))):
        fit = Fit((48, 64), out, mode)
        moved = fit.image(cv2.GaussianBlur(img.astype(np.float32), (0, 0), 2))
        y, x = np.unravel_index(np.argmax(moved), moved.shape)
        px, py = fit.points(np.array([40, 20]))
        assert moved.shape == out and abs(px - x) <= 1 and abs(py - y) <= 1, (mode, out, (x, y), (px, py))
    assert Fit((48, 64), (32, 32), "crop").scaled == (32, 43)  # aspect kept, then cropped
    assert Fit((48, 64), (32, 32), "stretch").scaled == (32, 32)


# ---------------------------------------------------------------------------- dataset writing


def test_split_is_by_sequence_deterministic_and_never_empty():
    assert held_out(10, 0.2) == [4, 9]
    assert held_out(10, 0.2) == held_out(10, 0.2)
    assert held_out(3, 0.01) == [2]  # at least one test sequence
    assert held_out(2, 0.9) == [1]  # never all
    assert held_out(1, 0.5) == [] and held_out(8, 0) == []


@pytest.mark.parametrize(("frames", "lengths"), [(12, [5, 7]), (13, [5, 5, 3])])
def test_short_last_piece_joins_the_sequence_before(tmp_path, frames, lengths):
    writer = DatasetWriter(prepare_out(tmp_path / "out", False), seq_len=5)
    writer.start_video("v")
    for i in range(frames):
        writer.add(Sample(f"{i:06d}", np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.uint8)))
    writer.end_video()
    splits = writer.finish(0.0)
    assert writer.lengths("train") == lengths and splits["test"] == []
    names = [p.stem for p in frames_of(tmp_path / "out", "train", "A")]
    assert names == [f"{i:06d}" for i in range(frames)]


def two_shots(n1: int = 7, n2: int = 7) -> list[np.ndarray]:
    """A shot of :func:`moving_box`, then a cut to another scene (a bright, still picture)."""
    other = np.full((48, 64, 3), 200, np.uint8)
    cv2.circle(other, (20, 20), 10, (20, 40, 160), -1)
    return moving_box(n1) + [other.copy() for _ in range(n2)]


@pytest.mark.parametrize(("cuts", "lengths"), [("split", [4, 3, 4, 3]), ("keep", [4, 4, 4, 2])])
def test_sequences_start_at_shot_cuts(tmp_path, cuts, lengths):
    video = write_video(tmp_path / "shots.mp4", two_shots())
    root = tmp_path / "out"
    assert prepare("edges", "--video", video, "--out", root, "--height", "32", "--width", "48",
                   "--seq-len", "4", "--test-fraction", "0", "--cuts", cuts, "--flow", "none", "--quiet") == 0
    seqs = list_sequences(root / "train_B")
    assert [len(list_frames(root / "train_B" / s)) for s in seqs] == lengths
    if cuts == "split":  # no sequence holds frames of both shots
        first_of_shot2 = [s for s in seqs if "000007.png" in list_frames(root / "train_B" / s)]
        assert list_frames(root / "train_B" / first_of_shot2[0])[0] == "000007.png"


# ---------------------------------------------------------------------------- edges


def test_edges_writes_layout_flows_and_a_train_yaml_that_loads(tmp_path, box_video, capsys):
    root = tmp_path / "edges"
    assert prepare("edges", "--video", box_video, "--out", root, "--height", "32", "--width", "48",
                   "--seq-len", "4", "--test-fraction", "0.34", "--quiet") == 0
    out = capsys.readouterr().out
    assert list_sequences(root / "train_B") == ["boxes_000", "boxes_001"]
    assert list_sequences(root / "test_B") == ["boxes_002"]
    b_files = frames_of(root, "train") + frames_of(root, "test")
    a_files = frames_of(root, "train", "A") + frames_of(root, "test", "A")
    assert [p.stem for p in b_files] == [p.stem for p in a_files] == [f"{i:06d}" for i in range(12)]
    xs = [box_x(read_rgb(p)) for p in b_files]
    assert all(b > a for a, b in zip(xs, xs[1:], strict=False)), xs  # frames in time order
    a = read_label(a_files[0], ids=False)
    b = read_rgb(b_files[0])
    assert a.shape == b.shape[:2] == (32, 48) and set(np.unique(a)) <= {0, 255} and a.max() == 255
    for split in ("train", "test"):  # a flow per frame but the first of each sequence
        for seq in list_sequences(root / f"{split}_B"):
            names = list_frames(root / f"{split}_B" / seq)
            flows = list_frames(root / f"{split}_flow" / seq, (".npy",))
            assert [Path(f).stem for f in flows] == [Path(n).stem for n in names[1:]]
    # backward flow t -> t-1: the box moved right by 3 * 0.75 pixels, so it points left on the box
    assert read_flow(root / "train_flow" / "boxes_000" / "000001.npy")[..., 0].min() < -1.5

    cfg = Config.from_yaml(root / "train.yaml")  # what reproduce/train.py --config does
    d = cfg.data
    assert (cfg.preset, d.root, d.label_nc, d.input_nc, d.use_instance, d.foreground_ids) == \
        ("face-512", str(root.resolve()), 0, 1, False, [])
    assert (d.height, d.width, d.flow_source, cfg.model.use_fg_prior) == (32, 48, "folder", False)
    assert cfg.train.n_frames_total == 4 and cfg.train.n_frames_start == 4  # the shortest sequence
    assert f"accelerate launch reproduce/train.py --config {root / 'train.yaml'}" in out
    assert (f"python -m vid2vid generate --checkpoint runs/edges/generator.pt --input "
            f"{root / 'test_A' / 'boxes_002'}") in out
    manifest = json.loads((root / "prepare.json").read_text())
    assert manifest["splits"] == {"train": ["boxes_000", "boxes_001"], "test": ["boxes_002"]}


def test_opencv_example_clip_or_a_written_video(tmp_path, box_video, capsys):
    """Debian's opencv-doc clip tree.avi (a variable frame rate cinepak AVI) when installed."""
    clip = OPENCV_CLIPS / "tree.avi"
    if clip.is_file():
        print(f"prepare edges on opencv-doc's {clip}")
    else:
        clip = write_video(tmp_path / "fallback.avi", moving_box(), codec="mpeg4")
        print(f"{OPENCV_CLIPS / 'tree.avi'} not found (apt-get install opencv-doc): prepare edges on a "
              f"video written by the test instead, {clip}")
    root = tmp_path / "clip"
    assert prepare("edges", "--video", clip, "--out", root, "--height", "48", "--width", "64",
                   "--max-frames", "12", "--seq-len", "6", "--flow", "none", "--quiet") == 0
    files = frames_of(root, "train") + frames_of(root, "test")
    assert len(files) == 12 and read_rgb(files[0]).shape == (48, 64, 3)
    assert read_label(frames_of(root, "train", "A")[0], ids=False).max() == 255
    assert Config.from_yaml(root / "train.yaml").data.flow_source == "dis"


# ---------------------------------------------------------------------------- face


@pytest.fixture(scope="module")
def face_track(face_video):
    return face.track_face(FrameSource(face_video), (64, 64), scale=2.0, smooth=1.0, box_smooth=5.0)


def test_face_landmarks_interpolated_where_detection_fails(face_track):
    assert face_track.failed == [5] and face_track.left_out == [] and face_track.segments == [(0, 12)]
    assert np.isnan(face_track.raw[5]).all()
    between = (face_track.raw[4] + face_track.raw[6]) / 2
    assert np.abs(face_track.landmarks[5] - between).mean() < 2.0  # pixels of the 128 x 128 frame


def test_face_crop_box_and_landmarks_are_smooth_over_time(face_track):
    boxes = face_track.boxes  # [N, 4] (x0, y0, width, height)
    accel = np.abs(np.diff(boxes, n=2, axis=0)).max()
    assert accel < 0.5, boxes  # pixels per frame^2: no jumps from frame to frame
    ok = [i for i in range(len(boxes)) if i not in face_track.failed]
    raw_jitter = np.abs(np.diff(face_track.raw[ok], n=2, axis=0)).mean()
    smooth_jitter = np.abs(np.diff(face_track.landmarks[ok], n=2, axis=0)).mean()
    assert smooth_jitter < raw_jitter
    assert (boxes[:, 2] == boxes[:, 3]).all()  # square output -> square box


def test_face_track_ends_at_a_cut_and_frames_without_a_face_are_left_out(tmp_path):
    frames = face_frames(8, blurred=None) + [cv2.resize(f, (128, 128)) for f in moving_box(5)]
    track = face.track_face(FrameSource(write_video(tmp_path / "cut.mp4", frames)), (64, 64))
    assert track.segments == [(0, 8)] and track.left_out == [8, 9, 10, 11, 12] and track.failed == []
    assert np.isnan(track.boxes[8:]).all() and not np.isnan(track.boxes[:8]).any()


def test_another_face_does_not_continue_a_track():
    prev = face.FaceBox((50.0, 50.0), 40.0)
    assert face.FaceBox((60.0, 55.0), 44.0).follows(prev)
    assert not face.FaceBox((120.0, 50.0), 40.0).follows(prev)  # elsewhere in the picture
    assert not face.FaceBox((50.0, 50.0), 20.0).follows(prev)  # a face in the background


def test_face_writes_15_channel_npy_maps_matching_the_preset(tmp_path, face_video, capsys):
    root = tmp_path / "face"
    assert prepare("face", "--video", face_video, "--out", root, "--height", "64", "--width", "64",
                   "--seq-len", "6", "--flow", "none", "--quiet") == 0
    out = capsys.readouterr().out
    assert "face detection failed in 1 of the 12 frames written" in out
    a_files = frames_of(root, "train", "A") + frames_of(root, "test", "A")
    b_files = frames_of(root, "train") + frames_of(root, "test")
    assert [p.suffix for p in a_files] == [".npy"] * 12
    assert [p.stem for p in a_files] == [p.stem for p in b_files]
    a = np.load(a_files[0])
    assert a.dtype == np.uint8 and a.shape == (64, 64, get_preset("face-512").data.input_nc) == (64, 64, 15)
    assert len(face.CHANNELS) == 15 and set(np.unique(a[..., 0])) <= {0, 255}
    curves = a[..., 0] == 255
    for c in range(1, 15):  # each distance map is 0 on its curve, which is drawn in channel 0
        assert (curves[a[..., c] == 0]).all() and a[..., c].max() > 100
    cfg = Config.from_yaml(root / "train.yaml")
    d = cfg.data
    assert (cfg.preset, d.label_nc, d.input_nc, d.use_instance) == ("face-512", 0, 15, False)
    assert cfg.model.use_fg_prior is False and cfg.data.foreground_ids == []
    manifest = json.loads((root / "prepare.json").read_text())
    assert manifest["videos"][0]["failed_detections"] == [5]
    assert manifest["input_channels"] == list(face.CHANNELS)


def test_face_without_a_face_is_an_error_naming_the_video(tmp_path, box_video, capsys):
    assert prepare("face", "--video", box_video, "--out", tmp_path / "f", "--height", "32",
                   "--width", "32", "--quiet") == 2
    assert f"{box_video}: no face found in any of its 12 frames" in error_line(capsys)
    assert not (tmp_path / "f").exists()  # found before anything was written


# ---------------------------------------------------------------------------- pose


def openpose_json(folder: Path, n: int, fmt: str = "body25") -> Path:
    """OpenPose files ``clip_<t:012d>_keypoints.json``: one person whose neck, hips and right arm
    move 3 pixels right per frame (source pixels of the 48 x 64 video); the rest missing."""
    folder.mkdir(parents=True)
    count = 25 if fmt == "body25" else 18
    for t in range(n):
        kp = np.zeros((count, 3))
        kp[1] = (10 + 3 * t, 8, 0.9)  # neck
        kp[2] = (4 + 3 * t, 10, 0.8)  # right shoulder
        kp[3] = (4 + 3 * t, 24, 0.8)  # right elbow
        if fmt == "body25":
            kp[8] = (10 + 3 * t, 40, 0.9)  # mid hip
        doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": kp.ravel().tolist(),
                                           "face_keypoints_2d": [], "hand_left_keypoints_2d": []}]}
        (folder / f"clip_{t:012d}_keypoints.json").write_text(json.dumps(doc))
    return folder


def test_pose_from_openpose_json_renders_openpose_colours(tmp_path, box_video, capsys):
    keypoints = openpose_json(tmp_path / "json", 12)
    root = tmp_path / "pose"
    assert prepare("pose", "--video", box_video, "--keypoints", keypoints, "--out", root,
                   "--height", "32", "--width", "48", "--seq-len", "6", "--flow", "none", "--quiet") == 0
    a_files = frames_of(root, "train", "A") + frames_of(root, "test", "A")
    kp_files = frames_of(root, "train", "keypoints") + frames_of(root, "test", "keypoints")
    assert [p.suffix for p in a_files] == [".png"] * 12
    assert [p.stem for p in kp_files] == [p.stem for p in a_files]
    # crop: 48 x 64 -> scaled by 0.75 to 36 x 48, 2 rows cut at the top
    t = 7
    doc = json.loads(kp_files[t].read_text())
    neck = doc["people"][0]["pose_keypoints_2d"][3:6]
    assert neck == pytest.approx([(10 + 3 * t) * 0.75, 8 * 0.75 - 2, 0.9], abs=0.01)
    assert doc["people"][0]["pose_keypoints_2d"][:3] == [0, 0, 0]  # missing stays missing
    img = read_rgb(a_files[t])
    assert img.shape == (32, 48, 3)
    x = round((10 + 3 * t) * 0.75)
    mid_y = round((8 + 40) / 2 * 0.75 - 2)  # neck -> mid hip: coloured like MidHip, red
    assert tuple(img[mid_y, x]) == pytest.approx(pose.wheel(0), abs=40)
    assert tuple(img[mid_y, x]) == pytest.approx((255, 0, 0), abs=40)
    assert img[:, :3].max() == 0  # nothing drawn where there are no keypoints
    cfg = Config.from_yaml(root / "train.yaml")
    d = cfg.data
    assert (cfg.preset, d.label_nc, d.input_nc, cfg.model.use_fg_prior) == ("pose-256", 0, 3, False)
    assert (cfg.data.crop_height, cfg.data.random_scale) == (0, False)  # another size than the preset's


def test_pose_coco18_json_and_densepose_give_six_channels(tmp_path, box_video):
    keypoints = openpose_json(tmp_path / "json", 12, fmt="coco18")
    iuv = tmp_path / "iuv"
    for t in range(12):
        write_rgb(iuv / f"{t:04d}_IUV.png", np.full((48, 64, 3), (t, 100, 200), np.uint8))
    root = tmp_path / "pose"
    assert prepare("pose", "--video", box_video, "--keypoints", keypoints, "--densepose", iuv, "--out", root,
                   "--height", "32", "--width", "48", "--seq-len", "12", "--test-fraction", "0",
                   "--flow", "none", "--quiet") == 0
    a_files = frames_of(root, "train", "A")
    a = np.load(a_files[3])
    assert a.shape == (32, 48, 6) and a.dtype == np.uint8
    assert (a[..., :3] == (3, 100, 200)).all()  # IUV first, then the skeleton
    assert a[..., 3:].max() > 0
    assert len(json.loads(frames_of(root, "train", "keypoints")[3].read_text())["people"][0]
               ["pose_keypoints_2d"]) == 18 * 3
    assert Config.from_yaml(root / "train.yaml").data.input_nc == 6


def test_pose_keypoint_rcnn_runs_with_random_weights(tmp_path, box_video, capsys):
    root = tmp_path / "rcnn"
    assert prepare("pose", "--video", box_video, "--weights", "none", "--detector-size", "64",
                   "--max-people", "2", "--max-frames", "3", "--out", root, "--height", "32", "--width", "48",
                   "--flow", "none", "--quiet") == 0
    files = frames_of(root, "train", "A")
    assert len(files) == 3 and read_rgb(files[0]).shape == (32, 48, 3)
    doc = json.loads(frames_of(root, "train", "keypoints")[0].read_text())
    assert all(len(p["pose_keypoints_2d"]) == 25 * 3 for p in doc["people"])


def test_missing_keypoint_rcnn_weights_file_is_an_error_before_writing(tmp_path, box_video, capsys):
    weights = tmp_path / "missing.pth"
    assert prepare("pose", "--video", box_video, "--weights", weights, "--out", tmp_path / "p",
                   "--height", "32", "--width", "48", "--quiet") == 2
    assert error_line(capsys) == f"error: {weights}: Keypoint R-CNN weights file not found"
    assert not (tmp_path / "p").exists()


def test_pose_json_of_the_wrong_format_is_an_error_naming_the_file(tmp_path, box_video, capsys):
    keypoints = openpose_json(tmp_path / "json", 12)
    bad = keypoints / "clip_000000000004_keypoints.json"
    bad.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1, 2, 3, 4]}]}))
    assert prepare("pose", "--video", box_video, "--keypoints", keypoints, "--out", tmp_path / "p",
                   "--height", "32", "--width", "48", "--flow", "none", "--quiet") == 2
    assert f"error: {bad}: not an OpenPose keypoint file" in error_line(capsys)


def test_pose_keypoint_count_differing_from_frames_is_an_error(tmp_path, box_video, capsys):
    keypoints = openpose_json(tmp_path / "json", 11)
    assert prepare("pose", "--video", box_video, "--keypoints", keypoints, "--out", tmp_path / "p",
                   "--height", "32", "--width", "48", "--quiet") == 2
    line = error_line(capsys)
    assert f"{keypoints}: 11 OpenPose keypoint files" in line and f"{box_video} has 12 frames" in line
    assert not (tmp_path / "p").exists()  # refused before anything was written


# ---------------------------------------------------------------------------- segmentation


def label_map(t: int, h: int = 48, w: int = 64) -> np.ndarray:
    """Label ids of frame ``t`` of :func:`moving_box`: 0 background, 1 the moving box, 3 the disc."""
    label = np.zeros((h, w), np.uint8)
    cv2.circle(label, (w - 12, h - 12), 6, 3, -1)
    cv2.rectangle(label, (4 + 3 * t, 12), (16 + 3 * t, 30), 1, -1)
    return label


def instance_map(label: np.ndarray) -> np.ndarray:
    """Instance ids in Cityscapes' style: class * 1000 + 1 for each labelled object."""
    return label.astype(np.uint16) * 1000 + (label > 0)


def test_segmentation_pairs_label_maps_with_frames(tmp_path, box_video):
    labels, insts = tmp_path / "labels", tmp_path / "inst"
    insts.mkdir()
    for t in range(12):
        write_label(labels / f"{t:04d}.png", label_map(t))
        cv2.imwrite(str(insts / f"{t:04d}_instanceIds.png"), instance_map(label_map(t)))
    root = tmp_path / "seg"
    assert prepare("segmentation", "--video", box_video, "--labels", labels, "--instances", insts,
                   "--foreground-ids", "1", "--out", root, "--height", "32", "--width", "48",
                   "--seq-len", "6", "--flow", "none", "--quiet") == 0
    a_files = frames_of(root, "train", "A") + frames_of(root, "test", "A")
    b_files = frames_of(root, "train") + frames_of(root, "test")
    for t in (0, 9):
        ids = read_label(a_files[t])
        assert set(np.unique(ids)) == {0, 1, 3}
        box = read_rgb(b_files[t])[..., 0] > 150
        assert (ids[box] == 1).mean() > 0.8  # the label of the box lies on the box of the same frame
    inst = read_instance(frames_of(root, "train", "inst")[0])
    assert set(np.unique(inst)) == {0, 1001, 3001}
    cfg = Config.from_yaml(root / "train.yaml")
    d = cfg.data
    assert (cfg.preset, d.label_nc, d.use_instance, d.foreground_ids) == ("cityscapes-512", 4, True, [1])
    assert cfg.model.use_fg_prior is True


def cityscapes_tree(root: Path, frames: int = 6) -> Path:
    """leftImg8bit_sequence + gtFine for one train snippet (aachen) and one val snippet (frankfurt)."""
    for split, city, seq in (("train", "aachen", "000000"), ("val", "frankfurt", "000294")):
        images = root / "leftImg8bit_sequence" / split / city
        labels = root / "gtFine" / split / city
        labels.mkdir(parents=True)
        for t, rgb in enumerate(moving_box(frames, 64, 128)):
            key = f"{city}_{seq}_{t + 10:06d}"
            write_rgb(images / f"{key}_leftImg8bit.png", rgb)
            write_label(labels / f"{key}_gtFine_labelIds.png", label_map(t, 64, 128))
            cv2.imwrite(str(labels / f"{key}_gtFine_instanceIds.png"), instance_map(label_map(t, 64, 128)))
    return root


def test_cityscapes_folders_become_the_official_layout(tmp_path):
    src = cityscapes_tree(tmp_path / "cityscapes")
    root = tmp_path / "cs"
    assert prepare("segmentation", "--cityscapes", src, "--out", root, "--height", "32", "--width", "64",
                   "--flow", "none", "--quiet") == 0
    assert list_sequences(root / "train_A") == ["aachen_000000_000"]
    assert list_sequences(root / "test_A") == ["frankfurt_000294_000"]  # val -> test
    names = {kind: [frame_key(p.name) for p in frames_of(root, "train", kind)] for kind in ("A", "B", "inst")}
    assert names["A"] == names["B"] == names["inst"] == [f"aachen_000000_{t:06d}" for t in range(10, 16)]
    assert read_label(frames_of(root, "train", "A")[0]).shape == (32, 64)
    cfg = Config.from_yaml(root / "train.yaml")
    assert (cfg.data.label_nc, cfg.data.use_instance, cfg.model.use_fg_prior) == (35, True, True)
    assert cfg.data.foreground_ids == get_preset("cityscapes-512").data.foreground_ids


def test_cityscapes_without_val_holds_out_a_fraction_of_the_snippets(tmp_path):
    src = cityscapes_tree(tmp_path / "cityscapes")
    for top in ("leftImg8bit_sequence", "gtFine"):
        for folder in (src / top / "val" / "frankfurt", src / top / "val"):
            for f in folder.glob("*.png"):
                f.unlink()
            folder.rmdir()
    root = tmp_path / "cs"
    assert prepare("segmentation", "--cityscapes", src, "--out", root, "--height", "32", "--width", "64",
                   "--seq-len", "3", "--test-fraction", "0.5", "--flow", "none", "--quiet") == 0
    assert list_sequences(root / "train_A") == ["aachen_000000_000"]
    assert list_sequences(root / "test_A") == ["aachen_000000_001"]


def test_cityscapes_frame_without_a_label_map_is_an_error(tmp_path, capsys):
    src = cityscapes_tree(tmp_path / "cityscapes")
    label = src / "gtFine" / "train" / "aachen" / "aachen_000000_000012_gtFine_labelIds.png"
    label.unlink()
    assert prepare("segmentation", "--cityscapes", src, "--out", tmp_path / "cs", "--quiet") == 2
    line = error_line(capsys)
    assert "no *labelIds.png for 1 of the 6 frames" in line and "aachen_000000_000012_leftImg8bit.png" in line


# ---------------------------------------------------------------------------- errors


def test_unreadable_video_is_an_error_naming_it(tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 10)
    assert prepare("edges", "--video", bad, "--out", tmp_path / "out", "--quiet") == 2
    assert error_line(capsys).startswith(f"error: {bad}: unreadable video")
    assert not (tmp_path / "out").exists()


def test_non_empty_out_needs_overwrite(tmp_path, box_video, capsys):
    root = tmp_path / "out"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    args = ("edges", "--video", box_video, "--out", root, "--height", "32", "--width", "32",
            "--max-frames", "4", "--flow", "none", "--quiet")
    assert prepare(*args) == 2
    assert error_line(capsys).startswith(f"error: {root}: --out folder is not empty")
    assert prepare(*args, "--overwrite") == 0
    assert (root / "notes.txt").read_text() == "mine"  # only what prepare writes is replaced
    assert len(frames_of(root, "train")) == 4


def test_size_the_preset_cannot_train_is_refused_before_decoding(tmp_path, box_video, capsys):
    assert prepare("edges", "--video", box_video, "--out", tmp_path / "out", "--height", "30",
                   "--width", "48", "--quiet") == 2
    assert "must be divisible by" in error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_label_folder_count_differing_from_videos_is_an_error(tmp_path, box_video, capsys):
    assert prepare("segmentation", "--video", box_video, box_video, "--labels", tmp_path,
                   "--out", tmp_path / "o", "--quiet") == 2
    assert "--labels got 1 folder(s) for 2 --video file(s)" in error_line(capsys)


def test_a_continuous_map_turns_off_the_presets_label_check(tmp_path):
    """The synthetic preset checks the warp against one-hot labels; train.yaml for edges (label_nc 0)
    from it turns that off, and leaves label maps (and presets without the check) as they are."""
    edges = {"label_nc": 0, "input_nc": 1, "use_instance": False, "height": 64, "width": 128}
    settings = train_settings("synthetic", tmp_path, edges, {"use_fg_prior": False}, 30)
    assert settings["model"] == {"use_fg_prior": False, "label_occlusion": False}
    assert not check_settings(settings).model.label_occlusion
    labels = {"label_nc": 35, "height": 64, "width": 128}
    assert "label_occlusion" not in train_settings("synthetic", tmp_path, labels, None, 30).get("model", {})
    face = train_settings("face-512", tmp_path, edges, {"use_fg_prior": False}, 30)
    assert "label_occlusion" not in face["model"]
