"""``hwnas train`` and ``hwnas demo``."""

from __future__ import annotations

from pathlib import Path

import typer

from hwnas.cli.app import app
from hwnas.cli.common import (
    JSON_OPTION,
    THREADS_HELP,
    check_out_dir,
    console,
    force_option,
    guarded,
    out_option,
    print_json,
    resume_option,
    threads_option,
)
from hwnas.cli.spaces_cmd import SPACE_OPTION
from hwnas.data import load_for_space
from hwnas.data.transforms import PRESETS
from hwnas.errors import HwnasError
from hwnas.io import save_weights, write_json
from hwnas.nn import build_model, count_macs, count_params
from hwnas.space import get_space
from hwnas.train import TrainConfig, TrainIO, seeded, train_model
from hwnas.train.checkpoint import CHECKPOINT

WRITES = ("metrics.json", "weights.pt", "metrics.jsonl", CHECKPOINT)


def train_arch(space_name: str, arch_text: str, data_spec: str, config: TrainConfig,
               out: Path | None, progress: bool = True, augment: str = "none", cutout: int = 0,
               tensorboard: Path | None = None, resume: bool = False) -> dict:
    """Train one arch from scratch; write metrics.json, metrics.jsonl, checkpoint.pt and
    weights.pt into ``out`` if given (rank 0 only when distributed)."""
    space = get_space(space_name)
    arch = space.parse(arch_text)
    data = load_for_space(data_spec, space, augment=augment, cutout=cutout)
    model = seeded(config.seed, lambda: build_model(space, arch))
    io = TrainIO(metrics_jsonl=out / "metrics.jsonl" if out else None, tensorboard_dir=tensorboard,
                 checkpoint_dir=out, resume=resume)
    result = train_model(model, data, config, progress=progress, label=f"train {space.name}", io=io,
                         say=lambda msg: console.print(msg, highlight=False))
    metrics = {
        "space": space.name, "space_fingerprint": space.fingerprint(), "arch": str(arch),
        "data": data_spec, "augment": data.augment, "split_sizes": data.sizes(),
        "config": config.to_dict(),
        "params": count_params(model), "macs": count_macs(model, space.input_shape),
        **result.to_dict(),
    }
    from hwnas.train import ranks_from_env

    if out is not None and ranks_from_env().is_main:
        save_weights(out / "weights.pt", model.state_dict())
        write_json(out / "metrics.json", metrics)
    return metrics


def _rank_entry(space_name: str, arch_text: str, data_spec: str, config: TrainConfig, out: Path,
                progress: bool, augment: str, cutout: int, tensorboard: Path | None, resume: bool) -> dict:
    metrics = train_arch(space_name, arch_text, data_spec, config, out, progress, augment, cutout,
                         tensorboard, resume)
    return {k: v for k, v in metrics.items() if k != "history"}


def _check_settings(config: TrainConfig, nproc: int, tensorboard: Path | None) -> None:
    """Refuse bad settings before anything is written (the library would too, but later)."""
    from hwnas.train import check_nproc, resolve_device
    from hwnas.train.runtime import check_precision

    device = resolve_device(config.device)
    check_precision(config.precision, device)
    check_nproc(nproc, config.device)
    if config.batch_size % nproc:
        raise HwnasError(f"the global batch {config.batch_size} cannot be split over {nproc} ranks",
                         f"pass a --batch-size divisible by {nproc}")
    if not 0.0 <= config.label_smoothing < 1.0:
        raise HwnasError(f"--label-smoothing must be in [0, 1), not {config.label_smoothing}",
                         "pass 0.1 or so")
    if tensorboard is not None:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise HwnasError("--tensorboard needs the tensorboard package, which is not installed",
                             "pip install 'hwnas[tensorboard]' or drop --tensorboard")


