"""How well a table predicts end-to-end measurement, beside how well the device agrees with itself.

``validate_table`` samples archs, builds each network, measures every one end to end twice with
the table's own runtime and protocol (two independent interleaved passes, so pass B vs pass A is
the device's repeatability: the noise ceiling no table can beat), and compares the table's
prediction with pass A. ``--calibrate`` fits the correction chosen by cross-validation
(:mod:`hwnas.latency.calfit`: linear or per op kind) on a random half and reports the figures on
the other half; the calibrated table is written as a copy
(:func:`calibrated_copy_path`), never over the table it came from.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from hwnas.errors import HwnasError
from hwnas.latency.agreement import Agreement, agreement
from hwnas.latency.calfit import fit_calibration
from hwnas.latency.measure import process_settings_restored
from hwnas.latency.table import LatencyTable
from hwnas.latency.whole import measure_archs, sample_archs
from hwnas.space.base import SearchSpace


@dataclass(frozen=True)
class Validation:
    archs: list[str]
    raw_sum_ms: list[float]
    predicted_ms: list[float]
    measured_ms: list[float]
    repeat_ms: list[float]
    fidelity: Agreement
    repeat: Agreement
    seconds_per_measurement: float
    calibrated: dict | None = None  # {"calibration", "held_out", "uncalibrated_held_out", ...}
    table_profile_seconds: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fidelity"], d["repeat"] = self.fidelity.to_dict(), self.repeat.to_dict()
        return d


def calibrated_copy_path(source: Path, out: Path | None, force: bool) -> Path:
    """Where ``validate --calibrate`` writes the calibrated copy of ``source``; checked up front.

    Default: ``<table stem>.calibrated.json`` in the current folder. A shipped table is never
    written (it belongs to the installed package); an existing file only with ``force``.
    """
    from hwnas.latency.shipped import is_shipped

    target = out if out is not None else Path.cwd() / f"{Path(source).stem}.calibrated.json"
    if is_shipped(target):
        raise HwnasError(f"--out {target} is a table shipped with hwnas, and shipped tables are "
                         "read-only", "pass --out FILE outside the installed package")
    if target.is_dir():
        raise HwnasError(f"--out {target} is a folder", "pass a file path such as my-table.json")
    if target.exists() and not force:
        raise HwnasError(f"{target} already exists",
                         "pass --force to replace it, or choose another --out for the calibrated table")
    parent = target.parent if target.parent.exists() else None
    if parent is not None and not os.access(parent, os.W_OK):
        raise HwnasError(f"cannot write {target}: {parent} is not writable", "pass a writable --out")
    return target


def check_plot_path(path: Path, force: bool) -> None:
    """Refuse a ``--plot`` that would replace a file without ``force`` (checked before measuring)."""
    path = Path(path)
    if path.is_dir():
        raise HwnasError(f"--plot {path} is a folder", "pass a file path such as fidelity.png")
    if path.exists() and not force:
        raise HwnasError(f"--plot {path} already exists",
                         "pass --force to replace it, or choose another --plot")
    parent = path.parent if path.parent.exists() else None  # a missing folder is created
    if parent is not None and not os.access(parent, os.W_OK):
        raise HwnasError(f"cannot write --plot {path}: {parent} is not writable", "pass a writable --plot")


def validate_table(table: LatencyTable, space: SearchSpace, profiler, samples: int,
                   rng: np.random.Generator, calibrate: bool = False,
                   archs: list | None = None) -> tuple[Validation, LatencyTable]:
    """Measure ``samples`` random archs (or the given ``archs``) twice; compare prediction and
    repeat. Returns the validation and the table (with a fitted calibration when ``calibrate``)."""
    with process_settings_restored():
        return _validate_table(table, space, profiler, samples, rng, calibrate, archs)


def _validate_table(table: LatencyTable, space: SearchSpace, profiler, samples: int,
                    rng: np.random.Generator, calibrate: bool = False,
                    archs: list | None = None) -> tuple[Validation, LatencyTable]:
    table.check_space(space)
    if table.meta.runtime != profiler.name:
        raise HwnasError(f"table was made on runtime {table.meta.runtime!r}, not {profiler.name!r}",
                         f"validate with --runtime {table.meta.runtime}")
    if archs is not None:
        samples = len(archs)
        if samples < (4 if calibrate else 2):
            raise HwnasError(f"--archs lists {samples} archs, too few to calibrate on half of them",
                             "list at least 4, or drop --calibrate")
    if samples < (4 if calibrate else 2):
        raise HwnasError(f"--samples {samples} is too few", "pass at least 4 (calibration fits on half)")
    table.require(space)
    archs = sample_archs(space, samples, rng) if archs is None else list(archs)
    (measured, repeat), per_arch = measure_archs(space, archs, profiler, rng)
    raw = np.array([table.raw_sum(space, a) for a in archs])
    pred = np.array([table.predict(space, a) for a in archs])
    meas, rep = np.array(measured), np.array(repeat)
    calibrated = None
    if calibrate:
        idx = rng.permutation(len(archs))
        fit_idx, test_idx = idx[: len(idx) // 2], idx[len(idx) // 2:]
        cal = fit_calibration(table, space, [archs[i] for i in fit_idx], meas[fit_idx], rep[fit_idx], rng,
                              "hwnas lut validate --calibrate")
        calibrated_table = replace(table, calibration=cal)
        cal_pred = np.array([calibrated_table.predict(space, a) for a in archs])
        calibrated = {"calibration": cal.to_dict(),
                      "held_out": agreement(cal_pred[test_idx], meas[test_idx]).to_dict(),
                      "uncalibrated_held_out": agreement(pred[test_idx], meas[test_idx]).to_dict(),
                      "repeat_held_out": agreement(rep[test_idx], meas[test_idx]).to_dict()}
        table = calibrated_table
    validation = Validation([str(a) for a in archs], raw.tolist(), pred.tolist(), meas.tolist(),
                            rep.tolist(), agreement(pred, meas), agreement(rep, meas), per_arch,
                            calibrated, table.meta.protocol.get("profile_seconds"))
    return validation, table


def plot_validation(v: Validation, path, title: str = "") -> None:
    """PNG of predicted vs measured (and repeat vs measured), with the +-10 % band."""
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt

    from hwnas.io import write_bytes

    m = np.array(v.measured_ms)
    fig, ax = plt.subplots(figsize=(5, 5))
    lo, hi = float(min(m.min(), min(v.predicted_ms))) * 0.9, float(max(m.max(), max(v.predicted_ms))) * 1.1
    xs = np.linspace(lo, hi, 10)
    ax.plot(xs, xs, "k-", lw=0.8)
    ax.fill_between(xs, xs * 0.9, xs * 1.1, color="0.9", label="±10 %")
    ax.scatter(m, v.predicted_ms, s=14, label=f"table (within 10 %: {v.fidelity.within_10pct:.0%})")
    ax.scatter(m, v.repeat_ms, s=10, marker="x", label=f"repeat (within 10 %: {v.repeat.within_10pct:.0%})")
    ax.set_xlabel("measured end to end (ms)")
    ax.set_ylabel("predicted / repeated (ms)")
    ax.set_title(title or "latency table fidelity")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_bytes(path, buf.getvalue())
