"""``adb``: a real Android phone. The model is lowered to an ExecuTorch program (XNNPACK), pushed
with the benchmark binary the user names, run over ``adb shell``, and the binary's output parsed.

Configure with environment variables (or constructor arguments):
``HWNAS_ADB_BINARY`` (host path of the benchmark binary, e.g. ExecuTorch's ``executor_runner``
built for Android), ``HWNAS_ADB_SERIAL`` (device serial when several are attached) and
``HWNAS_ADB_ARGS`` (argument template; ``{model}``, ``{runs}``, ``{threads}`` are filled in).

Recognised outputs (see :func:`parse_benchmark_output`):
- ExecuTorch ``executor_runner``: ``Model executed successfully 50 time(s) in 123.4 ms.``
- TFLite ``benchmark_model``: ``count=50 first=.. curr=.. min=.. max=.. avg=.. std=..`` (us)
- one ``latency_ms: <value>`` line per run (any custom binary).

Every figure is the phone's own timer: :meth:`AdbProfiler.timed_block` runs the binary for the
requested number of runs and returns the durations it printed (:func:`phone_samples_ms`), so
``hwnas profile``, ``hwnas lut validate`` and ``measure_model`` never count the host's ``adb``
round trip, process start or model load.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from hwnas.errors import HwnasError, RuntimeMissingError
from hwnas.latency.measure import Runner, TimedBlock, stats_from_samples
from hwnas.latency.profiler import Profiler
from hwnas.latency.table import OpStats
from runtimes import executorch as et

REMOTE_DIR = "/data/local/tmp/hwnas"
DEFAULT_ARGS = "--model_path={model} --num_executions={runs} --cpu_threads={threads}"

_PER_RUN = re.compile(r"latency_ms[:=]\s*([0-9.eE+-]+)")
_ET_TOTAL = re.compile(r"executed successfully\s+(\d+)\s+time\(s\)\s+in\s+([0-9.eE+-]+)\s*ms")
_TFLITE = re.compile(r"count=(\d+)(?:\s+first=\S+)?\s+curr=\S+\s+min=([0-9.]+)\s+max=([0-9.]+)"
                     r"\s+avg=([0-9.]+)\s+std=([0-9.]+)")


def parse_benchmark_output(text: str) -> OpStats:
    """Statistics (ms) from a benchmark binary's output; raises ``HwnasError`` if none found."""
    per_run = [float(v) for v in _PER_RUN.findall(text)]
    if per_run:
        return stats_from_samples(per_run)
    tflite = _TFLITE.findall(text)
    if tflite:  # the last "count=" line is the timed runs (earlier ones are warm-up), in us
        count, lo, hi, avg, std = tflite[-1]
        avg_ms, lo_ms, hi_ms = float(avg) / 1e3, float(lo) / 1e3, float(hi) / 1e3
        return OpStats(avg_ms, lo_ms, hi_ms, avg_ms, float(std) / 1e3, int(count))
    et = _ET_TOTAL.findall(text)
    if et:
        count, total_ms = et[-1]
        mean = float(total_ms) / max(int(count), 1)
        return OpStats(mean, mean, mean, mean, 0.0, int(count))
    tail = " | ".join(text.strip().splitlines()[-3:]) or "no output"
    raise HwnasError(f"could not find timings in the benchmark output ({tail})",
                     "use executor_runner, TFLite benchmark_model, or print 'latency_ms: X' per run")


def phone_samples_ms(text: str) -> list[float]:
    """The phone's own duration (ms) of every timed run in a benchmark binary's output.

    Binaries that print only an aggregate (executor_runner's total, TFLite's average) give their
    mean once per run they report, so the run count still weighs the figure correctly.
    """
    per_run = [float(v) for v in _PER_RUN.findall(text)]
    if per_run:
        return per_run
    stats = parse_benchmark_output(text)
    return [stats.mean] * stats.n


@dataclass(frozen=True)
class PhoneRunner:
    """A program pushed to the phone. Calling it runs one (untimed) inference there;
    :meth:`samples_ms` runs ``count`` and returns the phone's own durations."""

    profiler: AdbProfiler
    remote_model: str

    def __call__(self) -> str:
        return self.profiler.run_binary(self.remote_model, 1)

    def samples_ms(self, count: int) -> list[float]:
        return phone_samples_ms(self.profiler.run_binary(self.remote_model, count))


