"""The face discriminator of the pose recipes (reference ``--add_face_disc``): face boxes from OpenPose
keypoint files, their spatial transform, the differentiable crop, ``D_face`` and its loss terms, one
training step and a checkpoint round trip on a tiny fabricated pose dataset, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vid2vid.config import get_preset
from vid2vid.data.folder import (
    SpatialTransform,
    VideoFolderDataset,
    face_boxes,
    read_face_points,
)
from vid2vid.data.layout import DataError, write_flow, write_rgb
from vid2vid.models.discriminators import FaceDiscriminator, crop_boxes, face_num_D, face_squares
from vid2vid.models.sequence import GeneratedFrames
from vid2vid.training.objective import FACE_WEIGHT, Chunk, Objective

H, W = 32, 64  # the tiny preset's frames
FACE_INDICES = {18: (0, 14, 15, 16, 17), 25: (0, 15, 16, 17, 18)}  # nose, eyes, ears (OpenPose docs)


def _keypoints(n: int, face: dict[int, tuple[float, float, float]], body: tuple[float, float] = (50.0, 30.0)
               ) -> list[float]:
    """A flat ``pose_keypoints_2d`` list of ``n`` keypoints: ``face`` maps indices to (x, y, c);
    every other keypoint sits at ``body`` with confidence 0.9 (so it must not count)."""
    flat = []
    for k in range(n):
        x, y, c = face.get(k, (*body, 0.9))
        flat += [x, y, c]
    return flat


def _write_json(path: Path, people: list[list[float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1.3, "people": [{"pose_keypoints_2d": p} for p in people]}))


def write_pose_dataset(root: Path, frames: int = 5, faceless: tuple[int, ...] = (2,),
                       layout: int = 18) -> Path:
    """One training sequence of ``frames`` 32 x 64 frames: RGB pose maps (A), frames (B), zero flows
    and OpenPose keypoints with the face near (20 + 2 t, 10); frames in ``faceless`` list nobody."""
    rng = np.random.default_rng(0)
    for t in range(frames):
        name = f"{t:04d}"
        write_rgb(root / "train_A" / "s0" / f"{name}.png", rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
        write_rgb(root / "train_B" / "s0" / f"{name}.png", rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
        if t:
            write_flow(root / "train_flow" / "s0" / f"{name}.npy", np.zeros((H, W, 2), np.float32))
        n, x0 = FACE_INDICES[layout], 20.0 + 2 * t
        face = {n[0]: (x0, 10, 0.8), n[1]: (x0 - 2, 8, 0.7), n[2]: (x0 + 2, 8, 0.7),
                n[3]: (x0 - 4, 9, 0.5), n[4]: (x0 + 4, 9, 0.5)}
        people = [] if t in faceless else [_keypoints(layout, face)]
        _write_json(root / "train_keypoints" / "s0" / f"{name}.json", people)
    return root


def pose_cfg(root: Path, **overrides):
    """The tiny preset on a continuous 3-channel pose input, with the face discriminator."""
    return get_preset("tiny").override({
        "data.root": str(root), "data.synthetic_sequences": 0, "data.dataset": "pose", "data.label_nc": 0,
        "data.input_nc": 3, "data.use_instance": False, "data.foreground_ids": [],
        "model.use_fg_prior": False, "model.use_face_D": True, "model.face_crop": 0.5, **overrides})


def pose_dataset(root: Path, **kwargs) -> VideoFolderDataset:
    return VideoFolderDataset(root, n_frames=None, label_nc=0, input_nc=3, use_instance=False,
                              load_keypoints=True, training=False, **kwargs)


# ------------------------------------------------------------------------------- keypoints -> box
@pytest.mark.parametrize("layout", [18, 25])
def test_face_points_are_nose_eyes_and_ears_of_the_first_person_with_a_face(tmp_path, layout):
    nose, r_eye, l_eye, r_ear, l_ear = FACE_INDICES[layout]
    # person 0 shows no face (only body keypoints); person 1's left ear is not visible
    hidden = _keypoints(layout, {k: (1.0, 1.0, 0.0) for k in FACE_INDICES[layout]})
    face = {nose: (30, 12, 0.9), r_eye: (28, 10, 0.8), l_eye: (33, 10, 0.8), r_ear: (25, 11, 0.6),
            l_ear: (99, 99, 0.0)}
    path = tmp_path / "0000.json"
    _write_json(path, [hidden, _keypoints(layout, face)])
    points = read_face_points(path)
    np.testing.assert_array_equal(points, np.array([[30, 12], [28, 10], [33, 10], [25, 11]], np.float32))
    box, valid = face_boxes([points], SpatialTransform.identity((H, W)), (H, W))
    assert valid.tolist() == [True]
    torch.testing.assert_close(box, torch.tensor([[25.0, 10.0, 33.0, 12.0]]))


def test_a_file_without_a_visible_face_gives_no_points(tmp_path):
    nobody, hidden = tmp_path / "a.json", tmp_path / "b.json"
    _write_json(nobody, [])
    _write_json(hidden, [_keypoints(25, {k: (5.0, 5.0, 0.0) for k in FACE_INDICES[25]})])
    assert read_face_points(nobody).shape == (0, 2) and read_face_points(hidden).shape == (0, 2)


def _bright_block_centre(image: torch.Tensor) -> tuple[float, float]:
    """Centroid (x, y) of the pixels above half the maximum of a ``[1, H, W]`` map."""
    ys, xs = torch.nonzero(image[0] > 0.5 * image.max(), as_tuple=True)
    return float(xs.float().mean()), float(ys.float().mean())


@pytest.mark.parametrize("transform", [
    SpatialTransform((16, 32), (0, 0, 16, 32), flip=True),  # flip only
    SpatialTransform((32, 64), (4, 6, 24, 40), flip=False),  # scale 2, crop
    SpatialTransform((48, 96), (10, 30, 32, 48), flip=True),  # scale 3, crop, flip
], ids=["flip", "scale-crop", "scale-crop-flip"])
def test_face_points_move_with_the_pixels_under_scale_crop_and_flip(transform):
    """A point goes where the frame transform takes the pixel under it: a one-pixel dot in a native
    16 x 32 map, transformed as the frames are (nearest resampling keeps it a block), lands centred on
    the transformed point."""
    x, y = 11.0, 5.0
    dot = torch.zeros(1, 16, 32)
    dot[0, int(y), int(x)] = 1.0
    moved = transform.points(torch.tensor([[x, y]], dtype=torch.float64), (16, 32))[0]
    cx, cy = _bright_block_centre(transform.nearest(dot))
    assert (float(moved[0]), float(moved[1])) == pytest.approx((cx, cy), abs=1e-6)


def test_dataset_face_box_follows_the_window_transform_and_drops_points_cropped_out(tmp_path):
    root = write_pose_dataset(tmp_path, frames=3, faceless=())
    ds = pose_dataset(root)
    raw = [read_face_points(root / "train_keypoints" / "s0" / f"{t:04d}.json") for t in range(3)]
    # scale 2, a crop whose left edge (x = 42 in the resized map, 21 native) cuts through the faces,
    # then a flip: frame 0's face (x 16..24 native) keeps only its points right of the cut
    transform = SpatialTransform((64, 128), (0, 42, 32, 64), flip=True)
    item = ds.load_window("s0", [0, 1, 2], transform=transform)
    assert item["face_box"].shape == (3, 4) and item["face_valid"].all()
    for t in range(3):
        xy = transform.points(torch.from_numpy(raw[t]).double(), (H, W))
        xy = xy[(xy[:, 0] >= -0.5) & (xy[:, 0] < 63.5)]
        expected = torch.cat([xy.min(0).values, xy.max(0).values]).float()
        torch.testing.assert_close(item["face_box"][t], expected)
    # a flip mirrors: the box of frame 0 is at the right-hand side of the output
    assert item["face_box"][0, 2] > 32


def test_frames_without_a_face_or_with_the_face_cropped_out_are_flagged(tmp_path):
    root = write_pose_dataset(tmp_path, frames=3, faceless=(1,))
    ds = pose_dataset(root)
    item = ds.load_window("s0", [0, 1, 2])
    assert item["face_valid"].tolist() == [True, False, True]
    assert item["face_box"][1].tolist() == [0.0, 0.0, 0.0, 0.0]
    # a crop of the right half leaves every face (x <= 28 native) out of the frame
    item = ds.load_window("s0", [0, 1, 2], transform=SpatialTransform((H, W), (0, 32, 32, 32)))
    assert item["face_valid"].tolist() == [False, False, False]


# ------------------------------------------------------------------------------- crop and D_face
def test_face_squares_are_centred_on_the_face_and_kept_inside_the_frame():
    box = torch.tensor([[20.0, 8.0, 28.0, 12.0],  # centre (24, 10)
                        [0.0, 0.0, 2.0, 2.0],  # near the top-left corner
                        [60.0, 30.0, 63.0, 31.0]])  # near the bottom-right corner
    squares = face_squares(box, (H, W), side=16)
    assert squares.tolist() == [[16.0, 2.0, 32.0, 18.0], [0.0, 0.0, 16.0, 16.0], [48.0, 16.0, 64.0, 32.0]]
    with pytest.raises(ValueError, match="face crop side"):
        face_squares(box, (H, W), side=33)


def test_crop_is_an_exact_copy_whose_gradient_reaches_only_the_box():
    x = torch.randn(2, 3, H, W, requires_grad=True)
    boxes = torch.tensor([[16.0, 2.0, 32.0, 18.0], [48.0, 16.0, 64.0, 32.0]])
    crops = crop_boxes(x, boxes, 16)
    torch.testing.assert_close(crops[0], x[0, :, 2:18, 16:32], rtol=0, atol=0)
    torch.testing.assert_close(crops[1], x[1, :, 16:32, 48:64], rtol=0, atol=0)
    (crops * torch.randn_like(crops)).sum().backward()
    inside = torch.zeros(2, 1, H, W, dtype=torch.bool)
    inside[0, :, 2:18, 16:32] = inside[1, :, 16:32, 48:64] = True
    assert (x.grad.abs() > 0)[inside.expand_as(x.grad)].all()
    assert (x.grad[~inside.expand_as(x.grad)] == 0).all()


def test_face_discriminator_gradient_reaches_the_generated_frame_only_around_the_face():
    D = FaceDiscriminator(label_channels=3, ndf=8, n_layers=2, num_D=1, side=16)
    fake = torch.randn(1, 3, H, W, requires_grad=True)
    out = D(fake, torch.randn(1, 3, H, W), torch.tensor([[20.0, 8.0, 28.0, 12.0]]))
    out[0][-1].mean().backward()
    reached = fake.grad.abs().sum(dim=(0, 1)) > 0  # [H, W]
    ys, xs = torch.nonzero(reached, as_tuple=True)
    assert reached.any()
    assert (int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())) == (16, 31, 2, 17)


@pytest.mark.parametrize("num_D, scales", [(1, 1), (2, 1), (3, 1), (4, 2)])
def test_face_discriminator_has_num_D_minus_2_scales_and_per_scale_outputs(num_D, scales):
    assert face_num_D(num_D) == scales
    D = FaceDiscriminator(label_channels=6, ndf=8, n_layers=3, num_D=face_num_D(num_D), side=32)
    out = D(torch.randn(2, 3, 64, 96), torch.randn(2, 6, 64, 96), torch.tensor([[40.0, 20, 50, 30]] * 2))
    assert len(out) == scales
    # 32 -> 17 -> 9 -> 5 (stride 2, padding 2), 6 (stride 1), prediction 7: padding keeps tiny crops alive
    assert [tuple(f.shape) for f in out[0]] == [(2, 8, 17, 17), (2, 16, 9, 9), (2, 32, 5, 5), (2, 64, 6, 6),
                                                (2, 1, 7, 7)]


def test_pose_presets_turn_the_face_discriminator_on_at_512_and_above():
    assert not get_preset("pose-256").model.use_face_D
    for name, side, scales in [("pose-512", 128, 1), ("pose-1024", 256, 2)]:
        cfg = get_preset(name)
        D = FaceDiscriminator.from_config(cfg)
        assert cfg.model.use_face_D and (D.side, D.D.net.num_D) == (side, scales), name
    assert not get_preset("cityscapes-512").model.use_face_D


# ------------------------------------------------------------------------------- objective
def _chunk(valid: list[bool], fake: torch.Tensor) -> Chunk:
    """A chunk of two new frames (no history) with face boxes around (24, 10)."""
    n = fake.shape[1]
    return Chunk(labels=torch.zeros(1, n, 3, H, W), real=torch.zeros(1, n, 3, H, W), fake=fake,
                 flow=torch.zeros(1, n, 2, H, W), flow_valid=torch.zeros(1, n, dtype=torch.bool),
                 gen=GeneratedFrames(x=fake, h=fake, h_B=fake, m_B=torch.ones_like(fake[:, :, :1]), h_F=None,
                                     w=None, m=None, warped=torch.zeros_like(fake),
                                     has_warped=torch.zeros(n, dtype=torch.bool)),
                 history=0,
                 face_box=torch.tensor([[[20.0, 8.0, 28.0, 12.0]] * n]), face_valid=torch.tensor([valid]))


def test_frames_without_a_face_are_left_out_of_the_face_terms(tmp_path):
    cfg = pose_cfg(tmp_path)
    objective, D = Objective(cfg), FaceDiscriminator.from_config(cfg)
    fake = torch.rand(1, 2, 3, H, W) * 2 - 1
    other = fake.clone()
    other[:, 1] = -other[:, 1]  # change only the frame without a face
    base = objective._face_losses(_chunk([True, False], fake), D)
    same = objective._face_losses(_chunk([True, False], other), D)
    both = objective._face_losses(_chunk([True, True], other), D)
    assert set(base) == {"G_GAN_face", "G_feat_face"}
    for k in base:
        torch.testing.assert_close(base[k], same[k], msg=f"{k} depends on the frame without a face")
    assert not torch.allclose(base["G_GAN_face"], both["G_GAN_face"])


def test_no_face_in_a_chunk_gives_zero_terms_that_still_reach_every_D_weight(tmp_path):
    """Zero, but computed through D_face: under DDP every process must run the same backward."""
    cfg = pose_cfg(tmp_path)
    objective, D = Objective(cfg), FaceDiscriminator.from_config(cfg)
    fake = torch.rand(1, 2, 3, H, W)
    losses = objective.discriminator_losses(_chunk([False, False], fake), _NoD(), None, D)
    assert losses["D_face_real"].item() == 0 and losses["D_face_fake"].item() == 0
    (losses["D_face_real"] + losses["D_face_fake"]).backward()
    assert all(p.grad is not None and (p.grad == 0).all() for p in D.parameters())


class _NoD(torch.nn.Module):
    """A stand-in for D_I: one scale, one feature map and the prediction map, as small as it gets."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, image, label, groups=1):
        pred = image.mean(dim=1, keepdim=True) * self.w
        return [[pred, pred]]


