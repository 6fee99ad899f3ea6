"""One ``checkpoint.pt`` per finished epoch: weights, optimizer, schedule, scaler, RNG states.

Read back with ``torch.load(weights_only=True)``: a checkpoint holds tensors, numbers and
strings only, so loading one cannot run code.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from hwnas.errors import HwnasError
from hwnas.io import write_bytes
from hwnas.train.config import RESUMABLE_CHANGES, TrainConfig

CHECKPOINT = "checkpoint.pt"
FORMAT = 1


class CheckpointError(HwnasError):
    """A checkpoint that is missing, unreadable or made by other settings."""


def save_checkpoint(folder: Path, *, epoch: int, config: TrainConfig, world_size: int, model: dict,
                    optimizer: dict, scheduler: dict, scaler: dict, loader_rng: torch.Tensor,
                    history: list[dict]) -> None:
    state = {
        "format": FORMAT, "epoch": epoch, "world_size": world_size,
        "config": json.dumps(config.to_dict(), sort_keys=True), "history": json.dumps(history),
        "model": model, "optimizer": optimizer, "scheduler": scheduler, "scaler": scaler,
        "rng": {"torch": torch.get_rng_state(), "loader": loader_rng},
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes(folder / CHECKPOINT, buffer.getvalue())  # atomic: a kill never leaves half a file


def load_checkpoint(folder: Path, config: TrainConfig, world_size: int,
                    say=lambda _msg: None) -> dict:
    """The checkpoint in ``folder``, checked against the settings of the run that resumes it."""
    path = folder / CHECKPOINT
    if not path.is_file():
        raise CheckpointError(f"nothing to resume: {path} does not exist",
                              "drop --resume to start a new run")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise CheckpointError(f"{path} cannot be read as a checkpoint ({type(exc).__name__})",
                              "drop --resume and train again") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an hwnas training checkpoint", "drop --resume")
    saved = json.loads(state["config"])
    now = config.to_dict()
    changed = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k])
    if changed:
        what = ", ".join(f"{k} {saved.get(k)!r} -> {now[k]!r}" for k in changed)
        raise CheckpointError(f"{path} was written with other settings ({what})",
                              "resume with the original settings or start a new --out")
    if state["world_size"] != world_size:
        if config.batch_size % world_size:
            raise CheckpointError(f"{path} was written by {state['world_size']} rank(s); the global "
                                  f"batch {config.batch_size} cannot be split over {world_size}",
                                  f"resume with --nproc {state['world_size']} or a divisor of the batch")
        say(f"resuming a {state['world_size']}-rank checkpoint on {world_size} rank(s): training "
            f"continues, but the sample order differs, so the result will not equal the "
            f"uninterrupted run's")
    state["history"] = json.loads(state["history"])
    return state
