"""Corrections to a table's raw per-op sum: the typed ``Calibration`` a table carries.

On disk (the table's ``calibration``, JSON, never pickles) a calibration is one of:

- ``{"method": "overhead", "offset_ms": c}``: the runtime's per-call overhead, subtracted from
  every op when profiling and paid once per network: ``raw + c``.
- ``{"method": "linear", "coef_sum": a, "coef_ops": b, "intercept_ms": c, ...}``: fitted with
  scikit-learn on measured archs: ``a * raw + b * n_ops + c`` (``n_ops`` = ops the arch runs,
  zero ops excluded), which captures per-op effects a per-op table cannot see (fusion, cache).
  ``fitted_on``, ``features`` and ``fitter`` record how it was fitted.

Both are additive over the ops an arch runs, so :mod:`hwnas.latency.cost` folds them into
per-choice costs; that is the only place a calibration is applied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwnas.errors import TableError

METHODS = ("overhead", "linear")
RECALIBRATE = ("recalibrate with `hwnas lut validate TABLE --calibrate` (it writes a calibrated copy, "
               "TABLE.calibrated.json, and leaves TABLE as it is), or remove the table's calibration")
_RECALIBRATE = RECALIBRATE
_COEFFICIENTS = {"overhead": ("offset_ms",), "linear": ("coef_sum", "coef_ops", "intercept_ms")}
_FIT_FIELDS = ("fitted_on", "features", "fitter")


@dataclass(frozen=True)
class Calibration:
    """``raw -> coef_sum * raw + coef_ops * n_ops + intercept_ms``, in the table's unit.

    ``overhead`` is the case ``coef_sum = 1, coef_ops = 0`` with its offset as the intercept.
    """

    method: str
    coef_sum: float = 1.0
    coef_ops: float = 0.0
    intercept_ms: float = 0.0
    fitted_on: int | None = None
    features: tuple[str, ...] | None = None
    fitter: str | None = None

    @classmethod
    def overhead(cls, offset_ms: float) -> Calibration:
        return cls("overhead", intercept_ms=float(offset_ms))

    @classmethod
    def linear(cls, coef_sum: float, coef_ops: float, intercept_ms: float, fitted_on: int | None = None,
               features: tuple[str, ...] | None = None, fitter: str | None = None) -> Calibration:
        return cls("linear", float(coef_sum), float(coef_ops), float(intercept_ms), fitted_on,
                   None if features is None else tuple(features), fitter)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise TableError(f"unknown calibration method {self.method!r}", _RECALIBRATE)
        for name in ("coef_sum", "coef_ops", "intercept_ms"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value):
                raise TableError(f"calibration {name} is {value!r}, not a finite number", _RECALIBRATE)
        if self.method == "overhead" and (self.coef_sum != 1.0 or self.coef_ops != 0.0):
            raise TableError("an overhead calibration only adds its offset", "use Calibration.linear")
        # a per-call overhead is a measured duration, and a table's sum must grow with its ops:
        # either the other way round prices faster archs as slower (or below zero)
        if self.method == "overhead" and self.intercept_ms < 0:
            raise TableError(f"overhead calibration offset_ms is {self.intercept_ms!r}: a per-call "
                             "overhead cannot be negative", RECALIBRATE)
        if self.coef_sum <= 0:
            raise TableError(f"{self.method} calibration coef_sum is {self.coef_sum!r}: the slope on the "
                             "table's sum must be positive", RECALIBRATE)

    # --- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The table's JSON shape (what :meth:`from_dict` reads)."""
        if self.method == "overhead":
            return {"method": "overhead", "offset_ms": self.intercept_ms}
        out = {"method": "linear", "coef_sum": self.coef_sum, "coef_ops": self.coef_ops,
               "intercept_ms": self.intercept_ms}
        fit = {"fitted_on": self.fitted_on,
               "features": None if self.features is None else list(self.features),
               "fitter": self.fitter}
        return {**out, **{k: v for k, v in fit.items() if v is not None}}

    @classmethod
    def from_dict(cls, raw: object) -> Calibration:
        """Parse and validate a table's ``calibration`` object (``TableError`` naming the field)."""
        if not isinstance(raw, dict):
            raise TableError(f"calibration must be an object or null, got {raw!r}", _RECALIBRATE)
        method = raw.get("method")
        if method not in METHODS:
            raise TableError(f"unknown calibration method {method!r} (known: {', '.join(METHODS)})",
                             _RECALIBRATE)
        wanted = _COEFFICIENTS[method]
        allowed = {"method", *wanted, *(_FIT_FIELDS if method == "linear" else ())}
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise TableError(f"{method} calibration has unknown field(s) {', '.join(unknown)}",
                             _RECALIBRATE)
        values = {}
        for name in wanted:
            if name not in raw:
                raise TableError(f"{method} calibration lacks {name!r}", _RECALIBRATE)
            value = raw[name]
            if not _is_number(value) or not math.isfinite(value):
                raise TableError(f"{method} calibration {name!r} is {value!r}, not a finite number",
                                 _RECALIBRATE)
            values[name] = float(value)
        if method == "overhead":
            return cls.overhead(values["offset_ms"])
        fitted_on, features, fitter = (raw.get(k) for k in _FIT_FIELDS)
        if fitted_on is not None and (isinstance(fitted_on, bool) or not isinstance(fitted_on, int)):
            raise TableError(f"linear calibration 'fitted_on' is {fitted_on!r}, not a count", _RECALIBRATE)
        if features is not None and (not isinstance(features, list)
                                     or not all(isinstance(f, str) for f in features)):
            raise TableError(f"linear calibration 'features' is {features!r}, not a list of names",
                             _RECALIBRATE)
        if fitter is not None and not isinstance(fitter, str):
            raise TableError(f"linear calibration 'fitter' is {fitter!r}, not a name", _RECALIBRATE)
        return cls.linear(values["coef_sum"], values["coef_ops"], values["intercept_ms"], fitted_on,
                          features, fitter)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def features(raw_sums_ms: np.ndarray, n_ops: np.ndarray) -> np.ndarray:
    return np.column_stack([raw_sums_ms, n_ops]).astype(float)


