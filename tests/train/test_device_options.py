"""``--device`` / ``--precision`` / ``--nproc`` of ``hwnas search`` and ``hwnas export``: refused up
front (one line, exit 2, nothing written), and what the device reaches (evaluators, BN, export)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.testing.cli_checks import assert_one_line_error
from hwnas.testing.fixtures import tiny_space
from hwnas.testing.gradient_conformance import write_tiny_world
from hwnas.train import cores_available

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without a GPU")


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def world(tmp_path) -> dict:
    world = write_tiny_world(tmp_path)
    # an --out that already holds a file, and --force: a refusal must still leave it untouched
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("mine")
    return world


def _search(world: dict, *extra: str) -> list[str]:
    root = world["root"]
    return ["search", "--strategy", "proxyless", "--space", str(root / "tiny.json"), "--lut",
            str(root / "table.json"), "--budget-ms", str(world["budget_ms"]), "--data", "synthetic",
            "--epochs", "1", "--no-train-derived", "--out", str(root / "run"), "--force", *extra]


CASES = {
    "cuda-without-gpu": (["--device", "cuda"], ("--device cuda needs a CUDA GPU but torch",
                                                "sees 0 CUDA device(s)", "pass --device cpu")),
    "fp16-on-cpu": (["--device", "cpu", "--precision", "fp16"],
                    ("--precision fp16 is not supported on the CPU", "pass --precision bf16 or fp32")),
    "nproc-beyond-cores": (["--device", "cpu", "--nproc", str(cores_available() + 1)],
                           (f"--nproc {cores_available() + 1} exceeds the {cores_available()} CPU core(s)",
                            f"pass --nproc {cores_available()} or fewer")),
    "bad-device": (["--device", "gpu"], ("unknown device 'gpu'", "pass auto, cpu, cuda or cuda:N")),
}


@NO_GPU
@pytest.mark.parametrize("case", sorted(CASES))
def test_search_refuses_a_bad_placement_in_one_line_and_writes_nothing(world, case):
    extra, needles = CASES[case]
    before = _hashes(world["root"])
    result = CliRunner().invoke(app, _search(world, *extra))
    assert_one_line_error(result, *needles)
    assert _hashes(world["root"]) == before


def test_nproc_and_precision_belong_to_the_gradient_search(world):
    args = _search(world)
    args[args.index("proxyless")] = "random"
    before = _hashes(world["root"])
    result = CliRunner().invoke(app, [*args, "--nproc", "2"])
    assert_one_line_error(result, "run the gradient search (--strategy proxyless) on several ranks",
                          "--workers")
    result = CliRunner().invoke(app, [*args, "--precision", "bf16"])
    assert_one_line_error(result, "--precision bf16 applies to --strategy proxyless only")
    assert _hashes(world["root"]) == before


@NO_GPU
def test_export_refuses_cuda_without_a_gpu(tmp_path):
    arch = str(tiny_space().sample(np.random.default_rng(0)))
    spec = write_tiny_world(tmp_path)["root"] / "tiny.json"
    (tmp_path / "a.onnx").write_bytes(b"old artifact")
    before = _hashes(tmp_path)
    result = CliRunner().invoke(app, ["export", arch, "--space", str(spec), "--format", "onnx",
                                      "--out", str(tmp_path / "a.onnx"), "--force", "--device", "cuda"])
    assert_one_line_error(result, "--device cuda needs a CUDA GPU", "pass --device cpu")
    assert _hashes(tmp_path) == before


def test_the_onnx_check_says_in_one_line_when_it_cannot_use_cuda():
    import onnxruntime as ort

    from hwnas.export.check import ort_providers

    said: list[str] = []
    assert ort_providers("cpu", said.append) == ("CPUExecutionProvider",) and not said
    providers = ort_providers("cuda:1", said.append)
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert providers[0] == ("CUDAExecutionProvider", {"device_id": 1})
    else:
        assert providers == ("CPUExecutionProvider",)
        assert len(said) == 1 and "no CUDA provider" in said[0] and "\n" not in said[0]


def test_search_passes_the_device_to_the_evaluators():
    from hwnas.search.blackbox import BlackboxConfig, make_evaluator
    from hwnas.search.registry import SearchRequest

    req = SearchRequest("random", "mbconv-small", "out", evaluator="scratch", device="cpu")
    config = BlackboxConfig.from_request(req)
    evaluator = make_evaluator("scratch", tiny_space(), None, "synthetic", None, 0, "arch",
                               "accuracy", "latency_ms", None, device=config.device)
    assert config.device == "cpu" and evaluator.config.device == "cpu"


@pytest.mark.slow  # two spawned ranks
@pytest.mark.skipif(cores_available() < 2, reason="needs 2 cores for 2 ranks")
def test_cli_nproc_2_searches_and_only_rank_0_writes(world):
    root = world["root"]
    (root / "run" / "keep.txt").unlink()
    result = CliRunner().invoke(app, [*_search(world, "--device", "cpu", "--nproc", "2",
                                                "--precision", "bf16"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output[result.output.index("{"):])  # after the foreign-table warning
    assert out["complete"] and out["details"]["arch_alphas"]
    assert json.loads((root / "run" / "config.json").read_text())["precision"] == "bf16"
    assert torch.load(root / "run" / "checkpoint.pt", weights_only=True)["world_size"] == 2
