"""``hwnas supernet train`` and ``hwnas supernet rank``: a supernet trained once, its fidelity measured."""

from __future__ import annotations

from pathlib import Path

import typer

from hwnas.cli.app import app
from hwnas.cli.common import JSON_OPTION, check_out_dir, console, guarded, print_json
from hwnas.cli.spaces_cmd import SPACE_OPTION
from hwnas.errors import HwnasError

supernet_app = typer.Typer(help="Train a reusable supernet once; measure how well it ranks archs.",
                           no_args_is_help=True)
app.add_typer(supernet_app, name="supernet")


THREADS_OPTION = typer.Option(0, "--threads", help="torch threads (0: the cores this process may use).")


def _threads(threads: int) -> None:
    from hwnas.train.runtime import apply_threads

    apply_threads(threads)


def _say(json_out: bool):
    return (lambda _msg: None) if json_out else (lambda msg: console.print(msg, highlight=False))


@supernet_app.command("train")
@guarded
def train(space: str = SPACE_OPTION,
          data: str = typer.Option("digits", help="digits | synthetic | cifar10:PATH | cifar100:PATH | "
                                                  "imagefolder:PATH (never downloaded)."),
          epochs: int = typer.Option(5, min=1, help="Training epochs."),
          sampling: str = typer.Option("uniform", help="uniform (one random path a step) | tilted (one "
                                                       "path tilted to small or large ops) | sandwich "
                                                       "(largest, smallest and --random-paths paths) | "
                                                       "spread (sandwich with random paths tilted to "
                                                       "small or large ops: every MAC level trained)."),
          random_paths: int = typer.Option(2, help="Random paths per sandwich or spread step (k)."),
          distill: bool = typer.Option(False, help="Sandwich or spread: smaller paths learn the "
                                                   "largest path's soft labels (in-place distillation)."),
          augment: str = typer.Option("none", help="Training-split augmentation: none | cifar (pad-4 crop "
                                                   "and flip) | shift (pad-4 crop, no flip: digits, "
                                                   "text) | imagenet (random-resized crop and flip) "
                                                   "| auto (by dataset family)."),
          batch_size: int = typer.Option(64, min=1, help="Images a step (every path of a step sees them)."),
          lr: float = typer.Option(0.05, min=0.0, help="Peak learning rate (cosine schedule)."),
          seed: int = typer.Option(0, help="Seeds the weights, the paths and the batch order."),
          device: str = typer.Option("cpu", help="auto (CUDA when present) | cpu | cuda | cuda:N."),
          precision: str = typer.Option("fp32", help="fp32 | bf16 | fp16 (GPU)."),
          out: Path = typer.Option(..., "--out", "-o", help="Folder for supernet.pt, supernet.json and "
                                                            "checkpoint.pt."),
          force: bool = typer.Option(False, "--force", "-f", help="Use a non-empty --out, replacing the "
                                                                  "files this writes."),
          resume: bool = typer.Option(False, help="Continue --out's training from its last finished epoch."),
          threads: int = THREADS_OPTION,
          nproc: int = typer.Option(1, help="Local processes (gloo on CPU, NCCL on GPUs): each "
                                            "trains a slice of every batch on the same paths."),
          json_out: bool = JSON_OPTION) -> None:
    """Train a weight-sharing supernet once and keep it as a reusable artifact."""
    from hwnas.data import load_for_space
    from hwnas.evaluation.supernet_artifact import CHECKPOINT, WRITES, SupernetTrainConfig, train_supernet
    from hwnas.space import get_space
    from hwnas.train import check_nproc, launch_local, resolve_device
    from hwnas.train.runtime import check_precision

    cfg = SupernetTrainConfig(space=space, data=data, epochs=epochs, sampling=sampling,
                              random_paths=random_paths, distill=distill, augment=augment,
                              batch_size=batch_size, lr=lr, seed=seed, device=device, precision=precision)
    cfg.check()  # every input is checked before the folder is touched
    check_nproc(nproc, device)
    if batch_size % nproc:
        raise HwnasError(f"the global batch {batch_size} cannot be split over {nproc} ranks",
                         f"pass a --batch-size divisible by {nproc}")
    _threads(threads)
    the_space = get_space(space)
    check_precision(precision, resolve_device(device))
    load_for_space(data, the_space, augment=augment)
    if resume:
        if not (out / CHECKPOINT).is_file():
            raise HwnasError(f"nothing to resume: {out / CHECKPOINT} does not exist",
                             "drop --resume to start a new supernet")
    else:
        check_out_dir(out, WRITES, force)
    if nproc > 1:
        from hwnas.evaluation.supernet_artifact import train_supernet_rank

        meta = launch_local(nproc, train_supernet_rank, (cfg, str(out), resume, not json_out))
    else:
        meta = train_supernet(the_space, cfg, out, resume=resume, say=_say(json_out))
    if json_out:
        print_json(meta)
        return
    console.print(f"trained the {the_space.name} supernet ({sampling}) on {data} for {epochs} epochs: "
                  f"wrote {out / 'supernet.pt'} and supernet.json; measure its ranking with "
                  f"`hwnas supernet rank {out}`", highlight=False)


