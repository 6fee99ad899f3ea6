"""Spec file cases of issue 13: wrong types and ranges are one ``SpaceError`` line naming the file,
the field path and the fix; exit code 2 at the CLI; the file is left as it was."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.errors import SpaceError
from hwnas.space import get_space

runner = CliRunner()
GOOD = {"name": "tiny", "resolution": 16, "num_classes": 4, "stem_channels": 8, "stem_stride": 1,
        "first_block_channels": 0, "head_channels": 32, "stages": [[8, 2, 1], [16, 2, 2]],
        "kernels": [3, 5], "expands": [2, 4]}

CASES = [
    ({"kernels": ["3"]}, r'kernels\[0\]: "3" is a string, not an integer'),
    ({"resolution": "32"}, r'resolution: "32" is a string, not an integer'),
    ({"resolution": 32.0}, r"resolution: 32\.0 is a number, not an integer"),
    ({"allow_zero": 1}, r"allow_zero: 1 is an integer, not true or false"),
    ({"stages": [[8, 2, 1], [16, 2, 3]]}, r"stages\[1\]\[2\]: 3 is not a stride: use 1 or 2"),
    ({"stages": [[8, 2, 1], [16, 2]]}, r"stages\[1\]\[2\] is missing"),
    ({"stages": [[8, 2, 1], [16, True, 2]]}, r"stages\[1\]\[1\]: true is true or false, not an integer"),
    ({"stages": []}, r"stages has 0 items"),
    ({"kernels": [4]}, r"kernels\[0\]: 4 is not an odd kernel size"),
    ({"kernels": [3, 3]}, r"kernels: \[3, 3\] repeats a value"),
    ({"expands": [0]}, r"expands\[0\]: 0 is out of range \(must be > 0\)"),
    ({"activation": "gelu"}, r"activation: \"gelu\" is not one of 'relu' or 'relu6'"),
    ({"head_chanels": 32}, r"head_chanels is not a known field"),
    ({"num_classes": None}, r"num_classes is null, not an integer"),
    ({"resolution": 10**30}, r"resolution: .* is out of range \(must be <= 4096\)"),
    ({"resolution": 1}, r"resolution 1 is smaller than the total stride 2"),
]


def _write(tmp_path: Path, change: dict) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({**GOOD, **change}))
    return path


@pytest.mark.parametrize("change,pattern", CASES)
def test_bad_spec_is_one_line_naming_the_field(tmp_path: Path, change: dict, pattern: str) -> None:
    path = _write(tmp_path, change)
    with pytest.raises(SpaceError, match=pattern) as info:
        get_space(str(path))
    assert str(path) in info.value.message and info.value.fix and "\n" not in str(info.value)


def test_good_spec_still_loads_also_with_describe_stage_objects(tmp_path: Path) -> None:
    space = get_space(str(_write(tmp_path, {})))
    described = {k: v for k, v in space.describe().items()}
    again = tmp_path / "again.json"
    again.write_text(json.dumps(described))  # stages as {channels, layers, stride} objects
    assert get_space(str(again)).fingerprint() == space.fingerprint()


def test_toml_spec_with_a_quoted_number(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('name = "t"\nresolution = "32"\n')
    with pytest.raises(SpaceError, match=r's\.toml: resolution: "32" is a string, not an integer'):
        get_space(str(path))


@pytest.mark.parametrize("change", [{"kernels": ["3"]}, {"resolution": "32"}])
def test_bad_spec_at_the_cli_exits_2_in_one_line_and_is_untouched(tmp_path: Path, change: dict) -> None:
    path = _write(tmp_path, change)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    result = runner.invoke(app, ["arch", "sample", "--space", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "TypeError" not in result.output
    assert len([ln for ln in result.output.splitlines() if ln.strip()]) <= 3  # rich may wrap
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
