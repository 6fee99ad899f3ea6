"""Which machine a table was measured on, and whether it is this one (:func:`compare_machine`).

A table's figures hold for the machine that measured them: the shipped CPU tables, measured on
the maintainers' machine, read several times too slow or too fast on another CPU. ``hwnas profile``
records the measuring host in the table's ``meta.host`` (:func:`this_machine`: CPU model, logical
cores, a hash of the host name, the GPU for GPU tables, the device kind); pricing, the export check
and ``lut validate`` compare it with this machine and say once, in one line, when they differ
(:meth:`Provenance.warning`).

Kinds of device a table can describe:

- ``cpu``: this host's CPU; compared field by field (CPU model, cores, host, runtime version).
- ``gpu``: a GPU of this host; the GPU name takes the CPU model's place.
- ``remote``: a device attached to the host (a phone through adb): the host says nothing about
  it, so nothing is compared.
- ``published``: figures published for another device (HW-NAS-Bench's Pixel 3, Jetson TX2, ...):
  another device by definition; said once, never as a CPU mismatch.

Example:
    >>> from hwnas.testing import synthetic_table, tiny_space
    >>> p = synthetic_table(tiny_space()).provenance("t.json")
    >>> p.status in {"same", "different", "unrecorded", "published", "remote"}
    True
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Literal, Protocol


class TableMeta(Protocol):
    """What is read of a table's metadata (:class:`hwnas.latency.table.TableMeta`, which imports
    this module for :meth:`~hwnas.latency.table.LatencyTable.provenance`)."""

    device_name: str
    device_detail: str
    runtime: str
    runtime_version: str
    space: str
    threads: int
    protocol: dict
    host: dict

Status = Literal["same", "different", "unrecorded", "published", "remote"]
_VERSION = re.compile(r"\d+(?:\.[0-9A-Za-z]+)+(?:\+[0-9A-Za-z.]+)?")


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The host CPU's model name (from /proc/cpuinfo, else ``platform``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "processor\t: a")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def host_id() -> str:
    """A short hash of the host name: tells two hosts apart without storing the name itself."""
    return hashlib.sha256((platform.node() or "?").encode()).hexdigest()[:12]


def gpu_name() -> str:
    """The first CUDA GPU's name, or "" when torch sees none."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""


def this_machine(kind: str = "cpu", gpu: str | None = None) -> dict:
    """What ``meta.host`` records for a table measured here (``gpu`` found when ``kind`` is gpu)."""
    if kind == "gpu" and gpu is None:
        gpu = gpu_name()
    return {"kind": kind, "cpu": cpu_model(), "cores": os.cpu_count() or 0, "host_id": host_id(),
            "gpu": gpu or ""}


@dataclass(frozen=True)
class Difference:
    """One field where the table's machine and this one differ."""

    field: str
    table: str
    here: str


@dataclass(frozen=True)
class Provenance:
    """The table's recorded machine against this one.

    ``status``: ``same`` (every recorded field matches), ``different`` (``differences`` lists
    them), ``unrecorded`` (the table records too little to tell, like the shipped CPU tables: its
    CPU model only), ``published`` (another device's published figures), ``remote`` (a device
    attached to its host, such as a phone; not compared).
    """

    table: str
    status: Status
    differences: tuple[Difference, ...]
    recorded: str  # the table's machine in words
    here: str  # this machine in words
    remake: str  # the command that makes a table for this machine

    @property
    def foreign(self) -> bool:
        return self.status in ("different", "unrecorded", "published")

    def to_dict(self) -> dict:
        return {**asdict(self), "foreign": self.foreign}

    def warning(self, measured_ms: float | None = None, predicted_ms: float | None = None,
                unit: str = "ms", basis: str = "") -> str | None:
        """One line saying the table is foreign (``None`` when it is not), with how far a
        measurement here disagrees with the table's prediction when one is given (``basis``
        says what the two figures are, e.g. "medians of 40 archs")."""
        if not self.foreign:
            return None
        if measured_ms is not None and predicted_ms:
            gap = (measured_ms - predicted_ms) / predicted_ms * 100.0
            what = (f"measured {measured_ms:.3f} {unit} vs predicted {predicted_ms:.3f} {unit} "
                    f"({gap:+.0f} %) here" + (f" ({basis})" if basis else ""))
        else:
            what = "predictions may be off here"
        if self.status == "published":
            measured = f"; {what}" if measured_ms is not None else ""
            return (f"table {self.table} holds published figures for {self.recorded}, not this "
                    f"machine: its prices are that device's{measured}")
        if self.status == "unrecorded":
            where = (f"table {self.table} does not record which machine measured it (only "
                     f"{self.recorded}; this machine: {self.here})")
        else:
            apart = "; ".join(f"{d.field} {d.table} there, {d.here} here" for d in self.differences)
            where = f"table {self.table} was measured on another machine ({apart})"
        return f"{where}: {what}; run `{self.remake}` to make a table for this machine"


