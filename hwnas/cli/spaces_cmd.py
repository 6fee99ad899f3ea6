"""``hwnas spaces`` and ``hwnas arch sample|show|validate``."""

from __future__ import annotations

import numpy as np
import typer
from rich.table import Table

from hwnas.cli.app import app, arch_app
from hwnas.cli.common import JSON_OPTION, console, guarded, print_json
from hwnas.nn import build_model, count_macs, count_params
from hwnas.space import get_space, space_names

SPACE_OPTION = typer.Option("mbconv-small", "--space", "-s",
                            help="Space preset name or an mbconv spec file (.json/.toml).")


@app.command("spaces")
@guarded
def spaces(json_out: bool = JSON_OPTION) -> None:
    """List the search spaces with their sizes."""
    rows = []
    for name in space_names():
        s = get_space(name)
        rows.append({"name": name, "family": s.family, "positions": s.num_positions,
                     "size": s.size(), "resolution": s.resolution, "num_classes": s.num_classes,
                     "distinct_ops": len(s.all_ops()), "fingerprint": s.fingerprint()})
    if json_out:
        print_json(rows)
        return
    table = Table("space", "family", "layers", "architectures", "resolution", "classes", "ops")
    for r in rows:
        table.add_row(r["name"], r["family"], str(r["positions"]), f"{r['size']:,}",
                      str(r["resolution"]), str(r["num_classes"]), str(r["distinct_ops"]))
    console.print(table)


@arch_app.command("sample")
@guarded
def sample(space: str = SPACE_OPTION, seed: int = typer.Option(0, help="Generator seed."),
           count: int = typer.Option(1, min=1, help="How many archs."),
           json_out: bool = JSON_OPTION) -> None:
    """Sample random architectures (the same seed gives the same archs)."""
    s = get_space(space)
    rng = np.random.default_rng(seed)
    archs = [str(s.sample(rng)) for _ in range(count)]
    if json_out:
        print_json({"space": s.name, "seed": seed, "archs": archs})
    else:
        for a in archs:
            typer.echo(a)


def arch_summary(space_name: str, arch_text: str) -> dict:
    s = get_space(space_name)
    arch = s.parse(arch_text)
    model = build_model(s, arch)
    ops = s.ops(arch)
    return {
        "space": s.name, "arch": str(arch), "layers": list(arch.choices),
        "params": count_params(model), "macs": count_macs(model, (3, s.resolution, s.resolution)),
        "ops": [op.key for op in ops],
    }


@arch_app.command("show")
@guarded
def show(arch: str = typer.Argument(..., help="Canonical arch string."),
         space: str = SPACE_OPTION, json_out: bool = JSON_OPTION) -> None:
    """Show an architecture's layers, parameter count, MACs and the ops it uses."""
    info = arch_summary(space, arch)
    if json_out:
        print_json(info)
        return
    console.print(f"[bold]{info['arch']}[/]  ({info['space']})", highlight=False)
    console.print(f"params {info['params']:,}   MACs {info['macs']:,}")
    table = Table("#", "op key")
    for i, key in enumerate(info["ops"]):
        table.add_row(str(i), key)
    console.print(table)


@arch_app.command("validate")
@guarded
def validate(arch: str = typer.Argument(..., help="Canonical arch string."),
             space: str = SPACE_OPTION, json_out: bool = JSON_OPTION) -> None:
    """Check that an arch string belongs to the space (exit code 2 with the reason if not)."""
    s = get_space(space)
    parsed = s.parse(arch)
    if json_out:
        print_json({"space": s.name, "arch": str(parsed), "valid": True})
    else:
        typer.echo(f"valid: {parsed}")
