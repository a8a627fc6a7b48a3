"""The losses of a training step become plain numbers for the log without touching the graph.

``float(loss)`` on a loss that still requires grad makes PyTorch warn "Converting a tensor with
requires_grad=True to a scalar may lead to unexpected behavior" (once per process, so a warning
filter alone would miss it after the first time); the step must detach before converting.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from vid2vid.config import get_preset
from vid2vid.training.trainer import Trainer


@pytest.fixture
def conversions_of_tensors_that_require_grad(monkeypatch) -> list[str]:
    """Record every ``float(tensor)`` and ``tensor.item()`` on a tensor that requires grad."""
    seen: list[str] = []
    to_float, item = torch.Tensor.__float__, torch.Tensor.item

    def checked_float(self):
        if self.requires_grad:
            seen.append(f"float() of a tensor {tuple(self.shape)} that requires grad")
        return to_float(self)

    def checked_item(self):
        if self.requires_grad:
            seen.append(f".item() of a tensor {tuple(self.shape)} that requires grad")
        return item(self)

    monkeypatch.setattr(torch.Tensor, "__float__", checked_float)
    monkeypatch.setattr(torch.Tensor, "item", checked_item)
    return seen


def test_a_training_step_logs_its_losses_without_converting_tensors_that_require_grad(
        tiny_data, tmp_path, conversions_of_tensors_that_require_grad):
    cfg = get_preset("tiny").override({"data.root": str(tiny_data), "data.synthetic_sequences": 0})
    trainer = Trainer(cfg, tmp_path, max_steps=1, log_with=None)
    batch = next(iter(trainer.loader))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning of the step fails the test
        logs = trainer.train_batch(batch)
        warm_up = trainer.warmup_batch(batch)
    assert conversions_of_tensors_that_require_grad == []
    assert {"G_GAN", "G_flow", "D_real"} <= logs.keys() and "G_flow" in warm_up
    assert all(type(v) is float for v in [*logs.values(), *warm_up.values()])


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True")  # provoked on purpose
def test_the_check_catches_a_loss_converted_before_detaching(conversions_of_tensors_that_require_grad):
    loss = (torch.ones(3, requires_grad=True) * 2).sum()
    float(loss.detach())
    assert conversions_of_tensors_that_require_grad == []
    float(loss)
    assert conversions_of_tensors_that_require_grad == ["float() of a tensor () that requires grad"]
