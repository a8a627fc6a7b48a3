"""The speed rewrites (:mod:`vid2vid.models.speed`): ``InstanceNorm2d`` as ``GroupNorm(C, C)`` and
``channels_last`` weights leave the tiny preset's G, D_I and D_V computing the same outputs and
gradients with the same Parameter objects and state dict; ``train.speed_rewrites`` is validated,
applied by the Trainer and reported in its banner; inference takes them too; ``reproduce/benchmark.py
--rewrites`` times every combination."""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from vid2vid.config import ConfigError, get_preset
from vid2vid.config.validate import SPEED_REWRITES, parse_speed_rewrites
from vid2vid.models import build_discriminators, build_generator
from vid2vid.models.speed import REWRITES, apply_speed_rewrites, group_norm_instances, to_channels_last

ROOT = Path(__file__).resolve().parents[1]
B = 2  # two samples: instance statistics are per sample


def _tensors(out) -> list[torch.Tensor]:
    """The tensors of a network's output, flattened (G's GeneratorOutput, D's nested lists)."""
    if isinstance(out, torch.Tensor):
        return [out]
    if dataclasses.is_dataclass(out):
        return [t for f in dataclasses.fields(out) for t in _tensors(getattr(out, f.name))]
    if isinstance(out, (list, tuple)):
        return [t for item in out for t in _tensors(item)]
    return []


Call = Callable[[nn.Module], tuple[list[torch.Tensor], list[torch.Tensor]]]


def _g_outputs(out) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """G's outputs, and those whose gradients are smooth functions of the weights: not the warped
    previous frame nor the frame composed from it, since bilinear sampling's gradient with respect
    to the flow jumps where the flow crosses a pixel, so that rounding can flip it."""
    smooth = [out.h, out.h_B, out.h_F, out.w, out.m]
    return _tensors(out), [t for t in smooth if t is not None]


def _network(name: str) -> tuple[nn.Module, Call]:
    """The tiny preset's ``name`` (G, D_I or D_V) and a call of it on fixed random inputs: its
    outputs, and those the gradients are taken of."""
    cfg = get_preset("tiny")
    h, w = cfg.data.frame_size
    c_s, L = cfg.data.label_channels, cfg.model.n_prev
    g = torch.Generator().manual_seed(1)
    if name == "G":
        labels = torch.rand(B, L + 1, c_s, h, w, generator=g)
        prev = torch.rand(B, L, 3, h, w, generator=g) * 2 - 1
        m_B = (torch.rand(B, 1, h, w, generator=g) > 0.3).float()
        return build_generator(cfg), lambda net: _g_outputs(net(labels, prev, m_B))
    D_I, D_V = build_discriminators(cfg)
    if name == "D_I":
        image, label = torch.rand(B, 3, h, w, generator=g) * 2 - 1, torch.rand(B, c_s, h, w, generator=g)
        return D_I, lambda net: (_tensors(net(image, label)),) * 2
    K = D_V.n_frames
    frames = torch.rand(B, K, 3, h, w, generator=g) * 2 - 1
    flows = torch.randn(B, K - 1, 2, h, w, generator=g)
    return D_V, lambda net: ([t for s in range(len(net.scales))
                              for t in _tensors(net(frames, flows, s))],) * 2


def _outputs_and_grads(net: nn.Module, call: Call) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
    net.zero_grad(set_to_none=True)
    outs, differentiated = call(net)
    sum((t ** 2).mean() for t in differentiated).backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    return [t.detach() for t in outs], grads


def _assert_close(got: torch.Tensor, expected: torch.Tensor, tol: float, scale: float, what: str) -> None:
    """Every element within ``tol * scale``: the tolerance is relative to the magnitude of what is
    compared (G's flow is in pixels, 20 x its head's output) rather than to each element, since
    some gradients are sums that nearly cancel (a bias before a norm has a gradient of exactly 0
    mathematically: its computed value is rounding noise)."""
    torch.testing.assert_close(got, expected, rtol=0, atol=tol * scale, msg=lambda m: f"{what}: {m}")


def _n_instance_norms(net: nn.Module) -> int:
    return sum(isinstance(m, nn.InstanceNorm2d) for m in net.modules())