def phone_block(runner: Runner, count: int) -> list[float]:
    """The adb timed block: the phone's durations of ``count`` runs of ``runner``."""
    if not isinstance(runner, PhoneRunner):
        raise HwnasError("the adb profiler times only runners its prepare() returned",
                         "prepare the model with the same profiler")
    return runner.samples_ms(count)


class AdbProfiler(Profiler):
    name = "adb"
    extra = "mobile"

    def __init__(self, protocol=None, binary: str | None = None, serial: str | None = None,
                 args: str | None = None, adb: str | None = None) -> None:
        super().__init__(protocol)
        self.binary = binary or os.environ.get("HWNAS_ADB_BINARY", "")
        self.serial = serial or os.environ.get("HWNAS_ADB_SERIAL", "")
        self.args = args or os.environ.get("HWNAS_ADB_ARGS", DEFAULT_ARGS)
        self.adb = adb or shutil.which("adb") or ""
        self._pushed_binary = ""

    @classmethod
    def available(cls) -> tuple[bool, str]:
        adb = shutil.which("adb")
        if not adb:
            return False, "the `adb` executable is not on PATH (install Android platform-tools)"
        if not os.environ.get("HWNAS_ADB_BINARY"):
            return False, "HWNAS_ADB_BINARY does not name the benchmark binary to push"
        try:
            out = subprocess.run([adb, "devices"], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"`adb devices` failed: {exc}"
        if not parse_devices(out):
            return False, "no phone is attached (`adb devices` lists none in 'device' state)"
        return True, ""

    def adb_cmd(self, *args: str) -> list[str]:
        if not self.adb:
            raise RuntimeMissingError("the `adb` executable is not on PATH",
                                      "install Android platform-tools and attach a phone")
        return [self.adb, *(["-s", self.serial] if self.serial else []), *args]

    def _run(self, *args: str, timeout: float = 600) -> str:
        cmd = self.adb_cmd(*args)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HwnasError(f"`{' '.join(cmd)}` timed out after {timeout:.0f} s",
                             "check the phone is awake and attached") from None
        if done.returncode != 0:
            msg = (done.stderr or done.stdout).strip().splitlines()
            raise HwnasError(f"`{' '.join(cmd)}` failed: {msg[-1] if msg else done.returncode}",
                             "check `adb devices` and the benchmark binary")
        return done.stdout + done.stderr

    def runtime_version(self) -> str:
        return f"adb benchmark {Path(self.binary).name or '?'}"

    def device_detail(self) -> str:
        return self._run("shell", "getprop", "ro.product.model").strip()

    def device_kind(self) -> str:
        return "remote"  # the phone computes; the host only drives it

    def setup(self) -> None:
        if not self.binary or not Path(self.binary).is_file():
            raise HwnasError(f"benchmark binary {self.binary!r} does not exist",
                             "set HWNAS_ADB_BINARY to the binary built for the phone")
        if not self._pushed_binary:
            self._run("shell", "mkdir", "-p", REMOTE_DIR)
            remote = f"{REMOTE_DIR}/{Path(self.binary).name}"
            self._run("push", self.binary, remote)
            self._run("shell", "chmod", "755", remote)
            self._pushed_binary = remote

    def remote_command(self, remote_model: str, runs: int) -> str:
        args = self.args.format(model=remote_model, runs=runs, threads=self.protocol.threads)
        return f"{self._pushed_binary} {args}"

    def run_binary(self, remote_model: str, runs: int) -> str:
        """The benchmark binary's output for ``runs`` runs of a pushed program."""
        return self._run("shell", self.remote_command(remote_model, runs))

    def prepare(self, model: nn.Module, input_shape: tuple[int, int, int]) -> PhoneRunner:
        self.setup()
        x = torch.randn(self.protocol.batch, *input_shape, generator=torch.Generator().manual_seed(0))
        pte = et.lower_to_xnnpack(model, x).buffer
        remote = f"{REMOTE_DIR}/model_{hashlib.sha256(pte).hexdigest()[:16]}.pte"
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "model.pte"
            local.write_bytes(pte)
            self._run("push", str(local), remote)
        return PhoneRunner(self, remote)

    def timed_block(self) -> TimedBlock:
        return phone_block


def parse_devices(text: str) -> list[str]:
    """Serials in state ``device`` from ``adb devices`` output."""
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[1] == "device":
            out.append(parts[0])
    return out
