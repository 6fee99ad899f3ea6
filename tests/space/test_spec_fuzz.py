"""Mutated space spec files (JSON and TOML): only ``SpaceError`` escapes ``get_space``, and every
spec that loads builds a space whose ops and archs are consistent."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwnas.errors import SpaceError
from hwnas.space.spec import load_spec
from hwnas.testing.fuzz import json_paths

GOOD = {"name": "tiny", "resolution": 16, "num_classes": 4, "stem_channels": 8, "stem_stride": 1,
        "first_block_channels": 0, "head_channels": 32, "stages": [[8, 2, 1], [16, 2, 2]],
        "kernels": [3, 5], "expands": [2, 4], "allow_zero": True, "activation": "relu"}
# no subnormal draws: an earlier test in the process may leave the FPU flushing them to zero
# (onnxruntime's denormal-as-zero), and hypothesis then refuses to draw them
NUMBERS = st.one_of(st.integers(-5, 40), st.integers(min_value=10**6, max_value=10**40),
                    st.floats(allow_nan=True, allow_infinity=True,
              allow_subnormal=False), st.sampled_from([0, 1, 2, 3, -1]))
VALUES = st.recursive(st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=6)),
                      lambda inner: st.lists(inner, max_size=4), max_leaves=8)


PATHS = [p for p in json_paths(GOOD) if p]


@st.composite
def mutated_spec(draw) -> dict:
    doc = copy.deepcopy(GOOD)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = doc
        try:
            for part in path[:-1]:
                parent = parent[part]
            holder = parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or retyped this path
        if not isinstance(parent, (dict, list)):
            continue
        action = draw(st.sampled_from(["drop", "replace", "number", "retype", "extra"]))
        if action == "drop":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = draw(VALUES)
        elif action == "number":
            parent[path[-1]] = draw(NUMBERS)
        elif action == "retype":
            parent[path[-1]] = draw(st.sampled_from([str(holder), [holder], holder is True, 1.0 * 3]))
        elif isinstance(parent, list):
            parent.append(draw(NUMBERS))
        else:
            doc[draw(st.text(min_size=1, max_size=8))] = draw(VALUES)
    return doc


def _toml_value(value) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return json.dumps(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) \
            else repr(value)
    if isinstance(value, list):
        parts = [_toml_value(v) for v in value]
        return None if None in parts else "[" + ", ".join(parts) + "]"
    return None  # TOML has no null: such a spec is written as JSON


def _write(tmp: Path, doc: dict, as_toml: bool) -> Path:
    if as_toml:
        lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in doc.items()]
        if all(_toml_value(v) is not None for v in doc.values()):
            path = tmp / "spec.toml"
            path.write_text("\n".join(lines) + "\n")
            return path
    path = tmp / "spec.json"
    path.write_text(json.dumps(doc))
    return path


def _check(tmp: Path, doc: dict, as_toml: bool) -> None:
    path = _write(tmp, doc, as_toml)
    try:
        space = load_spec(path)
    except SpaceError as exc:
        assert "\n" not in exc.message and str(path) in exc.message
        return
    cfg = space.config
    for field in ("resolution", "num_classes", "stem_channels", "stem_stride", "first_block_channels",
                  "head_channels", "allow_zero", "activation"):
        if field in doc:  # strict: what loads is exactly what the file says, not a coerced value
            assert type(doc[field]) is type(getattr(cfg, field)) and doc[field] == getattr(cfg, field)
    for field in ("kernels", "expands"):
        if field in doc:
            assert [type(v) for v in doc[field]] == [int] * len(doc[field])
    assert doc["stages"] == [[s_.channels, s_.layers, s_.stride] for s_ in cfg.stages]
    assert all(type(v) is int for row in doc["stages"] for v in row)
    assert all(type(v) is int and v > 0 for v in (cfg.resolution, cfg.num_classes, cfg.stem_channels,
                                                    cfg.head_channels))
    assert all(k % 2 == 1 for k in cfg.kernels) and all(st_.stride in (1, 2) for st_ in cfg.stages)
    arch = space.sample(np.random.default_rng(0))
    assert space.parse(str(arch)) == arch and space.ops(arch)


@settings(derandomize=True, max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(doc=mutated_spec(), as_toml=st.booleans())
def test_mutated_specs(tmp_path: Path, doc: dict, as_toml: bool) -> None:
    _check(tmp_path, doc, as_toml)


@pytest.mark.slow
@settings(derandomize=True, max_examples=10_000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(doc=mutated_spec(), as_toml=st.booleans())
def test_mutated_specs_slow(tmp_path: Path, doc: dict, as_toml: bool) -> None:
    _check(tmp_path, doc, as_toml)


def test_deeply_nested_spec_is_refused(tmp_path: Path) -> None:
    for name, text in (("deep.json", "[" * 100_000 + "]" * 100_000),
                       ("deep.toml", "a = " + "[" * 100_000 + "]" * 100_000)):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(SpaceError, match=name):
            load_spec(path)
