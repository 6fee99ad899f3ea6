"""Expected latency from a cost model and the three search losses.

``E[LAT] = fixed + sum_p sum_j p_pj * cost_pj`` with ``p_p = softmax(alpha_p)`` is differentiable in
the architecture parameters. The costs are the table's :class:`~hwnas.latency.cost.CostModel`
(``LatencyTable.cost_model``: its calibration folded in), so E[LAT] of a one-hot ``p`` is the
table's own prediction; an energy table works the same way (the unit is the table's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from hwnas.errors import HwnasError
from hwnas.latency.cost import CostModel

LOSSES = ("budget", "mul-log", "add-linear")


def expected_latency(cost: CostModel, probs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Differentiable E[LAT] for per-position probabilities (float64), in ``cost.unit``."""
    total = torch.tensor(cost.fixed, dtype=torch.float64)
    for p, c in zip(probs, cost.costs):
        total = total + (p.to(torch.float64) * torch.tensor(c, dtype=torch.float64)).sum()
    return total


@dataclass(frozen=True)
class LossConfig:
    kind: str = "budget"
    target: float = 1.0          # T, in the table's unit
    mul_alpha: float = 0.2       # a in CE * a * (log E / log T)^b
    mul_beta: float = 0.3        # b
    lam: float = 0.1             # lambda in CE + lambda (E - T) / T


def check_loss(config: LossConfig) -> None:
    if config.kind not in LOSSES:
        raise HwnasError(f"unknown loss {config.kind!r}", f"choose one of {', '.join(LOSSES)}")
    if config.kind == "mul-log" and config.target <= 1.0:
        raise HwnasError(
            f"loss mul-log needs a budget above 1 in the table's unit (log T > 0), got {config.target:g}",
            "use --loss budget or --loss add-linear for budgets of 1 or less",
        )


def search_loss(ce: torch.Tensor, expected: torch.Tensor, config: LossConfig,
                multiplier: float) -> torch.Tensor:
    """The architecture-step loss. ``multiplier`` is the Lagrange multiplier of ``budget``."""
    t = config.target
    if config.kind == "mul-log":
        ratio = torch.log(expected) / math.log(t)
        return ce * config.mul_alpha * ratio.clamp_min(1e-6) ** config.mul_beta
    if config.kind == "add-linear":
        return ce + config.lam * (expected - t) / t
    # budget: the Lagrangian; the multiplier is the dual variable (raised while E[LAT] > T)
    return ce + multiplier * (expected - t) / t


def dual_ascent(multiplier: float, expected: float, target: float, rate: float) -> float:
    """One projected dual-ascent step on the budget's multiplier (never below 0)."""
    return max(0.0, multiplier + rate * (expected - target) / target)
