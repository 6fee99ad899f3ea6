"""The adb profiler: output parsing on recorded benchmark outputs, and its real subprocess path.

No phone is attached here. The subprocess path is exercised with a stand-in ``adb`` executable
that records its arguments and replays a recorded benchmark output, so every command the profiler
would send to a phone (mkdir, push binary, chmod, push model, shell run) is checked.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

from hwnas.errors import HwnasError, RuntimeMissingError
from hwnas.latency.measure import MeasureProtocol
from hwnas.plugins import profiler_class
from profilers.adb import AdbProfiler, parse_benchmark_output, parse_devices, phone_samples_ms

EXECUTOR_RUNNER = """\
I 00:00:00.001244 executorch:executor_runner.cpp:82] Model file /data/local/tmp/hwnas/model.pte is loaded.
I 00:00:00.001301 executorch:executor_runner.cpp:91] Using method forward
I 00:00:00.004851 executorch:executor_runner.cpp:161] Inputs prepared.
I 00:00:00.105327 executorch:executor_runner.cpp:170] Model executed successfully 50 time(s) in 100.250000 ms.
I 00:00:00.105400 executorch:executor_runner.cpp:174] 1 outputs:
"""

TFLITE = """\
STARTING!
Num runs: [50]
Loaded model /data/local/tmp/hwnas/model.tflite
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=9 first=14021 curr=2210 min=2187 max=14021 avg=3526.67 std=3708
Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=2236 curr=2201 min=2150 max=2412 avg=2230.5 std=48
Inference timings in us: Init: 12015, First inference: 14021, Warmup (avg): 3526.67, Inference (avg): 2230.5
"""

PER_RUN = "warming up\nlatency_ms: 1.50\nlatency_ms: 1.40\nlatency_ms: 1.60\nlatency_ms: 1.45\n"


def test_parse_executor_runner_output() -> None:
    st = parse_benchmark_output(EXECUTOR_RUNNER)
    # the recorded output reports 50 runs per call, whatever was asked: every reported run counts
    assert st.n >= 50 and st.p50 == pytest.approx(2.005)


def test_parse_tflite_uses_timed_runs_not_warmup() -> None:
    st = parse_benchmark_output(TFLITE)
    assert st.n == 50
    assert (
        st.mean == pytest.approx(2.2305) and st.p10 == pytest.approx(2.150) and st.p90 == pytest.approx(2.412)
    )


def test_parse_per_run_lines() -> None:
    st = parse_benchmark_output(PER_RUN)
    assert st.n == 4 and st.p50 == pytest.approx(1.475)


def test_phone_samples_are_the_binarys_own_runs() -> None:
    assert phone_samples_ms(PER_RUN) == [1.50, 1.40, 1.60, 1.45]
    assert phone_samples_ms(EXECUTOR_RUNNER) == pytest.approx([2.005] * 50)
    assert phone_samples_ms(TFLITE) == pytest.approx([2.2305] * 50)  # the timed runs, not warm-up


def test_unparseable_output_is_a_clear_error() -> None:
    with pytest.raises(HwnasError, match="could not find timings"):
        parse_benchmark_output("Segmentation fault\n")


def test_parse_devices() -> None:
    text = "List of devices attached\nR58M12ABCDE\tdevice\nemulator-5554\toffline\n\n"
    assert parse_devices(text) == ["R58M12ABCDE"]


def test_no_adb_is_reported_not_crashed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    ok, reason = AdbProfiler.available()
    assert not ok and "adb" in reason
    with pytest.raises(RuntimeMissingError, match="adb"):
        AdbProfiler(MeasureProtocol(), binary="/bin/true", adb="").adb_cmd("devices")


def _stand_in_adb(tmp_path: Path, output: str) -> tuple[Path, Path]:
    log = tmp_path / "adb.log"
    replay = tmp_path / "replay.txt"
    replay.write_text(output)
    script = tmp_path / "adb"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{log}"\n'
        'case "$*" in\n'
        '  devices*) printf "List of devices attached\\nSERIAL1\\tdevice\\n" ;;\n'
        f'  *shell*executor_runner*) cat "{replay}" ;;\n'
        "esac\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, log


@pytest.mark.integration
def test_adb_profiler_pushes_runs_and_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, reason = profiler_class("executorch").available()
    if not ok:
        pytest.skip(f"lowering needs executorch: {reason}")
    adb, log = _stand_in_adb(tmp_path, EXECUTOR_RUNNER)
    binary = tmp_path / "executor_runner"
    binary.write_bytes(b"\x7fELF")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HWNAS_ADB_BINARY", str(binary))
    assert AdbProfiler.available() == (True, "")
    prof = AdbProfiler(MeasureProtocol(runs=50, warmup=1), serial="SERIAL1")
    st = prof.measure_model(torch.nn.Conv2d(3, 4, 3).eval(), (3, 8, 8))
    # the recorded output reports 50 runs per call, whatever was asked: every reported run counts
    assert st.n >= 50 and st.p50 == pytest.approx(2.005)
    calls = log.read_text().splitlines()
    assert all(c.startswith("-s SERIAL1") for c in calls[1:])
    assert any("push" in c and c.endswith("/data/local/tmp/hwnas/executor_runner") for c in calls)
    assert any("push" in c and ".pte" in c for c in calls)
    assert any("--num_executions=50" in c for c in calls)


def test_missing_benchmark_binary_is_named(tmp_path: Path) -> None:
    prof = AdbProfiler(MeasureProtocol(), binary=str(tmp_path / "nope"), adb="/bin/false")
    with pytest.raises(HwnasError, match="does not exist"):
        prof.setup()


# A phone stand-in that runs each pushed program: the "program" the fake lowering writes is the
# phone's per-run time for that model (ms), and the shell command prints executor_runner's
# recorded output for the requested number of runs at that time.
_PHONE = """#!{python} -S
import pathlib, re, shutil, sys
phone = pathlib.Path({phone!r})
args = sys.argv[1:]
if args[:1] == ["-s"]:
    args = args[2:]