@app.command("train")
@guarded(resume="--resume")
def train(arch: str = typer.Argument(..., help="Canonical arch string."),
          space: str = SPACE_OPTION,
          data: str = typer.Option("digits", help="digits | synthetic | cifar10:PATH | cifar100:PATH | "
                                                  "imagefolder:PATH (never downloaded)."),
          epochs: int = typer.Option(10, min=1, help="Training epochs."),
          batch_size: int = typer.Option(64, min=1, help="Global batch: split evenly over --nproc ranks."),
          lr: float = typer.Option(0.05, min=0.0, help="Peak learning rate (cosine schedule)."),
          seed: int = typer.Option(0, help="Seeds the split, weights, sample order and augmentation."),
          out: Path = out_option("Folder for metrics.json, metrics.jsonl, checkpoint.pt and weights.pt."),
          force: bool = force_option("the files train writes (" + ", ".join(WRITES) + ")"),
          device: str = typer.Option("auto", help="auto (CUDA when present) | cpu | cuda | cuda:N."),
          precision: str = typer.Option("fp32", help="fp32 | bf16 (CPU and GPU) | fp16 (GPU, loss-scaled)."),
          compile_: bool = typer.Option(False, "--compile/--no-compile",
                                        help="torch.compile the model; falls back to eager with a note."),
          channels_last: bool = typer.Option(False, help="Channels-last memory format (faster GPU convs)."),
          workers: int = typer.Option(0, help="Data-loader worker processes (0: load in-process)."),
          augment: str = typer.Option("auto", help="Training-split augmentation: none | cifar (pad-4 crop "
                                                   "+ flip) | shift (pad-4 crop, no flip: digits, text) | "
                                                   "imagenet (random-resized crop + flip) | auto "
                                                   "(by dataset; none for digits and synthetic)."),
          cutout: int = typer.Option(0, help="Cutout square side in pixels (0: off)."),
          label_smoothing: float = typer.Option(0.0, help="Label smoothing of the training loss, in [0, 1)."),
          threads: int = threads_option(THREADS_HELP[:-1] + "; shared between --nproc ranks)."),
          nproc: int = typer.Option(1, help="Local processes for DistributedDataParallel (gloo on CPU, "
                                            "NCCL on CUDA); under torchrun leave it at 1."),
          sync_bn: bool = typer.Option(False, help="SyncBatchNorm across ranks (distributed only)."),
          resume: bool = resume_option("Continue from --out's checkpoint.pt (any --nproc); an --out "
                                       "interrupted before its first checkpoint starts over."),
          tensorboard: Path | None = typer.Option(None, help="Also log per-epoch scalars to this "
                                                             "TensorBoard folder (needs tensorboard)."),
          json_out: bool = JSON_OPTION) -> None:
    """Train an architecture from scratch and save its metrics and weights."""
    from hwnas.train import default_threads, launch_local, ranks_from_env

    if workers < 0:
        raise HwnasError(f"--workers must be >= 0, not {workers}", "pass --workers 0 or more")
    if threads < 0:
        raise HwnasError(f"--threads must be >= 0, not {threads}", "pass --threads 0 (automatic) or more")
    if force and resume:
        raise HwnasError("--force starts over in --out and --resume continues there", "pass one of them")
    if augment not in PRESETS:
        raise HwnasError(f"unknown --augment {augment!r}", f"pass one of {', '.join(PRESETS)}")
    ranks = ranks_from_env()
    if ranks.distributed and nproc > 1:
        raise HwnasError("--nproc inside a torchrun launch", "drop --nproc; torchrun starts the ranks")
    local = ranks.local_world_size if ranks.distributed else nproc
    config = TrainConfig(epochs, batch_size, lr, seed=seed, device=device, precision=precision,
                         channels_last=channels_last, compile=compile_, label_smoothing=label_smoothing,
                         threads=threads or default_threads(local), workers=workers, sync_bn=sync_bn)
    get_space(space).parse(arch)  # fail on a bad arch before touching the disk
    _check_settings(config, 1 if ranks.distributed else nproc, tensorboard)
    load_for_space(data, get_space(space), augment=augment, cutout=cutout)  # a bad folder fails here
    if ranks.is_main:
        if resume and not (out / CHECKPOINT).is_file():
            if not out.is_dir():
                raise HwnasError(f"nothing to resume: {out / CHECKPOINT} does not exist",
                                 "drop --resume to start a new run")
            # interrupted before the first checkpoint: the printed --resume command starts over,
            # replacing only train's own files (as the --force it may have dropped would)
            resume = False
            check_out_dir(out, WRITES, force=True)
        elif not resume:
            check_out_dir(out, WRITES, force)
    args = (space, arch, data, config, out, not json_out, augment, cutout, tensorboard, resume)
    if nproc > 1:
        metrics = launch_local(nproc, _rank_entry, args)
    else:
        try:
            metrics = _rank_entry(*args)
        finally:
            if ranks.distributed:
                import torch.distributed as dist

                dist.destroy_process_group()
    if not ranks.is_main:
        return
    if json_out:
        print_json(metrics)
        return
    console.print(f"trained {metrics['arch']} on {data} for {epochs} epochs in "
                  f"{metrics['wall_s']:.1f} s ({metrics['images_per_s']:.0f} img/s, "
                  f"{metrics['world_size']} rank(s)): val acc {metrics['val_acc']:.3f}, "
                  f"test acc {metrics['test_acc']:.3f}", highlight=False)
    console.print(f"wrote {out / 'metrics.json'}, metrics.jsonl, {CHECKPOINT} and weights.pt",
                  highlight=False)


@app.command("demo")
@guarded(resume="")
def demo(out: Path = out_option("Folder for the demo's artifacts: new, empty, or an interrupted "
                                "demo's (the same command resumes it; nothing is deleted).",
                                Path("hwnas-demo")),
         quick: bool = typer.Option(False, help="CI-sized run (about a minute)."),
         seed: int = typer.Option(0, help="Seeds the searches, splits and weights."),
         threads: int = threads_option(), json_out: bool = JSON_OPTION) -> None:
    """The whole pipeline on the embedded default (digits, mbconv-small, this CPU):
    profile -> validate -> budgeted gradient search -> train -> ONNX export + check ->
    evolution with one-shot evaluation -> Pareto report."""
    from rich.table import Table

    from hwnas.demo import run_demo
    from hwnas.train.runtime import apply_threads

    threads_used = apply_threads(threads)
    # run_demo refuses a folder it did not make, before writing anything
    summary = run_demo(out, quick=quick, seed=seed, threads=threads_used,
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
        ("torch threads (training, search)", str(threads_used)),
        ("table ops", str(summary["table_ops"])),
        ("table within +-10 % (calibrated, held out)", fmt(summary["table_within_10pct_calibrated"], ".0%")),
        ("budget", f"{summary['budget_ms']:.3f} ms"),
        ("derived arch", summary["arch"]),
        ("predicted latency", f"{fmt(summary['predicted_ms'], '.3f')} ms"),
        ("measured latency (ONNX Runtime, p50)", f"{fmt(summary['measured_ms'], '.3f')} ms"),
        ("test accuracy (trained from scratch)", fmt(summary["test_acc"], ".3f")),
        ("ONNX parity max abs diff", fmt(summary["parity_max_abs_diff"], ".1e")),
        ("evolution front size", str(summary["front_size"])),
        ("evolution hypervolume (one-shot validation accuracy x latency)",
         fmt(summary["hypervolume"], ".4g")),
        ("wall time", f"{summary['wall_s']:.0f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    console.print(f"open {out / 'report' / 'index.html'} for the trade-offs; every artifact is "
                  f"under {out} (demo.json lists them)", highlight=False)
