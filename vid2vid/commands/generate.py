"""``python -m vid2vid generate``: a trained generator turns a folder of label maps into a video.

A generator with a feature encoder (``model.feat_nc`` > 0) renders one label video in several ways
(:mod:`vid2vid.multimodal`): ``--feature-seed N`` draws a cluster centre per class (per instance with
``--per-instance``) from the centres of ``python -m vid2vid features`` (``--features-file``, by default
``features.pt`` next to the checkpoint); ``--features FILE`` sets chosen ones. Without these the
real frames (``--real``) are encoded (reconstruction), else the centres are drawn with seed 0.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from vid2vid.commands import add_threads_argument, non_negative_int, positive_int


def fps_value(text: str) -> float:
    """argparse type of ``--fps``: a finite number of frames per second > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected frames per second > 0, got {text!r}")
    return value


frame_count = positive_int  # argparse type of ``--max-frames``: an integer >= 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True,
                        help="generator checkpoint (<run>/generator.pt, or the run folder holding it)")
    parser.add_argument("--input", required=True, help="one sequence's label maps (e.g. test_A/seq)")
    parser.add_argument("--out", required=True, help="output: .mp4 (H.264), .gif, or a folder for PNGs")
    parser.add_argument("--inst", default=None, help="instance maps folder (default: the sibling _inst)")
    parser.add_argument("--real", default=None, help="real frames folder, shown with --side-by-side")
    parser.add_argument("--side-by-side", action="store_true",
                        help="labels | generated | real, each panel captioned (real only with --real)")
    parser.add_argument("--fps", type=fps_value, default=10.0,
                        help="frames per second of the written video or GIF, > 0 (default 10): the "
                             "playback speed, not which frames are generated")
    parser.add_argument("--max-frames", type=frame_count, default=None, help="stop after this many frames")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="run the generator with a setting of its stored configuration changed, one "
                             "that keeps the weights (repeatable): e.g. model.label_occlusion=true (check "
                             "the warp against the label maps), model.warp_mode=bicubic, "
                             "model.flow_deadzone=0.5 (copy, not warp, where the flow is under half a pixel)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="torch device to generate on: cpu, cuda, cuda:1, mps, ... (default: cuda when "
                             "a GPU is visible, else cpu)")
    multimodal = parser.add_argument_group(
        "multimodal synthesis", "for a generator trained with model.feat_nc > 0 (a feature encoder)")
    multimodal.add_argument("--feature-seed", type=non_negative_int, default=None, metavar="N",
                            help="draw one cluster centre per class (per instance with --per-instance) "
                                 "with seed N: another N, another video; the same N, the same video")
    multimodal.add_argument("--features-file", default=None, metavar="FILE",
                            help="cluster centres from `python -m vid2vid features` (default: "
                                 "features.pt next to the checkpoint)")
    multimodal.add_argument("--features", default=None, metavar="FILE",
                            help='chosen features per class, JSON: {"26": 2, "7": [0.1, -0.4, 0.3]} '
                                 "(class id: centre index or a vector of feat_nc numbers); other classes "
                                 "are drawn with --feature-seed (default 0)")
    multimodal.add_argument("--per-instance", action="store_true",
                            help="draw a centre for every instance rather than one per class")
    add_threads_argument(parser)


def resolve_checkpoint(checkpoint: str) -> str:
    """``checkpoint`` itself, or ``<checkpoint>/generator.pt`` when it names a run folder."""
    path = Path(checkpoint)
    if path.is_dir():
        if not (path / "generator.pt").is_file():
            raise FileNotFoundError(f"{path}: a folder without generator.pt (give the run folder or its "
                                    "generator.pt)")
        return str(path / "generator.pt")
    return checkpoint


def _load_generator(checkpoint: str, overrides: list[str] = ()):
    """``load_generator`` (with ``overrides`` of its stored configuration) whose failures become
    one-line ValueErrors naming the file."""
    from vid2vid.models.io import load_generator

    try:
        return load_generator(checkpoint, map_location="cpu", overrides=overrides)
    except RuntimeError as err:
        if err.__cause__ is not None:  # torch.load could not read the file
            reason = f"not a loadable checkpoint (torch.load raised {type(err.__cause__).__name__})"
        else:  # not a generator checkpoint, or weights that do not fit its config
            reason = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
            reason = reason.removeprefix(f"{checkpoint}: ")
        reason = reason if len(reason) <= 300 else reason[:300] + " ..."
        raise ValueError(f"{checkpoint}: {reason}") from err


