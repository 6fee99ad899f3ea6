"""``hwnas train``'s options: each bad value is one line, exit code 2, and nothing is written."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.train import cores_available

ARCH = "-".join(["k3e3"] * 13)  # mbconv-small

BAD = [
    (["--device", "cpu", "--precision", "fp16"], "fp16 is not supported on the CPU"),
    (["--precision", "fp64"], "unknown precision"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--nproc", str(cores_available() + 1), "--device", "cpu"], "CPU core(s) this process may use"),
    (["--workers", "-1"], "--workers must be >= 0"),
    (["--threads", "-2"], "--threads must be >= 0"),
    (["--augment", "heavy"], "unknown --augment 'heavy'"),
    (["--label-smoothing", "1.5"], "--label-smoothing must be in [0, 1)"),
    (["--nproc", "2", "--batch-size", "33", "--device", "cpu"], "cannot be split over 2 ranks"),
    (["--resume"], "nothing to resume"),
    (["--data", "imagefolder:{tmp}"], "no class folders with images"),
    (["--cutout", "4", "--augment", "none"], "cutout needs an augmentation preset"),
]
if not torch.cuda.is_available():
    BAD.append((["--device", "cuda"], "needs a CUDA GPU but torch"))
if importlib.util.find_spec("tensorboard") is None:
    BAD.append((["--tensorboard", "{tmp}/tb"], "needs the tensorboard package"))


@pytest.mark.parametrize("args, says", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_train_options_are_one_line_exit_2_and_write_nothing(tmp_path, args, says):
    if cores_available() < 2 and "33" in args:
        pytest.skip("needs 2 cores")
    out = tmp_path / "out"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = CliRunner().invoke(app, ["train", ARCH, "--epochs", "1", "--out", str(out), *args])
    assert r.exit_code == 2, r.output
    assert says in r.output.replace("\n", " ") and r.output.count("error:") == 1
    assert "Traceback" not in r.output
    assert not out.exists()


def test_help_shows_every_engine_option_with_its_default():
    r = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    for option in ("--device", "--precision", "--compile", "--channels-last", "--workers", "--augment",
                   "--label-smoothing", "--threads", "--nproc", "--resume", "--tensorboard", "--sync-bn"):
        assert option in r.output, option
    assert "default: auto" in r.output and "default: fp32" in r.output
