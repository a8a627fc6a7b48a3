"""Train one future-prediction model: the label model that vid2vid's predictions start from, or a
pixel-prediction baseline (PredNet, MCNet), on the training sequences of a dataset folder.

    python reproduce/train_predictor.py --model labels --data data/prediction_train --out labels.pt
    python reproduce/train_predictor.py --model prednet --data data/prediction_train --out prednet.pt
    python reproduce/train_predictor.py --model mcnet --steps 20 --data DIR --out /tmp/m.pt  # a smoke run

``--data`` is a dataset of the official layout (``<root>/train_{A,B,inst}``, with ``train_flow`` /
``train_occ`` the label model also learns from the flow; ``python -m vid2vid synth`` writes one);
``--size H W`` resizes it (default: the files' size). Every model sees the same windows for the same
``--seed`` and budget (:mod:`vid2vid.prediction.training`). The file written is read by ``python -m
vid2vid predict --label-model`` (labels) and ``reproduce/table3.py``; ``<out>.log.jsonl`` holds the
loss log. ``--model-settings`` passes the model's own settings as JSON
(``'{"channels": [3, 8, 16]}'``; see :mod:`vid2vid.prediction`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    from vid2vid.commands import positive_int, report_errors, using_threads
    from vid2vid.prediction.checkpoint import KINDS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, choices=sorted(KINDS), help="which model to train")
    p.add_argument("--data", required=True, help="dataset root of the official layout (its train split)")
    p.add_argument("--out", required=True, help="the model file to write (.pt)")
    p.add_argument("--steps", type=positive_int, default=1000, help="optimizer steps (default 1000)")
    p.add_argument("--batch-size", type=positive_int, default=4, help="windows per step (default 4)")
    p.add_argument("--past", type=positive_int, default=4, metavar="K", help="observed frames per window")
    p.add_argument("--future", type=positive_int, default=6, metavar="R",
                   help="frames predicted and back-propagated through per window")
    p.add_argument("--lr", type=float, default=0.0, help="Adam learning rate (default: the model's own)")
    p.add_argument("--flow-weight", type=float, default=0.1,
                   help="labels: weight of the loss to the dataset's flow (0: none; default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="initial weights and windows (default 0)")
    p.add_argument("--size", type=positive_int, nargs=2, default=None, metavar=("H", "W"),
                   help="resize the sequences (default: the files' size)")
    p.add_argument("--limit", type=positive_int, default=None, help="use the first N training sequences only")
    p.add_argument("--model-settings", default="{}", help="the model's own settings, JSON")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="CPU threads (default OMP_NUM_THREADS or 1)")
    args = p.parse_args(argv)
    given = argv if argv is not None else sys.argv[1:]
    command = "python " + " ".join(["reproduce/train_predictor.py", *given])
    with using_threads(args.threads):
        return report_errors(train, args, command, errors=(ValueError, FileNotFoundError))


def train(args: argparse.Namespace, command: str) -> int:
    from vid2vid.machine import describe_machine
    from vid2vid.prediction.checkpoint import KINDS, save_predictor
    from vid2vid.prediction.data import load_split
    from vid2vid.prediction.training import PredictionTraining, train_predictor

    try:
        settings = json.loads(args.model_settings)
    except json.JSONDecodeError as err:
        raise ValueError(f"--model-settings: not JSON ({err})") from err
    if not isinstance(settings, dict):
        raise ValueError(f"--model-settings: expected a JSON object, got {args.model_settings!r}")
    known = set(KINDS[args.model][0].__dataclass_fields__)
    if set(settings) - known:  # before any data is read
        raise ValueError(f"{args.model} model: unknown setting(s) {sorted(set(settings) - known)}; "
                         f"known: {sorted(known)}")
    training = PredictionTraining(steps=args.steps, batch_size=args.batch_size, n_past=args.past,
                                  n_future=args.future, lr=args.lr, seed=args.seed,
                                  flow_weight=args.flow_weight, model=settings)
    root = Path(args.data)
    flow = args.model == "labels" and args.flow_weight > 0 and (root / "train_flow").is_dir()
    clips = load_split(root, "train", tuple(args.size) if args.size else None, frames=args.model != "labels",
                       flow=flow, limit=args.limit)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    log_file = out.with_suffix(".log.jsonl")
    log_file.write_text("")
    t0 = time.time()

    def progress(entry: dict) -> None:
        with open(log_file, "a") as f:
            f.write(json.dumps(entry) + "\n")
        print(f"{args.model} step {entry['step']}: loss {entry['loss']:.4f} ({entry['seconds']:.0f} s)",
              flush=True)

    model, info = train_predictor(args.model, clips, training, progress)
    info.update(command=command, data=str(root), sequences=len(clips), flow_loss=flow,
                frame_size=list(clips[0].labels.shape[-2:]), machine=describe_machine())
    save_predictor(out, args.model, model, args.steps, info)
    print(f"wrote {out}: {args.model}, {info['parameters']} parameters, {args.steps} steps in "
          f"{(time.time() - t0) / 60:.1f} min ({json.dumps(asdict(training))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
