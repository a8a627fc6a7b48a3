"""``python -m vid2vid prepare KIND``: turn your own videos into a trainable dataset.

    python -m vid2vid prepare edges --video clip.mp4 --out datasets/clip --height 256 --width 512
    python -m vid2vid prepare face --video talk.mp4 --out datasets/talk
    python -m vid2vid prepare pose --video dance.mp4 --keypoints dance_json/ --out datasets/dance
    python -m vid2vid prepare segmentation --cityscapes /data/cityscapes --labels-dir seg --out datasets/cs

Decodes each ``--video`` (a file PyAV reads, or a folder of frame images), resamples it
(``--fps``), fits it to ``--height`` x ``--width`` (``--resize crop|stretch``; the face kind
crops a box that follows the face), makes the input maps of KIND (:mod:`vid2vid.prepare`), cuts
sequences of ``--seq-len`` frames, splits them into train / test (``--test-fraction``), computes
flows (``--flow``, the code of ``python -m vid2vid flow``), and writes ``ROOT/train.yaml`` for
``reproduce/train.py --config``; then prints the training and generation commands.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from vid2vid.commands import add_threads_argument, non_negative_float, positive_int
from vid2vid.commands.generate import fps_value

# kind: (default preset, one-line help)
KINDS = {
    "edges": ("face-512", "Canny edge maps of the frames (edge-to-video; 1 channel)"),
    "face": ("face-512", "facial landmark curves, their distance maps and background edges (15 channels)"),
    "pose": ("pose-256", "OpenPose-style skeleton renderings from OpenPose JSON or Keypoint R-CNN "
                         "(3 channels; 6 with --densepose)"),
    "segmentation": ("cityscapes-512", "semantic label maps you have, or a Cityscapes-style folder"),
}


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def _common(p: argparse.ArgumentParser, kind: str) -> None:
    preset = KINDS[kind][0]
    p.add_argument("--video", nargs="+", metavar="FILE",
                   required=kind != "segmentation",
                   help="video files (mp4, avi, mov, ...) or folders of frame images, one video each")
    p.add_argument("--out", required=True, help="dataset folder to create (must be empty or absent)")
    p.add_argument("--preset", default=preset,
                   help=f"preset train.yaml starts from (default {preset}; e.g. tiny for a CPU smoke run)")
    p.add_argument("--height", type=positive_int, default=None, help="frame height (default: the preset's)")
    p.add_argument("--width", type=positive_int, default=None, help="frame width (default: the preset's)")
    if kind != "face":  # the face kind crops a box following the face, and cuts where its track ends
        p.add_argument("--resize", choices=("crop", "stretch"), default="crop",
                       help="crop: scale to cover, centre-crop (aspect kept; default); stretch: resize "
                            "to height x width exactly")
        p.add_argument("--cuts", choices=("split", "keep"), default="split",
                       help="split: a new sequence at each shot cut (default); keep: only every --seq-len")
    p.add_argument("--fps", type=fps_value, default=None,
                   help="resample videos to this frame rate (default: keep every frame)")
    p.add_argument("--max-frames", type=positive_int, default=None, help="at most this many frames per video")
    p.add_argument("--seq-len", type=positive_int, default=30,
                   help="frames per sequence (default 30; a last piece under half joins the one before)")
    p.add_argument("--test-fraction", type=_fraction, default=0.1,
                   help="fraction of the sequences held out as test (default 0.1; at least one when > 0)")
    p.add_argument("--flow", choices=("dis", "raft", "none"), default="dis",
                   help="precompute flows: dis (OpenCV, CPU; default), raft (torchvision RAFT, weights "
                        "C_T_V2), none (training estimates them on the fly with DIS)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="torch device for RAFT and Keypoint R-CNN: cpu, cuda, cuda:1, ... (default: cuda "
                        "when a GPU is visible, else cpu)")
    add_threads_argument(p)
    p.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", required=True, metavar="KIND",
                                help=", ".join(KINDS) + " (python -m vid2vid prepare KIND --help)")
    for kind, (_, help_text) in KINDS.items():
        p = sub.add_parser(kind, help=help_text, description=help_text)
        _common(p, kind)
        if kind in ("edges", "face"):
            p.add_argument("--canny-low", type=non_negative_float, default=100.0,
                           help="Canny lower hysteresis threshold (default 100)")
            p.add_argument("--canny-high", type=non_negative_float, default=200.0,
                           help="Canny upper hysteresis threshold (default 200)")
        if kind == "face":
            p.add_argument("--face-scale", type=non_negative_float, default=2.0,
                           help="crop height in units of the landmarks' extent (default 2: face and hair)")
            p.add_argument("--smooth", type=non_negative_float, default=1.0,
                           help="Gaussian sigma in frames smoothing the landmarks over time (default 1)")
            p.add_argument("--box-smooth", type=non_negative_float, default=5.0,
                           help="Gaussian sigma in frames smoothing the crop box over time (default 5)")
        if kind == "pose":
            p.add_argument("--keypoints", nargs="+", metavar="DIR",
                           help="OpenPose JSON folders, one per --video (default: run Keypoint R-CNN)")
            p.add_argument("--weights", default="DEFAULT",
                           help="Keypoint R-CNN weights: DEFAULT / COCO_V1 (torchvision downloads them "
                                "once), a .pth state dict, or none (random: tests only)")
            p.add_argument("--detector-size", type=positive_int, default=800,
                           help="shorter side Keypoint R-CNN resizes frames to (default 800, as trained)")
            p.add_argument("--max-people", type=positive_int, default=10,
                           help="Keypoint R-CNN: the most people kept per frame (default 10)")
            p.add_argument("--densepose", nargs="+", metavar="DIR",
                           help="DensePose IUV image folders, one per --video: 3 more input channels")
            p.add_argument("--min-confidence", type=non_negative_float, default=0.05,
                           help="keypoints at or below this confidence are not drawn (default 0.05)")
        if kind == "segmentation":
            p.add_argument("--labels", nargs="+", metavar="DIR",
                           help="label-id PNG folders, one per --video, one map per frame")
            p.add_argument("--instances", nargs="+", metavar="DIR",
                           help="instance-id PNG folders, one per --video (optional)")
            p.add_argument("--cityscapes", metavar="DIR",
                           help="a Cityscapes-style root (leftImg8bit_sequence/ and label folders) "
                                "instead of --video/--labels")
            p.add_argument("--labels-dir", default="gtFine",
                           help="with --cityscapes: the label folder under DIR (default gtFine), or any "
                                "segmenter's outputs in its naming")
            p.add_argument("--label-nc", type=positive_int, default=None,
                           help="number of label ids (default: 35 for --cityscapes, else largest id + 1)")
            p.add_argument("--foreground-ids", type=int, nargs="*", default=None,
                           help="label ids of the foreground (cars, people) for the foreground branch "
                                "(default: Cityscapes' for --cityscapes, else none: branch off)")


# ---------------------------------------------------------------------------- checks


def _per_video(args: argparse.Namespace, flag: str, values: list[str] | None) -> list[str | None]:
    """One folder per --video, or Nones when the option is not given."""
    if values is None:
        return [None] * len(args.video)
    if len(values) != len(args.video):
        raise ValueError(f"--{flag} got {len(values)} folder(s) for {len(args.video)} --video file(s); "
                         f"give one per video, in the same order")
    return values


def _check_kind_args(args: argparse.Namespace) -> None:
    if args.kind == "segmentation":
        if args.cityscapes and (args.video or args.labels or args.instances):
            raise ValueError("--cityscapes reads frames and labels from its folder: leave out --video, "
                             "--labels and --instances")
        if not args.cityscapes and not (args.video and args.labels):
            raise ValueError("prepare segmentation needs --video with --labels (one label folder per "
                             "video), or --cityscapes DIR")
        if args.cityscapes and args.fps is not None:
            raise ValueError("--fps resamples videos; Cityscapes sequences are frame folders (17 fps)")
    flags = {"pose": ("keypoints", "densepose"), "segmentation": ("labels", "instances")}.get(args.kind, ())
    for flag in flags:
        if args.video:
            _per_video(args, flag, getattr(args, flag))
    if args.kind == "pose" and args.keypoints is None and args.weights.lower() == "none":
        print("warning: Keypoint R-CNN with random weights (--weights none): the keypoints are "
              "meaningless (for tests)")


def _check_per_frame_files(args: argparse.Namespace, sources: list) -> None:
    """One keypoint / DensePose / label / instance file per source frame, checked before anything
    is written (the sources count their frames once; the kinds pair the files again)."""
    from vid2vid.prepare.source import IMAGE_EXTENSIONS, per_frame_files

    what = {"keypoints": ((".json",), "OpenPose keypoint"), "densepose": (IMAGE_EXTENSIONS, "DensePose IUV"),
            "labels": ((".png", ".bmp"), "label map"), "instances": ((".png",), "instance map")}
    for flag, (extensions, name) in what.items():
        folders = getattr(args, flag, None)
        if folders:
            for source, folder in zip(sources, folders, strict=True):
                per_frame_files(folder, extensions, name, source)


# ---------------------------------------------------------------------------- run


def _compute_flows(root: Path, method: str, device: str = "cpu", quiet: bool = False) -> dict[str, int]:
    """``python -m vid2vid flow`` on the written dataset (its code: the same files and names);
    returns the flows written per split. ``method``: ``dis`` (OpenCV, CPU) or ``raft`` (torchvision
    RAFT-large, ``C_T_V2`` weights from its weights enum)."""
    from vid2vid.commands.flow import process_split
    from vid2vid.data.layout import kind_dir
    from vid2vid.flow.estimators import get_flow_estimator

    if method == "dis":
        estimator = get_flow_estimator("dis", preset="medium")
    elif method == "raft":
        estimator = get_flow_estimator("raft", weights="C_T_V2", device=device)
    else:
        raise ValueError(f"flow method must be 'dis' or 'raft', got {method!r}")
    written = {}
    for split in ("train", "test"):
        if kind_dir(root, split, "B").is_dir():
            written[split], _ = process_split(root, split, estimator, overwrite=True, device=device,
                                              progress=not quiet)
    return written


def _bar(args: argparse.Namespace, desc: str, total: int | None) -> tqdm:
    return tqdm(total=total, desc=desc, unit="frame", disable=args.quiet, leave=False)


def run(args: argparse.Namespace) -> int:
    from vid2vid.config import get_preset
    from vid2vid.prepare import dataset
    from vid2vid.prepare.source import FrameSource

    started = time.time()
    _check_kind_args(args)
    base = get_preset(args.preset)
    size = (args.height or base.data.height, args.width or base.data.width)
    resize = getattr(args, "resize", "crop")
    videos = args.video or []
    if args.kind != "segmentation" or not args.cityscapes:
        sources = [FrameSource(v, fps=args.fps, max_frames=args.max_frames) for v in videos]
    else:
        sources = []
    # fail before decoding anything when the size does not suit the preset's networks
    sized = dataset.train_settings(args.preset, Path(args.out), {"height": size[0], "width": size[1]},
                                   None, args.seq_len)
    dataset.check_settings(sized, where=f"--preset {args.preset}")
    for source in sources:
        source.probe()
    _check_per_frame_files(args, sources)
    first = _first_pass(args, sources, size)
    root = dataset.prepare_out(args.out, args.overwrite)
    writer = dataset.DatasetWriter(root, args.seq_len, cuts=getattr(args, "cuts", "split") == "split")
    report: list[dict] = []
    data, model, channels = _write_kind(args, sources, size, resize, writer, report, first)
    splits = writer.finish(args.test_fraction)
    total = sum(r["frames"] for r in report)

    flows = {}
    if args.flow != "none":
        flows = _compute_flows(root, args.flow, args.device, args.quiet)
    data.update(height=size[0], width=size[1], flow_source="folder" if args.flow != "none" else "dis")
    settings = dataset.train_settings(args.preset, root, data, model, writer.window_cap())
    train_cmd, generate_cmd = dataset.next_commands(root, splits)
    header = [f"Written by python -m vid2vid prepare {args.kind} ({total} frames, "
              f"{len(splits['train'])} train / {len(splits['test'])} test sequences).",
              f"  {train_cmd}", f"  {generate_cmd}"]
    config_path = dataset.write_train_config(root, settings, header)
    manifest = {
        "kind": args.kind, "preset": args.preset, "size": list(size), "resize": resize,
        "input_channels": channels, "options": {k: v for k, v in vars(args).items() if k != "kind"},
        "videos": report, "splits": splits, "flows": flows,
    }
    (root / "prepare.json").write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")

    print(f"wrote {total} frames of {len(report)} video(s) as {len(writer.sequences)} sequences "
          f"({len(splits['train'])} train, {len(splits['test'])} test) at {size[0]}x{size[1]} to {root} "
          f"in {time.time() - started:.1f} s")
    for r in report:
        if "failed_detections" in r:
            print(f"  {r['source']}: face detection failed in {len(r['failed_detections'])} of the "
                  f"{r['frames']} frames written (landmarks interpolated there)"
                  + (f"; {len(r['left_out'])} frame(s) without a face to follow left out"
                     if r["left_out"] else ""))
    if flows:
        print(f"flows ({args.flow}): " + ", ".join(f"{n} {s}" for s, n in flows.items()))
    cap = settings["train"]["n_frames_total"]
    short = [s.name for s in writer.sequences if s.split == "train" and len(s.frames) < cap]
    if short:
        print(f"{len(short)} training sequence(s) shorter than the training windows of {cap} frames "
              f"(short shots or videos; training skips them): "
              f"{', '.join(short[:5])}{' ...' if len(short) > 5 else ''}")
    if not splits["test"]:
        print("no test split (one sequence, or --test-fraction 0): the generate command below uses a "
              "training sequence")
    print(f"config: {config_path} (preset {args.preset})")
    print(f"train:    {train_cmd}")
    print(f"generate: {generate_cmd}")
    return 0


def _first_pass(args: argparse.Namespace, sources: list, size: tuple[int, int]):
    """What a kind needs before writing, made before anything is written (a video without a face,
    detector weights that cannot be loaded end the command with nothing written): the face kind's
    first pass over every video (landmarks, tracks, crop boxes), the pose kind's Keypoint R-CNN."""
    if args.kind == "face":
        from vid2vid.prepare import face

        tracks = []
        for source in sources:
            with _bar(args, f"landmarks {source.name}", source.expected_count()) as bar:
                tracks.append(face.track_face(source, size, args.face_scale, args.smooth, args.box_smooth,
                                              bar))
        return tracks
    if args.kind == "pose" and args.keypoints is None:
        from vid2vid.prepare import pose

        return pose.KeypointRCNN(args.weights, args.device, args.detector_size, max_people=args.max_people)
    return None


