"""The paper's Tables 1-2 on the built-in synthetic benchmark (or a real dataset), end to end, over seeds.

    python reproduce/tables.py                       # train what is missing, evaluate, write tables
    python reproduce/tables.py --seeds 5 --jobs 2    # more seeds: the runs already trained are kept
    python reproduce/tables.py --stage train --jobs 2
    python reproduce/tables.py --stage evaluate
    python reproduce/tables.py --stage tables --preference-db study.sqlite   # after a preference study
    python reproduce/tables.py --smoke --runs /tmp/t/runs --results /tmp/t/results

Models (``reproduce/configs/tables/*.yaml``): vid2vid, pix2pixHD (per-frame), flow-guided smoothing
(COVST-like: pix2pixHD's output smoothed along estimated flow, no training of its own; not Chen et
al. 2017) and the three ablations of Table 2 (no background-foreground prior, no video
discriminator, no flow warping). The seed is the unit of replication: every trained model is
trained once per seed ``k`` (``train.seed=k``, ``k = 0 .. --seeds - 1``; pix2pixHD
``--per-frame-seeds``, by default as many: the Table 1 claims pair vid2vid's seeds with
pix2pixHD's, and the per-frame model is the cheapest to train) by ``reproduce/train.py --config
<yaml> --out <runs>/<model>/seed<k>``, with the benchmark's data settings
(``evaluate.BENCHMARK_DATA``: foreground palette, a quarter of still-camera sequences, the dataset
``data/synthetic_tables``) before the command line's overrides. A run whose ``generator.pt`` and
``done`` exist is skipped, so rerunning the command continues where it stopped; an interrupted run
continues from its last checkpoint (``--resume``). The trained generators stay in ``--runs``, so
evaluation can be rerun from them. Evaluation (``reproduce/evaluate.py``) generates every test
sequence with every model and seed, measures them per video, decides the paper's claims by
intervals over seeds and videos, and writes ``tables.md``, ``results.json`` and ``settings.json``
to ``--results``, with the clips of a human preference study in ``<results>/ab_clips`` (and
``ab_handout``). Once the study has run (``python -m vid2vid study serve --clips <results>/ab_clips
--db study.sqlite``), ``--stage tables --preference-db study.sqlite`` rewrites the tables with its
preference scores (``--preference-db`` works with every stage).

``--smoke`` runs the whole pipeline at toy scale (2 seeds, tiny widths, a few steps, 3 evaluation
videos of 10 frames, an untrained feature network): its numbers mean nothing; it checks the plumbing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evaluate import BENCHMARK_DATA, BENCHMARK_EVAL_ROOT, CONFIGS, TRAINED, benchmark_config, run_dir

# --smoke: every model at toy size (the data root goes under --runs)
SMOKE_OVERRIDES = ["data.synthetic_sequences=2", "data.synthetic_frames=10", "data.height=32",
                   "data.width=64", "data.num_workers=0", "model.ngf=8", "model.n_blocks_enc=1",
                   "model.n_blocks_dec=1", "model.fg_ngf=4", "model.fg_n_blocks=1", "model.ndf=8",
                   "model.n_layers_D=2", "train.niter=1", "train.niter_decay=0", "train.n_frames_start=4",
                   "train.n_frames_total=4", "train.flow_warmup=3"]
SMOKE_EVAL_SEQUENCES = 3


def seeds_of(model: str, seeds: int, per_frame_seeds: int) -> range:
    """The seeds ``model`` is trained with: ``0 .. seeds - 1`` (pix2pixHD: ``per_frame_seeds``)."""
    return range(per_frame_seeds if model == "pix2pixHD" else seeds)


def ensure_training_data(overrides: list[str]) -> None:
    """Write the benchmark's synthetic training set before the parallel runs start (once, with the
    configuration's dataset seed, rather than by whichever run starts first); ``reproduce/train.py``'s
    own check refuses one made with other settings."""
    from train import ensure_synthetic_data, synthetic_data_requested

    cfg = benchmark_config(overrides)
    wanted = argparse.Namespace(config=str(CONFIGS / "vid2vid.yaml"), overrides=[*BENCHMARK_DATA, *overrides])
    if cfg.data.synthetic_sequences > 0 and synthetic_data_requested(cfg, wanted):
        ensure_synthetic_data(cfg, is_main=True)


def train_all(runs: Path, seeds: int, per_frame_seeds: int, jobs: int, overrides: list[str]
              ) -> dict[str, float]:
    """Train every model and seed without a finished run in ``<runs>/<model>/seed<k>`` (``jobs``
    processes at a time, one thread each); returns the wall-clock seconds per run trained now
    (``"<model>/seed<k>"``), empty when everything was trained already."""
    from parallel import train_parallel

    ensure_training_data(overrides)
    todo = {}  # seed-major: an interrupted run leaves whole seeds (every model) rather than whole models
    for seed in range(max(seeds, per_frame_seeds)):
        for model in (m for m in TRAINED if seed in seeds_of(m, seeds, per_frame_seeds)):
            name = str(run_dir(Path(), model, seed))
            todo[name] = ["--config", str(CONFIGS / f"{model}.yaml"), *BENCHMARK_DATA, *overrides,
                          f"train.seed={seed}"]
    return train_parallel(todo, runs, jobs)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", choices=["all", "train", "evaluate", "tables"], default="all",
                   help="tables: rewrite tables.md from the results already in --results (no evaluation)")
    p.add_argument("--seeds", type=int, default=3, help="training seeds per model (at least 2)")
    p.add_argument("--per-frame-seeds", type=int, default=None,
                   help="training seeds of pix2pixHD (default: --seeds; at least 2)")
    p.add_argument("--smoke", action="store_true",
                   help="toy scale: 2 seeds, tiny models, a few steps, 3 evaluation videos, untrained "
                        "features")
    p.add_argument("--runs", default="runs/tables", help="where the models are trained / found")
    p.add_argument("--results", default="reproduce/results/synthetic", help="where tables are written")
    p.add_argument("--jobs", type=int, default=2, help="runs trained at a time")
    p.add_argument("--eval-root", default=None,
                   help=f"evaluation videos (made if missing; default {BENCHMARK_EVAL_ROOT}, with --smoke "
                        "<runs>/eval)")
    p.add_argument("--eval-sequences", type=int, default=16, help="test sequences of the evaluation split")
    p.add_argument("--feature-net", default="reproduce/results/synthetic/feature_net.pt",
                   help="synthetic-domain feature network; 'none' = untrained (smoke tests only)")
    p.add_argument("--n-boot", type=int, default=10000, help="bootstrap replicates per claim")
    p.add_argument("--preference-db", default=None,
                   help="study database (python -m vid2vid study serve) whose answers fill the tables' "
                        "preference columns (default: 'not run')")
    p.add_argument("overrides", nargs="*", help="key=value overrides for every model (e.g. data.root=...)")
    args = p.parse_args(argv)
    if args.smoke:
        args.seeds, args.per_frame_seeds = 2, 2
        args.eval_sequences, args.feature_net = SMOKE_EVAL_SEQUENCES, "none"
        args.overrides = [f"data.root={Path(args.runs) / 'data'}", *SMOKE_OVERRIDES, *args.overrides]
    if args.eval_root is None:  # a smoke run's toy videos never land in the benchmark's folder
        args.eval_root = str(Path(args.runs) / "eval") if args.smoke else BENCHMARK_EVAL_ROOT
    if args.per_frame_seeds is None:
        args.per_frame_seeds = args.seeds
    if min(args.seeds, args.per_frame_seeds) < 2:
        p.error(f"--seeds {args.seeds} and --per-frame-seeds {args.per_frame_seeds}: at least 2 each (the "
                "claims are decided over seeds)")
    if any(o.split("=", 1)[0].strip() == "train.seed" for o in args.overrides):
        p.error("train.seed is set per run by --seeds (runs/<model>/seed<k>); leave it out of the overrides")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs = Path(args.runs)
    if args.stage in ("all", "train"):
        train_all(runs, args.seeds, args.per_frame_seeds, args.jobs, args.overrides)
    if args.stage in ("all", "evaluate"):
        from evaluate import evaluate_all

        evaluate_all(runs, Path(args.results), args.overrides, args.eval_root, args.eval_sequences,
                     args.feature_net, command="python " + " ".join(["reproduce/tables.py", *sys.argv[1:]]),
                     preference_db=args.preference_db, n_boot=args.n_boot)
    if args.stage == "tables":
        from evaluate import rewrite_tables

        from vid2vid.commands import report_errors
        from vid2vid.study import StudyError

        return report_errors(lambda: print(rewrite_tables(Path(args.results), args.preference_db)),
                             errors=(StudyError, FileNotFoundError))
    return 0


if __name__ == "__main__":
    sys.exit(main())
