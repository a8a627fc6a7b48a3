"""``python -m vid2vid summary --preset NAME [--json] [section.key=value ...]``: parameter counts.

Prints the generator's parameters in total and per part (the reference code's breakdown),
D_I, and D_V per temporal scale. The networks are built on the ``meta`` device: no
memory is allocated and no weights are initialised, so even the 2048 models count instantly.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

PART_NAMES = {
    "fg_branch": "foreground branch H_F",
    "label_encoder": "label encoder",
    "image_encoder": "image encoder",
    "image_res": "image res blocks",
    "flow_res": "flow res blocks",
    "image_up": "image upsampling",
    "flow_up": "flow upsampling",
    "heads": "heads (image, flow, mask)",
    "flow_encoders": "flow branch's own encoders",
    "feature_encoder": "feature encoder E",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vid2vid.config import PRESETS

    parser.add_argument("--preset", default="cityscapes-512", choices=sorted(PRESETS), help="named preset")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("overrides", nargs="*", metavar="section.key=value",
                        help="config overrides, e.g. model.ngf=64 model.n_scales=2")


def count_parameters(cfg: Any) -> dict[str, Any]:
    """``{"G": int, "G_parts": {...}, "D_I": int, "D_V": [int per temporal scale], "D_face": int}`` for
    a config (``D_face`` 0 without the face discriminator, ``model.use_face_D``)."""
    import torch

    from vid2vid.models import Generator, build_discriminators
    from vid2vid.models.discriminators import FaceDiscriminator

    with torch.device("meta"):
        G = Generator.from_config(cfg)
        D_I, D_V = build_discriminators(cfg)
        D_face = FaceDiscriminator.from_config(cfg) if cfg.model.use_face_D else None
    parts = G.parameter_counts()
    total = parts.pop("total")
    return {
        "preset": cfg.preset,
        "G": total,
        "G_parts": parts,
        "D_I": sum(p.numel() for p in D_I.parameters()),
        "D_V": [] if D_V is None else [sum(p.numel() for p in s.parameters()) for s in D_V.scales],
        "D_face": 0 if D_face is None else sum(p.numel() for p in D_face.parameters()),
    }


def _m(n: int) -> str:
    """Millions with two decimals, thousands below a million (small presets)."""
    return f"{n / 1e6:9.2f} M" if n >= 1e6 else f"{n / 1e3:9.2f} k"


def run(args: argparse.Namespace) -> int:
    from vid2vid.config import get_preset

    cfg = get_preset(args.preset).override(args.overrides)
    counts = count_parameters(cfg)
    if args.json:
        print(json.dumps(counts))
        return 0
    d, m = cfg.data, cfg.model
    h, w = d.frame_size
    print(f"preset {cfg.preset}: {m.n_prev + 1} label maps x {d.label_channels} channels + {m.n_prev} "
          f"previous frames x 3, {h} x {w} frames, {m.n_scales} spatial scale(s), norm {m.norm}")
    print(f"G {_m(counts['G'])}")
    parts = counts["G_parts"]
    for key, name in PART_NAMES.items():
        if key in parts:  # the optional parts only where the config has them
            print(f"  {name:<28}{_m(parts[key])}")
    for s, n in enumerate(parts["local_enhancers"], start=1):
        print(f"  {f'local enhancer (scale {s})':<28}{_m(n)}")
    print(f"D_I {_m(counts['D_I'])}  ({m.num_D} spatial scales, input {d.label_channels} + 3 channels)")
    if counts["D_V"]:
        per = ", ".join(_m(n).strip() for n in counts["D_V"])
        print(f"D_V {_m(sum(counts['D_V']))}  ({len(counts['D_V'])} temporal scales: {per})")
    else:
        print("D_V   (off: model.use_video_discriminator is false)")
    if counts["D_face"]:
        from vid2vid.models.discriminators import face_num_D

        print(f"D_face {_m(counts['D_face'])}  ({face_num_D(m.num_D)} spatial scale(s) on "
              f"{round(m.face_crop * h)} x {round(m.face_crop * h)} crops around the face)")
    return 0
