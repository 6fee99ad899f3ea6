"""``hwnas lut show|predict|validate|list|import-hwnasbench``: inspect and check latency tables."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from hwnas.cli.app import app
from hwnas.cli.common import JSON_OPTION, console, err_console, guarded, print_json

lut_app = typer.Typer(help="Show, query and validate latency tables.", no_args_is_help=True)
app.add_typer(lut_app, name="lut")

TABLE_ARG = typer.Argument(..., help="Table file, or a shipped name like pixel3/latency-fbnet-cifar100.")
SPACE_OVERRIDE = typer.Option(None, "--space", "-s",
                              help="Space (default: the table's); a different one is an error.")


def runtime_version_here(runtime: str) -> str | None:
    """``runtime``'s version on this machine: ``""`` when it cannot run here, ``None`` when
    hwnas has no profiler of that name (a published table's runtime, such as hwnasbench-pixel3)."""
    from hwnas.errors import HwnasError
    from hwnas.plugins import profiler_class

    try:
        cls = profiler_class(runtime)
    except HwnasError:
        return None
    if cls.unusable() is not None:
        return ""
    return cls().runtime_version()


def uncalibrated_note(spec: str, table) -> str | None:
    """What to say when ``table`` prices with raw op sums (no correction fitted on whole archs),
    or ``None``. Only tables measured by ``hwnas profile`` are meant: published figures cannot
    be re-measured here, and a synthetic table's prices are exact by construction."""
    measured = table.meta.source.startswith("measured") and not table.meta.protocol.get("published")
    if not measured or (table.calibration is not None and table.calibration.fitted):
        return None
    return (f"table {spec} is uncalibrated: it prices archs by summing isolated op timings, which can "
            "read tens of % off on whole networks; fit its correction with `hwnas profile --space "
            f"{table.meta.space} --runtime {table.meta.runtime} --out TABLE` (it resumes the table and "
            f"ends by calibrating) or `hwnas lut validate {spec} --calibrate`")


def warn_if_foreign(spec: str, table=None) -> None:
    """Say once, in one line on stderr, when table ``spec`` was measured on another machine
    and/or is uncalibrated (:func:`uncalibrated_note`).

    Pricing commands (search, report, lut predict) call this once per ``--lut``; ``table`` saves
    a reload.
    """
    from hwnas.latency.shipped import load_table

    table = table if table is not None else load_table(spec)
    provenance = table.provenance(str(spec))
    if provenance.status not in ("published", "remote"):  # those compare no runtime here
        provenance = table.provenance(str(spec), runtime_version_here(table.meta.runtime))
    notes = [n for n in (provenance.warning(), uncalibrated_note(str(spec), table)) if n]
    if notes:  # one line, however many reasons: a warning repeated per cause would be noise
        err_console.print("warning: " + "; also, ".join(notes), highlight=False, soft_wrap=True, markup=False)


def warn_if_uncalibrated(spec: str, table) -> None:
    """One stderr line when ``table`` is uncalibrated (the export check's comparison)."""
    note = uncalibrated_note(str(spec), table)
    if note:
        err_console.print(f"warning: {note}", highlight=False, soft_wrap=True, markup=False)


def _load(spec: str, space: str | None):
    from hwnas.latency.shipped import load_table
    from hwnas.space import get_space

    table = load_table(spec)
    s = get_space(space or table.meta.space)
    table.check_space(s)
    return table, s


@lut_app.command("list")
@guarded
def list_tables(json_out: bool = JSON_OPTION) -> None:
    """List the tables shipped with hwnas."""
    from hwnas.latency.shipped import shipped_names

    names = shipped_names()
    if json_out:
        print_json(names)
    else:
        for n in names:
            typer.echo(n)


@lut_app.command("show")
@guarded
def show(table_file: str = TABLE_ARG, json_out: bool = JSON_OPTION) -> None:
    """Show a table's metadata and the range of its entries."""
    from hwnas.latency.calibration import describe
    from hwnas.latency.shipped import load_table

    table = load_table(table_file)
    values = np.array([e.p50 for e in table.entries.values()]) if table.entries else np.zeros(1)
    calibration = None if table.calibration is None else table.calibration.to_dict()
    info = {"meta": asdict(table.meta), "entries": len(table.entries), "calibration": calibration,
            "calibration_summary": describe(table.calibration),
            "measured_under": measured_under(table, table_file),
            "min": float(values.min()), "median": float(np.median(values)), "max": float(values.max())}
    if json_out:
        print_json(info)
        return
    m = table.meta
    grid = Table("field", "value", show_header=False)
    for k in ("device_name", "device_detail", "runtime", "runtime_version", "torch_version", "space",
              "space_fingerprint", "resolution", "threads", "batch", "dtype", "metric", "unit",
              "created", "hwnas_version", "source"):
        grid.add_row(k, str(getattr(m, k)))
    grid.add_row("host", ", ".join(f"{k}={v}" for k, v in m.host.items()) or "not recorded")
    grid.add_row("protocol", ", ".join(f"{k}={v}" for k, v in m.protocol.items()
                                       if k != "calibration_measured"))
    grid.add_row("entries", f"{info['entries']} (p50 {info['min']:.4g} .. {info['max']:.4g} {m.unit})")
    grid.add_row("calibration", describe(table.calibration))
    grid.add_row("measured under", measured_under(table, table_file))
    console.print(grid)


def measured_under(table, spec: str) -> str:
    """Which machine and load a table was measured under, and, for a shipped CPU table, that a
    user's first step is profiling their own device (its prices describe another machine)."""
    from hwnas.latency.shipped import is_shipped, resolve_table

    m = table.meta
    if m.protocol.get("published"):
        return f"published figures for {m.device_detail or m.device_name} (not measured by hwnas)"
    load = m.protocol.get("load_avg_1min")
    host = m.host
    machine = (f"{host.get('cores', '?')} cores, host {host.get('host_id', '?')}" if host.get("host_id")
               else "the host was not recorded")
    where = (f"{m.device_detail or '?'} ({machine}), device {m.device_name}; load average "
             + (f"{load:.2f} (1 min) when profiling ended" if isinstance(load, (int, float))
                else "not recorded (profiled before hwnas recorded it)"))
    if is_shipped(resolve_table(spec)) and m.host.get("kind", "cpu") == "cpu":
        where += ("; a shipped example: its prices describe that machine, not yours. First step on "
                  f"your device: `hwnas profile --space {m.space} --runtime {m.runtime} --out my-table.json`")
    return where


@lut_app.command("predict")
@guarded
def predict(table_file: str = TABLE_ARG, arch: str = typer.Argument(..., help="Canonical arch string."),
            space: str | None = SPACE_OVERRIDE, json_out: bool = JSON_OPTION) -> None:
    """Predict an arch's whole-network latency (or energy) from a table."""
    table, s = _load(table_file, space)
    a = s.parse(arch)
    info = {"arch": str(a), "space": s.name, "predicted": table.predict(s, a),
            "raw_sum": table.raw_sum(s, a), "unit": table.meta.unit, "metric": table.meta.metric,
            "ops": {op.key: table.value(op) for op in s.ops(a)}}
    warn_if_foreign(table_file, table)  # stderr: the JSON on stdout stays clean
    if json_out:
        print_json(info)
    else:
        console.print(f"{info['predicted']:.4f} {info['unit']} ({table.meta.metric}, raw sum "
                      f"{info['raw_sum']:.4f}, {len(s.ops(a))} ops)", highlight=False)


@lut_app.command("validate")
@guarded
def validate(table_file: str = TABLE_ARG,
             samples: int = typer.Option(40, min=2, help="Random archs to build and measure end to end "
                                                          "(at least 4 with --calibrate)."),
             seed: int = typer.Option(0, help="Seed of the arch sample and of the round order."),
             space: str | None = SPACE_OVERRIDE,
             runtime: str | None = typer.Option(None, help="Runtime to measure on; it must be the "
                                                           "table's (the default)."),
             runs: int | None = typer.Option(None, min=1, help="Timed runs per arch and round "
                                                               "(default: the table's protocol)."),
             rounds: int | None = typer.Option(None, min=1, help="Interleaved rounds over the archs "
                                                                 "(default: the table's protocol)."),
             calibrate: bool = typer.Option(
                 False, help="Fit a correction on half the archs, report on the other half, and write "
                             "a calibrated copy of the table (see --out)."),
             out: Path | None = typer.Option(
                 None, "--out", "-o", help="File for the calibrated copy (default: TABLE.calibrated.json "
                                     "in the current folder); the table itself is never changed."),
             force: bool = typer.Option(False, "--force", "-f",
                                        help="Replace an existing --out or --plot file."),
             plot: Path | None = typer.Option(None, help="Write a PNG of predicted (and repeated) vs "
                                                         "measured latency here."),
             archs_file: Path | None = typer.Option(
                 None, "--archs", help="Validate on these archs instead of random ones: a JSON list of arch "
                                       "strings, `hwnas arch sample --json` output, or one arch per line "
                                       "(e.g. published networks rebuilt by a spec file)."),
             json_out: bool = JSON_OPTION) -> None:
    """Measure random archs (or your --archs) end to end (twice) and report the table's fidelity
    and the device's own repeatability. With --calibrate, write a calibrated copy of the table (a
    shipped table is never changed). Warns when the table was measured on another machine."""
    from dataclasses import fields, replace

    from hwnas.errors import TableError
    from hwnas.latency.fidelity import calibrated_copy_path, check_plot_path, plot_validation, validate_table
    from hwnas.latency.measure import MeasureProtocol
    from hwnas.latency.shipped import resolve_table
    from hwnas.latency.whole import read_archs
    from hwnas.plugins import get_profiler

    path = resolve_table(table_file)
    table, s = _load(str(path), space)
    if out is not None and not calibrate:
        raise TableError("--out names the calibrated copy, and nothing is calibrated without "
                         "--calibrate", "add --calibrate, or drop --out")
    target = calibrated_copy_path(path, out, force) if calibrate else None  # before measuring
    if plot is not None:
        check_plot_path(plot, force)
    listed = read_archs(archs_file, s) if archs_file is not None else None  # refused before measuring
    if listed is not None and calibrate and len(listed) < 4:
        raise TableError(f"--archs {archs_file} lists {len(listed)} archs, too few to calibrate on half "
                         "of them", "list at least 4, or drop --calibrate")
    if table.meta.protocol.get("published"):
        raise TableError(f"{table_file} holds published figures for {table.meta.device_detail}",
                         "only tables measured with `hwnas profile` on this machine can be validated here")
    rt = runtime or table.meta.runtime
    if rt != table.meta.runtime:
        raise TableError(f"{path} was made on runtime {table.meta.runtime!r}, not {rt!r} as asked",
                         f"validate with --runtime {table.meta.runtime} or profile {rt}")
    known = {f.name for f in fields(MeasureProtocol)}
    proto = MeasureProtocol(**{k: v for k, v in table.meta.protocol.items() if k in known})
    proto = replace(proto, threads=table.meta.threads, batch=table.meta.batch,
                    runs=runs or proto.runs, rounds=rounds or proto.rounds)
    prof = get_profiler(rt, proto, dtype=table.meta.dtype)  # int8 tables validate int8 nets
    v, new_table = validate_table(table, s, prof, samples, np.random.default_rng(seed), calibrate, listed)
    if target is not None:
        new_table.save(target)
    if plot is not None:
        plot_validation(v, plot, f"{table.meta.runtime} / {s.name} ({len(v.archs)} archs)")
    provenance = table.provenance(table_file, prof.runtime_version())
    foreign = provenance.warning(float(np.median(v.measured_ms)), float(np.median(v.predicted_ms)),
                                 table.meta.unit, f"medians of {len(v.archs)} archs")
    if json_out:
        print_json({**v.to_dict(), "calibrated_table": None if target is None else str(target),
                    "machine": provenance.to_dict(), "warning": foreign})
        return
    if foreign:
        err_console.print(f"warning: {foreign}", highlight=False, soft_wrap=True, markup=False)
    t = Table("", "within 10 %", "within 5 %", "MAPE %", "RMSE ms", "Kendall tau", "Spearman rho", "bias %")
    rows = [("table vs measured", v.fidelity), ("repeat vs measured", v.repeat)]
    if v.calibrated:
        from hwnas.latency.fidelity import Agreement

        rows += [("held-out, calibrated", Agreement(**v.calibrated["held_out"])),
                 ("held-out, uncalibrated", Agreement(**v.calibrated["uncalibrated_held_out"])),
                 ("held-out, repeat", Agreement(**v.calibrated["repeat_held_out"]))]
    for name, a in rows:
        t.add_row(name, f"{a.within_10pct:.0%}", f"{a.within_5pct:.0%}", f"{a.mape:.1f}", f"{a.rmse_ms:.3f}",
                  f"{a.kendall_tau:.3f}", f"{a.spearman_rho:.3f}", f"{a.bias_pct:+.1f}")
    console.print(t)
    console.print(f"{len(v.archs)} archs" + (f" from {archs_file}" if archs_file else "")
                  + f", {v.seconds_per_measurement:.2f} s per end-to-end measurement"
                  + (f"; calibrated copy of {path} written to {target}" if target else ""),
                  highlight=False, soft_wrap=True)


@lut_app.command("import-hwnasbench")
@guarded
def import_hwnasbench(raw: Path = typer.Argument(..., help="HW-NAS-Bench fbnet_lut.json"),
                      out_dir: Path = typer.Option(..., "--out", "-o",
                                                   help="Folder for <device>/<metric>-<space>.json."),
                      force: bool = typer.Option(False, "--force", "-f", help="Write into a non-empty "
                                                 "--out, replacing the tables there."),
                      json_out: bool = JSON_OPTION) -> None:
    """Convert HW-NAS-Bench FBNet per-op metrics into hwnas tables."""
    from hwnas.cli.common import check_out_dir
    from hwnas.latency.hwnasbench import convert_all

    check_out_dir(out_dir, ("the converted tables",), force, create=False)

    written = [str(p) for p in convert_all(raw, out_dir)]
    if json_out:
        print_json(written)
    else:
        console.print(f"wrote {len(written)} tables under {out_dir}", highlight=False)