def test_face_terms_follow_the_reference_weights(tmp_path):
    """G's face terms are FACE_WEIGHT (2) times the GAN loss and times lambda_feat * (face scales /
    num_D) * feature matching; D's are halved."""
    from vid2vid.losses import GANLoss, feature_matching_loss
    from vid2vid.training.objective import split_outputs

    cfg = pose_cfg(tmp_path, **{"model.num_D": 3})
    objective, D = Objective(cfg), FaceDiscriminator.from_config(cfg)
    fake = torch.rand(1, 2, 3, H, W)
    c = _chunk([True, True], fake)
    g = objective._face_losses(c, D)
    d = objective.discriminator_losses(c, _NoD(), None, D)
    out = D(torch.cat([c.real[0], fake[0]]), torch.cat([c.labels[0]] * 2), torch.cat([c.face_box[0]] * 2))
    real_out, fake_out = split_outputs(out, 2)
    gan = GANLoss("lsgan")
    torch.testing.assert_close(g["G_GAN_face"], FACE_WEIGHT * gan.generator_loss(fake_out))
    torch.testing.assert_close(g["G_feat_face"], FACE_WEIGHT * 10.0 * (1 / 3) * feature_matching_loss(
        real_out, fake_out))
    r, f = gan.discriminator_terms(real_out, fake_out)
    torch.testing.assert_close(d["D_face_real"], 0.5 * r)
    torch.testing.assert_close(d["D_face_fake"], 0.5 * f)


