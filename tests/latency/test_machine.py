"""Foreign tables (issue 14): a table records the machine that measured it, and pricing, the
export check and ``lut validate`` say once, in one line, when that is not this machine."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hwnas.errors import TableError
from hwnas.latency import LatencyTable, OpStats, load_table
from hwnas.latency.machine import compare_machine, this_machine
from hwnas.latency.measure import MeasureProtocol
from hwnas.latency.profile import check_compatible, make_meta
from hwnas.plugins import get_profiler
from hwnas.testing import synthetic_table, tiny_space

SHIPPED_CPU = "cpu-1t/onnxruntime-mbconv-small"


@pytest.fixture(scope="module")
def here_table() -> LatencyTable:
    """A table whose metadata is what `hwnas profile` records on this machine (torch-cpu)."""
    space = tiny_space()
    prof = get_profiler("torch-cpu", MeasureProtocol(runs=4, pin_cpu=False))
    return replace(synthetic_table(space), meta=make_meta(space, prof, "test-host"))


def _with_host(table: LatencyTable, **host) -> LatencyTable:
    return replace(table, meta=replace(table.meta, host={**table.meta.host, **host}))


def test_profile_records_this_machine_and_it_is_not_foreign(here_table: LatencyTable, tmp_path: Path) -> None:
    host = here_table.meta.host
    assert host == this_machine("cpu") and host["cores"] >= 1 and len(host["host_id"]) == 12
    here_table.save(tmp_path / "t.json")
    loaded = LatencyTable.load(tmp_path / "t.json")
    assert loaded.meta.host == host  # the schema keeps it
    p = loaded.provenance("t.json", here_table.meta.runtime_version)
    assert p.status == "same" and not p.foreign and p.warning() is None


def test_another_host_is_foreign_naming_what_differs(here_table: LatencyTable) -> None:
    other = _with_host(here_table, host_id="0123456789ab", cores=here_table.meta.host["cores"] + 62,
                       cpu="Intel(R) Xeon(R) Gold 6130")
    p = other.provenance("mine.json", "torch 1.0.0")
    assert p.status == "different"
    assert {d.field for d in p.differences} == {"cpu", "cores", "host", "runtime"}
    line = p.warning()
    assert "\n" not in line and line.startswith("table mine.json was measured on another machine")
    assert "cpu Intel(R) Xeon(R) Gold 6130 there" in line and "host 0123456789ab there" in line
    assert "runtime 1.0.0 there" not in line and "torch-cpu" in line  # recorded vs installed version
    assert "hwnas profile --space tiny --runtime torch-cpu" in line


def test_only_the_runtime_version_differs(here_table: LatencyTable) -> None:
    p = here_table.provenance("t.json", "torch 0.4.1")
    assert [d.field for d in p.differences] == ["runtime"] and p.differences[0].here == "0.4.1"
    assert here_table.provenance("t.json", "").differences[0].here == "not usable"


def test_shipped_cpu_table_does_not_say_where_it_was_measured() -> None:
    table = load_table(SHIPPED_CPU)
    # on a machine with the CPU model it records, it cannot tell more than that (the machine is
    # fixed here: the test must not depend on which CPU runs it)
    here = {**this_machine(), "cpu": table.meta.device_detail}
    p = compare_machine(table.meta, SHIPPED_CPU, here=here)
    assert table.meta.host == {} and p.status == "unrecorded" and p.foreign
    other = compare_machine(table.meta, SHIPPED_CPU, here={**here, "cpu": "Some Other CPU"})
    assert other.status == "different" and [d.field for d in other.differences] == ["cpu"]
    line = p.warning(measured_ms=0.086, predicted_ms=0.211)
    assert line.startswith(f"table {SHIPPED_CPU} does not record which machine measured it")
    assert "measured 0.086 ms vs predicted 0.211 ms (-59 %) here" in line
    assert "`hwnas profile --space mbconv-small --runtime onnxruntime --threads 1 --out " in line


def test_published_device_tables_say_so_without_a_cpu_comparison() -> None:
    for name in ("pixel3/latency-fbnet-cifar100", "edgegpu/energy-fbnet-cifar100"):
        p = load_table(name).provenance(name, "onnxruntime 9.9")
        assert p.status == "published" and p.differences == ()
        line = p.warning()
        assert "holds published figures for" in line and "cpu" not in line.lower().split("figures for")[0]
        assert "this machine is" not in line and "AMD" not in line
    assert "Pixel 3" in load_table("pixel3/latency-fbnet-cifar100").provenance("p").warning()


def test_a_phone_table_is_not_compared_with_the_host(here_table: LatencyTable) -> None:
    phone = replace(here_table, meta=replace(here_table.meta, runtime="adb", device_detail="Pixel 7",
                                             host={**here_table.meta.host, "kind": "remote",
                                                   "host_id": "elsewhere000"}))
    p = phone.provenance("phone.json")
    assert p.status == "remote" and p.warning() is None


def test_a_gpu_table_compares_the_gpu(here_table: LatencyTable) -> None:
    gpu = replace(here_table, meta=replace(here_table.meta, runtime="torch-cuda", device_detail="NVIDIA H200",
                                           host={**here_table.meta.host, "kind": "gpu",
                                                 "gpu": "NVIDIA H200"}))
    here = {**this_machine("cpu"), "gpu": ""}  # as on a machine without a GPU
    p = compare_machine(gpu.meta, "gpu.json", here=here)
    assert [(d.field, d.table, d.here) for d in p.differences] == [("gpu", "NVIDIA H200", "no GPU")]
    same = compare_machine(gpu.meta, "gpu.json", here={**here, "gpu": "NVIDIA H200"})
    assert same.status == "same"


def test_profile_refuses_to_extend_a_table_from_another_host(here_table: LatencyTable,
                                                             tmp_path: Path) -> None:
    other = _with_host(here_table, host_id="0123456789ab")
    with pytest.raises(TableError, match="measured on another host .*host 0123456789ab; this is host"):
        check_compatible(other, here_table.meta, tmp_path / "t.json")
    check_compatible(here_table, here_table.meta, tmp_path / "t.json")  # its own host: fine


def test_bad_host_field_is_refused_in_one_line(here_table: LatencyTable, tmp_path: Path) -> None:
    d = here_table.to_dict()
    d["meta"]["host"]["cores"] = "many"
    (tmp_path / "t.json").write_text(json.dumps(d))
    with pytest.raises(TableError, match=r"meta\.host\.cores"):
        LatencyTable.load(tmp_path / "t.json")


def test_export_check_names_a_foreign_table_once(here_table: LatencyTable) -> None:
    from hwnas.export.base import Runner
    from hwnas.export.check import compare_with_table

    space = tiny_space()
    arch = space.sample(np.random.default_rng(0))
    predicted = here_table.predict(space, arch)
    measured = OpStats.single(predicted * 0.41)
    runner = Runner(lambda x: x, "torch-cpu", here_table.meta.runtime_version)
    ok = compare_with_table(here_table, "t.json", space, arch, measured, runner, threads=1)
    assert ok.note == "" and ok.machine["status"] == "same"
    foreign = compare_with_table(_with_host(here_table, host_id="0123456789ab"), "t.json", space, arch,
                                 measured, runner, threads=1)
    assert foreign.error_pct == pytest.approx(-59.0)
    assert foreign.note.count("was measured on another machine") == 1 and foreign.machine["foreign"]
