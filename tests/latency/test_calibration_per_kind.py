"""The per-op-kind correction: fitted, chosen by held-out error, exact and additive in the price."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from hwnas.errors import TableError
from hwnas.latency.calfit import design, fit_per_kind, predict, select_calibration
from hwnas.latency.calibration import Calibration, CalibrationRecord, op_group
from hwnas.latency.table import LatencyTable
from hwnas.search.gradient.objective import expected_latency
from hwnas.testing import synthetic_table, tiny_space

# what a network "really" costs per group: 5x5 kernels miss twice as much as 3x3 ones
TRUE = {"MBConv_k3": 1.15, "MBConv_k5": 1.45}


@pytest.fixture(scope="module")
def synth() -> LatencyTable:
    return synthetic_table(tiny_space())


def _measured(table: LatencyTable, space, archs, noise: float, rng) -> np.ndarray:
    out = []
    for a in archs:
        ops = space.ops(a)
        out.append(sum(table.value(op) * TRUE.get(op_group(op), 1.0) for op in ops) + 0.002 * len(ops) + 0.05)
    return np.array(out) * (1 + rng.normal(0, noise, len(out)))


def test_per_kind_recovers_per_group_multipliers(synth: LatencyTable) -> None:
    space, rng = tiny_space(), np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(60)]
    d = design({k: v.p50 for k, v in synth.entries.items()}, space, archs)
    cal = fit_per_kind(d, _measured(synth, space, archs, 0.0, rng), alpha=1e-4)
    factors = dict(cal.multipliers)
    assert factors["MBConv_k3"] == pytest.approx(1.15, rel=0.03)
    assert factors["MBConv_k5"] == pytest.approx(1.45, rel=0.03)
    assert all(v >= 0 for v in factors.values())


def test_ridge_pulls_multipliers_toward_the_raw_table(synth: LatencyTable) -> None:
    space, rng = tiny_space(), np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(12)]
    d = design({k: v.p50 for k, v in synth.entries.items()}, space, archs)
    y = _measured(synth, space, archs, 0.0, rng)
    loose, tight = fit_per_kind(d, y, 1e-4), fit_per_kind(d, y, 1e4)
    k5 = lambda c: dict(c.multipliers)["MBConv_k5"]  # noqa: E731
    assert abs(k5(tight) - 1.0) < 0.05 < abs(k5(loose) - 1.0)


def test_selection_prefers_per_kind_when_the_op_mix_matters(synth: LatencyTable) -> None:
    space, rng = tiny_space(), np.random.default_rng(2)
    archs = [space.sample(rng) for _ in range(30)]
    d = design({k: v.p50 for k, v in synth.entries.items()}, space, archs)
    y = _measured(synth, space, archs, 0.01, rng)
    rep = y * (1 + rng.normal(0, 0.01, len(y)))
    cal = select_calibration(d, y, rep, np.random.default_rng(0), source="test")
    assert cal.method == "per_kind", cal.record.selection
    record = cal.record
    assert record.n_archs == 30 and record.source == "test"
    errors = dict(record.selection)
    assert min(v for k, v in errors.items() if k.startswith("per_kind")) < errors["linear"]
    assert record.held_out_within_10pct >= 0.9 and record.repeat_within_10pct == 1.0


def test_selection_keeps_the_linear_model_when_one_slope_explains_everything(synth: LatencyTable) -> None:
    space, rng = tiny_space(), np.random.default_rng(3)
    archs = [space.sample(rng) for _ in range(30)]
    d = design({k: v.p50 for k, v in synth.entries.items()}, space, archs)
    y = 1.3 * d.raw_ms + 0.02  # one slope: the per-group terms only add variance
    cal = select_calibration(d, y, None, np.random.default_rng(0))
    errors = dict(cal.record.selection)
    assert errors[min(errors, key=errors.get)] == pytest.approx(min(errors.values()))
    assert np.allclose(predict(cal, d), y, rtol=0.01)


def test_corrected_choice_costs_add_up_to_the_corrected_price(synth: LatencyTable) -> None:
    """The gradient search sums per-choice costs: they must be the corrected ones, exactly."""
    space = tiny_space()
    cal = Calibration.per_kind({"MBConv_k3": 1.2, "MBConv_k5": 1.7, "FC": 0.5}, 0.003, 0.04)
    table = replace(synth, calibration=cal)
    cost = table.cost_model(space)
    rng = np.random.default_rng(4)
    for _ in range(20):
        arch = space.sample(rng)
        idx = space.indices(arch)
        ops = space.ops(arch)
        by_hand = sum(synth.value(op) * cal.multiplier(op) for op in ops) + 0.003 * len(ops) + 0.04
        per_choice = cost.fixed + sum(cost.costs[p][j] for p, j in enumerate(idx))
        assert per_choice == pytest.approx(by_hand, rel=1e-12)
        assert table.predict(space, arch) == pytest.approx(by_hand, rel=1e-12)
        one_hot = [torch.nn.functional.one_hot(torch.tensor(j), len(c)).double()
                   for j, c in zip(idx, cost.costs)]
        assert float(expected_latency(cost, one_hot)) == pytest.approx(by_hand, rel=1e-12)
    # and it is not the raw price: the correction is really folded in
    arch = space.sample(rng)
    assert table.predict(space, arch) != pytest.approx(synth.predict(space, arch), rel=1e-3)


def test_per_kind_round_trips_through_a_saved_table(synth: LatencyTable, tmp_path: Path) -> None:
    record = CalibrationRecord(20, 0.95, 0.9, 1.0, float("nan"),
                               (("linear", 4.2), ("per_kind(alpha=0.3)", 2.1)), "hwnas profile")
    cal = Calibration.per_kind({"MBConv_k3": 1.2, "MBConv_k5": 1.7}, 0.003, 0.04, 20, "lsq_linear", record)
    replace(synth, calibration=cal).save(tmp_path / "t.json")
    raw = json.loads((tmp_path / "t.json").read_text())
    assert raw["calibration"]["version"] == 1 and raw["calibration"]["record"]["repeat_kendall_tau"] is None
    back = LatencyTable.load(tmp_path / "t.json").calibration
    assert back.multipliers == cal.multipliers and back.record.n_archs == 20
    assert back.record.selection == record.selection and np.isnan(back.record.repeat_kendall_tau)


@pytest.mark.parametrize("change,message", [
    (lambda c: c["multipliers"].__setitem__("MBConv_k3", -0.5), "multiplier of MBConv_k3 is -0.5"),
    (lambda c: c.__setitem__("version", 9), "per_kind calibration version is 9"),
    (lambda c: c.__setitem__("multipliers", {}), "'multipliers' is {}"),
    (lambda c: c.__setitem__("slope", 1), "unknown field(s) slope"),
    (lambda c: c.__setitem__("record", {"n_archs": "many"}), "calibration record"),
])
def test_a_bad_per_kind_calibration_is_refused_naming_the_field(synth: LatencyTable, tmp_path: Path,
                                                                change, message: str) -> None:
    cal = Calibration.per_kind({"MBConv_k3": 1.2}, 0.0, 0.04)
    raw = replace(synth, calibration=cal).to_dict()
    change(raw["calibration"])
    with pytest.raises(TableError) as info:
        LatencyTable.from_dict(raw, "t.json")
    assert message in info.value.message and "recalibrate" in info.value.fix
