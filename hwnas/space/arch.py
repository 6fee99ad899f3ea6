"""The two values that cross every module boundary: an ``Arch`` and an ``OpSpec``.

An ``Arch`` is one choice token per searchable layer (or per cell edge for NB201) and has
exactly one string form; ``space.parse(str(arch)) == arch`` always holds.

An ``OpSpec`` is one operator at its exact input shape. Its ``key`` is what a latency table is
keyed by, in the HW-NAS-Bench style, e.g. ``ConvBlock_H32_W32_Cin16_Cout24_exp6_kernel3_stride2_group1``:
the kind, then ``H``, ``W`` and ``Cin`` from the input shape, then the kind's parameters in a fixed
order. ``FC`` keys carry no ``H``/``W`` (they follow global pooling), as in HW-NAS-Bench.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NB201_NOTATION = "nb201"
LAYERS_NOTATION = "layers"


@dataclass(frozen=True)
class Arch:
    """An architecture of a named space: one choice token per searchable position."""

    space: str
    choices: tuple[str, ...]
    notation: str = LAYERS_NOTATION

    def __str__(self) -> str:
        if self.notation == NB201_NOTATION:
            # edges in the order (1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2)
            c = self.choices
            return f"|{c[0]}~0|+|{c[1]}~0|{c[2]}~1|+|{c[3]}~0|{c[4]}~1|{c[5]}~2|"
        return "-".join(self.choices)


_KEY_TOKEN = re.compile(r"^([A-Za-z]+?)(\d+)$")


@dataclass(frozen=True)
class OpSpec:
    """One operator at its exact input shape ``(C, H, W)``; ``params`` keep their key order."""

    kind: str
    in_shape: tuple[int, int, int]
    params: tuple[tuple[str, int], ...] = ()

    @property
    def key(self) -> str:
        c, h, w = self.in_shape
        head = f"{self.kind}_Cin{c}" if self.kind == "FC" else f"{self.kind}_H{h}_W{w}_Cin{c}"
        return head + "".join(f"_{name}{value}" for name, value in self.params)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        c, h, w = self.in_shape
        names = dict(self.params)
        cout = names.get("Cout", c)
        if self.kind in ("FC", "AvgP"):
            return (cout, 1, 1)
        stride = names.get("stride", 1)
        # every conv here pads k // 2 with odd k, so the output is ceil(H / stride)
        return (cout, -(-h // stride), -(-w // stride))

    @classmethod
    def from_key(cls, key: str) -> OpSpec:
        """Parse a key back into an ``OpSpec`` (inverse of :attr:`key`)."""
        parts = key.split("_")
        kind, rest = parts[0], parts[1:]
        values: list[tuple[str, int]] = []
        for token in rest:
            match = _KEY_TOKEN.match(token)
            if not match:
                raise ValueError(f"op key {key!r}: token {token!r} is not NAME<integer>")
            values.append((match.group(1), int(match.group(2))))
        named = dict(values)
        if "Cin" not in named:
            raise ValueError(f"op key {key!r} has no Cin")
        h, w = named.get("H", 1), named.get("W", 1)
        params = tuple((n, v) for n, v in values if n not in ("H", "W", "Cin"))
        return cls(kind, (named["Cin"], h, w), params)
