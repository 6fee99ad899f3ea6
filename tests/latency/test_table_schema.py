"""The table cases of issue 13: each bad table is one line naming the file, the field and the fix,
exit code 2 at the CLI, and the file is left as it was."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.errors import TableError
from hwnas.latency import LatencyTable
from hwnas.latency.calibration import Calibration
from hwnas.latency.profile import check_resume

SHIPPED = Path(__file__).resolve().parents[2] / "latency_tables" / "cpu-1t" / "onnxruntime-mbconv-small.json"
ARCH = "k7e6-k7e3-k5e6-k3e6-k5e3-k3e3-k3e3-k3e3-k3e6-k7e6-k7e3-k7e6-k5e6"
runner = CliRunner()


def _first_entry(d: dict) -> dict:
    return d["entries"][sorted(d["entries"])[0]]


def _set_n(value):
    return lambda d: _first_entry(d).__setitem__("n", value)


# (mutation of the shipped table as text or dict, pattern the one line must match)
CASES = {
    "n is a string": (_set_n("abc"), r'entries\.\w+\.n: "abc" is a string, not an integer'),
    "n is null": (_set_n(None), r"entries\.\w+\.n is null, not an integer"),
    "p50 is null": (lambda d: _first_entry(d).__setitem__("p50", None), r"\.p50 is null, not a number"),
    "p50 beyond a float": ('"p50": 1e999', r"number 1e999 is out of range"),
    "huge integer p50": (lambda d: _first_entry(d).__setitem__("p50", 10**400), r"\.p50: .* too large"),
    "deep nesting": ("[" * 100_000 + "]" * 100_000, r"nests deeper than 64 levels"),
    "resolution as text": (lambda d: d["meta"].__setitem__("resolution", "32"),
                           r'meta\.resolution: "32" is a string, not an integer'),
    "linear without coefficients": (lambda d: d.__setitem__("calibration", {"method": "linear"}),
                                    r"linear calibration lacks 'coef_sum'"),
    "NaN offset": ('"intercept_ms": NaN', r"NaN is not a number JSON allows"),
    "protocol is a list": (lambda d: d["meta"].__setitem__("protocol", []),
                           r"meta\.protocol: \[\] is a list, not an object"),
    "protocol seconds as text": (lambda d: d["meta"]["protocol"].__setitem__("profile_seconds", "9s"),
                                 r'meta\.protocol\.profile_seconds: "9s" is a string, not a number'),
}


def _write_bad(tmp_path: Path, mutation) -> Path:
    text = SHIPPED.read_text()
    if callable(mutation):
        d = json.loads(text)
        mutation(d)
        text = json.dumps(d)
    elif mutation.startswith("["):
        text = mutation
    else:  # replace the first value of that field
        key = mutation.split(":")[0]
        start = text.index(key)
        end = min(text.index(",", start), text.index("}", start))
        text = text[:start] + mutation + text[end:]
    path = tmp_path / "bad.json"
    path.write_text(text)
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_table_is_one_typed_line(tmp_path: Path, case: str) -> None:
    mutation, pattern = CASES[case]
    path = _write_bad(tmp_path, mutation)
    with pytest.raises(TableError, match=pattern) as info:
        LatencyTable.load(path)
    assert str(path) in info.value.message and info.value.fix
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("case", ["n is a string", "deep nesting", "linear without coefficients",
                                  "protocol is a list"])
def test_bad_table_at_the_cli_exits_2_in_one_line_and_is_untouched(tmp_path: Path, case: str) -> None:
    path = _write_bad(tmp_path, CASES[case][0])
    before = _digest(path)
    result = runner.invoke(app, ["lut", "predict", str(path), ARCH])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert "Traceback" not in result.output and len(lines) <= 3  # rich may wrap one long line
    assert _digest(path) == before


def test_protocol_list_is_refused_on_profile_resume(tmp_path: Path) -> None:
    path = _write_bad(tmp_path, CASES["protocol is a list"][0])
    before = _digest(path)
    with pytest.raises(TableError, match=r"meta\.protocol: \[\] is a list"):
        check_resume(None, None, path, "here")  # the table is read before anything else
    assert _digest(path) == before


@pytest.mark.parametrize("intercept_ms", [-100.0, -1e6])
def test_intercept_that_makes_a_price_negative_is_refused_naming_the_calibration(intercept_ms: float) -> None:
    from hwnas.space import get_space

    table = LatencyTable.load(SHIPPED)
    bad = LatencyTable(table.meta, table.entries, Calibration.linear(1.0, 0.0, intercept_ms))
    space = get_space("mbconv-small")
    with pytest.raises(TableError, match=r"linear calibration .*intercept_ms.* prices the fastest arch "
                                         r"of space mbconv-small at -\d") as info:
        bad.predict(space, space.parse(ARCH))
    assert "writes a calibrated copy" in info.value.fix


def test_negative_intercept_within_reason_is_fine() -> None:
    from hwnas.space import get_space

    table = LatencyTable.load(SHIPPED)
    space = get_space("mbconv-small")
    fastest = table.cost_model(space).price_range()[0]
    ok = LatencyTable(table.meta, table.entries, Calibration.linear(1.0, 0.0, -fastest / 2))
    assert ok.cost_model(space).price_range()[0] > 0


@pytest.mark.parametrize("calibration,message", [
    ({"method": "overhead", "offset_ms": -100},
     "offset_ms is -100.0: a per-call overhead cannot be negative"),
    ({"method": "overhead", "offset_ms": -0.001},
     "offset_ms is -0.001: a per-call overhead cannot be negative"),
    ({"method": "linear", "coef_sum": -0.5, "coef_ops": 0.0, "intercept_ms": 0.1},
     "coef_sum is -0.5: the slope on the table's sum must be positive"),
    ({"method": "linear", "coef_sum": 0, "coef_ops": 0.0, "intercept_ms": 0.1},
     "coef_sum is 0.0: the slope on the table's sum must be positive"),
])
def test_negative_offset_or_slope_is_refused_at_load_in_one_line(tmp_path: Path, calibration: dict,
                                                                  message: str) -> None:
    path = _write_bad(tmp_path, lambda d: d.__setitem__("calibration", calibration))
    before = _digest(path)
    with pytest.raises(TableError, match=re.escape(message)):
        LatencyTable.load(path)  # at load, before any space or arch is priced
    result = runner.invoke(app, ["lut", "show", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and message in result.output.replace("\n", "")
    assert "writes a calibrated copy" in result.output
    assert _digest(path) == before