def _write_kind(args, sources, size, resize, writer, report, first=None) -> tuple[dict, dict, list[str]]:
    """Write every video of the kind; returns the data and model settings of train.yaml and the
    names of the input channels. ``first``: what :func:`_first_pass` made."""
    from vid2vid.prepare import edges, face, pose, segmentation

    if args.kind == "edges":
        for source in sources:
            _write(args, writer, source.name, edges.samples(source, size, resize, args.canny_low,
                                                            args.canny_high), source, report)
        flat = {"label_nc": 0, "input_nc": 1, "use_instance": False, "foreground_ids": []}
        return flat, {"use_fg_prior": False}, ["canny edges"]

    if args.kind == "face":
        for source, track in zip(sources, first, strict=True):
            entry = _write(args, writer, source.name,
                           face.samples(source, track, size, args.canny_low, args.canny_high), source, report)
            entry.update(failed_detections=track.failed, left_out=track.left_out,
                         face_segments=track.segments)
        flat = {"dataset": "face", "label_nc": 0, "input_nc": len(face.CHANNELS), "use_instance": False,
                "foreground_ids": []}
        return flat, {"use_fg_prior": False}, list(face.CHANNELS)

    if args.kind == "pose":
        detector = first
        for source, kp, iuv in zip(sources, _per_video(args, "keypoints", args.keypoints),
                                   _per_video(args, "densepose", args.densepose), strict=True):
            _write(args, writer, source.name,
                   pose.samples(source, size, resize, kp, detector if kp is None else None, iuv,
                                args.min_confidence), source, report)
        names = ["skeleton R", "skeleton G", "skeleton B"]
        if args.densepose:
            names = ["DensePose I", "DensePose U", "DensePose V", *names]
        flat = {"dataset": "pose", "label_nc": 0, "input_nc": len(names), "use_instance": False,
                "foreground_ids": []}
        return flat, {"use_fg_prior": False}, names

    # segmentation
    max_id = -1
    has_inst = False
    if args.cityscapes:
        label_nc = args.label_nc or segmentation.CITYSCAPES_LABEL_NC
        from vid2vid.config import CITYSCAPES_FOREGROUND_IDS

        foreground = list(CITYSCAPES_FOREGROUND_IDS) if args.foreground_ids is None else args.foreground_ids
        for video in segmentation.cityscapes_videos(args.cityscapes, args.labels_dir):
            entry = _write(args, writer, video.name,
                           segmentation.cityscapes_samples(video, size, resize, label_nc, args.max_frames),
                           None, report, split=video.split, total=len(video.frames[: args.max_frames]))
            max_id, has_inst = max(max_id, entry.pop("max_id")), has_inst or entry.pop("has_inst")
    else:
        label_nc = args.label_nc
        foreground = args.foreground_ids or []
        for source, labels, inst in zip(sources, _per_video(args, "labels", args.labels),
                                        _per_video(args, "instances", args.instances), strict=True):
            entry = _write(args, writer, source.name,
                           segmentation.samples(source, size, resize, labels, inst, label_nc), source, report)
            max_id, has_inst = max(max_id, entry.pop("max_id")), has_inst or entry.pop("has_inst")
        label_nc = label_nc or max_id + 1
    flat = {"dataset": "street", "label_nc": label_nc, "use_instance": has_inst, "foreground_ids": foreground}
    return flat, {"use_fg_prior": bool(foreground)}, ["label ids"]


def _write(args, writer, name: str, samples, source, report: list[dict], split: str | None = None,
           total: int | None = None) -> dict:
    """Write one video's samples; appends and returns its report entry."""
    video = writer.start_video(name, split)
    n, max_id, has_inst = 0, -1, False
    total = total if source is None else source.expected_count()
    with _bar(args, f"{args.kind} {video}", total) as bar:
        for sample in samples:
            writer.add(sample)
            if sample.a.ndim == 2:
                max_id = max(max_id, int(sample.a.max(initial=0)))
            has_inst = has_inst or sample.inst is not None
            n += 1
            bar.update(1)
    entry = {"source": str(source.path if source is not None else name), "name": video, "frames": n,
             "sequences": writer.end_video()}
    report.append(entry)
    if args.kind == "segmentation":
        entry.update(max_id=max_id, has_inst=has_inst)
    return entry
