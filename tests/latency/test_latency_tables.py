"""Shipped tables (HW-NAS-Bench conversion checked by hand), loading errors, calibration, the
cost model that prices every arch."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hwnas.errors import HwnasError, TableError
from hwnas.latency import LatencyTable
from hwnas.latency.calibration import Calibration, fit_linear
from hwnas.latency.fidelity import agreement
from hwnas.latency.hwnasbench import convert
from hwnas.latency.shipped import load_table, resolve_table, shipped_names, table_path
from hwnas.space import get_space
from hwnas.testing import synthetic_table, tiny_space

DEVICE_METRICS = [
    ("pixel3", "latency"),
    ("raspi4", "latency"),
    ("edgegpu", "latency"),
    ("edgegpu", "energy"),
    ("eyeriss", "latency"),
    ("eyeriss", "energy"),
    ("fpga", "latency"),
    ("fpga", "energy"),
]


def _hand_sum(raw: dict, metric: str, space_name: str, choices: list[int]) -> float:
    """The HW-NAS-Bench sum written out from its documented layout (not from hwnas code)."""
    cifar = space_name == "fbnet-cifar100"
    res = 32 if cifar else 224
    stem_stride = 1 if cifar else 2
    strides = [1, 1, 2, 2, 1, 2, 1] if cifar else [1, 2, 2, 2, 1, 2, 1]
    channels, per_stage = [16, 24, 32, 64, 112, 184, 352], [1, 4, 4, 4, 4, 4, 1]
    opts = [(1, 3, 1), (1, 3, 2), (3, 3, 1), (6, 3, 1), (1, 5, 1), (1, 5, 2), (3, 5, 1), (6, 5, 1), None]
    t = raw[metric]
    h = res
    total = t[f"ConvNorm_H{h}_W{h}_Cin3_Cout16_kernel3_stride{stem_stride}_group1"]
    h //= stem_stride
    cin, layer = 16, 0
    for stage, (cout, n) in enumerate(zip(channels, per_stage)):
        for i in range(n):
            s = strides[stage] if i == 0 else 1
            o = opts[choices[layer]]
            if o is None:
                total += t[f"Skip_H{h}_W{h}_Cin{cin}_Cout{cout}_stride{s}"]
            else:
                e, k, g = o
                total += t[f"ConvBlock_H{h}_W{h}_Cin{cin}_Cout{cout}_exp{e}_kernel{k}_stride{s}_group{g}"]
            h //= s
            cin, layer = cout, layer + 1
    head = 1504 if cifar else 1984
    total += t[f"ConvNorm_H{h}_W{h}_Cin352_Cout{head}_kernel1_stride1_group1"]
    total += t[f"AvgP_H{h}_W{h}_Cin{head}_Cout{head}_kernel{h}_stride1"]
    total += t[f"FC_Cin{head}_Cout{100 if cifar else 1000}"]
    return total


@pytest.mark.parametrize("space_name", ["fbnet-cifar100", "fbnet-imagenet"])
@pytest.mark.parametrize("device,metric", DEVICE_METRICS)
def test_shipped_hwnasbench_tables_match_hand_sums(
    hwnasbench_lut: Path, space_name: str, device: str, metric: str
) -> None:
    raw = json.loads(hwnasbench_lut.read_text())
    table = load_table(f"{device}/{metric}-{space_name}")
    assert table.meta.metric == metric and table.meta.unit == ("ms" if metric == "latency" else "mJ")
    assert "HW-NAS-Bench" in table.meta.source and "MIT" in table.meta.source
    space = get_space(space_name)
    rng = np.random.default_rng(7)
    for _ in range(5):
        idx = [int(rng.integers(0, 9)) for _ in range(22)]
        arch = space.arch_from_indices(idx)
        assert table.predict(space, arch) == pytest.approx(
            _hand_sum(raw, f"{device}_{metric}", space_name, idx), rel=1e-12
        )


def test_conversion_matches_shipped_file(hwnasbench_lut: Path) -> None:
    raw = hwnasbench_lut
    fresh = convert(raw, "pixel3", "latency", "fbnet-cifar100")
    assert fresh.entries == load_table("pixel3/latency-fbnet-cifar100").entries


def test_shipped_names_resolve_via_package_not_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    names = shipped_names()
    assert "raspi4/latency-fbnet-imagenet" in names and len(names) >= 16
    assert table_path("raspi4/latency-fbnet-imagenet").is_file()
    assert resolve_table("raspi4/latency-fbnet-imagenet.json").name == "latency-fbnet-imagenet.json"
    with pytest.raises(TableError, match="does not exist as a file nor as a shipped"):
        resolve_table("nokia/latency-fbnet")


def test_table_for_other_space_names_both() -> None:
    table = load_table("pixel3/latency-fbnet-cifar100")
    with pytest.raises(TableError) as info:
        table.require(get_space("fbnet-imagenet"))
    assert "fbnet-cifar100" in str(info.value) and "fbnet-imagenet" in str(info.value)


@pytest.fixture(scope="module")
def synth() -> LatencyTable:
    return synthetic_table(tiny_space())


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda d: d["entries"].__setitem__(next(iter(d["entries"])), {"p50": 1.0}),
         r"entries\.\w+ lacks p10, p90, mean, std, n"),
        (lambda d: next(iter(d["entries"].values())).__setitem__("p50", -1.0),
         r"\.p50: -1\.0 is out of range \(must be >= 0"),
        (lambda d: next(iter(d["entries"].values())).__setitem__("p10", float("nan")), "NaN"),
        (lambda d: d["meta"].pop("runtime"), "meta lacks runtime"),
        (lambda d: d.__setitem__("schema_version", 99), "schema_version"),
    ],
)
def test_bad_tables_are_rejected(tmp_path: Path, synth: LatencyTable, mutate, match: str) -> None:
    d = json.loads(json.dumps(synth.to_dict()))
    mutate(d)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(d))
    with pytest.raises(TableError, match=match):
        LatencyTable.load(path)


def test_malformed_json_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"schema_version": 1, "meta": ')
    with pytest.raises(HwnasError):
        LatencyTable.load(path)


def test_overhead_calibration_adds_once(synth: LatencyTable) -> None:
    space = tiny_space()
    arch = space.sample(np.random.default_rng(0))
    raw = synth.raw_sum(space, arch)
    calibrated = replace(synth, calibration=Calibration.overhead(0.25))
    assert calibrated.predict(space, arch) == pytest.approx(raw + 0.25, rel=1e-12)
    assert calibrated.raw_sum(space, arch) == raw  # the fidelity check's uncalibrated sum


@pytest.mark.integration
def test_linear_calibration_recovers_a_known_relation() -> None:
    rng = np.random.default_rng(0)
    raw = rng.uniform(1, 10, 40)
    n_ops = rng.integers(10, 20, 40)
    measured = 1.2 * raw + 0.05 * n_ops + 0.3
    cal = fit_linear(raw, n_ops, measured)
    assert cal.method == "linear" and cal.fitted_on == 40
    assert cal.coef_sum == pytest.approx(1.2, rel=1e-2)
    assert cal.coef_ops == pytest.approx(0.05, rel=5e-2)
    assert Calibration.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal


def test_a_fit_that_prices_below_zero_is_never_chosen(synth: LatencyTable) -> None:
    from hwnas.latency.fidelity import fit_calibration

    space = tiny_space()
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(8)]
    raw = np.array([synth.raw_sum(space, a) for a in archs])
    n_ops = np.array([len(space.ops(a)) for a in archs])
    good = fit_calibration(synth, space, archs, 1.1 * raw + 0.01, None, rng, "test")
    assert good.fitter != "median-ratio" and good.record.n_archs == 8
    assert replace(synth, calibration=good).predict(space, archs[0]) == pytest.approx(1.1 * raw[0] + 0.01,
                                                                                      rel=0.02)
    fastest = synth.cost_model(space).price_range()[0]
    # measured far below the sums by a constant: a line through them prices the fastest arch < 0
    low = raw - (fastest + 0.5 * (raw.min() - fastest)) - 0.0 * n_ops
    with pytest.raises(TableError, match="prices the fastest arch"):
        replace(synth, calibration=fit_linear(raw, n_ops, low)).cost_model(space)
    cal = fit_calibration(synth, space, archs, low, None, rng, "test")
    assert replace(synth, calibration=cal).cost_model(space).price_range()[0] > 0


def test_a_falling_fit_is_refit_rising_or_scales_the_table() -> None:
    """Noise on a few archs can fit a negative slope, which a table may not carry (refused at load)."""
    rng = np.random.default_rng(33)  # a seed where the robust fit's slope comes out negative
    raw = rng.uniform(1, 10, 6)
    n_ops = np.round(2 * raw + rng.normal(0, 0.5, 6))  # op count tracks the sum: collinear
    measured = raw + rng.normal(0, 1.0, 6)
    cal = fit_linear(raw, n_ops, measured)
    assert cal.coef_sum > 0 and cal.coef_ops >= 0 and cal.fitter == "LinearRegression"
    flat = fit_linear(raw, np.full(6, 12), 5.0 - 0.1 * raw)  # falls with the sum: no slope to keep
    assert (flat.coef_ops, flat.intercept_ms, flat.fitter) == (0.0, 0.0, "median-ratio")
    assert flat.coef_sum == pytest.approx(float(np.median((5.0 - 0.1 * raw) / raw)))


LINEAR = {"method": "linear", "coef_sum": 0.9, "coef_ops": 0.004, "intercept_ms": 0.05,
          "fitted_on": 20, "features": ["raw_sum_ms", "n_ops"], "fitter": "HuberRegressor"}


@pytest.mark.parametrize("calibration,match", [
    ({k: v for k, v in LINEAR.items() if k != "coef_ops"}, "linear calibration lacks 'coef_ops'"),
    ({k: v for k, v in LINEAR.items() if k != "intercept_ms"}, "lacks 'intercept_ms'"),
    ({"method": "overhead"}, "overhead calibration lacks 'offset_ms'"),
    ({**LINEAR, "coef_ops": "0.1"}, "'coef_ops' is '0.1', not a finite number"),
    ({"method": "overhead", "offset_ms": True}, "'offset_ms' is True"),
    ({**LINEAR, "fitted_on": 2.5}, "'fitted_on' is 2.5"),
    ({**LINEAR, "slope": 1.0}, "unknown field.*slope"),
    ({"method": "magic"}, "unknown calibration method 'magic'"),
    ({}, "unknown calibration method None"),
    ([1, 2], "calibration must be an object or null"),
])
def test_bad_calibrations_are_rejected_naming_the_field(tmp_path: Path, synth: LatencyTable,
                                                        calibration, match: str) -> None:
    d = synth.to_dict()
    d["calibration"] = calibration
    path = tmp_path / "t.json"
    path.write_text(json.dumps(d))  # NaN / Infinity are written as JSON's extensions
    with pytest.raises(TableError, match=match) as info:
        LatencyTable.load(path)
    assert str(path) in info.value.message and "hwnas lut validate TABLE --calibrate" in info.value.fix
    assert "writes a calibrated copy" in info.value.fix  # shipped tables stay read-only


@pytest.mark.parametrize("calibration,match", [
    ({**LINEAR, "coef_sum": float("nan")}, "'coef_sum' is nan, not a finite number"),
    ({**LINEAR, "intercept_ms": float("inf")}, "'intercept_ms' is inf, not a finite number"),
])
def test_non_finite_calibrations_are_rejected(tmp_path: Path, synth: LatencyTable, calibration,
                                              match: str) -> None:
    d = synth.to_dict()
    d["calibration"] = calibration
    with pytest.raises(TableError, match=match):  # built in memory
        LatencyTable.from_dict(d, "t")
    path = tmp_path / "t.json"
    path.write_text(json.dumps(d))  # NaN / Infinity are JSON extensions: refused when read
    with pytest.raises(TableError, match="is not a number JSON allows"):
        LatencyTable.load(path)


@pytest.mark.parametrize("calibration", [None, {"method": "overhead", "offset_ms": 0.031}, LINEAR,
                                         {k: LINEAR[k] for k in ("method", "coef_sum", "coef_ops",
                                                                 "intercept_ms")}])
def test_calibration_is_written_back_in_the_same_json_shape(tmp_path: Path, synth: LatencyTable,
                                                            calibration) -> None:
    d = synth.to_dict()
    d["calibration"] = calibration
    table = LatencyTable.from_dict(json.loads(json.dumps(d)))
    assert table.calibration is None or isinstance(table.calibration, Calibration)
    table.save(tmp_path / "t.json")
    assert json.loads((tmp_path / "t.json").read_text())["calibration"] == calibration


def _old_prediction(table: LatencyTable, space, arch) -> float:
    """The prediction as hwnas computed it before the cost model: the p50 sum over the arch's
    ops, then the calibration's formula on that sum (written out here, not from hwnas code)."""
    ops = space.ops(arch)
    raw = sum(table.entries[op.key].p50 for op in ops)
    cal = table.to_dict()["calibration"]
    if cal is None:
        return raw
    if cal["method"] == "overhead":
        return raw + cal["offset_ms"]
    return cal["coef_sum"] * raw + cal["coef_ops"] * len(ops) + cal["intercept_ms"]


