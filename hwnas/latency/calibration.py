"""Corrections applied to a table's raw per-op sum (stored in the table's ``calibration``).

Methods (all JSON, never pickles):
- ``{"method": "overhead", "offset_ms": c}``: the runtime's per-call overhead, subtracted from
  every op when profiling and paid once per network: ``raw + c``.
- ``{"method": "linear", "coef_sum": a, "coef_ops": b, "intercept_ms": c, ...}``: fitted with
  scikit-learn on measured archs: ``a * raw + b * n_ops + c`` (``n_ops`` = ops the arch runs,
  zero ops excluded), which captures per-op effects a per-op table cannot see (fusion, cache).
"""

from __future__ import annotations

import numpy as np

from hwnas.errors import TableError
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace


def apply_calibration(calibration: dict, raw_sum_ms: float, space: SearchSpace, arch: Arch) -> float:
    method = calibration.get("method")
    if method == "overhead":
        return float(raw_sum_ms + float(calibration.get("offset_ms", 0.0)))
    if method == "linear":
        n_ops = len(space.ops(arch))
        return float(calibration["coef_sum"] * raw_sum_ms + calibration["coef_ops"] * n_ops
                     + calibration["intercept_ms"])
    raise TableError(f"unknown calibration method {method!r}",
                     "recalibrate with `hwnas lut validate --calibrate`")


def features(raw_sums_ms: np.ndarray, n_ops: np.ndarray) -> np.ndarray:
    return np.column_stack([raw_sums_ms, n_ops]).astype(float)


def fit_linear(raw_sums_ms: np.ndarray, n_ops: np.ndarray, measured_ms: np.ndarray) -> dict:
    """Fit ``measured ~ a * raw + b * n_ops + c`` (Huber loss: robust to a noisy measurement)."""
    from sklearn.linear_model import HuberRegressor, LinearRegression

    X = features(raw_sums_ms, n_ops)
    y = np.asarray(measured_ms, dtype=float)
    if np.ptp(X[:, 1]) == 0:  # every arch runs the same number of ops: the count says nothing
        X = X[:, :1]
    try:
        model = HuberRegressor(max_iter=1000).fit(X, y)
    except ValueError:
        model = LinearRegression().fit(X, y)
    coef = list(model.coef_) + [0.0] * (2 - len(model.coef_))
    return {"method": "linear", "coef_sum": float(coef[0]), "coef_ops": float(coef[1]),
            "intercept_ms": float(model.intercept_), "fitted_on": int(len(y)),
            "features": ["raw_sum_ms", "n_ops"], "fitter": type(model).__name__}
