"""``python -m vid2vid predict``: future video prediction (the paper's section 4, Table 3).

From the ``K`` observed frames of a sequence (label maps, instance maps and real frames, read from
the sequence's folders of the official layout), a label model (``--label-model``, trained by
``reproduce/train_predictor.py --model labels``) predicts the next ``N`` label maps and the vid2vid
generator (``--checkpoint``) synthesises them, started from the real past frames
(:mod:`vid2vid.prediction.future`). The video written holds the ``K`` observed frames, then the ``N``
predicted ones; ``--real`` puts labels (observed, then predicted) | video | the real video side by
side, which needs the sequence to hold the ``N`` real future frames too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from vid2vid.commands import add_threads_argument, non_negative_int, positive_int
from vid2vid.commands.generate import fps_value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True,
                        help="vid2vid generator (<run>/generator.pt, the run folder, or "
                             "reproduce/pretrained/synthetic_vid2vid.pt)")
    parser.add_argument("--label-model", required=True,
                        help="the future label model (reproduce/train_predictor.py --model labels)")
    parser.add_argument("--context", required=True,
                        help="one sequence's label maps, <root>/<split>_A/<sequence>; its real frames and "
                             "instance maps are read from the sibling _B and _inst folders")
    parser.add_argument("--past", type=positive_int, default=None, metavar="K",
                        help="observed frames (default: as many as the label model reads)")
    parser.add_argument("--future", type=positive_int, required=True, metavar="N", help="frames to predict")
    parser.add_argument("--start", type=non_negative_int, default=0, metavar="S",
                        help="the first observed frame (default 0): frames S..S+K-1 are observed")
    parser.add_argument("--out", required=True, help="output: .mp4 (H.264), .gif, or a folder for PNGs")
    parser.add_argument("--real", action="store_true",
                        help="labels | predicted | real side by side (the sequence must hold the N real "
                             "future frames)")
    parser.add_argument("--fps", type=fps_value, default=10.0,
                        help="frames per second of the video (default 10)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="torch device (default: cuda when a GPU is visible, else cpu)")
    add_threads_argument(parser)


def run(args: argparse.Namespace) -> int:
    from vid2vid.commands.generate import _load_generator, resolve_checkpoint
    from vid2vid.data.layout import DataError
    from vid2vid.prediction.checkpoint import load_predictor
    from vid2vid.prediction.data import read_sequence
    from vid2vid.prediction.future import check_window, predict_future
    from vid2vid.video import VideoWriter, label_to_color, side_by_side, to_uint8

    context = Path(args.context)
    if not context.is_dir():
        raise DataError(f"{context}: --context folder not found (expected <root>/<split>_A/<sequence>)")
    label_file = Path(args.label_model)
    if not label_file.is_file():
        raise FileNotFoundError(f"{label_file}: --label-model file not found (train one with "
                                "`python reproduce/train_predictor.py --model labels`)")
    checkpoint = resolve_checkpoint(args.checkpoint)
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"{checkpoint}: --checkpoint file not found")
    cfg, G, step = _load_generator(checkpoint)
    _, label_model, info = load_predictor(label_file, expect="labels")
    K = args.past if args.past is not None else label_model.n_past
    if K < label_model.n_past:
        raise ValueError(f"--past {K}: the label model {label_file} reads the last {label_model.n_past} "
                         f"label maps; give --past {label_model.n_past} or more")
    N = args.future
    size = (cfg.data.crop_height or cfg.data.height, cfg.data.crop_width or cfg.data.width)
    clip = read_sequence(context, size, frames=True, instances=True,
                         max_frames=args.start + K + (N if args.real else 0))
    check_window(clip, args.start, K, N if args.real else None, where=str(context))
    G = G.to(args.device)
    pred = predict_future(G, cfg, label_model, clip, args.start, K, N)
    past = range(args.start, args.start + K)
    with VideoWriter(args.out, fps=args.fps) as writer:
        for i in range(K + N):
            t = args.start + i
            observed = i < K
            frame = to_uint8(clip.real(t, t + 1)[0] if observed else pred.frames[i - K])
            if args.real:
                ids = clip.labels[t] if observed else pred.labels[i - K]
                captions = (("labels", "observed", "real") if observed
                            else ("predicted labels", "predicted", "real"))
                frame = side_by_side(label_to_color(ids.numpy().astype("uint8")), frame,
                                     to_uint8(clip.real(t, t + 1)[0]), gap=2, captions=captions)
            writer.write(frame)
    print(f"wrote {K} observed + {N} predicted frames to {args.out} (frames {past.start}..{past.stop - 1} of "
          f"{context} observed; generator of step {step}, label model of step {info['step']})")
    return 0
