"""Every evaluator (oneshot, scratch, table:CSV with a latency column or priced by a table) passes
the shipped evaluator conformance suite."""

from dataclasses import asdict, fields

import pytest

from hwnas.evaluation import (
    OneShotConfig,
    OneShotEvaluator,
    ScratchConfig,
    ScratchEvaluator,
    TableEvaluator,
)
from hwnas.testing.evaluator_conformance import LUT_NAME, EvaluatorConformance, probe_archs

ONESHOT = OneShotConfig(data="synthetic", epochs=1, batch_size=32, lr=0.03, calib_batches=1, seed=3)
SCRATCH = ScratchConfig(data="synthetic", epochs=1, subset=0.5, batch_size=32, lr=0.03, seed=3)


def config_from(cls, description: dict):
    return cls(**{f.name: description[f.name] for f in fields(cls)})


@pytest.mark.integration
class TestOneShot(EvaluatorConformance):
    def make(self, folder, space):
        return OneShotEvaluator(space, str(folder / LUT_NAME), ONESHOT)

    def settings(self, folder):
        return {"evaluator": "oneshot", "lut": str(folder / LUT_NAME), **asdict(ONESHOT)}

    def rebuild(self, description, space):
        return OneShotEvaluator(space, description["lut"], config_from(OneShotConfig, description))


@pytest.mark.integration
class TestScratch(EvaluatorConformance):
    def make(self, folder, space):
        return ScratchEvaluator(space, str(folder / LUT_NAME), SCRATCH)

    def settings(self, folder):
        return {"evaluator": "scratch", "lut": str(folder / LUT_NAME), **asdict(SCRATCH)}

    def rebuild(self, description, space):
        return ScratchEvaluator(space, description["lut"], config_from(ScratchConfig, description))


def csv_rows(space) -> list[tuple[str, float, float, float]]:
    """(arch, accuracy in percent, latency_ms, energy_mj): the probe archs and a few more."""
    archs = probe_archs(space) + [space.arch_from_indices([1] * len(space.choices()))]
    return [(str(a), 60.0 + 7 * i, 1.5 + i, 0.2 * (i + 1)) for i, a in enumerate(archs)]


class TestTableWithLatencyColumn(EvaluatorConformance):
    """Accuracy, latency and energy read from the CSV (user-named columns)."""

    def write_files(self, folder, space):
        lines = ["net,top1,ms,mj"] + [",".join(map(str, row)) for row in csv_rows(space)]
        (folder / "bench.csv").write_text("\n".join(lines) + "\n")

    def make(self, folder, space):
        return TableEvaluator(space, str(folder / "bench.csv"), "net", "top1", "ms", "mj", costs=False)

    def settings(self, folder):
        return {"evaluator": f"table:{folder / 'bench.csv'}", "arch_column": "net",
                "accuracy_column": "top1", "latency_column": "ms", "energy_column": "mj"}

    def rebuild(self, description, space):
        return TableEvaluator(space, description["evaluator"].removeprefix("table:"),
                              description["arch_column"], description["accuracy_column"],
                              description["latency_column"], description["energy_column"],
                              description.get("lut"), costs=False)

    def expected_latency_ms(self, folder, space, arch):
        return {row[0]: row[2] for row in csv_rows(space)}[str(arch)]

    def test_accuracy_and_energy_from_the_csv(self, prepared):
        rows = {row[0]: row for row in csv_rows(prepared.space)}
        for arch, res in zip(prepared.archs, prepared.results):
            assert res.accuracy == pytest.approx(rows[str(arch)][1] / 100)
            assert res.energy_mj == pytest.approx(rows[str(arch)][3])

    def test_arch_missing_from_the_csv_is_a_typed_error(self, prepared):
        from hwnas.errors import HwnasError

        missing = prepared.space.arch_from_indices([2] * len(prepared.space.choices()))
        with pytest.raises(HwnasError, match="is not in"):
            prepared.evaluator.evaluate(missing)


class TestTablePricedByLut(TestTableWithLatencyColumn):
    """Accuracy from the CSV, latency from the latency table (no latency column)."""

    def make(self, folder, space):
        return TableEvaluator(space, str(folder / "bench.csv"), "net", "top1", None, "mj",
                              lut=str(folder / LUT_NAME), costs=False)

    def settings(self, folder):
        return {**super().settings(folder), "latency_column": None, "lut": str(folder / LUT_NAME)}

    def expected_latency_ms(self, folder, space, arch):
        return EvaluatorConformance.expected_latency_ms(self, folder, space, arch)

