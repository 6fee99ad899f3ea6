"""``hwnas train`` and ``hwnas demo``."""

from __future__ import annotations

from pathlib import Path

import typer

from hwnas.cli.app import app
from hwnas.cli.common import JSON_OPTION, check_out_dir, console, guarded, print_json
from hwnas.cli.spaces_cmd import SPACE_OPTION
from hwnas.data import load_for_space
from hwnas.io import save_weights, write_json
from hwnas.nn import build_model, count_macs, count_params
from hwnas.space import get_space
from hwnas.train import TrainConfig, seeded, train_model


def train_arch(space_name: str, arch_text: str, data_spec: str, config: TrainConfig,
               out: Path | None, progress: bool = True) -> dict:
    """Train one arch from scratch; write metrics.json and weights.pt into ``out`` if given."""
    space = get_space(space_name)
    arch = space.parse(arch_text)
    data = load_for_space(data_spec, space)
    model = seeded(config.seed, lambda: build_model(space, arch))
    result = train_model(model, data, config, progress=progress, label=f"train {space.name}")
    metrics = {
        "space": space.name, "space_fingerprint": space.fingerprint(), "arch": str(arch),
        "data": data_spec, "split_sizes": data.sizes(), "config": config.__dict__,
        "params": count_params(model), "macs": count_macs(model, (3, space.resolution, space.resolution)),
        **result.to_dict(),
    }
    if out is not None:
        save_weights(out / "weights.pt", model.state_dict())
        write_json(out / "metrics.json", metrics)
    return metrics


@app.command("train")
@guarded
def train(arch: str = typer.Argument(..., help="Canonical arch string."),
          space: str = SPACE_OPTION,
          data: str = typer.Option("digits", help="digits | synthetic | cifar10:PATH | imagefolder:PATH"),
          epochs: int = typer.Option(10, min=1), batch_size: int = typer.Option(64, min=1),
          lr: float = typer.Option(0.05, min=0.0), seed: int = typer.Option(0),
          out: Path = typer.Option(..., help="Folder for metrics.json and weights.pt."),
          force: bool = typer.Option(False, help="Use a non-empty --out, replacing metrics.json and weights.pt there."),
          json_out: bool = JSON_OPTION) -> None:
    """Train an architecture from scratch and save its metrics and weights."""
    get_space(space).parse(arch)  # fail on a bad arch before touching the disk
    check_out_dir(out, ("metrics.json", "weights.pt"), force)
    metrics = train_arch(space, arch, data, TrainConfig(epochs, batch_size, lr, seed=seed), out,
                         progress=not json_out)
    if json_out:
        print_json({k: v for k, v in metrics.items() if k != "history"})
        return
    console.print(f"trained {metrics['arch']} on {data} for {epochs} epochs in "
                  f"{metrics['wall_s']:.1f} s: val acc {metrics['val_acc']:.3f}, "
                  f"test acc {metrics['test_acc']:.3f}", highlight=False)
    console.print(f"wrote {out / 'metrics.json'} and {out / 'weights.pt'}", highlight=False)


@app.command("demo")
@guarded
def demo(out: Path = typer.Option(Path("hwnas-demo"), help="Folder for the demo's artifacts."),
         quick: bool = typer.Option(False, help="CI-sized run (about a minute)."),
         seed: int = typer.Option(0), json_out: bool = JSON_OPTION) -> None:
    """The whole pipeline on the embedded default (digits, mbconv-small, this CPU):
    profile -> validate -> budgeted gradient search -> train -> ONNX export + check ->
    evolution with one-shot evaluation -> Pareto report."""
    from rich.table import Table

    from hwnas.demo import run_demo

    check_out_dir(out, ("demo.json",), force=True)
    summary = run_demo(out, quick=quick, seed=seed,
                       say=(lambda _msg: None) if json_out else
                       (lambda msg: console.print(msg, highlight=False)))
    if json_out:
        print_json(summary)
        return
    table = Table("figure", "value", title="hwnas demo summary")

    def fmt(value, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    rows = [
        ("space / runtime", f"{summary['space']} / {summary['runtime']} (this CPU, 1 thread)"),
        ("table ops", str(summary["table_ops"])),
        ("table within +-10 % (calibrated, held out)", fmt(summary["table_within_10pct_calibrated"], ".0%")),
        ("budget", f"{summary['budget_ms']:.3f} ms"),
        ("derived arch", summary["arch"]),
        ("predicted latency", f"{fmt(summary['predicted_ms'], '.3f')} ms"),
        ("measured latency (ONNX Runtime, p50)", f"{fmt(summary['measured_ms'], '.3f')} ms"),
        ("test accuracy (trained from scratch)", fmt(summary["test_acc"], ".3f")),
        ("ONNX parity max abs diff", fmt(summary["parity_max_abs_diff"], ".1e")),
        ("evolution front size", str(summary["front_size"])),
        ("hypervolume", fmt(summary["hypervolume"], ".4g")),
        ("wall time", f"{summary['wall_s']:.0f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    console.print(f"open {out / 'report' / 'index.html'} for the trade-offs; every artifact is "
                  f"under {out} (demo.json lists them)", highlight=False)
