"""Train vid2vid: ``accelerate launch reproduce/train.py [--config F] [--out DIR] [--resume] [k=v ...]``.

With no arguments it trains the ``synthetic`` preset on the built-in synthetic dataset (generated
into ``data/synthetic`` first if missing). A preset with a synthetic dataset (``data.synthetic_sequences
> 0``) generates it only at its own ``data.root`` or where ``data.synthetic_sequences`` is given
explicitly (an override or the YAML file): a misspelt ``data.root`` is refused, naming the path,
rather than filled with synthetic videos. ``--config`` takes a YAML file from ``reproduce/configs``
(a ``preset:`` line plus the fields that differ); ``key=value`` overrides come last, e.g.
``train.lr=1e-4 model.ngf=64``. Runs on one CPU process or, through ``accelerate launch
--num_processes N``, on N processes (DDP); Accelerate's own flags give multi-node runs.

A bad configuration or dataset, an output folder that holds another run (``--resume`` continues
it, ``--overwrite`` replaces it), a run that diverged or a checkpoint that could not be written end
the run with one line ``error: <message>`` on stderr and exit status 2 (in every process); Ctrl-C
ends it with status 130 after the trainer has said which checkpoint it saved. ``accelerate launch``
adds a traceback of its own for a failed child unless given ``-q`` (``--quiet``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vid2vid.commands import INPUT_ERRORS, positive_int, report_errors
from vid2vid.config import Config, ConfigError, get_preset
from vid2vid.data.layout import DataError


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None, help="YAML config (default: the synthetic preset)")
    p.add_argument("--preset", default=None, help="start from a named preset instead of a YAML file")
    p.add_argument("--out", default=None, help="run folder (default: runs/<preset>)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    start.add_argument("--overwrite", action="store_true",
                       help="start afresh in an --out that already holds a run (its files are removed)")
    p.add_argument("--max-steps", type=positive_int, default=None,
                   help="stop after this many steps, >= 1 (smoke runs)")
    p.add_argument("--check-data", action=argparse.BooleanOptionalAction, default=None,
                   help="decode every training file before training (default: when the split has at "
                        "most data.check_max_files files)")
    p.add_argument("--no-tensorboard", action="store_true", help="do not write TensorBoard logs")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides")
    return p.parse_args(argv)


def load_config(args: argparse.Namespace) -> Config:
    """The run's configuration: ``--config`` or ``--preset`` (default synthetic), then the overrides."""
    if args.config and args.preset:
        raise ConfigError(f"give --config or --preset, not both (got --config {args.config} and "
                          f"--preset {args.preset})")
    cfg = Config.from_yaml(args.config) if args.config else get_preset(args.preset or "synthetic")
    return cfg.override(args.overrides) if args.overrides else cfg


def synthetic_data_requested(cfg: Config, args: argparse.Namespace) -> bool:
    """Whether a missing ``data.root`` is to be filled with the built-in synthetic dataset: it is the
    preset's own root (``data/synthetic`` for ``synthetic``), or ``data.synthetic_sequences`` is set
    explicitly by an override or in the ``--config`` file. A root that merely inherits the preset's
    ``synthetic_sequences`` is more likely a misspelt path to the user's own dataset."""
    import yaml

    if Path(cfg.data.root).resolve() == Path(get_preset(cfg.preset).data.root).resolve():
        return True
    if any(o.split("=", 1)[0].strip() == "data.synthetic_sequences" for o in args.overrides):
        return True
    if args.config:
        raw = yaml.safe_load(Path(args.config).read_text()) or {}
        return "synthetic_sequences" in (raw.get("data") or {})
    return False


def refuse_missing_root(cfg: Config) -> None:
    """The error for a ``data.root`` without a dataset that the synthetic one is not to fill."""
    root, default = Path(cfg.data.root), get_preset(cfg.preset).data.root
    raise DataError(f"{root}: no dataset found (expected {root / 'train_A'}/<sequence>/<frame>.png). The "
                    f"{cfg.preset} preset generates its synthetic dataset only at its own data.root "
                    f"({default}); if {root} is meant to hold your dataset, check the path; to generate the "
                    f"synthetic dataset at {root}, give "
                    f"data.synthetic_sequences={cfg.data.synthetic_sequences} explicitly")