@pytest.mark.parametrize("rewrites", ["group_norm", "channels_last", "group_norm,channels_last"])
@pytest.mark.parametrize("name", ["G", "D_I", "D_V"])
def test_rewrites_keep_parameters_state_dict_outputs_and_gradients(name, rewrites):
    """Outputs within 1e-5 of their scale with group_norm (measured: 1e-6), 1e-4 with channels_last,
    whose convolutions sum in another order (measured: up to 1.5e-5 for G, 2e-6 for D_I and D_V).
    Gradients, all parameters' as one vector, relative L2 error: D_I and D_V within 1e-5 (measured
    over seeds 0-5: at most 2e-6). G's (of its outputs that do not go through the warp,
    :func:`_g_outputs`) are far more sensitive to the order of sums, even with group_norm alone,
    whose maths are identical (measured over seeds 0-5: up to 7e-4 with group_norm, 3e-3 with
    channels_last, 9e-3 with both, whose GroupNorm kernel is the less accurate one, see
    :func:`vid2vid.models.speed.to_channels_last`), so G's bound, 3e-2, only catches gross faults
    (a wrong norm moves them by O(1))."""
    net, call = _network(name)
    plain = copy.deepcopy(net)
    params, n_norms = list(net.parameters()), _n_instance_norms(net)
    assert n_norms > 0
    if rewrites == "group_norm":
        assert group_norm_instances(net) == n_norms
    else:
        assert apply_speed_rewrites(net, rewrites) == parse_speed_rewrites(rewrites)
    if "group_norm" in rewrites:
        assert _n_instance_norms(net) == 0
        assert sum(isinstance(m, nn.GroupNorm) and m.num_groups == m.num_channels for m in net.modules()) \
            == n_norms
    if "channels_last" in rewrites:
        convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
        assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    # the very same Parameters (an optimiser built before keeps them), the same state dict
    assert all(a is b for a, b in zip(net.parameters(), params, strict=True))
    state, plain_state = net.state_dict(), plain.state_dict()
    assert list(state) == list(plain_state)
    assert all(torch.equal(state[k], plain_state[k]) for k in state)
    outs, grads = _outputs_and_grads(net, call)
    plain_outs, plain_grads = _outputs_and_grads(plain, call)
    assert len(outs) == len(plain_outs) and list(grads) == list(plain_grads) and grads
    tol = 1e-4 if "channels_last" in rewrites else 1e-5
    for i, (a, b) in enumerate(zip(outs, plain_outs, strict=True)):
        _assert_close(a, b, tol, max(1.0, b.abs().max().item()), f"output {i}")
    # all gradients as one vector: a ReLU whose input rounding moves across 0 changes a few elements
    # by much, which an element-wise comparison would take for a fault
    flat, plain_flat = (torch.cat([g[k].flatten() for k in grads]) for g in (grads, plain_grads))
    error = ((flat - plain_flat).norm() / plain_flat.norm()).item()
    assert error < (3e-2 if name == "G" else 1e-5), error
    plain.load_state_dict(net.state_dict())  # checkpoints load either way
    net.load_state_dict(plain.state_dict())


def test_group_norm_refuses_running_statistics_and_counts_shared_layers_once():
    tracked = nn.Sequential(nn.InstanceNorm2d(4),
                            nn.Sequential(nn.InstanceNorm2d(4, track_running_stats=True)))
    with pytest.raises(ValueError, match=r"^1\.0: InstanceNorm2d with track_running_stats=True"):
        group_norm_instances(tracked)
    assert _n_instance_norms(tracked) == 2  # nothing replaced
    with pytest.raises(ValueError, match="given an InstanceNorm2d itself"):
        group_norm_instances(nn.InstanceNorm2d(4))
    shared = nn.InstanceNorm2d(4, affine=True, eps=1e-3)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    assert group_norm_instances(net) == 1
    assert net[0] is net[2] and isinstance(net[0], nn.GroupNorm)
    assert net[0].eps == 1e-3 and net[0].weight is shared.weight and net[0].bias is shared.bias
    assert group_norm_instances(net) == 0  # nothing left to rewrite
    assert to_channels_last(net) is net


def test_config_validates_and_orders_the_rewrites():
    assert tuple(REWRITES) == SPEED_REWRITES
    assert get_preset("tiny").train.speed_rewrites == ""
    cfg = get_preset("tiny").override(["train.speed_rewrites= channels_last , group_norm"])
    assert parse_speed_rewrites(cfg.train.speed_rewrites) == ("group_norm", "channels_last")
    assert parse_speed_rewrites("") == ()
    with pytest.raises(ConfigError, match=r"train\.speed_rewrites='group_norm,fast': unknown rewrite\(s\) "
                                          r"fast; expected a comma-separated subset of group_norm, "
                                          r"channels_last"):
        get_preset("tiny").override(["train.speed_rewrites=group_norm,fast"])
    with pytest.raises(ConfigError, match="rewrites='batch_norm': unknown"):
        apply_speed_rewrites(nn.Identity(), "batch_norm")


