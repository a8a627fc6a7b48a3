"""Plot a run's loss curves from ``<run>/log.jsonl`` (by default into ``<run>/loss_curves.png``).

    python reproduce/plot_losses.py --run runs/synthetic          # writes runs/synthetic/loss_curves.png
    python reproduce/plot_losses.py --run runs/synthetic --out reproduce/results/synthetic/loss_curves.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GROUPS = {
    "adversarial (G)": ["G_GAN", "G_GAN_V0", "G_GAN_V1"],
    "discriminators": ["D_real", "D_fake", "D_V0_real", "D_V0_fake", "D_V1_real", "D_V1_fake"],
    "feature matching": ["G_feat", "G_feat_V0", "G_feat_V1"],
    "flow and warping": ["G_flow", "G_warp", "G_temporal", "G_mask"],
}


def smooth(values: list[float], k: int) -> list[float]:
    out, acc = [], []
    for v in values:
        acc.append(v)
        acc = acc[-k:]
        out.append(sum(acc) / len(acc))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="run folder holding log.jsonl (e.g. runs/synthetic)")
    p.add_argument("--out", default=None, help="PNG to write (default: <run>/loss_curves.png)")
    p.add_argument("--smooth", type=int, default=5, help="moving-average window (log entries)")
    args = p.parse_args(argv)
    args.out = args.out or str(Path(args.run) / "loss_curves.png")
    rows = [json.loads(line) for line in (Path(args.run) / "log.jsonl").read_text().splitlines() if line]
    if not rows:
        raise SystemExit(f"{args.run}/log.jsonl: no log entries")
    fig, axes = plt.subplots(1, len(GROUPS), figsize=(4 * len(GROUPS), 3.2))
    for ax, (title, keys) in zip(axes, GROUPS.items(), strict=True):
        for key in keys:
            pts = [(r["step"], r[key]) for r in rows if key in r]
            if pts:
                steps, vals = zip(*pts, strict=True)
                ax.plot(steps, smooth(list(vals), args.smooth), label=key, lw=1.2)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
