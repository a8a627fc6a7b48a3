"""Train the synthetic-domain feature network: ``python reproduce/train_feature_net.py [--out F] [k=v ...]``.

The FID of the built-in synthetic benchmark is computed on this network's features
(``get_feature_extractor("synthetic", weights=...)``). It is trained on sequences generated in
memory with seeds disjoint from the synthetic datasets (:mod:`vid2vid.metrics.synthetic_features`)
to tell real clips from four corruptions (shuffled frames, flicker, blur, a dropped or repeated
frame) and to tell the camera's pan direction, on scenes made with the Tables benchmark's data
settings (``--scene benchmark``, the default) or the ``synthetic`` preset's (``--scene preset``:
the pretrained models' data, which Table 3 measures; ``--out
reproduce/results/synthetic/feature_net_preset.pt``). The evaluations refuse a network trained on
other scenes than the videos they measure. Overrides are ``FeatureNetTraining`` fields, e.g.
``steps=100 train_sequences=16``. The defaults take a few minutes on a 2-core CPU; the script
prints the held-out accuracy and writes ``reproduce/results/synthetic/feature_net.pt`` (< 2 MB).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields
from pathlib import Path

import torch

from vid2vid.metrics.synthetic_features import (
    CORRUPTIONS,
    FeatureNetConfig,
    FeatureNetTraining,
    save_feature_net,
    train_feature_net,
)

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "synthetic" / "feature_net.pt"


def parse_overrides(pairs: list[str]) -> FeatureNetTraining:
    """``["steps=100", "lr=1e-3"]`` -> :class:`FeatureNetTraining` (unknown keys and bad values rejected)."""
    types = {f.name: f.type for f in fields(FeatureNetTraining)}
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in types:
            raise SystemExit(f"override {pair!r}: expected key=value with key one of {sorted(types)}")
        cast = float if types[key] in ("float", float) else int
        try:
            values[key] = cast(value)
        except ValueError:
            raise SystemExit(f"override {pair!r}: {key} must be a {cast.__name__}") from None
    return FeatureNetTraining(**values)


def scene_of(name: str):
    """The synthetic generator's settings of ``--scene``: the benchmark's data or the preset's."""
    from vid2vid.config import get_preset
    from vid2vid.data.synthetic import SyntheticConfig

    if name == "benchmark":
        from evaluate import benchmark_config

        return SyntheticConfig.from_data_config(benchmark_config([]).data)
    return SyntheticConfig.from_data_config(get_preset("synthetic").data)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"weights file (default {DEFAULT_OUT})")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: on a small shared CPU these small 3D convolutions "
                        "run several times faster on one thread than on two that wait for each other)")
    p.add_argument("--scene", choices=["benchmark", "preset"], default="benchmark",
                   help="the scenes it learns from: the Tables benchmark's data settings (default; "
                        "evaluate.BENCHMARK_DATA: motion, foreground palette, still cameras) or the "
                        "`synthetic` preset's, on which the pretrained models were trained and which "
                        "Table 3 measures (reproduce/results/synthetic/feature_net_preset.pt); the "
                        "evaluations check it")
    p.add_argument("overrides", nargs="*", help="FeatureNetTraining fields as key=value")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    training = parse_overrides(args.overrides)
    config = FeatureNetConfig()
    scene = scene_of(args.scene)

    started = time.perf_counter()
    model, report = train_feature_net(config, training, log=lambda line: print(line, flush=True), scene=scene)
    path = save_feature_net(model, args.out, report)
    held = report["held_out"]
    print(f"held-out accuracy (5-way corruption: {', '.join(CORRUPTIONS)}): {held['accuracy']:.3f} "
          f"on {held['clips']} clips (chance 0.200)")
    print("per class: " + ", ".join(f"{k} {v:.3f}" for k, v in held["per_class"].items()))
    print(f"held-out camera-direction accuracy: {held['direction_accuracy']:.3f} (chance 0.5)")
    print(f"held-out loss: {report['held_out_before_training']['loss']:.3f} untrained -> {held['loss']:.3f}")
    print(f"features: {model.feature_dim}-d, clips of {config.clip_length} frames at "
          f"{config.height}x{config.width}; {sum(p.numel() for p in model.parameters())} parameters")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - started:.0f} s total")
    summary = {k: v for k, v in report.items() if k != "losses"}
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
