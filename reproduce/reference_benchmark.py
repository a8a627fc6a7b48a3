"""The project's generator and ``D_I`` against the reference code's, same architecture, same input.

    python reproduce/benchmark.py --reference-code ~/src/vid2vid --preset cityscapes-512 \
        data.height=128 data.width=256 [--precision fp32|bf16|auto] [--threads 1] [--json]

``--reference-code`` is a checkout of NVIDIA/vid2vid that you supply (nothing of it is copied into
this repository). Its ``models/networks.py`` is imported from there by file path; it is PyTorch 0.4
code that moves tensors with ``.cuda()`` inside its forward passes, so on a CPU the benchmark makes
``Tensor.cuda`` return the tensor itself for as long as it runs (the files are never edited).

Both sides are built at the architecture the reference code has for the config: the composite
generator (label and image encoders, image and flow decoders, the foreground branch) with batch
norm and stride-2 transposed convolutions (``model.norm=batch model.upsample=transposed`` are
applied here), and the multi-scale PatchGAN ``D_I`` with intermediate features. The parameter
counts must agree, or the benchmark stops (the reference widens its full-resolution ``D_I``
scale up to 64 channels when ``ndf`` is below 64: keep ``model.ndf`` at its default, 64).
One training step, the same on both sides: G makes one frame from the stacked labels and previous
frames, ``D_I`` scores it and the real frame (LSGAN terms on every scale's last output), and the
generator's and the discriminator's losses are back-propagated. The two are timed interleaved in one
process (``--repeats`` each, after warm-up steps), so that a machine's drift hits both alike; min
and median are reported. ``--compile`` runs the project's networks through ``torch.compile``
(its compiling first step reported apart). Also: the FLOPs of a step (``torch.utils.flop_counter``)
and the fraction of a measured convolution peak it achieves.
"""

from __future__ import annotations

import contextlib
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import torch

REFERENCE_OVERRIDES = ["model.norm=batch", "model.norm_D=batch", "model.upsample=transposed"]


