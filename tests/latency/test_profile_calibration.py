"""``profile_space(..., calibration_archs=N)``: ends by fitting the correction; a killed one resumes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hwnas.latency import LatencyTable
from hwnas.latency.measure import MeasureProtocol
from hwnas.testing import tiny_space

pytestmark = pytest.mark.integration  # times real torch-cpu ops and networks (fast protocol)


class _Killed(Exception):
    pass


def test_a_calibration_killed_midway_keeps_the_ops_and_resumes(tmp_path: Path, monkeypatch) -> None:
    import hwnas.latency.profile as profile
    from hwnas.plugins import get_profiler

    monkeypatch.setattr(profile, "CAL_CHUNK", 2)
    space, out = tiny_space(), tmp_path / "t.json"
    prof = get_profiler("torch-cpu", MeasureProtocol(runs=6, rounds=2, warmup=1, pin_cpu=False))

    def kill_in_calibration(progress) -> None:
        if progress.key.startswith("calibration:"):
            raise _Killed  # after the first chunk of archs was saved

    with pytest.raises(_Killed):
        profile.profile_space(space, prof, out, on_progress=kill_in_calibration, calibration_archs=6)
    partial = LatencyTable.load(out)
    assert len(partial.entries) == len(profile.unique_ops(space))  # every op entry kept
    assert len(partial.meta.protocol["calibration_measured"]) == 2
    assert partial.calibration.method == "overhead"  # not fitted yet: it says so (uncalibrated)

    measured: list[str] = []
    real = profile.measure_archs

    def counting(space_, archs, profiler, rng, passes=2):
        measured.extend(str(a) for a in archs)
        return real(space_, archs, profiler, rng, passes)

    monkeypatch.setattr(profile, "measure_archs", counting)
    table = profile.profile_space(space, prof, out, calibration_archs=6)
    done_before = {row[0] for row in partial.meta.protocol["calibration_measured"]}
    assert len(measured) == 4 and not done_before & set(measured)  # only the archs still missing
    assert table.entries == partial.entries
    assert table.calibration.fitted and table.calibration.record.n_archs == 6
    assert LatencyTable.load(out).calibration == table.calibration
    # rerun when finished: nothing measured, nothing refitted
    measured.clear()
    again = profile.profile_space(space, prof, out, calibration_archs=6)
    assert measured == [] and again.calibration == table.calibration


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs a process allowed on 2 or more cores to see pinning undone")
def test_measuring_whole_archs_gives_the_pinned_core_back() -> None:
    # specialize measures one device's arch and then scores the next device's archs in the same
    # process: a profiler's one-core pin left in place made that scoring single-core
    import numpy as np

    from hwnas.latency.whole import measure_archs
    from hwnas.plugins import get_profiler

    space = tiny_space()
    before = os.sched_getaffinity(0)
    prof = get_profiler("torch-cpu", MeasureProtocol(runs=3, rounds=1, warmup=1, pin_cpu=True))
    runs, _ = measure_archs(space, [space.sample(np.random.default_rng(0))], prof,
                            np.random.default_rng(1), passes=1)
    assert runs[0][0] > 0
    assert os.sched_getaffinity(0) == before