def run(args: argparse.Namespace) -> int:
    from vid2vid.data.layout import DataError
    from vid2vid.inference import generate_video

    for flag, folder in (("--input", args.input), ("--inst", args.inst), ("--real", args.real)):
        if folder is not None and not Path(folder).is_dir():
            raise DataError(f"{folder}: {flag} folder not found")
    checkpoint = resolve_checkpoint(args.checkpoint)
    cfg, G, step = _load_generator(checkpoint, args.overrides)
    features, how = feature_source(args, cfg, checkpoint, step)
    path, n = generate_video(G, cfg, args.input, args.out, real_dir=args.real, inst_dir=args.inst,
                             side=args.side_by_side, fps=args.fps, max_frames=args.max_frames,
                             device=args.device, features=features)
    settings = f", run with {' '.join(args.overrides)}" if args.overrides else ""
    print(f"wrote {n} frames to {path} (generator of step {step}, preset {cfg.preset}{how}{settings})")
    return 0


def feature_source(args: argparse.Namespace, cfg, checkpoint: str, step: int):
    """``(source, description)``: where the feature maps of a generator with a feature encoder come
    from (module docstring), and a few words for the final message; ``(None, "")`` without one.
    Multimodal options for a generator without a feature encoder, and centres or choices that do
    not fit it, raise errors naming the files."""
    from vid2vid.multimodal import (
        FEATURES_FILE,
        ClusterFeatures,
        FeatureClusters,
        RealFeatures,
        load_chosen_features,
    )

    options = (("--feature-seed", args.feature_seed), ("--features-file", args.features_file),
               ("--features", args.features), ("--per-instance", args.per_instance))
    given = [flag for flag, value in options if value not in (None, False)]
    if cfg.model.feat_nc <= 0:
        if given:
            raise ValueError(f"{checkpoint}: {', '.join(given)} needs a generator with a feature encoder "
                             "(trained with model.feat_nc > 0, e.g. 3 for street scenes); this one has "
                             "model.feat_nc = 0 and renders one video per label video")
        return None, ""
    file = Path(args.features_file) if args.features_file else Path(checkpoint).parent / FEATURES_FILE
    if args.features_file and not file.is_file():
        raise FileNotFoundError(f"{file}: --features-file not found")
    if args.feature_seed is None and args.features is None and not args.per_instance and args.real:
        return RealFeatures(), ", features encoded from the real frames"
    if not file.is_file() and args.features is None:
        raise FileNotFoundError(
            f"{file}: no cluster centres next to the checkpoint; the generator has a feature encoder "
            f"(model.feat_nc = {cfg.model.feat_nc}): write them with `python -m vid2vid features "
            f"--checkpoint {checkpoint}`, give --features-file, or give --real to encode the real frames")
    clusters = None
    if file.is_file():
        clusters = FeatureClusters.load(file)
        clusters.check_fits(cfg, str(file), checkpoint)
        made_at = clusters.source.get("step")
        if made_at is not None and made_at != step:
            import warnings
            warnings.warn(f"{file}: the centres come from the generator of step {made_at}, this one is of "
                          f"step {step}; rerun `python -m vid2vid features` for its own", stacklevel=2)
    chosen = None
    if args.features is not None:
        chosen = load_chosen_features(args.features, cfg.model.feat_nc, cfg.data.label_nc, clusters)
    seed = 0 if args.feature_seed is None else args.feature_seed
    source = ClusterFeatures(clusters, seed=seed, per_instance=args.per_instance, chosen=chosen,
                             feat_nc=cfg.model.feat_nc)
    how = f", feature seed {seed} per {'instance' if args.per_instance else 'class'}"
    if clusters is not None:
        how += f" from {file}"
    if chosen:
        how += f", chosen features of {len(chosen)} classes from {args.features}"
    return source, how
