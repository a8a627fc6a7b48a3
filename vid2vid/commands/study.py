"""``python -m vid2vid study``: a human preference study (paper, section 5), in a browser or a crowd platform.

    python -m vid2vid study make --out study_clips --method vid2vid=out/vid2vid --method pix2pixHD=out/p2p \\
        --reference vid2vid --short 15 --checks 2                      # or --demo: no model needed
    python -m vid2vid study serve --clips study_clips --db study.sqlite --host 0.0.0.0
    python -m vid2vid study report --db study.sqlite                      # preference and 95% interval
    python -m vid2vid study report --db study.sqlite --format markdown    # the tables' rows
    python -m vid2vid study export --clips ab_clips --db study.sqlite --out crowd --base-url https://host/
    python -m vid2vid study import --db study.sqlite --answers Batch_results.csv

``make`` writes a study folder: the clips and a ``manifest.json`` naming the method, sequence and
setting of each, from one folder of videos per method (``reproduce/evaluate.py`` writes one to
``<results>/ab_clips``; :func:`vid2vid.study.write_study` writes one from videos in memory).
``serve`` runs the web app on this machine (``--host 0.0.0.0`` lets the other machines of the
network, a classroom's, connect); every answer is in the database as soon as it is given.
``report`` reads only the database, while the server runs or after.
"""

from __future__ import annotations

import argparse
import math

from vid2vid.commands import positive_int
from vid2vid.study.store import LAYOUTS


def _port(text: str) -> int:
    """argparse type of ``--port``: 0 (any free port) to 65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return int(text)


def _confidence(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a confidence level in (0, 1), e.g. 0.95; got {text!r}")
    return value


def _method(text: str) -> tuple[str, str]:
    """argparse type of ``--method NAME=FOLDER``."""
    name, _, folder = text.partition("=")
    if not name.strip() or not folder.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=FOLDER (e.g. vid2vid=outputs/vid2vid), got {text!r}")
    return name.strip(), folder.strip()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="action")
    make = actions.add_parser("make", help="a study folder from one folder of videos per method (or --demo)")
    make.add_argument("--out", required=True, help="the study folder to write (clips/ and manifest.json)")
    source = make.add_mutually_exclusive_group(required=True)
    source.add_argument("--method", type=_method, action="append", metavar="NAME=FOLDER",
                        help="a method and its folder of videos, one per input sequence, named alike in "
                             "every folder (give it once per method)")
    source.add_argument("--demo", action="store_true",
                        help="synthetic street videos against flickering and stuttering versions of "
                             "themselves (no model needed: to try the study app)")
    make.add_argument("--reference", default=None,
                      help="compare every method with this one only (default: every two methods)")
    make.add_argument("--short", type=positive_int, default=None, metavar="FRAMES",
                      help="also a 'short' setting of each video's first FRAMES frames beside the 'long' "
                           "one, as the paper's two studies (default: one setting, 'full'; --demo: 10)")
    make.add_argument("--checks", type=int, default=2,
                      help="attention checks: broken versions of the reference's videos (default 2)")
    serve = actions.add_parser("serve", help="serve the study's web page; answers go to --db")
    serve.add_argument("--clips", required=True, help="study folder: the clips and their manifest.json")
    serve.add_argument("--db", required=True, help="SQLite file of the answers (created when missing)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every "
                            "machine that reaches this one, e.g. a classroom's)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0: any free port)")
    serve.add_argument("--layout", choices=LAYOUTS, default="side-by-side",
                       help="show a pair side by side (default), or one video after the other")

    report = actions.add_parser("report", help="preference per method pair with its Wilson interval")
    report.add_argument("--db", required=True, help="the study's SQLite file")
    report.add_argument("--format", choices=["text", "markdown"], default="text",
                        help="text (default), or the Markdown table rows reproduce/tables.py merges")
    report.add_argument("--confidence", type=_confidence, default=0.95, help="interval level (default 0.95)")
    report.add_argument("--keep-failed", action="store_true",
                        help="count the answers of participants who chose a broken video in an attention "
                             "check (default: left out, and named)")

    export = actions.add_parser("export", help="a CSV of pairs and the clips, for a crowd platform")
    export.add_argument("--clips", required=True, help="study folder: the clips and their manifest.json")
    export.add_argument("--db", required=True, help="SQLite file of the study (created when missing)")
    export.add_argument("--out", required=True, help="folder for pairs.csv and clips/ (to upload)")
    export.add_argument("--base-url", default="",
                        help="where clips/ will be on the web, e.g. https://example.org/study/ (default: "
                             "relative URLs clips/<name>)")

    imp = actions.add_parser("import", help="add a crowd platform's answers CSV to the database")
    imp.add_argument("--db", required=True, help="the study's SQLite file (export wrote the pairs to it)")
    imp.add_argument("--answers", required=True, help="the platform's results CSV")
    imp.add_argument("--item-column", default="Input.item",
                     help="column of the exported item (default Input.item)")
    imp.add_argument("--worker-column", default="WorkerId", help="column of the worker id (default WorkerId)")
    imp.add_argument("--choice-column", default="Answer.choice",
                     help="column of the answer, left / right (default Answer.choice)")


def run(args: argparse.Namespace) -> int:
    if args.action == "make":
        from vid2vid.study.manifest import read_manifest
        from vid2vid.study.sources import demo_study, study_from_folders

        if args.demo:
            path = demo_study(args.out, short=args.short or 10, checks=args.checks)
        else:
            methods = dict(args.method)
            if len(methods) < len(args.method):
                raise ValueError(f"--method: a method named twice in {[m for m, _ in args.method]}")
            path = study_from_folders(methods, args.out, args.reference, args.short, args.checks)
        manifest = read_manifest(path.parent)
        pairs = manifest.pairs()
        checks = sum(p.check for p in pairs)
        print(f"{path.parent}: {len(manifest.clips)} clips of {len(manifest.methods)} methods; {len(pairs)} "
              f"pairs per participant ({checks} attention check{'' if checks == 1 else 's'})")
    elif args.action == "serve":
        from vid2vid.study.server import serve

        serve(args.clips, args.db, args.host, args.port, args.layout)
    elif args.action == "report":
        from vid2vid.study.report import format_text, markdown_table, study_report

        report = study_report(args.db, args.confidence, args.keep_failed)
        print(markdown_table(report) if args.format == "markdown" else format_text(report))
    elif args.action == "export":
        from vid2vid.study.crowd import export_pairs

        path = export_pairs(args.clips, args.db, args.out, args.base_url)
        rows = sum(1 for _ in open(path, encoding="utf-8")) - 1
        print(f"{path}: {rows} pairs to upload; upload {path.parent / 'clips'} so that its files are at "
              f"{args.base_url or '<the page of each task>/'}clips/<name>")
    else:
        from vid2vid.study.crowd import import_answers

        done = import_answers(args.db, args.answers, args.item_column, args.worker_column, args.choice_column)
        skipped = f" ({done['skipped']} rejected assignments skipped)" if done["skipped"] else ""
        print(f"{args.answers}: {done['imported']} answers of {done['workers']} workers imported into "
              f"{args.db}{skipped}")
    return 0