@pytest.mark.parametrize("name", shipped_names())
def test_cost_model_prices_every_shipped_table_as_before(name: str) -> None:
    table = load_table(name)
    space = get_space(table.meta.space)
    path = table_path(name)
    assert table.to_dict()["calibration"] == json.loads(path.read_text())["calibration"]
    cost = table.cost_model(space)
    assert cost.unit == table.meta.unit and table.cost_model(space) is cost  # cached per space
    rng = np.random.default_rng(3)
    rows = np.array([space.indices(space.sample(rng)) for _ in range(25)])
    batch = cost.price_rows(rows)
    for row, priced in zip(rows, batch):
        arch = space.arch_from_indices(row)
        want = _old_prediction(table, space, arch)
        assert table.predict(space, arch) == pytest.approx(want, rel=1e-12, abs=1e-12)
        assert priced == pytest.approx(want, rel=1e-12, abs=1e-12)
        assert cost.price(arch) == table.predict(space, arch)


@pytest.mark.parametrize("calibration", [
    None,
    Calibration.overhead(0.02),
    # a negative per-op term larger than any op's p50: a zero op becomes the dearest choice, so
    # the raw table's cheapest choices are not the calibrated fastest arch
    Calibration.linear(0.9, -0.03, 0.5),
])
@pytest.mark.integration
def test_fastest_and_slowest_arch_equal_brute_force(synth: LatencyTable, calibration) -> None:
    space = tiny_space()
    table = replace(synth, calibration=calibration)
    cost = table.cost_model(space)
    every = np.array(list(itertools.product(*(range(len(c)) for c in space.choices()))))
    prices = np.array([_old_prediction(table, space, space.arch_from_indices(r)) for r in every])
    fastest, slowest = cost.fastest_arch(), cost.slowest_arch()
    assert table.predict(space, fastest) == pytest.approx(prices.min(), rel=1e-12)
    assert table.predict(space, slowest) == pytest.approx(prices.max(), rel=1e-12)
    assert cost.price_range() == (cost.price(fastest), cost.price(slowest))
    np.testing.assert_allclose(cost.price_rows(every), prices, rtol=1e-12)