def test_trainer_applies_the_rewrites_and_inference_takes_them(tiny_data, tmp_path):
    from vid2vid.data.layout import kind_dir, list_sequences
    from vid2vid.inference import generate_frames, read_input_frames
    from vid2vid.models.io import load_generator
    from vid2vid.training.trainer import Trainer

    cfg = get_preset("tiny").override({"data.root": str(tiny_data), "data.synthetic_sequences": 0,
                                       "train.speed_rewrites": "group_norm"})
    trainer = Trainer(cfg, tmp_path / "run", max_steps=1, log_with=None)
    G = trainer.acc.unwrap_model(trainer.seqG).G
    assert G is trainer.G and _n_instance_norms(G) == 0 and _n_instance_norms(trainer.D_I) == 0
    assert any(isinstance(m, nn.GroupNorm) for m in G.modules())
    assert "; speed rewrites group_norm" in trainer.banner()
    history = trainer.fit()
    assert trainer.step == 1 and all(torch.isfinite(torch.tensor(v)) for row in history for v in row.values())

    _, plain, _ = load_generator(tmp_path / "run" / "generator.pt")  # the plain architecture loads it
    assert _n_instance_norms(plain) > 0
    seq = kind_dir(tiny_data, "test", "A") / list_sequences(kind_dir(tiny_data, "test", "A"))[0]
    frames = list(read_input_frames(cfg, seq))[:3]
    expected = [x for _, x in generate_frames(copy.deepcopy(plain), cfg, iter(frames))]
    # each alone (measured: within 2e-5); both together differ more on the first frame's all-zero
    # previous frames (the caveat of vid2vid.models.speed.to_channels_last)
    for rewrites in ("group_norm", "channels_last"):
        G = copy.deepcopy(plain)
        got = [x for _, x in generate_frames(G, cfg, iter(frames), rewrites=rewrites)]
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            _assert_close(a, b, 1e-4, 1.0, f"{rewrites}, frame {i}")
        if rewrites == "group_norm":  # G is rewritten in place
            assert _n_instance_norms(G) == 0
        else:
            assert G.scales[0].image_head.conv.weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.slow
def test_benchmark_times_every_combination_of_rewrites(capsys):
    sys.path.insert(0, str(ROOT / "reproduce"))
    import benchmark

    assert benchmark.main(["--rewrites", "--preset", "tiny", "--frames", "4", "--repeats", "1",
                           "--threads", "1", "--device", "cpu", "--json"]) == 0
    records = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    combinations = ["none", "group_norm", "channels_last", "group_norm+channels_last"]
    assert [(r["mode"], r["rewrites"]) for r in records] == \
        [(mode, name) for mode in ("train", "inference") for name in combinations]
    for r in records:
        assert r["median_ms"] > 0 and r["min_ms"] > 0 and r["repeats"] == 1
        assert r["precision_setting"] == "fp32" and r["torch_threads"] == 1 and r["frame_size"] == [32, 64]
        if r["rewrites"] == "none":
            assert r["speedup"] == r["speedup_min"] == 1.0


def test_group_norm_is_the_same_maths_as_instance_norm_in_float64():
    """In float64, where rounding cannot be amplified, G's outputs and gradients with the group-norm
    rewrite equal the plain generator's to about 1e-15: the loose fp32 bound of G above is rounding
    through an ill-conditioned network, not a difference in the maths."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # the weights and the inputs
    try:
        net, call = _network("G")
        plain = copy.deepcopy(net)
        group_norm_instances(net)
        outs, grads = _outputs_and_grads(net, call)
        plain_outs, plain_grads = _outputs_and_grads(plain, call)
    finally:
        torch.set_default_dtype(default)
    assert outs[0].dtype == torch.float64
    for a, b in zip(outs, plain_outs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    flat, plain_flat = (torch.cat([g[k].flatten() for k in grads]) for g in (grads, plain_grads))
    assert ((flat - plain_flat).norm() / plain_flat.norm()).item() < 1e-10
