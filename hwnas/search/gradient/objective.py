"""Expected latency from a table and the three search losses.

``E[LAT] = fixed + sum_p sum_j p_pj * cost_pj`` with ``p_p = softmax(alpha_p)`` is differentiable in
the architecture parameters. Costs come from :meth:`LatencyTable.position_costs` (sum of the p50 of
the ops a choice adds; zero op = 0) and :meth:`LatencyTable.fixed_cost`; an energy table works the
same way (the unit is the table's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from hwnas.errors import HwnasError

LOSSES = ("budget", "mul-log", "add-linear")


@dataclass(frozen=True)
class CostModel:
    """Per-position choice costs and the fixed part, in the table's unit."""

    costs: tuple[np.ndarray, ...]
    fixed: float
    unit: str = "ms"

    @classmethod
    def from_table(cls, table, space) -> CostModel:
        """Costs of the table's *prediction*: known calibrations are folded in exactly.

        ``overhead`` adds a constant; ``linear`` (``a * raw + b * n_ops + c``) is additive over
        positions too, since ``n_ops`` counts the ops each choice adds (zero adds none).
        """
        costs = [np.asarray(c, dtype=np.float64) for c in table.position_costs(space)]
        fixed = table.fixed_cost(space)
        cal = table.calibration or {}
        if cal.get("method") == "overhead":
            fixed += float(cal.get("offset_ms", 0.0))
        elif cal.get("method") == "linear":
            a, b = float(cal["coef_sum"]), float(cal["coef_ops"])
            n_fixed = len(space.prefix_ops()) + len(space.suffix_ops())
            costs = [a * c + b * np.array([len(ops) for ops in space.candidate_ops(p)], dtype=np.float64)
                     for p, c in enumerate(costs)]
            fixed = a * fixed + b * n_fixed + float(cal["intercept_ms"])
        return cls(tuple(costs), float(fixed), table.meta.unit)

    def expected(self, probs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Differentiable E[LAT] for per-position probabilities (float64)."""
        total = torch.tensor(self.fixed, dtype=torch.float64)
        for p, c in zip(probs, self.costs):
            total = total + (p.to(torch.float64) * torch.as_tensor(c, dtype=torch.float64)).sum()
        return total

    def exact(self, indices: Sequence[int]) -> float:
        return float(self.fixed + sum(float(self.costs[p][j]) for p, j in enumerate(indices)))

    def fastest(self) -> float:
        return float(self.fixed + sum(float(c.min()) for c in self.costs))

    def slowest(self) -> float:
        return float(self.fixed + sum(float(c.max()) for c in self.costs))


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
