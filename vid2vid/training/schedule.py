"""Schedules of the vid2vid training recipe (the reference code's recipe), as pure functions of the epoch.

- Learning rate: constant for ``niter`` epochs, then linear decay to zero over ``niter_decay``.
- Temporal curriculum: the number of frames per training sequence doubles every ``niter_step``
  epochs, from ``n_frames_start`` up to the cap ``n_frames_total``.
- Spatial curriculum: after a finer scale is added, the coarser scales stay frozen for
  ``niter_fix_global`` epochs.

A budget in steps (``train.total_steps = S > 0``) keeps the recipe's shape and rescales its time:
the ``E = niter + niter_decay`` epochs become equal shares of the ``S`` steps, and step ``i`` sits
at epoch ``i E / S`` (:func:`schedule_epoch`). So the learning rate is constant for the first
``niter / E`` of the steps and then decays linearly (step by step) to zero at step ``S``, the
window doubles every ``niter_step S / E`` steps, and the coarse scales stay frozen for the first
``niter_fix_global S / E`` steps, whatever the size of the dataset.
"""

from __future__ import annotations

__all__ = ["lr_factor", "sequence_length", "coarse_frozen", "schedule_epoch"]


def schedule_epoch(step: int, total_steps: int, niter: int, niter_decay: int) -> float:
    """Where ``step`` (0-based: the step about to be taken) lies on the recipe's timeline of
    ``niter + niter_decay`` epochs when the run lasts ``total_steps`` steps: ``step E / S``."""
    if total_steps < 1 or niter + niter_decay < 1:
        raise ValueError(f"need total_steps >= 1 and niter + niter_decay >= 1, got {total_steps}, "
                         f"{niter} + {niter_decay}")
    return step * (niter + niter_decay) / total_steps


def lr_factor(epoch: float, niter: int, niter_decay: int) -> float:
    """Multiplier of the base learning rate at (fractional) ``epoch``: 1, then linear to 0."""
    if niter_decay <= 0:
        return 1.0
    return min(1.0, max(0.0, 1.0 - (epoch - niter) / niter_decay))


def sequence_length(epoch: float, n_frames_start: int, n_frames_total: int, niter_step: int) -> int:
    """Frames per training sequence at (fractional) ``epoch``: ``n_frames_start * 2^(epoch // niter_step)``,
    capped."""
    if n_frames_start < 1 or n_frames_total < 1:
        raise ValueError("frame counts must be positive")
    if niter_step <= 0:
        return n_frames_total
    return min(n_frames_total, n_frames_start * 2 ** int(epoch // niter_step))


def coarse_frozen(epoch: float, scale_added_at: int, niter_fix_global: int) -> bool:
    """Whether the coarser scales are frozen at (fractional) ``epoch`` (a finer scale was added at
    ``scale_added_at``)."""
    return scale_added_at <= epoch < scale_added_at + niter_fix_global