def test_cost_model_refuses_an_incomplete_table_and_a_wrong_shape(synth: LatencyTable) -> None:
    from hwnas.latency.cost import CostModel

    space = tiny_space()
    key = next(iter(synth.entries))
    partial = synth.with_entries({k: v for k, v in synth.entries.items() if k != key})
    with pytest.raises(TableError, match=f"table lacks 1 op.*{key}"):
        partial.cost_model(space)
    sizes = [len(c) for c in space.choices()]
    with pytest.raises(TableError, match="choice costs per position"):
        CostModel(space, tuple(np.zeros(n + 1) for n in sizes), 0.0)
    with pytest.raises(TableError, match="non-finite"):
        CostModel(space, tuple(np.zeros(n) for n in sizes), math.nan)


def test_agreement_figures() -> None:
    m = np.array([1.0, 2.0, 3.0, 4.0])
    a = agreement(m * np.array([1.0, 1.07, 1.2, 0.99]), m)
    assert a.within_10pct == 0.75 and a.within_5pct == 0.5
    assert a.kendall_tau == pytest.approx(1.0) and a.n == 4
    assert a.mape == pytest.approx((0 + 7 + 20 + 1) / 4)


@pytest.mark.integration
@pytest.mark.parametrize("space_name", ["tiny", "fbnet-cifar100"])
def test_in_context_sandwiches_run_for_every_op_kind(space_name: str) -> None:
    import torch

    from hwnas.latency.context import sandwich
    from hwnas.nn.ops import build_op

    space = tiny_space() if space_name == "tiny" else get_space(space_name)
    kinds = {}
    for op in space.all_ops():
        kinds.setdefault((op.kind, op.in_shape == op.out_shape), op)
    for op in kinds.values():
        with_op, bare, key = sandwich(build_op(op, "relu6"), tuple(op.in_shape))
        x = torch.zeros(1, *op.in_shape)
        with torch.inference_mode():
            a, b = with_op(x), bare(x)
        assert a.shape == b.shape, op.key  # the pair ends where the op's carrier ends
        assert key[0] == tuple(op.in_shape)


