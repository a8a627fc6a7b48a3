"""Which normalisation should the video discriminator D_V use? The flicker toy, trained per norm and seed.

    python reproduce/dv_norm.py                                   # 3 norms x seeds 0 1 2, 600 steps
    python reproduce/dv_norm.py --norms batch --seeds 0 --steps 600 --out /tmp/dv_norm
    python reproduce/dv_norm.py --steps 20 --seeds 0 --out /tmp/dv_norm_smoke   # smoke test, seconds

What it measures: how well a small ``VideoDiscriminator`` learns to tell *consistent* clips from
*flickering* ones with ``norm="instance"`` (the package default), ``"none"`` and ``"batch"``. This is
the flicker toy of ``notebooks/06_video_discriminator.ipynb`` (section 5), rebuilt here so that it can
run once per norm and seed:

* Data: synthetic sequences (``generate_sequence``, 64 x 128, 12 frames), cut into every K = 3 frame
  clip at temporal scale 0 with their ground-truth flows and label maps (``sample_clips``): 10 clips a
  sequence. 8 sequences train, 2 more are held out. Sequence seeds are ``1000 * seed + 100 + i``
  (train) and ``1000 * seed + 5000 + j`` (held out); for seed 0 these are the notebook's.
* Corruption: each clip is re-coloured with a random gain in [0.7, 1.3] per label class and colour
  channel. *Consistent* ("real") clips draw the gains once per clip; *flickering* ("fake") clips draw
  them anew for every frame. Every single frame of either kind has the same distribution, so only the
  joint of the frames (what D_V sees) tells them apart.
* Training: D_V with one temporal and one spatial scale (ndf 16, 2 layers), Adam (lr 1e-3, betas 0.5
  and 0.999), LSGAN discriminator loss; each step scores 4 random training clips re-coloured
  consistently and the same 4 re-coloured with flicker, stacked in one batch with ``groups=2``, so
  that batch norm normalises the real and the fake half separately (as in vid2vid's training; for
  instance norm and no norm ``groups`` changes nothing). The order of the training clips and the
  gains come from a generator seeded by ``seed``, so the three norms of one seed see exactly the same
  training batches; the weights are initialised after ``torch.manual_seed(seed)`` (the same weights
  for instance norm and no norm; batch norm's N(1, 0.02) scales take draws from that stream too).
* Held-out measures (every ``--eval-every`` steps and at the end): each held-out clip is re-coloured
  ``--test-draws`` times consistently and with flicker (one generator seeded by ``seed``, consistent
  then flickering per draw; 1 sequence and 1 draw are exactly the notebook's held-out set). A clip's
  score is the mean of D_V's patch scores. **Score gap**: mean score of the consistent clips minus
  that of the flickering ones (the notebook asserts > 0.2; LSGAN targets are 1 and 0). **Pair
  accuracy**: the fraction of (consistent, flickering) pairs of the same clip and draw in which the
  consistent clip scores higher (0.5 is chance). **Steps to 90%**: the first evaluation step at
  which the pair accuracy reaches ``--target`` (resolution ``--eval-every``).
* Batch norm has more than one answer: the measures above are taken in eval mode (running
  statistics, each clip scored on its own). At the end they are taken twice more in train mode
  (batch statistics): *split*, all consistent held-out clips as one batch and all flickering ones as
  another (``groups=2``), the way D_V scores real and generated clips while it trains a generator;
  and *mixed*, all of them in one batch, so that both kinds share the statistics. A D_V that tells
  a flickering batch from a consistent batch by its statistics, rather than each clip by its flicker,
  scores well split and near chance mixed. For instance norm and no norm all three agree.

Output: ``<out>/results.json`` (every number, the per-evaluation curves, the settings, the machine,
the torch version, the command) and ``<out>/README.md`` (a table per run, the mean per norm, the
command, the hardware); both are rewritten after each run, so an interrupted study keeps its finished
runs. Cost on one CPU thread: about 20-30 s per run of 600 steps (9 runs: a few minutes).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import cv2
import torch

from vid2vid.data import SyntheticConfig, generate_sequence
from vid2vid.losses import GANLoss
from vid2vid.machine import describe_machine
from vid2vid.models.discriminators import VideoDiscriminator, sample_clips

NORMS = ("instance", "none", "batch")
HEIGHT, WIDTH, FRAMES = 64, 128, 12  # the notebook's toy: 12 frames give 10 clips of K = 3
K = 3  # frames per clip
TRAIN_SEQUENCES = 8
BATCH = 4  # clips per kind (consistent, flickering) per step
NDF, N_LAYERS = 16, 2
LR, BETAS = 1e-3, (0.5, 0.999)
GAIN_LOW, GAIN_SPAN = 0.7, 0.6  # re-colouring gains are uniform in [0.7, 1.3]
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "dv_norm"


# ---------------------------------------------------------------------------------------------
# The toy's data
# ---------------------------------------------------------------------------------------------


def load_clips(sequence_seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All K-frame clips of one synthetic sequence at temporal scale 0: frames ``[N, K, 3, H, W]`` in
    ``[-1, 1]``, flows ``[N, K-1, 2, H, W]`` (pixels) and label ids ``[N, K, 1, H, W]`` (long)."""
    q = generate_sequence(sequence_seed, SyntheticConfig(height=HEIGHT, width=WIDTH, frames=FRAMES))
    x = torch.from_numpy(q.rgb).permute(0, 3, 1, 2).float() / 127.5 - 1  # [T, 3, H, W]
    w = torch.from_numpy(q.flow).permute(0, 3, 1, 2)  # [T, 2, H, W]
    label = torch.from_numpy(q.label).float()[:, None]  # [T, 1, H, W]
    clips, flows = sample_clips(x[None], w[None], n_frames=K, temporal_scale=0)
    labels, _ = sample_clips(label[None], w[None], n_frames=K, temporal_scale=0)
    return clips, flows, labels.long()


