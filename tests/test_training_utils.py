"""Schedules, atomic checkpoints and the EMA."""

import os

import pytest
import torch
from torch import nn

from vid2vid.models.io import atomic_save, safe_load
from vid2vid.training.checkpoint import atomic_directory, latest_checkpoint
from vid2vid.training.ema import EMA
from vid2vid.training.schedule import coarse_frozen, lr_factor, sequence_length


def test_lr_is_constant_then_decays_linearly_to_zero():
    assert lr_factor(0, 10, 10) == 1.0
    assert lr_factor(9.9, 10, 10) == 1.0
    assert lr_factor(15, 10, 10) == pytest.approx(0.5)
    assert lr_factor(20, 10, 10) == 0.0
    assert lr_factor(25, 10, 10) == 0.0
    assert lr_factor(100, 10, 0) == 1.0


def test_sequence_length_doubles_every_niter_step_up_to_the_cap():
    got = [sequence_length(e, 4, 30, 5) for e in range(0, 25, 5)]
    assert got == [4, 8, 16, 30, 30]
    assert sequence_length(4, 4, 30, 5) == 4
    assert sequence_length(7, 4, 30, 0) == 30


def test_coarse_scale_frozen_only_inside_the_window():
    assert [coarse_frozen(e, 10, 3) for e in (9, 10, 12, 13)] == [False, True, True, False]


def test_atomic_save_then_safe_load_round_trip(tmp_path):
    path = atomic_save({"w": torch.arange(3), "step": 7}, tmp_path / "a" / "ckpt.pt")
    got = safe_load(path)
    assert got["step"] == 7 and torch.equal(got["w"], torch.arange(3))
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]  # no temporary left


def test_safe_load_refuses_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(RuntimeError, match="not a loadable checkpoint"):
        safe_load(path)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        safe_load(tmp_path / "missing.pt")


def test_interrupted_directory_write_keeps_the_previous_checkpoint(tmp_path):
    target = tmp_path / "step_10"
    atomic_directory(target, lambda d: (d / "model.bin").write_text("old"))

    def crash(d):
        (d / "model.bin").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_directory(target, crash)
    assert (target / "model.bin").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_10"]
    atomic_directory(target, lambda d: (d / "model.bin").write_text("new"))
    assert (target / "model.bin").read_text() == "new"


def test_latest_checkpoint_ignores_temporaries(tmp_path):
    for name in ("step_5", "step_20", ".step_30.abc.tmp", "step_x"):
        (tmp_path / name).mkdir()
    assert latest_checkpoint(tmp_path).name == "step_20"
    assert latest_checkpoint(tmp_path / "none") is None


def test_ema_moves_towards_the_weights_by_one_minus_decay():
    model = nn.Linear(2, 1)
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        before = ema.shadow.weight.clone()
        model.weight.add_(1.0)
    ema.update(model)
    torch.testing.assert_close(ema.shadow.weight, before + 0.1)
    assert not any(p.requires_grad for p in ema.shadow.parameters())
