"""Flow estimators: the direction of the flow they return (backward t -> t-1), RAFT plumbing,
and the ``python -m vid2vid flow`` precompute command."""

import argparse

import numpy as np
import pytest
import skimage.data
import torch

from vid2vid.commands import flow as flow_command
from vid2vid.data import layout
from vid2vid.flow import (
    DISFlow,
    FlowEstimator,
    GroundTruthFlow,
    RAFTFlow,
    get_flow_estimator,
    warp,
)

DX, DY = 3, -2  # pixel (x, y) of frame t came from (x + 3, y - 2) of frame t-1


def _shifted_pair(image: np.ndarray, h: int, w: int, dx: int = DX, dy: int = DY,
                  y0: int = 200, x0: int = 200):
    """Two crops of a texture such that ``t[y, x] = prev[y + dy, x + dx]``: backward flow (dx, dy)."""
    prev = image[y0:y0 + h, x0:x0 + w]
    cur = image[y0 + dy:y0 + dy + h, x0 + dx:x0 + dx + w]
    return cur, prev


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    """grey or RGB ``uint8`` -> ``[1, 3, H, W]`` in ``[-1, 1]``."""
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1


@pytest.mark.parametrize("texture", ["camera", "brick"])
@pytest.mark.parametrize("preset", ["ultrafast", "fast", "medium"])
def test_dis_returns_backward_flow_with_the_right_sign(texture, preset):
    cur, prev = _shifted_pair(getattr(skimage.data, texture)(), 48, 64)
    cur, prev = _to_tensor(cur), _to_tensor(prev)
    flow = DISFlow(preset)(cur, prev)
    assert flow.shape == (1, 2, 48, 64) and flow.dtype == torch.float32
    assert abs(flow[0, 0].median().item() - DX) < 0.25
    assert abs(flow[0, 1].median().item() - DY) < 0.25
    # Away from the border band the shifted content left, warping t-1 explains t.
    inner = (slice(None), slice(None), slice(4, -4), slice(4, -4))
    err_warp = (warp(prev, flow) - cur)[inner].abs().mean().item()
    err_none = (prev - cur)[inner].abs().mean().item()
    assert err_warp < 0.2 * err_none, (err_warp, err_none)


def test_dis_batch_matches_single_pairs_and_keeps_device_dtype():
    img = skimage.data.camera()
    a = _shifted_pair(img, 32, 40)
    b = _shifted_pair(img, 32, 40, dx=-1, dy=2, y0=100, x0=150)
    cur = torch.cat([_to_tensor(a[0]), _to_tensor(b[0])])
    prev = torch.cat([_to_tensor(a[1]), _to_tensor(b[1])])
    est = DISFlow("fast")
    both = est(cur, prev)
    torch.testing.assert_close(both[1:], est(cur[1:], prev[1:]))
    assert abs(both[1, 0].median().item() - (-1)) < 0.25 and abs(both[1, 1].median().item() - 2) < 0.25


def test_estimate_sequence_has_zero_first_flow_and_per_pair_flows():
    img = skimage.data.brick()
    # frame k+1 [y, x] = frame k [y + DY, x + DX]: the backward flow of every pair is (DX, DY).
    frames = [img[200 + k * DY:200 + k * DY + 40, 200 + k * DX:200 + k * DX + 48] for k in range(3)]
    seq = torch.cat([_to_tensor(f) for f in frames])  # [3, 3, 40, 48]
    est = DISFlow("fast")
    est.batch_size = 1  # exercise the chunking
    flows = est.estimate_sequence(seq)
    assert flows.shape == (3, 2, 40, 48)
    assert torch.count_nonzero(flows[0]) == 0
    torch.testing.assert_close(flows[2:], est(seq[2:], seq[1:2]))
    for t in (1, 2):
        assert abs(flows[t, 0].median().item() - DX) < 0.25 and abs(flows[t, 1].median().item() - DY) < 0.25


