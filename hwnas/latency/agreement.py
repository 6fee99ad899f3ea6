"""How well one list of latencies agrees with another (a prediction, or a repeat, with a measurement)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Agreement:
    n: int
    within_10pct: float
    within_5pct: float
    mape: float
    rmse_ms: float
    kendall_tau: float
    spearman_rho: float
    bias_pct: float

    def to_dict(self) -> dict:
        return asdict(self)


def agreement(predicted: np.ndarray, measured: np.ndarray) -> Agreement:
    from scipy.stats import kendalltau, spearmanr

    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    rel = (p - m) / m
    tau = float(kendalltau(p, m).statistic) if len(p) > 1 else float("nan")
    rho = float(spearmanr(p, m).statistic) if len(p) > 1 else float("nan")
    return Agreement(int(len(p)), float(np.mean(np.abs(rel) <= 0.10)), float(np.mean(np.abs(rel) <= 0.05)),
                     float(np.mean(np.abs(rel)) * 100), float(np.sqrt(np.mean((p - m) ** 2))), tau, rho,
                     float(np.median(rel) * 100))
