"""Convert the published HW-NAS-Bench FBNet per-op metrics into hwnas tables.

Source: HW-NAS-Bench v1.0 (Li et al., ICLR 2021, MIT licence), ``{metric: {op_key: value}}`` with
metrics ``{device}_{latency|energy}``. Its op keys are the fbnet spaces' keys, so a converted
table predicts exactly the published per-arch sum (stem + 22 layers + head + pooling + FC).
"""

from __future__ import annotations

from pathlib import Path

from hwnas import __version__
from hwnas.errors import TableError
from hwnas.io import read_json
from hwnas.latency.table import LatencyTable, OpStats, TableMeta
from hwnas.space import get_space

DEVICES = {
    "pixel3": "Google Pixel 3 phone CPU (as published by HW-NAS-Bench)",
    "raspi4": "Raspberry Pi 4 (as published by HW-NAS-Bench)",
    "edgegpu": "NVIDIA Jetson TX2 edge GPU (as published by HW-NAS-Bench)",
    "eyeriss": "Eyeriss ASIC (simulated, as published by HW-NAS-Bench)",
    "fpga": "FPGA (simulated, as published by HW-NAS-Bench)",
}
SPACES = ("fbnet-cifar100", "fbnet-imagenet")
CITATION = ("HW-NAS-Bench v1.0, Li et al., 'HW-NAS-Bench: Hardware-Aware Neural Architecture Search "
            "Benchmark', ICLR 2021; MIT licence")


def convert(raw_path: Path | str, device: str, metric: str, space_name: str) -> LatencyTable:
    """One hwnas table (``metric`` = latency in ms or energy in mJ) for ``device`` and space."""
    raw = read_json(raw_path, "HW-NAS-Bench metrics")
    name = f"{device}_{metric}"
    if not isinstance(raw, dict) or name not in raw:
        raise TableError(f"{raw_path} has no {name!r} metric",
                         f"metrics there: {', '.join(raw) if isinstance(raw, dict) else 'none'}")
    values = raw[name]
    space = get_space(space_name)
    entries = {}
    for op in space.all_ops():
        if op.key not in values:
            raise TableError(f"{raw_path}: {name} lacks op {op.key}", "use the full HW-NAS-Bench FBNet file")
        entries[op.key] = OpStats.single(float(values[op.key]))
    meta = TableMeta(
        device_name=device, runtime=f"hwnasbench-{device}", space=space.name,
        space_fingerprint=space.fingerprint(), resolution=space.resolution,
        device_detail=DEVICES.get(device, device), runtime_version="HW-NAS-Bench v1.0",
        threads=1, batch=1, metric=metric, unit="ms" if metric == "latency" else "mJ",
        hwnas_version=__version__, created="2021-01-12",
        protocol={"published": True, "metric_key": name},
        source=f"{CITATION}; converted by hwnas.latency.hwnasbench from fbnet_lut.json",
    )
    return LatencyTable(meta, entries)


def available_metrics(raw_path: Path | str) -> list[tuple[str, str]]:
    raw = read_json(raw_path, "HW-NAS-Bench metrics")
    return [tuple(k.rsplit("_", 1)) for k in raw]


def convert_all(raw_path: Path | str, out_dir: Path | str) -> list[Path]:
    """Write ``<out_dir>/<device>/<metric>-<space>.json`` for every metric and fbnet layout."""
    out_dir = Path(out_dir)
    written = []
    for device, metric in available_metrics(raw_path):
        for space_name in SPACES:
            path = out_dir / device / f"{metric}-{space_name}.json"
            convert(raw_path, device, metric, space_name).save(path)
            written.append(path)
    return written


if __name__ == "__main__":  # python -m hwnas.latency.hwnasbench RAW.json OUT_DIR
    import sys

    for p in convert_all(sys.argv[1], sys.argv[2]):
        print(p)
