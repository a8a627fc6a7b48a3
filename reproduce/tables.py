"""The paper's Tables 1-2 on the built-in synthetic benchmark (or a real dataset), end to end.

    python reproduce/tables.py                       # train what is missing, evaluate, write tables
    python reproduce/tables.py --stage train --jobs 2
    python reproduce/tables.py --stage evaluate
    python reproduce/tables.py --stage tables --preference-db study.sqlite   # after a preference study

Models (``reproduce/configs/tables/*.yaml``): vid2vid, pix2pixHD (per-frame), COVST (pix2pixHD +
flow stabilisation, no training of its own) and the three ablations of Table 2 (no
background-foreground prior, no video discriminator, no flow warping). Training runs
``reproduce/train.py --config <yaml> --out <runs>/<model>`` for every model whose
``generator.pt`` is missing (``--jobs`` at a time, one thread each); ``--resume`` continues
interrupted ones. Evaluation generates every test sequence with every model and measures them
all with the same metrics (``vid2vid.metrics``); the tables go to ``--results``, with the clips of a
human preference study in ``<results>/ab_clips``. Once the study has run (``python -m vid2vid study
serve --clips <results>/ab_clips --db study.sqlite``), ``--stage tables --preference-db study.sqlite``
rewrites the tables with its preference scores (``--preference-db`` works with every stage).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "reproduce" / "configs" / "tables"
TRAINED = ["vid2vid", "pix2pixHD", "no-fg-prior", "no-video-D", "no-flow"]


def train_all(runs: Path, jobs: int, overrides: list[str]) -> dict[str, float]:
    """Train every model without a ``generator.pt`` (``jobs`` processes at a time, one thread
    each); returns the wall-clock seconds per model trained now."""
    from parallel import train_parallel

    models = {m: ["--config", str(CONFIGS / f"{m}.yaml"), *overrides] for m in TRAINED}
    return train_parallel(models, runs, jobs)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", choices=["all", "train", "evaluate", "tables"], default="all",
                   help="tables: rewrite tables.md from the results already in --results (no evaluation)")
    p.add_argument("--runs", default="runs/tables", help="where the models are trained / found")
    p.add_argument("--results", default="reproduce/results/synthetic", help="where tables are written")
    p.add_argument("--jobs", type=int, default=2, help="models trained at a time")
    p.add_argument("--eval-root", default="data/synthetic_eval", help="evaluation videos (made if missing)")
    p.add_argument("--eval-sequences", type=int, default=16, help="test sequences of the evaluation split")
    p.add_argument("--feature-net", default="reproduce/results/synthetic/feature_net.pt",
                   help="synthetic-domain feature network; 'none' = untrained (smoke tests only)")
    p.add_argument("--preference-db", default=None,
                   help="study database (python -m vid2vid study serve) whose answers fill the tables' "
                        "preference columns (default: 'not run')")
    p.add_argument("overrides", nargs="*", help="key=value overrides for every model (e.g. data.root=...)")
    args = p.parse_args(argv)
    runs = Path(args.runs)
    if args.stage in ("all", "train"):
        train_all(runs, args.jobs, args.overrides)
    if args.stage in ("all", "evaluate"):
        from evaluate import evaluate_all

        evaluate_all(runs, Path(args.results), args.overrides, args.eval_root, args.eval_sequences,
                     args.feature_net, command="python " + " ".join(["reproduce/tables.py", *sys.argv[1:]]),
                     preference_db=args.preference_db)
    if args.stage == "tables":
        from evaluate import rewrite_tables

        from vid2vid.commands import report_errors
        from vid2vid.study import StudyError

        return report_errors(lambda: print(rewrite_tables(Path(args.results), args.preference_db)),
                             errors=(StudyError, FileNotFoundError))
    return 0


if __name__ == "__main__":
    sys.exit(main())
