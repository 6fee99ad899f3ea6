"""Arch strings of every space, fuzzed: only ``SpaceError`` escapes ``parse``, and whatever parses
is the canonical spelling (``str(space.parse(text)) == text``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwnas.errors import SpaceError
from hwnas.space import get_space, space_names

SPACES = {name: get_space(name) for name in space_names()}
# characters that make near misses: separators, whitespace of several kinds, non-ASCII digits
NOISE = st.sampled_from([" ", "\t", "\n", "\u00a0", "\u2003", "-", "|", "+", "~", "٣", "٠", "３",
                         "0", "1", "3", "e", "k", "x", "_", "g", ""])


@st.composite
def near_arch(draw, space_name: str) -> str:
    """A canonical arch string of the space, then a few edits: inserts, deletes, swaps."""
    space = SPACES[space_name]
    seed = draw(st.integers(0, 2**32 - 1))
    text = list(str(space.sample(np.random.default_rng(seed))))
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        if action == "insert":
            text.insert(where, draw(NOISE))
        elif text:
            where = min(where, len(text) - 1)
            if action == "delete":
                del text[where]
            else:
                text[where] = draw(NOISE)
    return "".join(text)


def arch_texts(space_name: str):
    return st.one_of(near_arch(space_name), st.text(max_size=60),
                     st.text(alphabet="k3579e136g2zerosk-|+~_ \u0663", max_size=120))


def _check(space_name: str, text: str) -> None:
    space = SPACES[space_name]
    try:
        arch = space.parse(text)
    except SpaceError as exc:
        assert "\n" not in exc.message
        return
    assert str(arch) == text, f"{text!r} parsed but is not canonical"


@pytest.mark.parametrize("space_name", sorted(SPACES))
@settings(derandomize=True, max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_arch_strings(space_name: str, data) -> None:
    _check(space_name, data.draw(arch_texts(space_name)))


@pytest.mark.slow
@pytest.mark.parametrize("space_name", sorted(SPACES))
@settings(derandomize=True, max_examples=10_000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_arch_strings_slow(space_name: str, data) -> None:
    _check(space_name, data.draw(arch_texts(space_name)))


@pytest.mark.parametrize("space_name", sorted(SPACES))
def test_non_canonical_spellings_name_the_canonical_form(space_name: str) -> None:
    space = SPACES[space_name]
    canonical = str(space.sample(np.random.default_rng(3)))
    for text in (f" {canonical}", f"{canonical}\n", f"\t{canonical} "):
        with pytest.raises(SpaceError, match="not written canonically") as info:
            space.parse(text)
        assert info.value.fix == f"write it as {canonical}"
    digits = canonical.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    with pytest.raises(SpaceError):
        space.parse(digits)
    assert str(space.parse(canonical)) == canonical