def fit_linear(raw_sums_ms: np.ndarray, n_ops: np.ndarray, measured_ms: np.ndarray) -> Calibration:
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
    if coef[0] <= 0:
        # a few noisy archs can fit a falling slope, which would price more work as faster (and
        # is refused at load): refit with non-negative coefficients; if the slope is still flat,
        # the sample says nothing about it: fall back to scaling the table (fit_ratio)
        model = LinearRegression(positive=True).fit(X, y)
        coef = list(model.coef_) + [0.0] * (2 - len(model.coef_))
        if coef[0] <= 0:
            return fit_ratio(raw_sums_ms, measured_ms)
    return Calibration.linear(float(coef[0]), float(coef[1]), float(model.intercept_), int(len(y)),
                              ("raw_sum_ms", "n_ops"), type(model).__name__)


def fit_ratio(raw_sums_ms: np.ndarray, measured_ms: np.ndarray) -> Calibration:
    """``measured ~ a * raw`` with ``a`` the median ratio: the fit that can never price an arch
    below zero, for samples too small or noisy for :func:`fit_linear` (a falling slope, or an
    intercept that makes the fastest arch cost less than nothing)."""
    raw, y = np.asarray(raw_sums_ms, dtype=float), np.asarray(measured_ms, dtype=float)
    ratios = y[raw > 0] / raw[raw > 0]
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    scale = float(np.median(ratios)) if len(ratios) else 1.0
    return Calibration.linear(scale, 0.0, 0.0, int(len(y)), ("raw_sum_ms",), "median-ratio")