@supernet_app.command("rank")
@guarded
def rank(folder: Path = typer.Argument(..., help="A folder written by `hwnas supernet train`."),
         samples: int = typer.Option(8, help="Archs to rank, spread over the MAC range."),
         epochs: int = typer.Option(3, help="Stand-alone training epochs per arch and seed."),
         top_k: int = typer.Option(0, help="k of the top-k overlap (0: a quarter of --samples)."),
         seed: int = typer.Option(0, help="Seeds the arch sample; stand-alone runs use seed+1, seed+2."),
         threads: int = THREADS_OPTION,
         json_out: bool = JSON_OPTION) -> None:
    """Measure the supernet's ranking fidelity against stand-alone training (validation split)."""
    from hwnas.evaluation.fidelity_rank import RankConfig, measure_fidelity, store_fidelity
    from hwnas.evaluation.supernet_artifact import load_supernet

    cfg = RankConfig(samples=samples, epochs=epochs, seed=seed, top_k=top_k)
    cfg.check()
    supernet = load_supernet(folder)
    _threads(threads)
    fidelity = measure_fidelity(supernet, cfg, say=_say(json_out))
    png = store_fidelity(supernet, fidelity)
    if json_out:
        print_json({k: v for k, v in fidelity.items() if k != "archs"} | {"plot": str(png)})
        return
    ours, ceiling = fidelity["supernet_vs_standalone"], fidelity["seed_to_seed_ceiling"]

    def fmt(v):
        return "n/a" if v is None else f"{v:.3f}"

    console.print(f"supernet vs stand-alone: Kendall tau {fmt(ours['kendall_tau'])}, Spearman rho "
                  f"{fmt(ours['spearman_rho'])}, top-{fidelity['k']} overlap {ours['top_k_overlap']:.2f}",
                  highlight=False)
    console.print(f"seed-to-seed ceiling:    Kendall tau {fmt(ceiling['kendall_tau'])}, Spearman rho "
                  f"{fmt(ceiling['spearman_rho'])}, top-{fidelity['k']} overlap "
                  f"{ceiling['top_k_overlap']:.2f}", highlight=False)
    console.print(f"stored in {folder / 'supernet.json'}; plot {png}", highlight=False)


@supernet_app.command("predictor")
@guarded(resume="")
def predictor(folder: Path = typer.Argument(..., help="A folder written by `hwnas supernet train`."),
              samples: int = typer.Option(200, help="Archs to score with the supernet, spread over the "
                                                    "MAC range (scores go to DIR/scores.jsonl)."),
              seed: int = typer.Option(0, help="Seeds the arch sample and the held-out folds."),
              folds: int = typer.Option(5, help="K of the K-fold held-out fidelity check."),
              threads: int = THREADS_OPTION,
              json_out: bool = JSON_OPTION) -> None:
    """Fit an accuracy predictor on the supernet's own scores, once per supernet (DIR/predictor.json)."""
    from hwnas.evaluation.supernet_artifact import load_supernet
    from hwnas.specialize.predictor import PREDICTOR, build_predictor, check_build

    check_build(samples, folds)
    load_supernet(folder)  # not an artifact: refused before anything is scored
    _threads(threads)
    record = build_predictor(folder, samples, seed, folds, say=_say(json_out))
    if json_out:
        print_json({k: v for k, v in record.items() if k != "weights"})
        return
    fid = record["fidelity"]

    def fmt(v):
        return "n/a" if v is None else f"{v:.3f}"

    console.print(f"fitted a ridge predictor ({record['encoding']} encoding) on {samples} supernet "
                  f"scores in {record['score_s']:.1f} s + {record['fit_s']:.2f} s; held-out "
                  f"({fid['folds']}-fold) Kendall tau {fmt(fid['kendall_tau'])}, Spearman rho "
                  f"{fmt(fid['spearman_rho'])}, MAE {fid['mae']:.4f}", highlight=False)
    console.print(f"wrote {folder / PREDICTOR}; `hwnas specialize --supernet {folder}` now searches on "
                  "predicted accuracy", highlight=False)
