"""benchmarks/surrogate_quality.py: the per-latency-bin miss it reports, and its refusal of a
missing table."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
try:
    from surrogate_quality import bin_misses, oracle_ratio, seed_noise
finally:
    sys.path.pop(0)


def test_a_bin_misses_what_the_model_top_picks_leave_on_the_table():
    latency_ms = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0])
    accuracy = np.array([10.0, 30.0, 20.0, 50.0, 40.0, 45.0])
    perfect = accuracy.copy()
    assert bin_misses(perfect, accuracy, latency_ms, bins=2, top=1) == [0.0, 0.0]
    # the model prefers the worst arch of each bin: it misses 20 and 10 points
    backwards = -accuracy
    assert bin_misses(backwards, accuracy, latency_ms, bins=2, top=1) == [20.0, 10.0]
    # with its top 2 the second-worst is also taken
    assert bin_misses(backwards, accuracy, latency_ms, bins=2, top=2) == [10.0, 5.0]


def test_a_missing_table_is_one_line_and_exit_2(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "surrogate_quality.py"),
                          "--data", str(tmp_path / "nope.csv")], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "nb201_dev.csv" in out.stderr


def test_seed_noise_compares_only_cells_that_compute_the_same_function():
    NONE, SKIP, C1, C3 = 0, 1, 2, 3
    # edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2: with 3<-1 and 3<-2 cut, only 3<-0 is live, so the
    # first two cells differ only on dead edges; the third is another function, the fourth dead
    rows = np.array([[C3, C3, C3, SKIP, NONE, NONE], [C1, NONE, SKIP, SKIP, NONE, NONE],
                     [C3] * 6, [NONE] * 6, [C1] * 6])
    accuracy = np.array([10.0, 12.0, 70.0, 1.0, 55.0])
    assert seed_noise(rows, accuracy) == pytest.approx(np.sqrt(2.0))


def test_a_noiseless_oracle_that_asks_the_whole_front_gets_all_of_it():
    rng = np.random.default_rng(0)
    accuracy, latency_ms = rng.uniform(0, 1, 200), rng.uniform(1, 2, 200)
    assert oracle_ratio(accuracy, latency_ms, 0.0, 200) == pytest.approx(1.0)
    assert oracle_ratio(accuracy, latency_ms, 0.0, 1) < 1.0
