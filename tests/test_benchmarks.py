"""The benchmark scripts: ``reproduce/benchmark.py`` (a preset's training and inference speed, and
with ``--reference-code`` the project against the reference networks) and ``reproduce/gpu_check.py``.

``--reference-code``: loading a reference checkout by path, the ``.cuda()`` calls neutralised, the
architecture check, the interleaved timing and its JSON. The reference code is not available here,
so a stand-in checkout is fabricated: its ``models/networks.py`` wraps the project's own networks
behind the reference's constructor and forward signatures and calls ``.cuda()`` inside its forward
passes, as the reference does."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "reproduce"))

import benchmark  # noqa: E402
import gpu_check  # noqa: E402
import reference_benchmark as rb  # noqa: E402

SMALL = ["data.height=32", "data.width=64", "model.ngf=8", "model.fg_ngf=4", "model.ndf=8"]

STAND_IN = textwrap.dedent('''
    import functools
    import torch
    from torch import nn
    from vid2vid.config import get_preset
    from vid2vid.models import build_discriminators, build_generator

    EXTRA = {extra}

    def get_norm_layer(norm_type="instance"):
        return functools.partial(nn.BatchNorm2d, affine=True)

    def _cfg(ngf, n_down, n_blocks, fg, no_flow):
        over = ["data.height=32", "data.width=64", f"model.ngf={{ngf}}", f"model.fg_ngf={{ngf // 2}}",
                "model.ndf=8", "model.norm=batch", "model.norm_D=batch", "model.upsample=transposed"]
        return get_preset("cityscapes-512").override(over)

    class CompositeGenerator(nn.Module):
        def __init__(self, opt, input_nc, output_nc, prev_output_nc, ngf, n_downsampling, n_blocks,
                     use_fg_model=False, no_flow=False, norm_layer=None):
            super().__init__()
            self.G = build_generator(_cfg(ngf, n_downsampling, n_blocks, use_fg_model, no_flow))
            self.extra = nn.Linear(1, 1) if EXTRA else None

        def forward(self, input, img_prev, mask, a, b, c, use_raw_only):
            B, _, H, W = input.shape
            labels = input.cuda(0).reshape(B, 3, -1, H, W)
            out = self.G(labels, img_prev.cuda(0).reshape(B, 2, 3, H, W), 1 - mask.cuda(0))
            return out.x, out.w, out.m, out.h, None, None, None

    class MultiscaleDiscriminator(nn.Module):
        def __init__(self, input_nc, ndf, n_layers, norm_layer, num_D, getIntermFeat):
            super().__init__()
            self.D = build_discriminators(_cfg(8, 3, 9, True, False))[0]

        def forward(self, x):
            x = x.cuda(0)
            return self.D(x[:, -3:], x[:, :-3])
''')


def _checkout(tmp_path: Path, extra: bool = False) -> Path:
    (tmp_path / "models").mkdir(parents=True)
    (tmp_path / "models" / "networks.py").write_text(STAND_IN.format(extra=extra))
    return tmp_path


@pytest.mark.slow
def test_reference_side_by_side_prints_json_with_the_speedup(tmp_path, capsys, monkeypatch):
    original_cuda = torch.Tensor.cuda
    code = _checkout(tmp_path / "ref")
    assert benchmark.main(["--reference-code", str(code), "--preset", "cityscapes-512", "--repeats", "2",
                           "--json", *SMALL]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"project_ms", "reference_ms", "speedup"} <= set(result)
    assert result["project_ms"] > 0 and result["reference_ms"] > 0
    assert result["speedup"] == pytest.approx(result["reference_ms"] / result["project_ms"], rel=0.01)
    counts = result["parameters"]
    assert counts["G"] == counts["reference_G"] and counts["D_I"] == counts["reference_D_I"]
    # the same networks on both sides: the same FLOPs
    assert result["gflops_per_step"]["project"] == pytest.approx(result["gflops_per_step"]["reference"])
    assert 0 < result["fraction_of_conv_peak"]["project"]
    assert torch.Tensor.cuda is original_cuda  # restored after the run
    assert benchmark.main(["--reference-code", str(code), "--preset", "cityscapes-512", "--repeats", "1",
                           *SMALL]) == 0
    assert "speedup" in capsys.readouterr().out
    assert result["compile"] is False and result["project_first_step_s"] is None
    # --compile: the project's networks through torch.compile, its compiling first step reported apart
    # (TorchDynamo traces them; its graphs run eagerly here: inductor would spend minutes on C++ code)
    compiled, plain_compile = [], torch.compile

    def eager_compile(model, **kwargs):
        compiled.append(type(model).__name__)
        return plain_compile(model, backend="eager")

    monkeypatch.setattr(torch, "compile", eager_compile)
    assert benchmark.main(["--reference-code", str(code), "--preset", "cityscapes-512", "--repeats", "1",
                           "--compile", "--json", *SMALL]) == 0
    with_compile = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert with_compile["compile"] is True and with_compile["project_first_step_s"] > 0
    assert with_compile["gflops_per_step"] == result["gflops_per_step"]  # counted on the same maths
    assert compiled == ["Generator", "ImageDiscriminator"]  # the project's; the reference's as shipped


def test_reference_benchmark_refuses_what_it_cannot_compare(tmp_path):
    from vid2vid.config import get_preset

    with pytest.raises(FileNotFoundError, match=r"nope/models/networks\.py: not found; --reference-code"):
        rb.load_reference_networks(tmp_path / "nope")
    cfg = get_preset("cityscapes-512").override(SMALL)
    with pytest.raises(ValueError, match="parameter counts differ"):
        rb.run(cfg, str(_checkout(tmp_path / "extra", extra=True)), "fp32", 1)
    with pytest.raises(ValueError, match="splits n_blocks into"):
        rb.reference_sizes(cfg.override(["model.n_blocks_enc=2", "model.n_blocks_dec=4"]))
    with pytest.raises(ValueError, match="foreground branch has width 4"):
        rb.reference_sizes(cfg.override(["model.fg_ngf=8"]))


@pytest.mark.slow
def test_preset_benchmark_reports_speed_precision_and_the_first_step(capsys):
    assert benchmark.main(["--preset", "tiny", "--frames", "4", "--steps", "1", "--inference-frames", "3",
                           "--threads", "1", "--device", "cpu", "train.mixed_precision=auto"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["precision_setting"] == "auto" and result["mixed_precision"] in ("no", "bf16")
    assert result["compile"] is False and result["first_step_s"] > 0
    assert result["train_frames_per_s"] > 0 and result["inference_frames_per_s"] > 0


def test_gpu_check_plans_its_checks_and_needs_a_gpu(capsys, tmp_path, monkeypatch):
    """Without a GPU the script says so and exits 2; ``--dry-run`` lists the checks (DDP only with
    two GPUs); the report names the machine and puts the memory estimate beside the peak."""
    names = [c["name"] for c in gpu_check.checks(1)]
    assert names == ["cityscapes-512 bf16", "cityscapes-1024 bf16", "cityscapes-512 bf16 compiled"]
    assert "2-process DDP, synthetic" in [c["name"] for c in gpu_check.checks(2)]
    assert all("train.mixed_precision=auto" in c["command"] for c in gpu_check.checks(1))
    assert gpu_check.main(["--dry-run"]) == 0
    assert "train.compile=true" in capsys.readouterr().out
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main([]) == 2
    assert "no CUDA GPU is visible" in capsys.readouterr().err
    # 16 bytes per parameter of G (411.3 M), D_I and D_V (16.7 M) at cityscapes-512
    assert gpu_check.estimate_gb("cityscapes-512") == pytest.approx(16 * 428.0e6 / 2**30, rel=0.01)
    rows = [{"name": "cityscapes-512 bf16", "ok": True, "seconds": 60.0, "estimate_gb": 6.38,
             "result": {"mixed_precision": "bf16", "train_frames_per_s": 3.5, "inference_frames_per_s": 20.0,
                        "first_step_s": 4.0, "peak_gpu_memory_gb_train": 9.1}},
            {"name": "cityscapes-1024 bf16", "ok": False, "seconds": 900.0, "estimate_gb": 7.0,
             "result": None, "output_tail": "timed out"}]
    path = gpu_check.write_report(rows, {"gpu": "NVIDIA H100 80GB HBM3", "gpu_count": 1, "cpu": "x",
                                         "cpu_count": 16, "torch": "2.14.1"}, tmp_path)
    assert path.name == "NVIDIA_H100_80GB_HBM3.md"
    text = path.read_text()
    assert "| cityscapes-512 bf16 | yes | bf16 | 3.5 | 20.0 | 4.0 | 9.1 | 6.38 |" in text
    assert "| cityscapes-1024 bf16 | no |" in text and "NVIDIA H100 80GB HBM3 x 1" in text


@pytest.mark.slow
def test_profile_step_times_both_models_and_breaks_the_step_down(tmp_path):
    import profile_step

    out = tmp_path / "profile.md"
    assert profile_step.main(["--frames", "4", "--steps", "1", "--out", str(out), "model.ngf=8",
                              "model.fg_ngf=4", "model.ndf=8"]) == 0
    text = out.read_text()
    assert "| vid2vid |" in text and "| per-frame |" in text and "vid2vid / per-frame:" in text
    for part in profile_step.REGIONS:  # every part of Trainer.train_batch is marked and found
        assert f"| {part} |" in text
    assert "aten::" in text
    # FLOPs per step: vid2vid's generator has an image encoder and a flow decoder more, and D_V
    flops = {row.split("|")[1].strip(): [float(x) for x in row.split("|")[2:7]]
             for row in text.splitlines() if row.startswith(("| vid2vid | ", "| per-frame | ")) and
             row.count("|") == 7}
    (total, gen, d_i, d_v, other), per_frame = flops["vid2vid"], flops["per-frame"]
    assert total > per_frame[0] > 0 and gen > per_frame[1] > 0 and d_v > 0 == per_frame[3]
    assert abs(gen + d_i + d_v + other - total) < 0.2
    assert "FLOPs vid2vid / per-frame:" in text and "forward passes per frame of the window" in text