if args[0] == "devices":
    print("List of devices attached\\nSERIAL1\\tdevice")
elif args[0] == "push":
    shutil.copy(args[1], phone / pathlib.Path(args[2]).name)
elif args[0] == "shell" and "--model_path=" in args[1]:
    model = re.search(r"--model_path=(\\S+)", args[1]).group(1)
    runs = int(re.search(r"--num_executions=(\\d+)", args[1]).group(1))
    per_run_ms = float((phone / pathlib.Path(model).name).read_text())
    sys.stdout.write({recorded!r}.replace("50 time(s) in 100.250000 ms",
                                          "%d time(s) in %.6f ms" % (runs, runs * per_run_ms)))
"""
OVERHEAD_MS, MS_PER_PARAM = 0.25, 1e-3


def _phone_ms(model: torch.nn.Module) -> float:
    return OVERHEAD_MS + MS_PER_PARAM * sum(p.numel() for p in model.parameters())


@pytest.mark.integration
def test_profile_reports_the_phones_timings_not_host_round_trips(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``hwnas profile --runtime adb``: every figure comes from the binary's output. A stand-in
    phone reports 0.25 ms + 1 us per parameter for each program; the host round trip of one
    ``adb shell`` (a process start) is milliseconds, so a host-timed table could not match."""
    import json
    import sys

    from typer.testing import CliRunner

    from hwnas.cli import app
    from hwnas.latency.profile import unique_ops
    from hwnas.latency.table import LatencyTable
    from hwnas.nn.ops import build_op
    from hwnas.space import get_space
    from runtimes import executorch as et

    phone = tmp_path / "phone"
    phone.mkdir()
    adb = tmp_path / "adb"
    adb.write_text(_PHONE.format(python=sys.executable, phone=str(phone), recorded=EXECUTOR_RUNNER))
    adb.chmod(adb.stat().st_mode | stat.S_IEXEC)
    binary = tmp_path / "executor_runner"
    binary.write_bytes(b"\x7fELF")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HWNAS_ADB_BINARY", str(binary))
    monkeypatch.setattr(et, "lower_to_xnnpack", lambda model, x: et.PteProgram(
        repr(_phone_ms(model)).encode(), 0, (), 0.0, 0.0, 0.0))
    spec = {"name": "phone", "resolution": 8, "num_classes": 4, "stem_channels": 8, "stem_stride": 1,
            "first_block_channels": 0, "stages": [[8, 1, 1], [16, 1, 2]], "head_channels": 16,
            "kernels": [3], "expands": [2]}
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    out = tmp_path / "adb.json"
    r = CliRunner().invoke(app, ["profile", "--space", str(spec_file), "--runtime", "adb", "--out", str(out),
                                 "--runs", "5", "--rounds", "2", "--warmup", "0", "--no-pin", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["call_overhead_ms"] == pytest.approx(OVERHEAD_MS, rel=1e-6)
    table = LatencyTable.load(out)
    ops = unique_ops(get_space(str(spec_file)))
    assert table.meta.runtime == "adb" and len(table.entries) == len(ops)
    for op in ops:  # in context: the op's program minus its carriers' = the op's own parameters
        want = MS_PER_PARAM * sum(p.numel() for p in build_op(op, "relu6").parameters())
        assert table.entries[op.key].p50 == pytest.approx(want, rel=1e-6, abs=1e-9), op.key
