"""Ray executor: a local 2-CPU cluster gives the local executor's result, and a worker killed
mid-evaluation is retried without losing the result."""

import os
from dataclasses import replace

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
ray = pytest.importorskip("ray")

from hwnas.errors import HwnasError  # noqa: E402
from hwnas.execution import LocalExecutor, RayExecutor, check_address  # noqa: E402
from hwnas.search import Problem, make_strategy  # noqa: E402
from hwnas.search.runner import run_search  # noqa: E402
from hwnas.testing.strategy_conformance import CrashOnceEvaluator, ToyEvaluator, toy_space  # noqa: E402

pytestmark = pytest.mark.integration  # starts a Ray cluster


@pytest.fixture(scope="module")
def cluster():
    # address="local": an isolated cluster, even when `ray start --head` left one on the machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def search(evaluator, executor):
    problem = Problem(evaluator.space, budget_ms=2.3, cost=ToyEvaluator(toy_space()).cost_model())
    strat = make_strategy("evolution", problem, 0, population=6, sample_size=2)
    return run_search(strat, evaluator, 12, executor=executor, batch=2)


def test_ray_matches_local_and_survives_a_killed_worker(cluster, tmp_path):
    ev = ToyEvaluator(toy_space())
    local = search(ev, LocalExecutor(2))
    on_ray = search(ev, RayExecutor(workers=2))
    assert [c.arch for c in on_ray.candidates] == [c.arch for c in local.candidates]
    assert [c.accuracy for c in on_ray.candidates] == [c.accuracy for c in local.candidates]
    # the first candidate's worker dies (os._exit) on its first attempt; Ray retries it
    marker = tmp_path / "crashed"
    first = str(local.candidates[0].arch)
    crashing = CrashOnceEvaluator(ev, marker, first)
    again = search(crashing, RayExecutor(workers=2, max_retries=2))
    assert marker.exists()  # the worker really was killed once
    assert [c.arch for c in again.candidates] == [c.arch for c in local.candidates]
    assert again.best == replace(local.best, wall_s=again.best.wall_s)


def test_unanswered_address_fails_fast():
    with pytest.raises(HwnasError, match="no Ray cluster answers"):
        check_address("127.0.0.1:9", timeout_s=2)
    with pytest.raises(HwnasError, match="not host:port"):
        check_address("nonsense")


def test_local_executor_starts_its_own_loopback_cluster_beside_a_running_one():
    """With `ray start --head` running (the README's recipe leaves one), the ray executor without
    --ray-address starts an isolated cluster on 127.0.0.1 instead of attaching to it."""
    import shutil
    import subprocess
    import tempfile

    if shutil.which("ray") is None:
        pytest.skip("the ray CLI is not installed")
    if ray.is_initialized():
        ray.shutdown()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    port = "6391"
    temp = tempfile.mkdtemp(prefix="ray")  # short: Ray's socket paths must fit in 107 bytes
    try:
        started = subprocess.run(["ray", "start", "--head", "--port", port, "--num-cpus", "1",
                                  "--include-dashboard", "false", "--temp-dir", temp],
                                 env=env, capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stderr[-2000:]
        executor = RayExecutor(workers=2)
        executor.start()
        try:
            ctx = ray.get_runtime_context()
            assert ctx.gcs_address.split(":")[-1] != port  # not the running cluster
            nodes = ray.nodes()
            assert [n["NodeManagerAddress"] for n in nodes] == ["127.0.0.1"]
            assert ray.cluster_resources()["CPU"] == 2  # ours, not the 1-CPU one
            ev = ToyEvaluator(toy_space())
            assert search(ev, executor).evaluations == 12
        finally:
            executor.shutdown()
    finally:
        subprocess.run(["ray", "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
