"""The order in which one participant sees the pairs, and which clip of each pair is on the left.

A 2AFC study must not let position decide: people lean to one side (often the left, or the video
they saw first), so a method always shown on the left would gain from it. Each participant therefore
gets

- the pairs in a random order of their own, and
- a balanced left/right assignment: within every comparison (e.g. vid2vid against pix2pixHD, and the
  attention checks as one more), half of that participant's pairs show the first method on the left
  (one more on one side when the count is odd); and participants ``2j`` and ``2j + 1`` (in order
  of arrival) see every pair in opposite orders, so over each two participants every pair is shown
  both ways exactly once.

Everything is drawn from ``numpy.random.default_rng([seed, ...])`` with the study's seed: the
schedule of participant ``k`` can be rebuilt, and the database records it anyway.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

__all__ = ["balanced_sides", "schedule"]


def balanced_sides(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` booleans (True: the pair's first clip on the left), ``n // 2`` or ``(n + 1) // 2`` of them
    True (which of the two: a coin flip), in random positions."""
    n_true = n // 2 + (int(rng.integers(2)) if n % 2 else 0)
    sides = np.zeros(n, dtype=bool)
    sides[:n_true] = True
    return rng.permutation(sides)


def schedule(strata: Sequence[Hashable], number: int, seed: int) -> list[tuple[int, bool]]:
    """Participant ``number``'s trials: ``(pair index, a_first)`` in the order they are shown.

    Args:
        strata: one label per pair (its comparison, e.g. ``("vid2vid", "pix2pixHD")``, or ``"check"``);
            the left/right assignment is balanced within each.
        number: the participant's number, 0, 1, 2, ... in order of arrival.
        seed: the study's seed.

    Returns:
        Every pair index once; ``a_first`` True when the pair's first clip (the reference method's,
        or a check's intact clip) is shown on the left (or first).
    """
    if number < 0:
        raise ValueError(f"participant numbers start at 0; got {number}")
    block = np.random.default_rng([seed, number // 2])  # shared by participants 2j and 2j + 1
    a_first = np.zeros(len(strata), dtype=bool)
    for label in dict.fromkeys(strata):
        members = [i for i, s in enumerate(strata) if s == label]
        a_first[members] = balanced_sides(len(members), block)
    if number % 2:
        a_first = ~a_first
    order = np.random.default_rng([seed, number, 1]).permutation(len(strata))
    return [(int(i), bool(a_first[i])) for i in order]