def ensure_synthetic_data(cfg: Config, is_main: bool) -> None:
    """Generate the built-in dataset at ``cfg.data.root`` when a synthetic run finds none; refuse
    one that was generated with other motion speeds, foreground palette or still-camera fraction than
    the configuration asks for (a ``synthetic.json`` without the latter two had them off)."""
    from vid2vid.data.synthetic import SyntheticConfig, write_dataset

    root = Path(cfg.data.root)
    wanted = SyntheticConfig.from_data_config(cfg.data)
    if (root / "train_A").is_dir():
        info = root / "synthetic.json"
        if info.is_file():
            mismatch = wanted.recorded_mismatch(json.loads(info.read_text()).get("config", {}))
            if mismatch:
                raise DataError(f"{info}: this synthetic dataset was made with {mismatch}; delete {root} to "
                                 "regenerate it, or point data.root elsewhere")
        return
    if not is_main:
        return
    print(f"{root}: no dataset found; generating the built-in synthetic dataset there")
    n = cfg.data.synthetic_sequences
    write_dataset(root, n_train=n, n_test=max(1, n // 4), frames=cfg.data.synthetic_frames,
                  height=cfg.data.height, width=cfg.data.width, seed=cfg.train.seed, config=wanted)


def train_errors() -> tuple[type[BaseException], ...]:
    """What ends a run with one ``error:`` line instead of a traceback: ConfigError (with the
    trainer's CheckpointMismatchError, a subclass), DataError, missing or misplaced paths (with the
    trainer's OutputExistsError, a FileExistsError), and the trainer's TrainingDiverged and
    CheckpointWriteError, whose messages say what to do. Other errors are bugs: traceback."""
    from vid2vid.models.io import CheckpointWriteError, TrainingDiverged

    return (*INPUT_ERRORS, TrainingDiverged, CheckpointWriteError)


def main(argv: list[str] | None = None) -> int:
    """Train; returns the exit status: 0, 2 after one ``error:`` line (:func:`train_errors`), or
    130 when Ctrl-C stopped the run (the trainer has said where the checkpoint is)."""
    from vid2vid.training.trainer import TrainingInterrupted

    args = parse_args(argv)
    try:
        return report_errors(train, args, errors=train_errors())
    except TrainingInterrupted:
        return 130


def train(args: argparse.Namespace) -> int:
    """Load the configuration, make the synthetic data if needed, train, report."""
    cfg = load_config(args)
    out = Path(args.out or Path(cfg.train.output_dir) / cfg.preset)

    from accelerate import PartialState

    from vid2vid.training.trainer import use_cpu

    state = PartialState(cpu=use_cpu())
    if cfg.data.synthetic_sequences > 0:
        if not (Path(cfg.data.root) / "train_A").is_dir() and not synthetic_data_requested(cfg, args):
            refuse_missing_root(cfg)
        ensure_synthetic_data(cfg, state.is_main_process)
    state.wait_for_everyone()

    from vid2vid.samples import write_samples
    from vid2vid.training.trainer import Trainer

    trainer = Trainer(cfg, out, resume=args.resume, overwrite=args.overwrite, max_steps=args.max_steps,
                      check_data=args.check_data,
                      log_with=None if args.no_tensorboard else "tensorboard")
    if trainer.acc.is_main_process:
        print(trainer.banner(), flush=True)
    trainer.fit(sample_fn=write_samples)
    if trainer.acc.is_main_process:
        print(f"done: step {trainer.step}; generator at {out / 'generator.pt'}")
        report_result(trainer, out)
    return 0


def report_result(trainer, out: Path) -> None:
    """Print where the sample video is and how the trained generator does on the test videos
    (temporal metrics beside the real video's), when the data has ground-truth flow and occlusion."""
    from vid2vid.data.layout import kind_dir
    from vid2vid.quality import evaluate_generator, format_report, load_test_videos

    sample = out / "samples" / f"step_{trainer.step:08d}.mp4"
    if sample.is_file():
        print(f"sample video (labels | generated | real): {sample}")
    root = Path(trainer.cfg.data.root)
    if not all(kind_dir(root, "test", k).is_dir() for k in ("A", "B", "flow", "occ")):
        return
    G = trainer.ema.shadow if trainer.ema is not None else trainer.acc.unwrap_model(trainer.seqG).G
    videos = load_test_videos(trainer.cfg, root)
    report = evaluate_generator(G, trainer.cfg, videos, trainer.acc.device, dis=False)
    report.pop("_outputs")
    G.train()
    print(f"on the {len(videos)} test videos of {root} ({report['frames']} frames):\n{format_report(report)}")


if __name__ == "__main__":
    sys.exit(main())