def test_carriers_cost_little_next_to_the_op_at_any_width() -> None:
    """A carrier's cost grows with C, not C^2: at 7x7x1280 a dense 1x1 carrier cost 4x the head
    conv it bracketed, and the head conv's in-context entry drowned in the carriers' noise."""
    from hwnas.latency.context import sandwich
    from hwnas.nn.builder import count_macs
    from hwnas.nn.ops import build_op
    from hwnas.space.arch import OpSpec

    head = OpSpec("ConvNorm", (320, 7, 7), (("Cout", 1280), ("kernel", 1), ("stride", 1), ("group", 1)))
    op = build_op(head, "relu6")
    with_op, bare, _ = sandwich(op, head.in_shape)
    carriers = count_macs(bare, head.in_shape)
    op_macs = count_macs(op, head.in_shape)
    assert count_macs(with_op, head.in_shape) - carriers == pytest.approx(op_macs, rel=0.01)
    assert carriers < 0.01 * op_macs


def test_a_table_profiled_with_the_old_dense_carriers_is_not_resumed(synth: LatencyTable, tmp_path) -> None:
    from hwnas.latency.profile import check_compatible

    old = replace(synth, meta=replace(synth.meta, protocol={"in_context": True, "runs": 50}))
    wanted = replace(synth.meta, protocol={"in_context": True, "runs": 50, "carrier": "depthwise"})
    with pytest.raises(TableError, match="protocol carrier='dense', not 'depthwise'") as info:
        check_compatible(old, wanted, tmp_path / "t.json")
    assert "--force" in info.value.fix
