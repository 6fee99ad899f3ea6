"""A table's dtype: old tables read as float32, and one dtype never prices another."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hwnas.errors import TableError
from hwnas.latency import LatencyTable
from hwnas.latency.table import DtypeMismatchError, normalize_dtype
from hwnas.testing import synthetic_table, tiny_space


def test_a_table_without_dtype_loads_as_float32(tmp_path) -> None:
    raw = synthetic_table(tiny_space()).to_dict()
    del raw["meta"]["dtype"]
    table = LatencyTable.from_dict(raw)
    assert table.meta.dtype == "float32"
    table.require_dtype("fp32")  # the alias is the same type


def test_an_fp32_table_refuses_to_price_int8_and_back() -> None:
    fp32 = synthetic_table(tiny_space())
    with pytest.raises(DtypeMismatchError) as exc:
        fp32.require_dtype("int8", "t.json")
    assert "t.json was timed in float32, but a int8 model is being priced" in str(exc.value)
    assert "\n" not in str(exc.value)
    int8 = replace(fp32, meta=replace(fp32.meta, dtype="int8"))
    int8.require_dtype("int8")
    with pytest.raises(DtypeMismatchError):
        int8.require_dtype("float32")
    assert LatencyTable.from_dict(int8.to_dict()).meta.dtype == "int8"  # round trip


def test_unknown_dtype_is_refused() -> None:
    assert normalize_dtype("FP32") == "float32"
    with pytest.raises(TableError, match="unknown dtype 'bf16'"):
        normalize_dtype("bf16")
