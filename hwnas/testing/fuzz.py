"""Helpers the fuzz tests share (tables, spec files): where in a JSON document to mutate."""

from __future__ import annotations

from collections.abc import Iterator


def json_paths(node, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path into a JSON document (dict keys and list indices), the root included."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from json_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from json_paths(v, (*prefix, i))
