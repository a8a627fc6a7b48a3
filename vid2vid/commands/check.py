"""``python -m vid2vid check``: decode every file of a dataset before training on it.

    python -m vid2vid check datasets/mydata                       # train split, Cityscapes ids
    python -m vid2vid check datasets/edges --label-nc 0 --input-nc 1 --split test
    python -m vid2vid check datasets/face --label-nc 0 --input-nc 15   # .npy input maps [H, W, 15]
    python -m vid2vid check --config reproduce/configs/cityscapes_512.yaml

Reads every A, B, instance, flow and occlusion file with the readers training uses and lists every
bad one (truncated, unreadable, JPEG id maps, ids out of range, NaN flows, sizes that differ) with
its sequence and frame. Exit status 0 when all are fine, 1 when some are bad (each on its own line),
2 when the dataset's layout itself is wrong. Training runs the same check itself when the split has
at most ``data.check_max_files`` files.
"""

from __future__ import annotations

import argparse
import sys

from vid2vid.commands import positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", nargs="?", default=None,
                        help="dataset root (default: the config's data.root)")
    parser.add_argument("--config", default=None, help="YAML config whose data settings to use")
    parser.add_argument("--split", choices=["train", "test"], default="train",
                        help="which split to check (default: train)")
    parser.add_argument("--label-nc", type=int, default=None,
                        help="label ids per A file (default: the config's, else 35); 0: continuous maps")
    parser.add_argument("--input-nc", type=int, default=None,
                        help="channels of continuous A maps (1 or 3 for images, any for .npy maps; "
                             "default: the config's)")
    parser.add_argument("--workers", type=positive_int, default=None, help="decoding threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from vid2vid.config import Config, ConfigError
    from vid2vid.data.check import check_dataset
    from vid2vid.data.folder import VideoFolderDataset
    from vid2vid.data.layout import DataError

    cfg = Config.from_yaml(args.config) if args.config else Config()
    root = args.root or (cfg.data.root if args.config else None)
    if root is None:
        raise ConfigError("give a dataset root or --config")
    label_nc = cfg.data.label_nc if args.label_nc is None else args.label_nc
    input_nc = cfg.data.input_nc if args.input_nc is None else args.input_nc
    if label_nc < 0 or input_nc < 1:
        raise ConfigError(f"--label-nc must be >= 0 and --input-nc >= 1, got {label_nc} and {input_nc}")
    source = root
    if args.config:  # the files exactly as this configuration's training would read them
        source = VideoFolderDataset(root, args.split, n_frames=1, label_nc=label_nc, input_nc=input_nc,
                                    use_instance=cfg.data.use_instance, load_image=True,
                                    load_flow=cfg.data.flow_source == "folder",
                                    load_occlusion=cfg.loss.mask_target == "occlusion", training=False)
    try:
        summary = check_dataset(source, args.split, label_nc=label_nc, input_nc=input_nc,
                                progress=not args.quiet, workers=args.workers)
    except DataError as err:
        if " bad file(s) of " not in str(err).splitlines()[0]:
            raise  # the layout itself: one error line, status 2
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(summary)
    return 0