# ------------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def face_run(tmp_path_factory):
    """One training step of the tiny preset with the face discriminator on a fabricated pose
    dataset (seconds); the trainer, its history and its output folder."""
    from vid2vid.training.trainer import Trainer

    root = write_pose_dataset(tmp_path_factory.mktemp("pose"), frames=5, faceless=(2,))
    out = tmp_path_factory.mktemp("run")
    cfg = pose_cfg(root)
    trainer = Trainer(cfg, out, max_steps=1, log_with=None)
    D0 = {k: v.clone() for k, v in trainer.D_face.state_dict().items()}
    history = trainer.fit()
    return trainer, history, out, D0


def test_one_training_step_logs_finite_face_losses_and_trains_D_face(face_run):
    trainer, history, _, D0 = face_run
    row = history[0]
    for key in ("G_GAN_face", "G_feat_face", "D_face_real", "D_face_fake"):
        assert key in row and np.isfinite(row[key]), key
    assert row["G_GAN_face"] > 0 and row["D_face_real"] > 0
    changed = [k for k, v in trainer.D_face.state_dict().items() if not torch.equal(v, D0[k])]
    assert changed, "the face discriminator's weights did not move"


def test_checkpoint_round_trip_restores_the_face_discriminator_and_its_optimiser(face_run):
    from vid2vid.training.trainer import Trainer

    trainer, _, out, _ = face_run
    ckpt = out / "checkpoints" / "step_00000001"
    assert len(list(ckpt.glob("model*.safetensors"))) == 4  # G, D_I, D_V, D_face
    resumed = Trainer(trainer.cfg, out, resume=True, max_steps=1, log_with=None)
    assert resumed.step == 1
    for k, v in trainer.D_face.state_dict().items():
        torch.testing.assert_close(resumed.D_face.state_dict()[k], v, msg=f"D_face weight {k}")
    face_params = list(resumed.D_face.parameters())
    state = resumed.opt_D.state_dict()["state"]
    group = resumed.opt_D.param_groups[-1]
    assert group["params"][0] is face_params[0]
    index = sum(len(g["params"]) for g in resumed.opt_D.param_groups[:-1])
    assert index in state and state[index]["exp_avg"].abs().sum() > 0  # Adam moments restored


