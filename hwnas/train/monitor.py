"""Progress you can watch: a bar with images/s and ETA, per-epoch JSONL records, TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path

from hwnas.errors import RuntimeMissingError
from hwnas.io import append_jsonl, write_text


class EpochSink:
    """Writes each epoch's record to a JSONL file and (optionally) TensorBoard scalars.

    Built on rank 0 only; the TensorBoard writer is imported when first asked for, so the
    package is needed only by ``--tensorboard``.
    """

    def __init__(self, jsonl: Path | None, tensorboard_dir: Path | None):
        self.jsonl = jsonl
        self.writer = None
        if tensorboard_dir is not None:
            self.writer = open_tensorboard(tensorboard_dir)

    def restart(self, history: list[dict]) -> None:
        """A resumed run: the file holds exactly the epochs the checkpoint holds."""
        if self.jsonl is not None:
            write_text(self.jsonl, "".join(json.dumps(r) + "\n" for r in history))

    def add(self, record: dict) -> None:
        if self.jsonl is not None:
            append_jsonl(self.jsonl, record)
        if self.writer is not None:
            for key, value in record.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, record["epoch"])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def open_tensorboard(log_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise RuntimeMissingError("--tensorboard needs the tensorboard package, which is not installed",
                                  "pip install 'hwnas[tensorboard]' or drop --tensorboard") from None
    return SummaryWriter(log_dir=str(log_dir))


class Progress:
    """A transient bar over all training steps: loss, validation accuracy, images/s and ETA."""

    def __init__(self, label: str, total_steps: int, enabled: bool):
        from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self.enabled = enabled
        self.bar = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(),
                                TextColumn("{task.fields[status]}"), TimeRemainingColumn(),
                                transient=True, disable=not enabled)
        self.task = self.bar.add_task(label, total=total_steps, status="")

    def __enter__(self) -> Progress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def step(self, status: str | None = None) -> None:
        if status is None:
            self.bar.update(self.task, advance=1)
        else:
            self.bar.update(self.task, advance=1, status=status)

    def status(self, status: str) -> None:
        self.bar.update(self.task, status=status)
