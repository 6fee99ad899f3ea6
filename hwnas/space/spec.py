"""Space spec files: an ``mbconv`` space's layout from a JSON or TOML file, validated strictly.

The fields (README, "Search spaces") are checked for type and range by a pydantic model, then
converted into the frozen :class:`~hwnas.space.mbconv.MBConvConfig` every other module uses; the
cross-field rules (resolution against the total stride) stay with the config. Any violation is a
``SpaceError`` in one line naming the file, the field path (``stages[1][2]``) and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import tomllib
from pydantic import AfterValidator, Field, model_validator

from hwnas.errors import SpaceError
from hwnas.io import loads_json
from hwnas.schema import Closed, NonNegativeInt, PositiveInt, validate
from hwnas.space.mbconv import MBConvConfig, MBConvSpace, Stage, check_config

FIX = ("write the spec as in the README: numbers unquoted, stages as [[channels, layers, stride], "
       "...], kernels and expands as lists of integers")
# generous bounds: beyond them a spec is a typo, not a network anyone can profile
MAX_CHANNELS, MAX_RESOLUTION, MAX_LAYERS, MAX_STAGES, MAX_CLASSES = 16384, 4096, 64, 32, 100_000


def _stride(value: int) -> int:
    if value not in (1, 2):
        raise ValueError("is not a stride: use 1 or 2")
    return value


def _odd(value: int) -> int:
    if value % 2 == 0:
        raise ValueError("is not an odd kernel size (convolutions here pad k // 2)")
    return value


def _distinct(values: list[int]) -> list[int]:
    if len(set(values)) != len(values):
        raise ValueError("repeats a value (each choice must be listed once)")
    return values


Channels = Annotated[PositiveInt, Field(le=MAX_CHANNELS)]
Stride = Annotated[PositiveInt, AfterValidator(_stride)]
Kernel = Annotated[PositiveInt, Field(le=15), AfterValidator(_odd)]
Expand = Annotated[PositiveInt, Field(le=16)]
# a JSON/TOML array is a list: the row's container is lax, its three numbers strict
StageRow = Annotated[tuple[Channels, Annotated[PositiveInt, Field(le=MAX_LAYERS)], Stride],
                     Field(strict=False)]


class SpecModel(Closed):
    """An ``mbconv`` spec file, field by field (unknown fields are refused: a typo must not pass)."""

    family: Literal["mbconv"] = "mbconv"  # what ``describe()`` writes; only mbconv specs exist
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")]
    resolution: Annotated[PositiveInt, Field(le=MAX_RESOLUTION)]
    num_classes: Annotated[PositiveInt, Field(le=MAX_CLASSES)]
    stem_channels: Channels
    stem_stride: Stride
    first_block_channels: Annotated[NonNegativeInt, Field(le=MAX_CHANNELS)]  # 0: no first block
    head_channels: Channels
    stages: Annotated[list[StageRow], Field(min_length=1, max_length=MAX_STAGES)]
    kernels: Annotated[list[Kernel], Field(min_length=1, max_length=8), AfterValidator(_distinct)] = [3, 5, 7]
    expands: Annotated[list[Expand], Field(min_length=1, max_length=8), AfterValidator(_distinct)] = [3, 6]
    allow_zero: bool = True
    activation: Literal["relu", "relu6"] = "relu6"

    @model_validator(mode="before")
    @classmethod
    def _stage_objects_as_rows(cls, raw: object) -> object:
        """``describe()`` writes stages as {channels, layers, stride} objects: read them as rows."""
        if isinstance(raw, dict) and isinstance(raw.get("stages"), list):
            keys = ("channels", "layers", "stride")
            rows = [[row[k] for k in keys] if isinstance(row, dict) and set(row) == set(keys) else row
                    for row in raw["stages"]]
            raw = {**raw, "stages": rows}
        return raw

    def config(self) -> MBConvConfig:
        fields = self.model_dump(exclude={"family", "stages", "kernels", "expands"})
        return MBConvConfig(**fields, stages=tuple(Stage(*row) for row in self.stages),
                            kernels=tuple(self.kernels), expands=tuple(self.expands))


def read_spec(path: Path) -> object:
    """The raw content of a .json or .toml spec file (``SpaceError`` if it cannot be read)."""
    if not path.is_file():
        raise SpaceError(f"space spec file {path} does not exist", "pass a .json or .toml file")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise SpaceError(f"space spec {path} is not UTF-8 text", FIX) from None
    except OSError as exc:
        raise SpaceError(f"cannot read space spec {path}: {exc.strerror}", "check the path") from None
    if path.suffix != ".toml":
        return loads_json(text, f"space spec {path}", SpaceError)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpaceError(f"space spec {path} is not valid TOML: {exc}", FIX) from None
    except RecursionError:
        raise SpaceError(f"space spec {path} nests too deeply", FIX) from None


def load_spec(path: Path) -> MBConvSpace:
    """Build an ``mbconv`` space from a JSON or TOML spec file (see README for the fields)."""
    raw = read_spec(path)
    if isinstance(raw, dict) and "name" not in raw:
        raw = {**raw, "name": path.stem}  # the file names the space unless it says otherwise
    config = validate(SpecModel, raw, SpaceError, f"space spec {path}", FIX).config()
    check_config(config, where=f"space spec {path}")
    return MBConvSpace(config)