# ------------------------------------------------------------------------------- errors
def test_missing_keypoints_folder_is_named_with_the_fix(tmp_path):
    from vid2vid.training.trainer import build_dataset

    root = write_pose_dataset(tmp_path, frames=4)
    for f in sorted((root / "train_keypoints").rglob("*"), reverse=True):
        f.unlink() if f.is_file() else f.rmdir()
    (root / "train_keypoints").rmdir()
    with pytest.raises(DataError, match=r"train_keypoints: folder not found.*model\.use_face_D=false"):
        build_dataset(pose_cfg(root))


def test_malformed_keypoint_file_is_named(tmp_path):
    root = write_pose_dataset(tmp_path, frames=3)
    bad = root / "train_keypoints" / "s0" / "0001.json"
    bad.write_text('{"people": [{"pose_keypoints_2d": [1, 2')
    with pytest.raises(DataError, match=rf"{bad}: unreadable keypoint file.*sequence 's0', frame 1"):
        pose_dataset(root).load_window("s0", [0, 1, 2])
    _write_json(bad, [[1.0, 2.0, 0.5] * 17])  # 17 keypoints: neither layout
    with pytest.raises(DataError, match=rf"{bad}: person 0: pose_keypoints_2d must be 54 or 75"):
        read_face_points(bad)
    bad.write_text('{"people": {"pose_keypoints_2d": []}}')
    with pytest.raises(DataError, match=rf'{bad}: no list "people"'):
        read_face_points(bad)