def test_estimators_reject_mismatched_frames():
    with pytest.raises(ValueError, match="frame_t and frame_prev"):
        DISFlow()(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(ValueError, match=r"\[T, 3, H, W\]"):
        DISFlow().estimate_sequence(torch.zeros(3, 8, 8))


def test_factory_names():
    assert isinstance(get_flow_estimator(), DISFlow)
    assert get_flow_estimator("dis", preset="fast").preset == "fast"
    assert isinstance(get_flow_estimator("gt"), GroundTruthFlow)
    assert isinstance(get_flow_estimator("ground_truth"), GroundTruthFlow)
    assert isinstance(get_flow_estimator("raft", weights=None, small=True), RAFTFlow)
    with pytest.raises(ValueError, match="unknown flow estimator"):
        get_flow_estimator("flownet2")
    with pytest.raises(ValueError, match="unknown DIS preset"):
        DISFlow("slow")


def test_ground_truth_passes_flows_through_and_checks_shapes():
    flows = torch.randn(4, 2, 6, 7)
    flows[0] = 0
    gt = GroundTruthFlow(flows)
    assert gt.uses_dataset_flow and not FlowEstimator.uses_dataset_flow
    frames = torch.zeros(4, 3, 6, 7)
    torch.testing.assert_close(gt.estimate_sequence(frames), flows)
    torch.testing.assert_close(gt(frames, frames), flows)
    with pytest.raises(ValueError, match=r"needs \(3, 2, 6, 7\)"):
        gt.estimate_sequence(frames[:3])
    # Disk layout [N, H, W, 2] is accepted too.
    gt.set_flows(flows.permute(0, 2, 3, 1).numpy())
    torch.testing.assert_close(gt.estimate_sequence(frames), flows)
    with pytest.raises(ValueError, match="_flow folder"):
        GroundTruthFlow()(frames, frames)


def test_raft_random_weights_shape_dtype_finite_on_small_odd_frames():
    torch.manual_seed(0)
    est = RAFTFlow(weights=None, small=True, num_flow_updates=2)
    frames = torch.rand(2, 3, 37, 50) * 2 - 1  # below RAFT's minimum size and not a multiple of 8
    flow = est(frames, frames.flip(0))
    assert flow.shape == (2, 2, 37, 50) and flow.dtype == torch.float32
    assert torch.isfinite(flow).all()


def test_raft_loads_a_local_state_dict(tmp_path):
    torch.manual_seed(1)
    src = RAFTFlow(weights=None, small=True, num_flow_updates=1)
    path = tmp_path / "raft_small_random.pth"
    torch.save(src.model.state_dict(), path)
    loaded = RAFTFlow(weights=str(path), small=True, num_flow_updates=1)
    for (name, a), b in zip(src.model.state_dict().items(), loaded.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    frames = torch.rand(1, 3, 24, 24) * 2 - 1
    other = torch.rand(1, 3, 24, 24) * 2 - 1
    torch.testing.assert_close(loaded(frames, other), src(frames, other))


def test_raft_bad_weights_say_what_was_expected(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="C_T_V2"):
        RAFTFlow(weights=str(tmp_path / "missing.pth"), small=True)
    wrong = tmp_path / "wrong.pth"
    torch.save({"not_a_raft_layer": torch.zeros(1)}, wrong)
    with pytest.raises(ValueError, match="raft_small"):
        RAFTFlow(weights=str(wrong), small=True)
    # A named weight that is not cached, with downloads disallowed: no network access, a fix.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    with pytest.raises(FileNotFoundError, match="--raft-weights PATH"):
        RAFTFlow(weights="C_T_V2", download=False)


# --------------------------------------------------------------------------------------------
# python -m vid2vid flow


def _fabricate_split(root, split: str, n_frames: int = 3, h: int = 64, w: int = 80) -> list[np.ndarray]:
    """``<root>/<split>_B/seq0`` with frames that are successive (DX, DY) shifts of a photograph."""
    img = skimage.data.astronaut()  # uint8 [512, 512, 3]
    frames = []
    for k in range(n_frames):
        # frame k+1 [y, x] = frame k [y + DY, x + DX]: backward flow (DX, DY)
        rgb = img[200 + k * DY:200 + k * DY + h, 200 + k * DX:200 + k * DX + w]
        layout.write_rgb(layout.kind_dir(root, split, "B") / "seq0" / f"f{k:03d}.png", rgb)
        frames.append(rgb)
    return frames


def _args(root, **kw) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    flow_command.add_arguments(parser)
    argv = ["--data", str(root)]
    for k, v in kw.items():
        flag = "--" + k.replace("_", "-")
        argv += [flag] if v is True else [flag, str(v)]
    return parser.parse_args(argv)


def test_flow_command_writes_one_flow_per_frame_but_the_first(tmp_path, capsys):
    _fabricate_split(tmp_path, "train")
    assert flow_command.run(_args(tmp_path, split="train")) == 0
    out_dir = layout.kind_dir(tmp_path, "train", "flow") / "seq0"
    assert sorted(p.name for p in out_dir.iterdir()) == ["f001.npy", "f002.npy"]
    for name in ("f001.npy", "f002.npy"):
        flow = layout.read_flow(out_dir / name)
        assert flow.shape == (64, 80, 2) and flow.dtype == np.float32
        assert abs(np.median(flow[..., 0]) - DX) < 0.25 and abs(np.median(flow[..., 1]) - DY) < 0.25
    assert "2 written" in capsys.readouterr().out


def test_flow_command_skips_existing_files_unless_overwrite(tmp_path, capsys):
    _fabricate_split(tmp_path, "test")
    marker = np.full((64, 80, 2), 7.0, np.float32)
    target = layout.kind_dir(tmp_path, "test", "flow") / "seq0" / "f001.npy"
    layout.write_flow(target, marker)
    flow_command.run(_args(tmp_path, split="both"))  # train_B is absent: skipped with a note
    out = capsys.readouterr().out
    assert "1 written, 1 skipped" in out and "train_B" in out
    np.testing.assert_array_equal(layout.read_flow(target), marker)
    flow_command.run(_args(tmp_path, split="test", overwrite=True))
    assert abs(np.median(layout.read_flow(target)[..., 0]) - DX) < 0.25


def test_flow_command_raft_with_local_weights(tmp_path):
    _fabricate_split(tmp_path, "train", n_frames=2, h=24, w=32)
    torch.manual_seed(0)
    weights = tmp_path / "raft_small.pth"
    torch.save(RAFTFlow(weights=None, small=True).model.state_dict(), weights)
    flow_command.run(_args(tmp_path, split="train", method="raft", raft_weights=weights, raft_small=True,
                           raft_iters=1, device="cpu"))
    flow = layout.read_flow(layout.kind_dir(tmp_path, "train", "flow") / "seq0" / "f001.npy")
    assert flow.shape == (24, 32, 2) and np.isfinite(flow).all()


def test_flow_command_errors_name_the_missing_folder_and_the_odd_frame(tmp_path):
    with pytest.raises(layout.DataError, match="train_B"):
        flow_command.run(_args(tmp_path, split="train"))
    _fabricate_split(tmp_path, "train", n_frames=2)
    layout.write_rgb(layout.kind_dir(tmp_path, "train", "B") / "seq0" / "f002.png",
                     np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(layout.DataError, match=r"f002\.png.*\(10, 10\).*\(64, 80\)"):
        flow_command.run(_args(tmp_path, split="train"))
