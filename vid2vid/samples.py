"""Samples during training: a few generated frames (PNG) and a short side-by-side video (MP4)
of one held-out sequence, written to ``<out>/samples/`` and logged to TensorBoard.

:func:`write_samples` is the ``sample_fn`` that ``reproduce/train.py`` hands to
:meth:`~vid2vid.training.trainer.Trainer.fit`. It generates with :mod:`vid2vid.inference` and writes
with :mod:`vid2vid.video`, so it sits above both and above training: the trainer only calls it back
and never imports inference.
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vid2vid.data.layout import kind_dir, list_sequences, write_rgb
from vid2vid.inference import generate_frames, read_input_frames, side_captions
from vid2vid.video import VideoWriter, side_by_side

if TYPE_CHECKING:
    from vid2vid.training.trainer import Trainer

__all__ = ["write_samples"]


def write_samples(trainer: Trainer, n_frames: int = 16) -> Path | None:
    """Generate ``n_frames`` of the first test (else train) sequence with the current generator
    (its EMA when there is one): ``samples/step_<N>.mp4`` (labels | generated | real, each panel
    captioned) and ``samples/step_<N>.png`` (every fourth frame, stacked)."""
    cfg, root = trainer.cfg, Path(trainer.cfg.data.root)
    split = "test" if kind_dir(root, "test", "A").is_dir() else "train"
    seqs = list_sequences(kind_dir(root, split, "A"))
    if not seqs:
        return None
    seq = seqs[0]
    G = trainer.ema.shadow if trainer.ema is not None else trainer.acc.unwrap_model(trainer.seqG).G
    was_training = G.training
    frames = read_input_frames(cfg, kind_dir(root, split, "A") / seq,
                               real_dir=kind_dir(root, split, "B") / seq)
    rows = []
    out_dir = trainer.out / "samples"
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / f"step_{trainer.step:08d}.mp4"
    with VideoWriter(video, fps=8) as writer:
        stream = generate_frames(G, cfg, islice(frames, n_frames), trainer.acc.device)
        for i, (frame, x) in enumerate(stream):
            # side_by_side converts the [-1, 1] tensors
            panel = side_by_side(frame.picture, x, frame.real, gap=2, captions=side_captions(cfg))
            writer.write(panel)
            if i % 4 == 0:
                rows.append(panel)
    G.train(was_training)  # generate_frames put G in eval mode; training goes on where it was
    grid = np.concatenate(rows, axis=0)
    write_rgb(out_dir / f"step_{trainer.step:08d}.png", grid)
    for tracker in trainer.acc.trackers:
        if tracker.name == "tensorboard":
            tracker.writer.add_image("samples", grid, trainer.step, dataformats="HWC")
    return video
