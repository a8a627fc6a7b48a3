"""``python -m vid2vid edit``: rewrite the classes of label maps, for ``generate`` to re-synthesise.

    python -m vid2vid edit --input data/synthetic/test_A/seq_0000 --map "vegetation:building,sidewalk:road" \\
        --out data/edited
    python -m vid2vid generate --checkpoint <run>/generator.pt --input data/edited/test_A/seq_0000 \\
        --out edited.mp4

The paper's semantic manipulation (section 4): the same generator, given edited label maps, makes
the video they describe. What is written where, and how instance ids follow: :mod:`vid2vid.data.edit`.
"""

from __future__ import annotations

import argparse
import shlex

from vid2vid.commands import positive_int


def instance_id(text: str) -> int:
    """argparse type of ``--instance``: an instance id, an integer in [0, 65535]."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected an instance id in [0, 65535], got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True,
                        help="label maps: one sequence folder (test_A/seq_0000) or a split folder (test_A)")
    parser.add_argument("--map", required=True, metavar="SRC:DST[,SRC:DST...]",
                        help="class rewrites, applied at once: ids ('21:11,26:27') or, where the dataset "
                             "names its classes (synthetic, Cityscapes), names ('vegetation:building')")
    parser.add_argument("--out", required=True,
                        help="output root: the edited maps go to <out>/<split>_A/<sequence>, with the "
                             "instance maps and the other files of each sequence beside them")
    parser.add_argument("--instance", type=instance_id, default=None, metavar="ID",
                        help="change only this instance (its id in the _inst maps, e.g. 26001: one car "
                             "in every frame); needs one sequence folder as --input")
    parser.add_argument("--label-nc", type=positive_int, default=None, metavar="N",
                        help="label count (ids 0..N-1; default: the dataset's, from synthetic.json, "
                             "train.yaml or edit.json, else any 8-bit id)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier edit in --out (a folder with its edit.json; only the "
                             "sequences this edit writes)")


def run(args: argparse.Namespace) -> int:
    from vid2vid.data.edit import edit_labels

    report = edit_labels(args.input, args.out, args.map, instance=args.instance, label_nc=args.label_nc,
                         overwrite=args.overwrite)
    print("\n".join(report.summary()))
    first = report.sequences[0]
    print(f"next: python -m vid2vid generate --checkpoint <run>/generator.pt --input "
          f"{shlex.quote(str(first))} --out {shlex.quote(first.name + '_edited.mp4')}")
    return 0
