"""Mutated latency tables: only ``TableError`` escapes loading, and every table that loads prices
random archs at finite, non-negative latencies (positive where the raw sum is) or is refused with
``TableError`` when priced."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwnas.errors import TableError
from hwnas.io import loads_json
from hwnas.latency import LatencyTable
from hwnas.space import get_space
from hwnas.testing.fuzz import json_paths

SHIPPED = Path(__file__).resolve().parents[2] / "latency_tables" / "cpu-1t" / "onnxruntime-mbconv-small.json"
BASE = json.loads(SHIPPED.read_text())
SPACE = get_space("mbconv-small")
ARCHS = [SPACE.sample(np.random.default_rng(seed)) for seed in range(4)]

# no subnormal draws: an earlier test in the process may leave the FPU flushing them to zero
# (onnxruntime's denormal-as-zero), and hypothesis then refuses to draw them
NUMBERS = st.one_of(
    st.integers(-10**6, 10**6), st.integers(min_value=10**18, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True,
              allow_subnormal=False), st.sampled_from([0, -0.0, 1e-320, 1e308, -100.0]))
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner,
                                                                         max_size=3)),
    max_leaves=6,
)


ALL_PATHS = list(json_paths(BASE))
ENTRY_FIELDS = [p for p in ALL_PATHS if len(p) == 3 and p[0] == "entries"]


@st.composite
def mutated_table(draw) -> str:
    """The shipped table as JSON text, after one to three mutations at random paths."""
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(ALL_PATHS) | st.sampled_from(ENTRY_FIELDS))  # stats often
        parent, holder = None, doc
        try:
            for part in path:
                parent, holder = holder, holder[part]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or retyped this path
        action = draw(st.sampled_from(["drop", "replace", "retype", "nest", "rename", "number"]))
        key = path[-1] if path else None
        if parent is None:
            if action in ("replace", "retype"):
                doc = draw(JSON_VALUES) if action == "replace" else json.dumps(doc)[:50]
            continue
        if action == "drop":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(JSON_VALUES)
        elif action == "number":
            parent[key] = draw(NUMBERS)
        elif action == "retype":  # "3" for 3, [3] for 3, 3 for "3"
            parent[key] = draw(st.sampled_from([str(holder), [holder], {"v": holder}, True]))
        elif action == "nest":
            parent[key] = _nested(holder, draw(st.integers(1, 80)))
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = parent.pop(key)
    text = json.dumps(doc)  # NaN / Infinity become JSON's extensions, which the reader refuses
    if draw(st.booleans()) and draw(st.integers(0, 9)) == 0:  # now and then, damage the text itself
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(["", "[" * 100_000, "}", "\x00", "1e999"])) + text[cut:]
    return text


def _nested(value, depth: int):
    for _ in range(depth):
        value = [value]
    return value


def _check(text: str) -> str:
    """``"refused"``, ``"accepted"``; raises on an untyped error or an invalid accepted table."""
    try:
        table = LatencyTable.from_dict(loads_json(text, "latency table fuzz.json", TableError),
                                       "fuzz.json")
    except TableError as exc:
        assert "\n" not in exc.message
        return "refused"
    _assert_valid(table)
    for arch in ARCHS:
        try:
            price = table.predict(SPACE, arch)
            raw = table.raw_sum(SPACE, arch)
        except TableError:
            continue
        assert math.isfinite(price) and price >= 0, f"accepted table predicts {price}"
        assert price > 0 or raw == 0, f"accepted table predicts {price} for a raw sum of {raw}"
    return "accepted"


def _assert_valid(table: LatencyTable) -> None:
    """What a table that loads must hold, checked independently of the schema."""
    for key, stats in table.entries.items():
        values = (stats.p50, stats.p10, stats.p90, stats.mean, stats.std)
        assert all(type(v) is float and math.isfinite(v) and v >= 0 for v in values), (key, stats)
        assert type(stats.n) is int and stats.n >= 0, (key, stats)
    meta = table.meta
    assert type(meta.resolution) is int and meta.resolution > 0
    assert all(type(getattr(meta, f)) is int and getattr(meta, f) > 0 for f in ("threads", "batch"))
    assert all(isinstance(getattr(meta, f), str) for f in ("device_name", "runtime", "space", "unit"))
    assert isinstance(meta.protocol, dict)
    for f in ("profile_seconds", "call_overhead_ms"):
        if f in meta.protocol:
            v = meta.protocol[f]
            assert type(v) is float and math.isfinite(v) and v >= 0, (f, v)
    cal = table.calibration
    if cal is not None:
        assert all(math.isfinite(v) for v in (cal.coef_sum, cal.coef_ops, cal.intercept_ms))


def test_the_base_table_is_accepted_and_prices_positively() -> None:
    assert _check(json.dumps(BASE)) == "accepted"
    assert all(LatencyTable.from_dict(BASE).predict(SPACE, a) > 0 for a in ARCHS)


@settings(derandomize=True, max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=mutated_table())
def test_mutated_tables(text: str) -> None:
    _check(text)


@pytest.mark.slow
@settings(derandomize=True, max_examples=12_000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=mutated_table())
def test_mutated_tables_slow(text: str) -> None:
    _check(text)
