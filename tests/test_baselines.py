"""The Table 1 baselines: per-frame pix2pixHD trains with D_I only; COVST stabilisation."""

from pathlib import Path

import torch

from vid2vid.baselines import stabilize
from vid2vid.config import Config
from vid2vid.data.synthetic import write_dataset
from vid2vid.training.trainer import Trainer

TABLES = Path(__file__).resolve().parents[1] / "reproduce" / "configs" / "tables"


def test_stabilize_removes_flicker_on_a_static_scene_and_keeps_changes():
    torch.manual_seed(0)
    base = torch.rand(3, 32, 48) * 1.6 - 0.8
    frames = [base + 0.05 * torch.randn(1, 1, 1) for _ in range(10)]  # global per-frame flicker
    frames[6] = frames[6].clone()
    frames[6][:, :8, :8] = -1.0  # a real change: an object appears in frame 6
    out = list(stabilize(iter(frames)))
    assert len(out) == 10

    def jitter(seq):
        return sum((a - b).abs().mean() for a, b in zip(seq[1:], seq[:-1], strict=True)) / (len(seq) - 1)

    assert jitter(out[:6]) < 0.5 * jitter(frames[:6])
    # where the frames disagree beyond the threshold, the current frame wins: the change stays
    assert (out[6][:, :8, :8] - frames[6][:, :8, :8]).abs().max() < 1e-6
    torch.testing.assert_close(out[0], frames[0])


def test_pix2pixhd_baseline_trains_per_frame_with_image_discriminator_only(tmp_path):
    write_dataset(tmp_path / "data", n_train=1, n_test=1, frames=6, height=32, width=64, seed=1,
                  progress=False)
    cfg = Config.from_yaml(TABLES / "pix2pixHD.yaml").override({
        "preset": "tiny", "data.root": str(tmp_path / "data"), "data.height": 32, "data.width": 64,
        "data.synthetic_sequences": 0, "data.num_workers": 0, "model.ngf": 8, "model.n_blocks_enc": 1,
        "model.n_blocks_dec": 1, "model.ndf": 8})
    trainer = Trainer(cfg, tmp_path / "run", max_steps=1, log_with=None)
    assert trainer.D_V is None and trainer.G.n_prev == 0
    history = trainer.fit()
    assert not any(k.startswith(("G_flow", "G_warp", "G_temporal", "G_GAN_V", "D_V")) for k in history[0])
    assert {"G_GAN", "G_feat", "D_real", "D_fake"} <= set(history[0])