def compare_machine(meta: TableMeta, name: str, runtime_here: str | None = None,
                    here: dict | None = None) -> Provenance:
    """Compare the machine ``meta`` records with this one (``here``: :func:`this_machine`).

    ``runtime_here`` is the table runtime's version string on this machine (a profiler's
    ``runtime_version()``), ``""`` when that runtime cannot run here, ``None`` not to compare.
    """
    recorded_host = meta.host or {}
    kind = _kind(meta)
    remake = (f"hwnas profile --space {meta.space} --runtime {meta.runtime} --threads {meta.threads} "
              f"--out my-{meta.runtime}-{meta.space}.json")
    if kind == "published":
        return Provenance(name, "published", (), meta.device_detail or meta.device_name, "", remake)
    if kind == "remote":
        return Provenance(name, "remote", (), meta.device_detail or meta.device_name, "", remake)
    here = here or this_machine(kind)
    pairs = []  # (field, the table's value, this machine's value)
    if kind == "gpu":
        pairs.append(("gpu", recorded_host.get("gpu") or meta.device_detail, here.get("gpu") or "no GPU"))
    else:
        pairs.append(("cpu", recorded_host.get("cpu") or meta.device_detail, here["cpu"]))
    if recorded_host.get("cores"):
        pairs.append(("cores", str(recorded_host["cores"]), str(here["cores"])))
    if recorded_host.get("host_id"):
        pairs.append(("host", recorded_host["host_id"], here["host_id"]))
    if runtime_here is not None:
        pairs.append(("runtime", _version(meta.runtime_version) or meta.runtime_version,
                      (_version(runtime_here) or runtime_here) or "not usable"))
    diffs = tuple(Difference(f, str(t), str(h)) for f, t, h in pairs if t and str(t) != str(h))
    recorded = _describe(meta, recorded_host, kind)
    here_words = _describe_here(here, kind, meta, runtime_here)
    if diffs:
        return Provenance(name, "different", diffs, recorded, here_words, remake)
    # a CPU model string is not a machine: without a host fingerprint ("AMD EPYC" names a whole
    # family of virtual CPUs) the table may well come from elsewhere, as the shipped ones do
    status: Status = "same" if recorded_host.get("host_id") else "unrecorded"
    return Provenance(name, status, (), recorded, here_words, remake)


def _kind(meta: TableMeta) -> str:
    if meta.protocol.get("published"):
        return "published"
    if (meta.host or {}).get("kind"):
        return str(meta.host["kind"])
    # tables made before meta.host existed: infer the device from what the runtime recorded
    if meta.runtime == "adb":
        return "remote"
    if meta.runtime in ("torch-cuda", "tensorrt") or "CUDAExecutionProvider" in meta.runtime_version:
        return "gpu"
    return "cpu"


def _version(text: str) -> str:
    found = _VERSION.search(text or "")
    return found.group(0) if found else ""


def _describe(meta: TableMeta, host: dict, kind: str) -> str:
    device = host.get("gpu" if kind == "gpu" else "cpu") or meta.device_detail
    parts = [device or "an unnamed device"]
    if host.get("cores"):
        parts.append(f"{host['cores']} cores")
    if host.get("host_id"):
        parts.append(f"host {host['host_id']}")
    parts.append(f"{meta.runtime} {_version(meta.runtime_version)}".strip())
    return ", ".join(parts)


def _describe_here(here: dict, kind: str, meta: TableMeta, runtime_here: str | None) -> str:
    parts = [(here.get("gpu") or "no GPU") if kind == "gpu" else here["cpu"], f"{here['cores']} cores"]
    if runtime_here is not None:
        parts.append(f"{meta.runtime} {_version(runtime_here)}".strip() if runtime_here
                     else f"{meta.runtime} not usable here")
    return ", ".join(parts)
