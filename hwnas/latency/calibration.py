"""Corrections to a table's raw per-op sum: the typed ``Calibration`` a table carries.

On disk (the table's ``calibration``, JSON, never pickles) a calibration is one of:

- ``{"method": "overhead", "offset_ms": c}``: the runtime's per-call overhead, subtracted from
  every op when profiling and paid once per network: ``raw + c``.
- ``{"method": "linear", "coef_sum": a, "coef_ops": b, "intercept_ms": c, ...}``: fitted with
  scikit-learn on measured archs: ``a * raw + b * n_ops + c`` (``n_ops`` = ops the arch runs,
  zero ops excluded), which captures per-op effects a per-op table cannot see (fusion, cache).
  ``fitted_on``, ``features`` and ``fitter`` record how it was fitted.
- ``{"method": "per_kind", "version": 1, "multipliers": {"MBConv_k5": m, ...}, "coef_ops": b,
  "intercept_ms": c, ...}``: every op's p50 is scaled by the multiplier of its group
  (:func:`op_group`: kind and kernel size; a group not listed keeps 1), then ``b * n_ops + c``:
  a 5x5-heavy network is corrected more than a 3x3-heavy one, which one slope on the raw sum
  cannot do (fitted in :mod:`hwnas.latency.calfit`).

Every method is one formula, ``coef_sum * sum_ops(m(op) * p50(op)) + coef_ops * n_ops +
intercept_ms`` (``m = 1`` unless per_kind), additive over the ops an arch runs, so
:mod:`hwnas.latency.cost` folds it into per-choice costs; that is the only place a calibration is
applied. ``record`` (optional) says how it was fitted and how well it held out
(:class:`CalibrationRecord`), which ``hwnas lut show`` prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from hwnas.errors import TableError
from hwnas.space.arch import OpSpec

METHODS = ("overhead", "linear", "per_kind")
#: calibration methods fitted on measured whole archs (``overhead`` is only the per-call cost)
FITTED = ("linear", "per_kind")
PER_KIND_VERSION = 1
RECALIBRATE = ("recalibrate with `hwnas lut validate TABLE --calibrate` (it writes a calibrated copy, "
               "TABLE.calibrated.json, and leaves TABLE as it is), or remove the table's calibration")
_RECALIBRATE = RECALIBRATE
_COEFFICIENTS = {"overhead": ("offset_ms",), "linear": ("coef_sum", "coef_ops", "intercept_ms"),
                 "per_kind": ("coef_ops", "intercept_ms")}
_FIT_FIELDS = ("fitted_on", "features", "fitter", "record")


def op_group(op: OpSpec) -> str:
    """The group a per-kind calibration scales ``op`` by: its kind and kernel size
    (``MBConv_k5``), or its kind alone when it has no kernel (``FC``)."""
    kernel = dict(op.params).get("kernel")
    return op.kind if kernel is None else f"{op.kind}_k{kernel}"


@dataclass(frozen=True)
class CalibrationRecord:
    """How a fitted calibration was chosen and how well it held out, beside the device's repeat.

    ``held_out_*``: the chosen model's out-of-fold predictions (cross-validation over the
    ``n_archs`` measured archs) against pass A; ``repeat_*``: pass B against pass A, the
    ceiling no table can beat; ``selection``: each candidate model's cross-validated mean
    absolute error (%), the lowest of which was chosen.
    """

    n_archs: int
    held_out_within_10pct: float
    held_out_kendall_tau: float
    repeat_within_10pct: float
    repeat_kendall_tau: float
    selection: tuple[tuple[str, float], ...] = ()
    source: str = ""

    def to_dict(self) -> dict:
        def num(value: float) -> float | None:  # JSON has no NaN: a tau of a constant sample
            return None if math.isnan(value) else value

        return {"n_archs": self.n_archs, "held_out_within_10pct": num(self.held_out_within_10pct),
                "held_out_kendall_tau": num(self.held_out_kendall_tau),
                "repeat_within_10pct": num(self.repeat_within_10pct),
                "repeat_kendall_tau": num(self.repeat_kendall_tau),
                "selection": dict(self.selection), "source": self.source}

    @classmethod
    def from_dict(cls, raw: object) -> CalibrationRecord:
        fields = ("n_archs", "held_out_within_10pct", "held_out_kendall_tau", "repeat_within_10pct",
                  "repeat_kendall_tau")
        if not isinstance(raw, dict) or set(raw) - {*fields, "selection", "source"}:
            raise TableError(f"calibration record {raw!r} is not an object with {', '.join(fields)}, "
                             "selection and source", _RECALIBRATE)
        values = {}
        for name in fields:
            value = raw.get(name)
            # not measured (no repeat pass), or a kendall tau of a constant sample: NaN, written null
            if value is None and name != "n_archs":
                value = float("nan")
            if not _is_number(value):
                raise TableError(f"calibration record {name!r} is {value!r}, not a number", _RECALIBRATE)
            values[name] = value
        if not isinstance(values["n_archs"], int) or values["n_archs"] < 0:
            raise TableError(f"calibration record 'n_archs' is {values['n_archs']!r}, not a count",
                             _RECALIBRATE)
        selection = raw.get("selection", {})
        if not isinstance(selection, dict) or not all(
                isinstance(k, str) and _is_number(v) for k, v in selection.items()):
            raise TableError(f"calibration record 'selection' is {selection!r}, not names to errors",
                             _RECALIBRATE)
        source = raw.get("source", "")
        if not isinstance(source, str):
            raise TableError(f"calibration record 'source' is {source!r}, not text", _RECALIBRATE)
        return cls(values["n_archs"], *(float(values[n]) for n in fields[1:]),
                   tuple((k, float(v)) for k, v in selection.items()), source)


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
    # per_kind: (op group, factor on the p50s of that group's ops); groups not listed keep 1
    multipliers: tuple[tuple[str, float], ...] = ()
    record: CalibrationRecord | None = None

    @classmethod
    def per_kind(cls, multipliers: dict[str, float], coef_ops: float, intercept_ms: float,
                 fitted_on: int | None = None, fitter: str | None = None,
                 record: CalibrationRecord | None = None) -> Calibration:
        return cls("per_kind", 1.0, float(coef_ops), float(intercept_ms), fitted_on,
                   ("group_sums_ms", "n_ops"), fitter,
                   tuple(sorted((str(k), float(v)) for k, v in multipliers.items())), record)

    def multiplier(self, op: OpSpec) -> float:
        """The factor on ``op``'s p50 (1 unless a per_kind calibration scales its group)."""
        if not self.multipliers:
            return 1.0
        return dict(self.multipliers).get(op_group(op), 1.0)

    @property
    def fitted(self) -> bool:
        """Fitted on measured whole archs (not only the runtime's per-call overhead)."""
        return self.method in FITTED

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
        if self.method != "per_kind" and self.multipliers:
            raise TableError(f"a {self.method} calibration has no multipliers", "use Calibration.per_kind")
        for group, factor in self.multipliers:
            # a negative factor would price more work as faster
            if not _is_number(factor) or not math.isfinite(factor) or factor < 0:
                raise TableError(f"per_kind calibration multiplier of {group} is {factor!r}, not a finite "
                                 "number >= 0", RECALIBRATE)
        if self.coef_sum <= 0:
            raise TableError(f"{self.method} calibration coef_sum is {self.coef_sum!r}: the slope on the "
                             "table's sum must be positive", RECALIBRATE)

    # --- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The table's JSON shape (what :meth:`from_dict` reads)."""
        if self.method == "overhead":
            return {"method": "overhead", "offset_ms": self.intercept_ms}
        if self.method == "per_kind":
            out = {"method": "per_kind", "version": PER_KIND_VERSION, "multipliers": dict(self.multipliers),
                   "coef_ops": self.coef_ops, "intercept_ms": self.intercept_ms}
        else:
            out = {"method": "linear", "coef_sum": self.coef_sum, "coef_ops": self.coef_ops,
                   "intercept_ms": self.intercept_ms}
        fit = {"fitted_on": self.fitted_on,
               "features": None if self.features is None else list(self.features),
               "fitter": self.fitter, "record": None if self.record is None else self.record.to_dict()}
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
        allowed = {"method", *wanted, *(_FIT_FIELDS if method in FITTED else ()),
                   *(("version", "multipliers") if method == "per_kind" else ())}
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
        fitted_on, features, fitter, record = (raw.get(k) for k in _FIT_FIELDS)
        if record is not None:
            record = CalibrationRecord.from_dict(record)
        if fitted_on is not None and (isinstance(fitted_on, bool) or not isinstance(fitted_on, int)):
            raise TableError(f"linear calibration 'fitted_on' is {fitted_on!r}, not a count", _RECALIBRATE)
        if features is not None and (not isinstance(features, list)
                                     or not all(isinstance(f, str) for f in features)):
            raise TableError(f"linear calibration 'features' is {features!r}, not a list of names",
                             _RECALIBRATE)
        if fitter is not None and not isinstance(fitter, str):
            raise TableError(f"linear calibration 'fitter' is {fitter!r}, not a name", _RECALIBRATE)
        if method == "per_kind":
            return cls._per_kind_from_dict(raw, values, fitted_on, fitter, record)
        return replace(cls.linear(values["coef_sum"], values["coef_ops"], values["intercept_ms"], fitted_on,
                                  features, fitter), record=record)

    @classmethod
    def _per_kind_from_dict(cls, raw: dict, values: dict, fitted_on, fitter, record) -> Calibration:
        version = raw.get("version")
        if version != PER_KIND_VERSION:
            raise TableError(f"per_kind calibration version is {version!r}; this hwnas reads version "
                             f"{PER_KIND_VERSION}", "upgrade hwnas, or " + _RECALIBRATE)
        multipliers = raw.get("multipliers")
        if not isinstance(multipliers, dict) or not multipliers:
            raise TableError(f"per_kind calibration 'multipliers' is {multipliers!r}, not an object of "
                             "op group -> factor", _RECALIBRATE)
        for group, factor in multipliers.items():
            if not _is_number(factor) or not math.isfinite(factor):
                raise TableError(f"per_kind calibration multiplier of {group} is {factor!r}, not a finite "
                                 "number", _RECALIBRATE)
        return cls.per_kind(multipliers, values["coef_ops"], values["intercept_ms"], fitted_on, fitter,
                            record)


def describe(cal: Calibration | None) -> str:
    """One line on whether and how a table is calibrated (``hwnas profile``, ``hwnas lut show``)."""
    if cal is None or not cal.fitted:
        return ("uncalibrated: predictions are the raw sum of isolated op timings"
                + (f" plus the per-call overhead {cal.intercept_ms:.4g} ms" if cal is not None else "")
                + "; fit a correction on whole archs with `hwnas profile` (it resumes the table) or "
                  "`hwnas lut validate TABLE --calibrate`")
    r = cal.record
    if r is None:
        return (f"calibrated: {cal.method} on {cal.fitted_on or '?'} archs (no held-out record: fitted "
                "before hwnas recorded one)")

    def pct(value: float) -> str:
        return "n/a" if math.isnan(value) else f"{value:.0%}"

    return (f"calibrated: {cal.method} ({cal.fitter}) on {r.n_archs} archs by {r.source or '?'}; held out "
            f"within 10 %: {pct(r.held_out_within_10pct)} (the device's own repeat: "
            f"{pct(r.repeat_within_10pct)}), Kendall tau {r.held_out_kendall_tau:.2f} (repeat "
            f"{r.repeat_kendall_tau:.2f})")


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