def load_set(sequence_seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`load_clips` of several sequences, concatenated along the clip axis."""
    parts = [load_clips(s) for s in sequence_seeds]
    clips, flows, labels = (torch.cat(p) for p in zip(*parts, strict=True))
    return clips, flows, labels


def recolour(clips: torch.Tensor, labels: torch.Tensor, per_frame: bool,
             generator: torch.Generator) -> torch.Tensor:
    """Re-colour clips ``[N, K, 3, H, W]`` (in ``[-1, 1]``) with one gain per label class (ids
    ``[N, K, 1, H, W]``, < 256) and colour channel, drawn once per clip (``per_frame=False``: a
    consistent video) or anew for every frame (``per_frame=True``: flicker)."""
    n, k = clips.shape[:2]
    draws = GAIN_LOW + GAIN_SPAN * torch.rand(n, k if per_frame else 1, 256, 3, generator=generator)
    draws = draws.expand(n, k, 256, 3)
    gains = draws[torch.arange(n)[:, None, None, None], torch.arange(k)[None, :, None, None], labels[:, :, 0]]
    return (((clips + 1) / 2) * gains.permute(0, 1, 4, 2, 3)).clamp(0, 1) * 2 - 1  # gains: [N, K, 3, H, W]


def held_out_pairs(clips: torch.Tensor, flows: torch.Tensor, labels: torch.Tensor, draws: int,
                   seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``draws`` re-colourings of every held-out clip: consistent ``[draws * N, K, 3, H, W]``, flickering
    (same shape; pair ``i`` is the same clip and draw) and their flows."""
    g = torch.Generator().manual_seed(seed)
    consistent, flickering = [], []
    for _ in range(draws):
        consistent.append(recolour(clips, labels, per_frame=False, generator=g))
        flickering.append(recolour(clips, labels, per_frame=True, generator=g))
    return torch.cat(consistent), torch.cat(flickering), flows.repeat(draws, 1, 1, 1, 1)


# ---------------------------------------------------------------------------------------------
# Training and measuring
# ---------------------------------------------------------------------------------------------


def clip_scores(outputs: list[list[torch.Tensor]]) -> torch.Tensor:
    """One score per clip: the mean of the patch prediction maps, averaged over spatial scales."""
    return torch.stack([scale[-1].mean(dim=(1, 2, 3)) for scale in outputs]).mean(0)


@torch.no_grad()
def measure(d_v: VideoDiscriminator, consistent: torch.Tensor, flickering: torch.Tensor,
            flows: torch.Tensor, mode: str = "eval") -> dict:
    """Score gap and pair accuracy on held-out pairs.

    ``mode="eval"``: D_V in eval mode, each clip scored alone (batch norm uses its running
    statistics). ``"split"`` and ``"mixed"``: a copy of D_V in train mode (the running statistics of
    ``d_v`` stay untouched) scores the consistent and the flickering clips as two batches
    (``groups=2``, as during GAN training) or as one.
    """
    if mode in ("split", "mixed"):
        net = copy.deepcopy(d_v).train()
        both = torch.cat([consistent, flickering])
        scores = clip_scores(net(both, flows.repeat(2, 1, 1, 1, 1), 0, groups=2 if mode == "split" else 1))
        real, fake = scores.chunk(2)
    elif mode == "eval":
        was_training = d_v.training
        d_v.eval()
        real = clip_scores(d_v(consistent, flows, 0))
        fake = clip_scores(d_v(flickering, flows, 0))
        d_v.train(was_training)
    else:
        raise ValueError(f"mode must be 'eval', 'split' or 'mixed', got {mode!r}")
    return {"score_real": real.mean().item(), "score_flicker": fake.mean().item(),
            "score_gap": (real.mean() - fake.mean()).item(),
            "pair_accuracy": (real > fake).float().mean().item()}


def run_one(norm: str, seed: int, train_set, test_pairs, args) -> dict:
    """Train the toy D_V with one norm and seed; the held-out measures along the way and at the end."""
    clips, flows, labels = train_set
    consistent, flickering, test_flows = test_pairs
    torch.manual_seed(seed)
    d_v = VideoDiscriminator(n_frames=K, ndf=NDF, n_layers=N_LAYERS, num_D=1, n_temporal_scales=1, norm=norm)
    optimizer = torch.optim.Adam(d_v.parameters(), lr=LR, betas=BETAS)
    gan = GANLoss("lsgan")
    stream = torch.Generator().manual_seed(seed)  # the same batches and gains for every norm
    curve = [{"step": 0, **measure(d_v, consistent, flickering, test_flows)}]
    losses: list[float] = []
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        i = torch.randint(len(clips), (BATCH,), generator=stream)
        real = recolour(clips[i], labels[i], per_frame=False, generator=stream)
        fake = recolour(clips[i], labels[i], per_frame=True, generator=stream)
        outputs = d_v(torch.cat([real, fake]), flows[i].repeat(2, 1, 1, 1, 1), 0, groups=2)
        loss = gan.discriminator_loss([[s[-1][:BATCH]] for s in outputs], [[s[-1][BATCH:]] for s in outputs])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % args.eval_every == 0 or step == args.steps:
            curve.append({"step": step, **measure(d_v, consistent, flickering, test_flows)})
    seconds = time.perf_counter() - start
    reached = [c["step"] for c in curve if c["pair_accuracy"] >= args.target]
    tail = losses[-50:]
    return {
        "norm": norm, "seed": seed, **{k: v for k, v in curve[-1].items() if k != "step"},
        "steps_to_target": reached[0] if reached else None,
        "train_mode_split": measure(d_v, consistent, flickering, test_flows, mode="split"),
        "train_mode_mixed": measure(d_v, consistent, flickering, test_flows, mode="mixed"),
        "final_loss_mean_last_50": sum(tail) / len(tail),
        "seconds": seconds, "curve": curve,
    }


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def write_report(out: Path, report: dict) -> None:
    """``results.json`` and ``README.md`` (a row per run, the mean per norm) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=1) + "\n")
    s = report["settings"]
    pct = f"{s['target']:.0%}"
    lines = [
        "# D_V normalisation: the flicker toy",
        "",
        f"Written by `reproduce/dv_norm.py` (its docstring has the method). {s['steps']} training steps "
        f"per run; held-out set: {s['test_pairs']} (consistent, flickering) pairs from "
        f"{s['test_sequences']} unseen sequences x {s['test_draws']} re-colourings.",
        "",
        "- **score gap**: mean D_V score of the consistent clips minus the flickering ones (LSGAN "
        "targets 1 and 0); **pair accuracy**: fraction of pairs whose consistent clip scores higher "
        "(0.5 is chance); both in eval mode (batch norm: running statistics, each clip alone).",
        f"- **steps to {pct}**: first evaluation (every {s['eval_every']} steps) with an eval-mode pair "
        f"accuracy >= {pct}.",
        "- **split** (train mode, batch statistics): all consistent clips scored as one batch and all "
        "flickering ones as another (`groups=2`), as D_V scores while it trains a generator; **mixed**: "
        "both kinds in one batch. Instance norm and no norm give the eval-mode numbers in all three.",
        "",
        f"| norm | seed | score gap | pair acc. | steps to {pct} | gap, split | pair acc., split "
        "| gap, mixed | pair acc., mixed | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    runs = report["runs"]
    for r in runs:
        steps = "never" if r["steps_to_target"] is None else str(r["steps_to_target"])
        split, mixed = r["train_mode_split"], r["train_mode_mixed"]
        cells = [r["norm"], str(r["seed"]), f"{r['score_gap']:.3f}", f"{r['pair_accuracy']:.3f}", steps]
        cells += [f"{m[key]:.3f}" for m in (split, mixed) for key in ("score_gap", "pair_accuracy")]
        lines.append("| " + " | ".join([*cells, f"{r['seconds']:.1f}"]) + " |")
    lines += ["", "Mean per norm (± standard deviation over seeds; steps: mean over runs that reached it):",
              "", f"| norm | runs | score gap | pair acc. | reached {pct} | steps to {pct} | gap, split "
              "| pair acc., split | gap, mixed | pair acc., mixed |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for norm in dict.fromkeys(r["norm"] for r in runs):
        rs = [r for r in runs if r["norm"] == norm]
        hit = [r["steps_to_target"] for r in rs if r["steps_to_target"] is not None]
        steps = f"{statistics.mean(hit):.0f}" if hit else "—"
        cells = [_mean_std([r[key] for r in rs]) for key in ("score_gap", "pair_accuracy")]
        cells += [f"{len(hit)}/{len(rs)}", steps]
        cells += [_mean_std([r[mode][key] for r in rs]) for mode in ("train_mode_split", "train_mode_mixed")
                  for key in ("score_gap", "pair_accuracy")]
        lines.append(f"| {norm} | {len(rs)} | " + " | ".join(cells) + " |")
    m = report["machine"]
    lines += ["", "Command:", "", "```", report["command"], "```", "",
              f"Hardware: {m['cpu']} ({m['platform_machine']}, platform.processor() = "
              f"{m['platform_processor']!r}), {m['cpu_count']} CPUs, {s['threads']} torch thread(s)"
              + (f", GPU {m['gpu']} (unused)" if "gpu" in m else "")
              + f"; Python {m['python']}, torch {m['torch']}.", ""]
    (out / "README.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="training steps per run (the notebook's 600)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--norms", nargs="+", choices=NORMS, default=list(NORMS))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for results.json and README.md")
    parser.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads")
    parser.add_argument("--eval-every", type=int, default=20, help="steps between held-out measurements")
    parser.add_argument("--test-sequences", type=int, default=2, help="held-out sequences")
    parser.add_argument("--test-draws", type=int, default=4, help="re-colourings of each held-out clip")
    parser.add_argument("--target", type=float, default=0.9, help="pair accuracy for 'steps to target'")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.eval_every < 1 or args.test_sequences < 1 or args.test_draws < 1:
        parser.error("--steps, --eval-every, --test-sequences and --test-draws must be >= 1")
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)

    command = shlex.join(["python", sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    if "OMP_NUM_THREADS" in os.environ:
        command = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} {command}"
    machine = {**describe_machine(), "platform_processor": platform.processor(),
               "platform_machine": platform.machine()}
    settings = {
        "steps": args.steps, "seeds": args.seeds, "norms": args.norms, "threads": args.threads,
        "eval_every": args.eval_every, "target": args.target, "test_sequences": args.test_sequences,
        "test_draws": args.test_draws, "test_pairs": args.test_sequences * (FRAMES - K + 1) * args.test_draws,
        "height": HEIGHT, "width": WIDTH, "frames": FRAMES, "clip_frames": K,
        "train_sequences": TRAIN_SEQUENCES, "batch_per_kind": BATCH, "ndf": NDF, "n_layers": N_LAYERS,
        "num_D": 1, "n_temporal_scales": 1, "lr": LR, "betas": list(BETAS), "gan_mode": "lsgan",
        "gains": [GAIN_LOW, GAIN_LOW + GAIN_SPAN],
        "train_sequence_seeds": "1000 * seed + 100 + i", "test_sequence_seeds": "1000 * seed + 5000 + j",
    }
    report = {"what": "flicker toy of notebooks/06: D_V pair accuracy and score gap per norm and seed",
              "command": command, "machine": machine, "torch": torch.__version__, "settings": settings,
              "runs": []}
    print(f"{len(args.norms)} norms x {len(args.seeds)} seeds, {args.steps} steps each -> {args.out}")
    for seed in args.seeds:
        train_set = load_set([1000 * seed + 100 + i for i in range(TRAIN_SEQUENCES)])
        test_clips = load_set([1000 * seed + 5000 + j for j in range(args.test_sequences)])
        test_pairs = held_out_pairs(*test_clips, draws=args.test_draws, seed=seed)
        for norm in args.norms:
            r = run_one(norm, seed, train_set, test_pairs, args)
            report["runs"].append(r)
            write_report(args.out, report)
            steps = "never" if r["steps_to_target"] is None else r["steps_to_target"]
            split, mixed = r["train_mode_split"], r["train_mode_mixed"]
            print(f"{norm:>8} seed {seed}: score gap {r['score_gap']:+.3f}, pair accuracy "
                  f"{r['pair_accuracy']:.3f}, steps to {args.target:.0%}: {steps} | train mode split: "
                  f"{split['score_gap']:+.3f}, {split['pair_accuracy']:.3f}; mixed: "
                  f"{mixed['score_gap']:+.3f}, {mixed['pair_accuracy']:.3f} | {r['seconds']:.1f} s",
                  flush=True)
    print(f"wrote {args.out / 'results.json'} and {args.out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
