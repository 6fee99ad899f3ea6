"""Tabular two-objective problems with an exact true front: the NB201 dev table's pairs.

``nb201_dev.csv`` (see ``shared/data/nb201-dev/PROVENANCE.md``) lists every one of NB201's
15,625 cells in hwnas's own nb201 string form (``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, edge
``(j <- i)`` in order 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2), so the mapping to :class:`Arch` is
``space.parse`` and nothing else; :func:`read_pairs` refuses a row that does not parse or a table
that misses archs, so a front computed from it is the exact front of the space.

Example:
    >>> pairs = read_pairs("tests/data/nb201_dev_subset.csv")  # doctest: +SKIP
    >>> pairs["cifar100/raspi4"].true_front().shape[1]          # doctest: +SKIP
    2
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwnas.errors import HwnasError
from hwnas.latency.cost import LookupPrice
from hwnas.pareto import pareto_front
from hwnas.space import get_space
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace

SENSES = ("max", "min")
ACCURACIES = ("cifar100", "imagenet16")
DEVICES = ("raspi4", "eyeriss", "gold_6226", "titan_rtx_1", "pixel2", "samsung_a50")


@dataclass(frozen=True)
class TabularPair:
    """One accuracy x latency pair: values per arch (choice indices) and the price it implies."""

    name: str
    space: SearchSpace = field(compare=False)
    accuracy: dict[tuple[int, ...], float] = field(compare=False, repr=False)
    latency_ms: dict[tuple[int, ...], float] = field(compare=False, repr=False)

    def values(self, arch: Arch) -> tuple[float, float]:
        key = self.space.indices(arch)
        return self.accuracy[key], self.latency_ms[key]

    def values_indices(self, key: tuple[int, ...]) -> tuple[float, float]:
        return self.accuracy[key], self.latency_ms[key]

    def price(self) -> LookupPrice:
        """The per-arch latency a table evaluator gives strategies (``hwnas search --evaluator
        table:...`` does the same)."""
        return LookupPrice(self.space, {self.space.arch_from_indices(k): v
                                        for k, v in self.latency_ms.items()})

    def all_points(self) -> np.ndarray:
        keys = list(self.accuracy)
        return np.array([[self.accuracy[k], self.latency_ms[k]] for k in keys])

    def true_front(self) -> np.ndarray:
        pts = self.all_points()
        return pts[pareto_front(pts, SENSES)]


def read_pairs(path: str | Path, complete: bool = True) -> dict[str, TabularPair]:
    """Every ``<accuracy>/<device>`` pair of a dev-table CSV.

    Raises ``HwnasError`` (one line) for a missing file, a missing column, a row whose arch does
    not parse, or (``complete``) a table that lacks some of the space's archs.
    """
    path = Path(path)
    if not path.is_file():
        raise HwnasError(f"no NB201 dev table at {path}",
                         "pass --data PATH/nb201_dev.csv (see shared/data/nb201-dev/PROVENANCE.md)")
    space = get_space("nb201")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        need = ["arch", *(f"{a}_acc" for a in ACCURACIES), *(f"{d}_latency_ms" for d in DEVICES)]
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise HwnasError(f"{path} lacks column(s) {', '.join(missing)}",
                             "use the nb201_dev.csv of shared/data/nb201-dev")
        rows = {}
        for line, row in enumerate(reader, start=2):
            try:
                key = space.indices(space.parse(row["arch"]))
                rows[key] = {c: float(row[c]) for c in need[1:]}
            except (HwnasError, ValueError) as exc:
                raise HwnasError(f"{path}:{line}: {exc}", "fix or drop that row") from None
    if complete and len(rows) != space.size():
        raise HwnasError(f"{path} lists {len(rows)} of the {space.size()} nb201 archs: its fronts "
                         "would not be the space's", "use the full nb201_dev.csv")
    return {f"{a}/{d}": TabularPair(f"{a}/{d}", space,
                                    {k: r[f"{a}_acc"] for k, r in rows.items()},
                                    {k: r[f"{d}_latency_ms"] for k, r in rows.items()})
            for a in ACCURACIES for d in DEVICES}
