"""Device views on published HW-NAS-Bench tables: one run re-priced for Pixel 3, Raspberry Pi 4, TX2.

The accuracy here is synthetic (more non-skip, wider layers score higher); the latencies and the
energy are the published per-op measurements summed by ``LatencyTable.predict``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwnas.io import append_jsonl, write_json
from hwnas.latency.table import LatencyTable, OpStats, TableMeta
from hwnas.pareto import pareto_front
from hwnas.report import build_report
from hwnas.space import get_space

pytestmark = pytest.mark.integration  # reports on the full FBNet space

DEVICES = {"pixel3": "pixel3_latency", "raspi4": "raspi4_latency", "edgegpu": "edgegpu_latency"}


def published_table(raw: dict, metric_key: str, device: str, space, metric="latency", unit="ms"):
    keys = {op.key for op in space.all_ops()}
    entries = {k: OpStats.single(float(raw[metric_key][k])) for k in keys}
    meta = TableMeta(device_name=device, runtime="hwnasbench", space=space.name,
                     space_fingerprint=space.fingerprint(), resolution=space.resolution,
                     metric=metric, unit=unit, source="HW-NAS-Bench v1.0 (published)")
    return LatencyTable(meta, entries)


@pytest.fixture(scope="module")
def bench(hwnasbench_lut, tmp_path_factory):
    root = tmp_path_factory.mktemp("devices")
    raw = json.loads(hwnasbench_lut.read_text())
    space = get_space("fbnet-cifar100")
    paths, tables = [], {}
    for device, key in DEVICES.items():
        tables[device] = published_table(raw, key, device, space)
        paths.append(root / f"{device}.json")
        tables[device].save(paths[-1])
    energy = published_table(raw, "edgegpu_energy", "edgegpu", space, "energy", "mJ")
    paths.append(root / "edgegpu_energy.json")
    energy.save(paths[-1])
    rng = np.random.default_rng(0)
    run = root / "run"
    for i in range(80):
        arch = space.sample(rng)
        widths = [c for c in space.indices(arch)]
        acc = 0.45 + 0.012 * sum(c != 8 for c in widths) + 0.004 * sum(c in (3, 7) for c in widths)
        append_jsonl(run / "candidates.jsonl", {
            "index": i, "arch": str(arch), "accuracy": float(acc + rng.normal(0, 0.01)),
            "latency_ms": tables["pixel3"].predict(space, arch), "strategy": "random"})
    write_json(run / "config.json", {"space": "fbnet-cifar100", "strategy": "random"})
    write_json(run / "result.json", {"strategy": "random", "space": "fbnet-cifar100", "budget_ms": None,
                                     "lut": str(paths[0]), "best": None, "pareto": []})
    return {"root": root, "run": run, "paths": paths, "space": space, "tables": tables,
            "energy": energy}


def test_fronts_differ_between_devices(bench):
    res = build_report([bench["run"]], bench["root"] / "out", lut_paths=[str(p) for p in bench["paths"]],
                       objectives="accuracy:max,latency_ms:min", compare=True)
    views = {v["name"]: v for v in res.report["views"]}
    # the run was priced with the Pixel 3 table: its view replaces "recorded" (one panel, not two)
    assert list(views) == ["pixel3 (hwnasbench)", "edgegpu (hwnasbench)", "raspi4 (hwnasbench)"]
    assert views["pixel3 (hwnasbench)"]["sources"]["latency_ms"].endswith("(= recorded by the run)")
    space = bench["space"]
    fronts = {}
    for device in DEVICES:
        view = views[f"{device} (hwnasbench)"]
        fronts[device] = {row["arch"] for row in view["groups"][0]["combined"]["front"]}
        for row in view["groups"][0]["combined"]["front"]:
            assert row["latency_ms"] == pytest.approx(bench["tables"][device].predict(space,
                                                                                    space.parse(row["arch"])))
    recorded = {json.loads(line)["arch"]: json.loads(line)["latency_ms"]
                for line in (bench["run"] / "candidates.jsonl").read_text().splitlines()}
    assert all(row["latency_ms"] == recorded[row["arch"]]
               for row in views["pixel3 (hwnasbench)"]["groups"][0]["combined"]["front"])
    # HW-NAS-Bench's point: the best trade-offs on one device are not the best on another
    assert fronts["pixel3"] != fronts["raspi4"] and fronts["pixel3"] != fronts["edgegpu"]
    energies = [row["energy_mj"] for row in views["edgegpu (hwnasbench)"]["groups"][0]["combined"]["front"]]
    assert all(e is not None and e > 0 for e in energies)
    raspi = views["raspi4 (hwnasbench)"]["groups"][0]["combined"]["front"]
    assert all(row["energy_mj"] is None for row in raspi)


def test_three_objectives_with_energy(bench, tmp_path):
    res = build_report([bench["run"]], tmp_path / "out", lut_paths=[str(p) for p in bench["paths"]],
                       objectives="accuracy:max,latency_ms:min,energy_mj:min")
    names = [v["name"] for v in res.report["views"]]
    assert names == ["edgegpu (hwnasbench)"]  # only TX2 has an energy table
    view = res.report["views"][0]
    rows = [json.loads(x) for x in (bench["run"] / "candidates.jsonl").read_text().splitlines()]
    space = bench["space"]
    pts = np.array([[r["accuracy"], bench["tables"]["edgegpu"].predict(space, space.parse(r["arch"])),
                     bench["energy"].predict(space, space.parse(r["arch"]))] for r in rows])
    expect = {rows[i]["arch"] for i in pareto_front(pts, ["max", "min", "min"])}
    assert {row["arch"] for row in view["groups"][0]["combined"]["front"]} == expect