def test_face_crop_larger_than_the_frame_names_the_key(tmp_path):
    # frames taller than wide: a crop of the whole height does not fit across
    cfg = pose_cfg(tmp_path, **{"model.face_crop": 1.0, "data.height": 64, "data.width": 32})
    with pytest.raises(ValueError, match=r"model\.face_crop=1\.0 gives face crops of 64 pixels"):
        FaceDiscriminator.from_config(cfg)


def test_face_terms_without_face_boxes_say_what_is_missing(tmp_path):
    cfg = pose_cfg(tmp_path)
    c = _chunk([True, True], torch.rand(1, 2, 3, H, W))
    c.face_box = None
    with pytest.raises(ValueError, match=r"face boxes.*model\.use_face_D=false"):
        Objective(cfg)._face_losses(c, FaceDiscriminator.from_config(cfg))


def test_the_data_check_reads_every_keypoint_file_and_names_a_bad_one(tmp_path):
    """``check_dataset`` (the trainer's pre-flight check and ``python -m vid2vid check``) decodes the
    ``_keypoints`` JSON files too, so a malformed one is found before training, not when a window
    draws it."""
    from vid2vid.data.check import check_dataset
    from vid2vid.data.layout import DataError

    root = write_pose_dataset(tmp_path / "pose", frames=4)
    report = check_dataset(root, "train", label_nc=0, input_nc=3)
    assert report.files["keypoints"] == 4
    assert check_dataset(pose_dataset(root)).files["keypoints"] == 4
    bad = root / "train_keypoints" / "s0" / "0002.json"
    bad.write_text('{"people": [{"pose_keypoints_2d": [1, 2]}]}')
    with pytest.raises(DataError, match=r"(?s)1 bad file.*0002\.json.*54 or 75.*sequence 's0', frame 2"):
        check_dataset(root, "train", label_nc=0, input_nc=3)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan")])
def test_a_face_crop_outside_the_frame_height_is_refused_by_the_config(bad):
    from vid2vid.config import ConfigError

    with pytest.raises(ConfigError, match=r"model.face_crop .* must lie in \(0, 1\]"):
        get_preset("pose-512").override({"model.face_crop": bad})
