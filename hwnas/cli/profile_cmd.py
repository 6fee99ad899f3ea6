"""``hwnas profile``: measure every op of a space on one runtime into a (resumable) latency table."""

from __future__ import annotations

import platform
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from hwnas.cli.app import app
from hwnas.cli.common import JSON_OPTION, console, force_option, guarded, out_option, print_json


def protocol_options(threads: int, batch: int, runs: int, rounds: int, warmup: int, pin: bool,
                     clock: str):
    from hwnas.latency.measure import MeasureProtocol

    return MeasureProtocol(threads=threads, batch=batch, runs=runs, rounds=rounds, warmup=warmup,
                           pin_cpu=pin, clock=clock)


CALIBRATION_ARCHS = 24  # enough for a 5-fold choice between models; minutes even at 224x224
RUNTIME_HELP = ("Runtime that times the ops: torch-cpu | onnxruntime | executorch | adb (a phone) | "
                "torch-cuda | tensorrt.")
CLOCK_HELP = ("How a run is timed. thread: CPU time of the measuring thread (time it spends descheduled "
              "by other processes is not counted), repeatable on a busy or shared machine, but only "
              "right when the runtime computes on that one thread (--threads 1). wall: elapsed time, "
              "which counts every thread's work and every wait; use it for --threads > 1 and on a "
              "quiet machine. auto: thread when --threads is 1, else wall. GPU and phone runtimes "
              "time themselves and ignore it.")


@app.command("profile")
@guarded(resume="")
def profile(space: str = typer.Option(..., "--space", "-s", help="Space preset or spec file."),
            runtime: str = typer.Option(..., "--runtime", "-r", help=RUNTIME_HELP),
            out: Path = out_option("Table file (JSON); an existing one for the same space, runtime "
                                   "and protocol is resumed."),
            force: bool = force_option("the table there: profiling starts over"),
            threads: int = typer.Option(1, min=1, help="Intra-op threads of the runtime (the table "
                                                        "holds for this count only)."),
            batch: int = typer.Option(1, min=1, help="Batch size of the timed input."),
            device_name: str = typer.Option(platform.node() or "this-host", "--device-name",
                                            help="Your name for the device (stored in the table)."),
            runs: int = typer.Option(50, min=1, help="Timed runs per op and round (at least; more "
                                                     "until the median is stable)."),
            rounds: int = typer.Option(5, min=1, help="Interleaved rounds over the ops: each visits "
                                                      "every op in a new order, so drift hits all alike."),
            warmup: int = typer.Option(10, min=0, help="Untimed runs before timing each op."),
            pin: bool = typer.Option(True, "--pin/--no-pin", help="Pin the process to one core."),
            clock: str = typer.Option("auto", help=CLOCK_HELP),
            # int8 hunk: the number type the ops are timed in (meta.dtype of the table)
            dtype: str = typer.Option("float32", "--dtype", help="float32 (fp32) | int8: int8 "
                                      "quantizes each op statically (QDQ, onnxruntime only)."),
            calibrate: bool = typer.Option(True, "--calibrate/--no-calibrate",
                                           help="End by measuring --calibration-archs whole archs (twice: "
                                                "the second pass is the device's repeat) and fitting the "
                                                "table's correction on them; resumable like the ops."),
            calibration_archs: int = typer.Option(CALIBRATION_ARCHS, "--calibration-archs", min=4,
                                                  help="Whole archs measured for the calibration (more: "
                                                       "a surer fit, a longer profile)."),
            json_out: bool = JSON_OPTION) -> None:
    """Profile every op the space can produce (deduplicated) on this machine; rerun the same
    command to resume. The table records the machine, so using it elsewhere warns."""
    from hwnas.latency.profile import check_resume, profile_space, unique_ops
    from hwnas.latency.table import normalize_dtype
    from hwnas.plugins import get_profiler
    from hwnas.space import get_space

    s = get_space(space)
    prof = get_profiler(runtime, protocol_options(threads, batch, runs, rounds, warmup, pin, clock),
                        dtype=normalize_dtype(dtype))
    if out.exists() and out.is_dir():
        from hwnas.errors import HwnasError

        raise HwnasError(f"--out {out} is a folder", "pass a file path like table.json")
    if not force:
        check_resume(s, prof, out, device_name)
    elif out.is_file():
        out.unlink()  # --force: start the table over (every input was checked above)
    total = len(unique_ops(s))
    columns = (TextColumn("[bold]profile[/] {task.fields[key]}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, disable=json_out, transient=False) as bar:
        task = bar.add_task("ops", total=total, key="")

        def on_progress(p) -> None:
            bar.update(task, completed=p.done, key=p.key[:48])

        table = profile_space(s, prof, out, device_name=device_name, on_progress=on_progress,
                              calibration_archs=calibration_archs if calibrate else 0)
    info = {"out": str(out), "space": s.name, "runtime": runtime, "dtype": table.meta.dtype,
            "entries": len(table.entries),
            "profile_seconds": table.meta.protocol.get("profile_seconds"),
            "call_overhead_ms": table.meta.protocol.get("call_overhead_ms"),
            "device_detail": table.meta.device_detail,
            "calibration": None if table.calibration is None else table.calibration.to_dict()}
    if json_out:
        print_json(info)
        return
    console.print(f"wrote {out}: {info['entries']} ops of {s.name} on {runtime} "
                  f"({info['profile_seconds']} s; per-call overhead {info['call_overhead_ms']} ms)",
                  highlight=False)
    from hwnas.latency.calibration import describe

    console.print(describe(table.calibration), highlight=False, soft_wrap=True)
