"""Validation of the files hwnas reads: pydantic models in, one-line typed errors out.

Each file kind (a latency table, a space spec file) has a pydantic model in the module that owns
the file; the model checks types strictly (``"32"`` is not an int, ``true`` is not a number),
finiteness and ranges, and the owner converts the validated model into its frozen dataclasses,
which are what the rest of hwnas passes around. This module holds what every owner shares: the
strict base model, the number types, and :func:`validate`, which turns a ``ValidationError``
into the owner's typed error in one line naming the file, the field path and the fix.

Example:
    >>> from hwnas.errors import TableError
    >>> class Point(Strict):
    ...     x: PositiveInt
    >>> try:
    ...     validate(Point, {"x": "3"}, TableError, "table t.json", "write x as a number")
    ... except TableError as exc:
    ...     print(exc)
    table t.json: x: "3" is a string, not an integer; write x as a number
"""

from __future__ import annotations

import json
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hwnas.errors import HwnasError


class Strict(BaseModel):
    """Strict types, no NaN or infinity, unknown fields ignored (newer writers may add some)."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore", frozen=True)


class Closed(Strict):
    """A strict model that also refuses unknown fields (a typo must not be silently dropped)."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="forbid", frozen=True)


# strict=True keeps bools out of ints; floats accept JSON integers (``3`` is a fine 3.0 ms)
PositiveInt = Annotated[int, Field(strict=True, gt=0)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0)]
NonNegativeFloat = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]

M = TypeVar("M", bound=BaseModel)

_TYPE_NAMES = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
               "dict": "an object", "list": "a list", "tuple": "a list", "NoneType": "null"}


def field_path(loc: tuple) -> str:
    """``("stages", 1, 2)`` -> ``stages[1][2]``; dict keys that are not identifiers are quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).isidentifier() and str(part).isascii():
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(str(part))}]"
    return out or "(top level)"


def _shown(value: object) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value: object) -> str:
    return _TYPE_NAMES.get(type(value).__name__, type(value).__name__)


def _reason(error: dict) -> str:
    """What is wrong with the field, starting with ``": "`` or a space (follows its path)."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    wanted = {"int_type": "an integer", "float_type": "a number", "string_type": "a string",
              "bool_type": "true or false", "dict_type": "an object", "list_type": "a list",
              "tuple_type": "a list", "model_type": "an object", "model_attributes_type": "an object"}
    if kind == "missing":
        return " is missing"
    if kind == "extra_forbidden":
        return " is not a known field"
    if kind == "float_type" and isinstance(value, int) and not isinstance(value, bool):
        return f": {_shown(value)} is too large for a number"
    if kind == "value_error":
        return f": {_shown(value)} {error['msg'].removeprefix('Value error, ')}"
    if kind in wanted and value is None:
        return f" is null, not {wanted[kind]}"
    if kind in wanted:
        return f": {_shown(value)} is {_kind(value)}, not {wanted[kind]}"
    if kind == "finite_number":
        return f": {_shown(value)} is not a finite number"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
              "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()), "")
        return f": {_shown(value)} is out of range (must be {op} {bound})"
    if kind == "literal_error":
        return f": {_shown(value)} is not one of {ctx.get('expected', '')}"
    if kind in ("too_short", "too_long"):
        return f" has {ctx.get('actual_length', '?')} items, {error['msg'].split(', ')[0].lower()}"
    return f": {_shown(value)}: {error['msg']}"


def one_line(exc: ValidationError) -> str:
    """The first violation as ``path: reason`` (and how many more there are)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    if first["type"] == "missing" and loc and isinstance(loc[-1], str):
        # every field missing from one object, named together: "meta lacks runtime, space"
        parent = loc[:-1]
        absent = [e for e in errors if e["type"] == "missing" and tuple(e["loc"][:-1]) == parent
                  and isinstance(e["loc"][-1], str)]
        rest = len(errors) - len(absent)
        more = f" (and {rest} more problem(s))" if rest else ""
        names = ", ".join(str(e["loc"][-1]) for e in absent)
        return f"{field_path(parent) if parent else 'the top level'} lacks {names}{more}"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{field_path(first['loc'])}{_reason(first)}{more}"


def validate(model: type[M], raw: object, error: type[HwnasError], where: str, fix: str) -> M:
    """``model`` validated from ``raw``; any violation raises ``error`` in one line.

    ``where`` names the file (``"latency table t.json"``), ``fix`` says what to do about it.
    """
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(f"{where}: {one_line(exc)}", fix) from None
    except (OverflowError, RecursionError, ValueError) as exc:  # numbers beyond a float
        raise error(f"{where}: {exc}", fix) from None
