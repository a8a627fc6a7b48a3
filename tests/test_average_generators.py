"""Averaging generator checkpoints (``vid2vid.models.io.average_generators``): the mean weights, the
last file's configuration and step, and clear refusals."""

from __future__ import annotations

import pytest
import torch

from vid2vid.config import get_preset
from vid2vid.models.generator import Generator
from vid2vid.models.io import CheckpointMismatchError, average_generators, export_generator, load_generator


def _snapshot(tmp_path, cfg, seed: int, step: int):
    torch.manual_seed(seed)
    tmp_path.mkdir(parents=True, exist_ok=True)
    G = Generator.from_config(cfg)
    return export_generator(tmp_path / f"step_{step}.pt", cfg, G, step), G


def test_mean_of_every_weight_with_the_last_config_and_step(tmp_path):
    cfg = get_preset("tiny")
    made = [_snapshot(tmp_path, cfg, seed, step) for seed, step in ((0, 100), (1, 200), (2, 300))]
    paths, nets = zip(*made, strict=True)
    out = average_generators(paths, tmp_path / "avg.pt")
    _, G, step = load_generator(out)
    assert step == 300
    states = [n.state_dict() for n in nets]
    for k, v in G.state_dict().items():
        if torch.is_floating_point(v):
            torch.testing.assert_close(v, (states[0][k] + states[1][k] + states[2][k]) / 3)
    # the average is none of the snapshots: initial weights differ by seed
    name = next(k for k, v in states[0].items() if torch.is_floating_point(v) and v.numel() > 10)
    assert not torch.equal(G.state_dict()[name], states[2][name])


def test_refuses_one_file_other_models_and_other_shapes(tmp_path):
    cfg = get_preset("tiny")
    a, _ = _snapshot(tmp_path, cfg, 0, 1)
    with pytest.raises(ValueError, match="at least two"):
        average_generators([a], tmp_path / "avg.pt")
    other = cfg.override(["model.ngf=16"])
    b, _ = _snapshot(tmp_path / "other", other, 0, 2)
    with pytest.raises(ValueError, match="model settings differ"):
        average_generators([a, b], tmp_path / "avg.pt")
    c = tmp_path / "c.pt"
    ck = torch.load(a, weights_only=True)
    name = next(iter(ck["generator"]))
    ck["generator"][name] = torch.zeros(1)
    torch.save(ck, c)
    with pytest.raises(CheckpointMismatchError, match=f"c.pt: does not fit .*{name}"):
        average_generators([a, c], tmp_path / "avg.pt")
    assert not (tmp_path / "avg.pt").exists()
