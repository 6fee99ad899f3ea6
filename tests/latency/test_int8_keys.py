"""Op keys carry no dtype; the table's one ``meta.dtype`` does, and it is enforced where entries
could meet another dtype: loading (unknown dtypes refused, aliases normalised), extending a table
(``hwnas profile`` resume), calibrating a copy, and pricing (export, search --accuracy-of int8)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hwnas.errors import TableError
from hwnas.latency import LatencyTable
from hwnas.latency.calibration import Calibration
from hwnas.latency.profile import check_compatible
from hwnas.latency.shipped import load_table
from hwnas.testing import synthetic_table, tiny_space


def int8_table() -> LatencyTable:
    fp32 = synthetic_table(tiny_space())
    return replace(fp32, meta=replace(fp32.meta, dtype="int8"))


def test_loading_normalises_aliases_and_refuses_unknown_dtypes() -> None:
    raw = synthetic_table(tiny_space()).to_dict()
    raw["meta"]["dtype"] = "fp32"
    assert LatencyTable.from_dict(raw).meta.dtype == "float32"  # priced as float32, not as a new type
    raw["meta"]["dtype"] = "int4"
    with pytest.raises(TableError, match="meta.dtype: unknown dtype 'int4'"):
        LatencyTable.from_dict(raw, "t.json")


def test_profile_never_extends_a_table_of_another_dtype(tmp_path) -> None:
    table = int8_table()
    with pytest.raises(TableError, match="made for dtype 'int8', not 'float32'"):
        check_compatible(table, replace(table.meta, dtype="float32"), tmp_path / "t.json")
    check_compatible(table, table.meta, tmp_path / "t.json")  # same dtype: resumed


def test_copies_of_a_table_keep_its_dtype() -> None:
    table = int8_table()
    assert table.with_entries(dict(table.entries)).meta.dtype == "int8"
    calibrated = replace(table, calibration=Calibration.overhead(0.01))
    assert LatencyTable.from_dict(calibrated.to_dict()).meta.dtype == "int8"


def test_the_shipped_int8_table_shares_keys_with_the_fp32_one_but_not_values() -> None:
    int8 = load_table("cpu-1t/onnxruntime-int8-mbconv-small")
    fp32 = load_table("cpu-1t/onnxruntime-mbconv-small")
    assert set(int8.entries) == set(fp32.entries)
    assert (int8.meta.dtype, fp32.meta.dtype) == ("int8", "float32")
    assert any(int8.entries[k].p50 != fp32.entries[k].p50 for k in int8.entries)
