"""Which paths of a supernet a training step trains, and which archs a ranking picks.

Sampling rules (``hwnas supernet train --sampling``):

- ``uniform``: one path a step, every position's choice drawn uniformly (single-path one-shot,
  Guo et al.). A path's MACs are a sum of independent choices, so they pile up in the middle of
  the range: on mbconv-small they cover about 3.5-8 M of its 1.9-10.1 M MACs, and the smallest and
  largest archs are (almost) never trained.
- ``tilted``: one path a step, like ``uniform``, but a *tilted* one (below): uniform's cost,
  every MAC level trained.
- ``sandwich``: the largest path (most MACs at every position), the smallest and ``k`` uniform
  random paths a step, gradients summed (BigNAS / OFA).
- ``spread``: the sandwich rule whose ``k`` random paths are tilted. A tilted path draws a tilt from
  ``uniform(-TILT, TILT)`` and picks every choice with a weight ``exp(tilt x rank)``, where the rank
  places the choice among its position's choices by MACs in [-1, 1]. A negative tilt leans to small
  choices, a positive one to large ones, so the random paths cover every MAC level, the way the
  archs a ranking scores are picked (:func:`tilted_path` serves both).

Every draw comes from the generator passed in; the trainer seeds it per epoch with ``(seed, e)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwnas.space.base import SearchSpace

SAMPLINGS = ("uniform", "tilted", "sandwich", "spread")
SINGLE_PATH = ("uniform", "tilted")  # one path a step, no largest path to distil from
TILT = 4.0  # exp(4 x rank): at the extreme tilt the largest choice is e^8 times likelier than the smallest

_CHOICE_MACS: dict[str, list[np.ndarray]] = {}  # by space fingerprint: building every op is slow


def choice_macs(space: SearchSpace) -> list[np.ndarray]:
    """MACs of every choice at every position (the ops a choice adds to the network).

    Positions are independent in a layerwise space, so an arch's MACs are a constant plus the sum
    of its choices' MACs: orders and ranges come without building a network per arch.
    """
    import torch

    from hwnas.nn import build_op, count_macs

    key = space.fingerprint()
    if key not in _CHOICE_MACS:
        with torch.random.fork_rng(devices=[]):  # building ops must not move the caller's RNG
            _CHOICE_MACS[key] = [
                np.array([sum(count_macs(build_op(op, space.activation), op.in_shape) for op in ops)
                          for ops in space.candidate_ops(p)], dtype=float)
                for p in range(space.num_positions)]
    return _CHOICE_MACS[key]


def choice_ranks(macs: list[np.ndarray]) -> list[np.ndarray]:
    """Each choice's place among its position's choices by MACs, in [-1, 1] (-1: fewest)."""
    return [(np.argsort(np.argsort(m, kind="stable")) / max(len(m) - 1, 1)) * 2 - 1 for m in macs]


def tilted_path(ranks: list[np.ndarray], rng: np.random.Generator) -> list[int]:
    """One path leaning to small or large choices by a tilt drawn from ``uniform(-TILT, TILT)``."""
    tilt = rng.uniform(-TILT, TILT)
    picks = []
    for r in ranks:
        weights = np.exp(tilt * r)
        picks.append(int(rng.choice(len(r), p=weights / weights.sum())))
    return picks


def extreme_gates(space: SearchSpace) -> tuple[list[int], list[int]]:
    """(largest, smallest) path: at each position the choice with the most / fewest MACs.

    Per-position extremes are the global ones (positions are independent); a tie keeps the first
    choice, so the result is deterministic.
    """
    macs = choice_macs(space)
    return [int(np.argmax(m)) for m in macs], [int(np.argmin(m)) for m in macs]


@dataclass(frozen=True)
class PathSampler:
    """A sampling rule bound to a space: :meth:`step` draws the gates of one training step."""

    sampling: str
    random_paths: int  # k: random paths a step besides the extremes (sandwich, spread); else 1
    sizes: tuple[int, ...]  # choices per position
    largest: tuple[int, ...] = ()
    smallest: tuple[int, ...] = ()
    ranks: tuple[tuple[float, ...], ...] = ()  # spread only: choice_ranks

    @classmethod
    def for_space(cls, space: SearchSpace, sampling: str, random_paths: int) -> PathSampler:
        sizes = tuple(len(c) for c in space.choices())
        if sampling == "uniform":  # needs no MAC counts (building every op takes seconds)
            return cls(sampling, 1, sizes)
        tilted = sampling in ("tilted", "spread")
        ranks = tuple(tuple(r) for r in choice_ranks(choice_macs(space))) if tilted else ()
        if sampling == "tilted":
            return cls(sampling, 1, sizes, ranks=ranks)
        largest, smallest = extreme_gates(space)
        return cls(sampling, random_paths, sizes, tuple(largest), tuple(smallest), ranks)

    def step(self, rng: np.random.Generator) -> list[list[int]]:
        """The paths of one step, the largest first (in-place distillation's teacher)."""
        if self.ranks:  # tilted, spread
            ranks = [np.asarray(r) for r in self.ranks]
            randoms = [tilted_path(ranks, rng) for _ in range(self.random_paths)]
        else:
            randoms = [[int(rng.integers(n)) for n in self.sizes] for _ in range(self.random_paths)]
        if self.sampling in SINGLE_PATH:
            return randoms
        return [list(self.largest), list(self.smallest), *randoms]


def path_macs_quantiles(space: SearchSpace, sampler: PathSampler, rng: np.random.Generator,
                        steps: int = 2000, quantiles: tuple[float, ...] = (0.0, 0.05, 0.5, 0.95, 1.0),
                        base_macs: float = 0.0) -> list[float]:
    """Quantiles of the MACs of every path ``steps`` steps of ``sampler`` train (extremes
    included): which part of the MAC range a rule trains. ``base_macs``: what every arch has
    besides its choices (stem, head); 0 gives the choices' MACs only."""
    macs = choice_macs(space)
    drawn = [base_macs + sum(m[i] for m, i in zip(macs, gates))
             for _ in range(steps) for gates in sampler.step(rng)]
    return [float(q) for q in np.quantile(drawn, quantiles)]
