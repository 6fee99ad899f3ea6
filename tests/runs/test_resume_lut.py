"""Resuming compares ``--lut`` by the table file it names, not as written (issue 13)."""

from __future__ import annotations

import pytest

from hwnas.latency.shipped import table_path
from hwnas.runs import RunError, RunFolder


def test_resume_takes_the_same_table_spelled_another_way(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "t.json").write_text("{}")
    (tmp_path / "other.json").write_text("{}")
    RunFolder("run").create({"strategy": "random", "lut": "tables/t.json"}, False)
    assert RunFolder("run").create({"strategy": "random", "lut": "./tables/../tables/t.json"}, True)
    assert RunFolder("run").create({"strategy": "random", "lut": str(tmp_path / "tables" / "t.json")}, True)
    with pytest.raises(RunError, match="differs in lut"):
        RunFolder("run").create({"strategy": "random", "lut": "other.json"}, True)


def test_a_shipped_name_and_its_file_are_one_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "pixel3/latency-fbnet-cifar100"
    RunFolder("run").create({"strategy": "random", "lut": name}, False)
    assert RunFolder("run").create({"strategy": "random", "lut": str(table_path(name))}, True)
    assert RunFolder("run").create({"strategy": "random", "lut": name + ".json"}, True)
    with pytest.raises(RunError, match="differs in lut"):
        RunFolder("run").create({"strategy": "random", "lut": "raspi4/latency-fbnet-cifar100"}, True)