def load_reference_networks(root: str | Path):
    """The reference checkout's ``models/networks.py`` as a module (imported by path, under a name
    of its own, so it cannot shadow anything of this project)."""
    path = Path(root).expanduser() / "models" / "networks.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; --reference-code must be a checkout of NVIDIA/vid2vid "
                                "(the folder holding models/networks.py)")
    spec = importlib.util.spec_from_file_location("vid2vid_reference_networks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("CompositeGenerator", "MultiscaleDiscriminator", "get_norm_layer"):
        if not hasattr(module, name):
            raise ValueError(f"{path}: has no {name}; is this the NVIDIA/vid2vid code?")
    return module


@contextlib.contextmanager
def cuda_calls_stay_put() -> Iterator[None]:
    """``Tensor.cuda(...)`` returns the tensor itself while the block runs (the reference's forward
    passes call it on every warp); restored afterwards."""
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.cuda = original  # type: ignore[method-assign]


def reference_sizes(cfg) -> dict:
    """The reference constructor arguments that give the config's architecture, or a ValueError
    naming the setting that has no reference equivalent."""
    m = cfg.model
    n_blocks = m.n_blocks_enc + m.n_blocks_dec
    if m.n_blocks_dec != n_blocks // 2:
        raise ValueError(f"model.n_blocks_enc={m.n_blocks_enc}, n_blocks_dec={m.n_blocks_dec}: the reference "
                         f"splits n_blocks into n - n // 2 encoder and n // 2 decoder blocks")
    if m.use_fg_prior:
        fg_ngf = m.ngf // 2 if m.n_downsample > 2 else m.ngf
        if m.fg_ngf != fg_ngf or m.fg_n_blocks != n_blocks:
            raise ValueError(f"model.fg_ngf={m.fg_ngf}, fg_n_blocks={m.fg_n_blocks}: the reference's "
                             f"foreground branch has width {fg_ngf} and {n_blocks} blocks at ngf={m.ngf}, "
                             f"n_downsample={m.n_downsample}")
    if m.n_scales != 1:
        raise ValueError("model.n_scales must be 1 (the benchmark compares the coarse generator)")
    return {"n_blocks": n_blocks}


def build_pair(cfg, reference) -> dict:
    """Both generators and both ``D_I`` for ``cfg`` (with :data:`REFERENCE_OVERRIDES` applied)."""
    from vid2vid.models import build_discriminators, build_generator

    m, d = cfg.model, cfg.data
    sizes = reference_sizes(cfg)
    label_in, prev_in = (m.n_prev + 1) * d.label_channels, m.n_prev * 3
    norm = reference.get_norm_layer("batch")
    opt = SimpleNamespace(fp16=False)
    ref_G = reference.CompositeGenerator(opt, label_in, 3, prev_in, m.ngf, m.n_downsample, sizes["n_blocks"],
                                         m.use_fg_prior, not m.use_flow, norm)
    ref_D = reference.MultiscaleDiscriminator(d.label_channels + 3, m.ndf, m.n_layers_D, norm, m.num_D, True)
    G = build_generator(cfg)
    D_I, _ = build_discriminators(cfg)
    counts = {name: sum(p.numel() for p in net.parameters())
              for name, net in (("G", G), ("reference_G", ref_G), ("D_I", D_I), ("reference_D_I", ref_D))}
    if counts["G"] != counts["reference_G"] or counts["D_I"] != counts["reference_D_I"]:
        raise ValueError(f"parameter counts differ, so the architectures do: {counts}")
    return {"G": G, "D_I": D_I, "reference_G": ref_G, "reference_D_I": ref_D, "counts": counts}


def make_inputs(cfg, batch: int = 1, seed: int = 0) -> dict:
    """Random one-hot labels of L+1 frames, previous frames, the real frame and a foreground mask."""
    g = torch.Generator().manual_seed(seed)
    d, m = cfg.data, cfg.model
    h, w = d.frame_size
    ids = torch.randint(0, d.label_channels, (batch, m.n_prev + 1, h // 8, w // 8), generator=g)
    ids = torch.nn.functional.interpolate(ids.float(), size=(h, w), mode="nearest").long()
    labels = torch.nn.functional.one_hot(ids, d.label_channels).permute(0, 1, 4, 2, 3).float()
    prev = torch.rand(batch, m.n_prev, 3, h, w, generator=g) * 2 - 1
    real = torch.rand(batch, 3, h, w, generator=g) * 2 - 1
    fg = (torch.rand(batch, 1, h, w, generator=g) > 0.8).float()
    return {"labels": labels, "prev": prev, "real": real, "fg": fg}


def _lsgan(outputs, target: float) -> torch.Tensor:
    """Sum over scales of the mean squared distance of each scale's last output to ``target``."""
    return sum(((scale[-1] - target) ** 2).mean() for scale in outputs)


def project_step(G, D_I, x: dict) -> None:
    out = G(x["labels"], x["prev"], 1 - x["fg"])  # m_B: 1 on the background
    label_t = x["labels"][:, -1]
    (_lsgan(D_I(out.x, label_t), 1.0)).backward()
    (_lsgan(D_I(out.x.detach(), label_t), 0.0) + _lsgan(D_I(x["real"], label_t), 1.0)).backward()


def reference_step(G, D_I, x: dict) -> None:
    B, T, C, H, W = x["labels"].shape
    fake = G(x["labels"].reshape(B, T * C, H, W), x["prev"].reshape(B, -1, H, W), x["fg"],
             None, None, None, False)[0]
    label_t = x["labels"][:, -1]
    (_lsgan(D_I(torch.cat([label_t, fake], 1)), 1.0)).backward()
    (_lsgan(D_I(torch.cat([label_t, fake.detach()], 1)), 0.0)
     + _lsgan(D_I(torch.cat([label_t, x["real"]], 1)), 1.0)).backward()


def autocast(precision: str):
    return torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()


def time_interleaved(steps: dict[str, Callable[[], None]], repeats: int, warmup: int = 1) -> dict:
    """Per name, the seconds of each of ``repeats`` calls, the names taking turns."""
    for _ in range(warmup):
        for fn in steps.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def step_flops(fn: Callable[[], None]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def conv_peak(precision: str, repeats: int = 5) -> float:
    """FLOP/s of a large 3x3 convolution (256 -> 256 channels, 64 x 64), the best of ``repeats``."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1)
    x = torch.randn(4, 256, 64, 64)
    flops = 2 * 4 * 256 * 256 * 9 * 64 * 64
    best = float("inf")
    with torch.no_grad(), autocast(precision):
        conv(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            conv(x)
            best = min(best, time.perf_counter() - t0)
    return flops / best


def run(cfg, reference_root: str, precision: str, repeats: int, batch: int = 1,
        reference_precision: str | None = None, compile_project: bool = False) -> dict:
    """The side-by-side measurement as one dict (milliseconds per training step and their ratio).
    ``reference_precision`` (default: ``precision``) lets the reference run as it ships, in fp32:
    it has no CPU mixed precision of its own. ``compile_project``: the project's two networks run
    through ``torch.compile`` (as ``train.compile`` does; the reference's as they ship), and the
    first, compiling step's seconds are reported apart (``project_first_step_s``); FLOPs are
    counted on the uncompiled networks (the same maths)."""
    reference_precision = reference_precision or precision
    reference = load_reference_networks(reference_root)
    cfg = cfg.override(REFERENCE_OVERRIDES)
    with cuda_calls_stay_put():
        nets = build_pair(cfg, reference)
        x = make_inputs(cfg, batch)

        def step(G, D, body, mode: str) -> Callable[[], None]:
            def call() -> None:
                with autocast(mode):
                    body(G, D, x)
                G.zero_grad(set_to_none=True)
                D.zero_grad(set_to_none=True)
            return call

        steps = {"project": step(nets["G"], nets["D_I"], project_step, precision),
                 "reference": step(nets["reference_G"], nets["reference_D_I"], reference_step,
                                   reference_precision)}
        flops = {name: step_flops(fn) for name, fn in steps.items()}
        first_step_s = None
        if compile_project:
            G, D_I = torch.compile(nets["G"]), torch.compile(nets["D_I"])
            steps["project"] = step(G, D_I, project_step, precision)
            t0 = time.perf_counter()
            steps["project"]()
            first_step_s = time.perf_counter() - t0
        times = time_interleaved(steps, repeats)
    peak = {"project": conv_peak(precision), "reference": conv_peak(reference_precision)}
    ms = {name: {"min": 1000 * min(t), "median": 1000 * statistics.median(t)} for name, t in times.items()}
    return {
        "project_ms": round(ms["project"]["median"], 2), "reference_ms": round(ms["reference"]["median"], 2),
        "speedup": round(ms["reference"]["median"] / ms["project"]["median"], 3),
        "speedup_min": round(ms["reference"]["min"] / ms["project"]["min"], 3),
        "project_min_ms": round(ms["project"]["min"], 2),
        "reference_min_ms": round(ms["reference"]["min"], 2),
        "precision": precision, "reference_precision": reference_precision, "repeats": repeats,
        "compile": compile_project, "project_first_step_s": first_step_s and round(first_step_s, 1),
        "batch": batch, "frame_size": list(cfg.data.frame_size),
        "parameters": nets["counts"], "gflops_per_step": {k: round(v / 1e9, 3) for k, v in flops.items()},
        "conv_peak_gflops": {k: round(v / 1e9, 2) for k, v in peak.items()},
        "fraction_of_conv_peak": {k: round(flops[k] / (ms[k]["min"] / 1000) / peak[k], 3) for k in flops},
        "torch_threads": torch.get_num_threads(),
    }


if __name__ == "__main__":  # the entry point is reproduce/benchmark.py --reference-code
    sys.exit("run: python reproduce/benchmark.py --reference-code DIR [--preset ...]")
