"""hwnas.io: strict JSON reads, atomic writes that clean up after killed writers, safe weights."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from hwnas.errors import HwnasError
from hwnas.io import MAX_JSON_DEPTH, load_weights, read_json, remove_stale_temps, save_weights, write_json


@pytest.mark.parametrize("text, says", [
    ("[" * 100_000 + "]" * 100_000, "nests deeper"),
    ('{"n": 1e999}', "out of range"),
    ('{"n": NaN}', "NaN is not a number"),
    ('{"n": -Infinity}', "Infinity is not a number"),
    ('{"n": ', "not valid JSON"),
])
def test_read_json_refuses_with_a_typed_error(tmp_path, text, says):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(HwnasError) as err:
        read_json(path, "latency table")
    assert says in str(err.value) and str(path) in str(err.value)


def test_read_json_depth_limit_is_exact(tmp_path):
    ok, deep = tmp_path / "ok.json", tmp_path / "deep.json"
    ok.write_text("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    deep.write_text("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    assert read_json(ok) == eval("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    with pytest.raises(HwnasError):
        read_json(deep)


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    path = tmp_path / "s.json"
    write_json(path, {"arch": "[" * 500 + '\\"' + "{" * 500})
    assert read_json(path)["arch"].startswith("[[[")


def test_non_utf8_file_is_refused(tmp_path):
    path = tmp_path / "b.json"
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(HwnasError, match="not UTF-8"):
        read_json(path)


def test_stale_temp_of_a_killed_writer_is_removed_on_next_write(tmp_path):
    target = tmp_path / "result.json"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".result.json.hwnas-{dead_pid}.abc123.tmp"
    stale.write_text("half")
    live = tmp_path / f".result.json.hwnas-{os.getppid()}.def456.tmp"  # a running writer's
    live.write_text("in flight")
    other = tmp_path / f".other.json.hwnas-{dead_pid}.x.tmp"
    other.write_text("another file's")
    write_json(target, {"a": 1})
    assert read_json(target) == {"a": 1}
    assert not stale.exists()
    assert live.exists() and other.exists()
    assert remove_stale_temps(tmp_path / "other.json") == [other]


def test_written_files_follow_the_umask(tmp_path):
    path = tmp_path / "x.json"
    write_json(path, {})
    mask = os.umask(0)
    os.umask(mask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~mask)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_written_files_follow_the_umask_of_the_moment(tmp_path, mask):
    """The mask in force when a file is written, not the one at import (mkstemp makes 0600)."""
    old = os.umask(mask)
    try:
        write_json(tmp_path / "x.json", {})
        save_weights(tmp_path / "w.pt", {})
    finally:
        os.umask(old)
    for name in ("x.json", "w.pt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask


def test_weights_messages_name_the_cause_without_torch_advice(tmp_path):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(HwnasError, match="is empty"):
        load_weights(empty)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"w": Evil()}, evil)
    with pytest.raises(HwnasError) as err:
        load_weights(evil)
    text = str(err.value)
    assert "refuses to unpickle" in text and "weights_only=False" not in text
    assert "\n" not in text

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(HwnasError) as err:
        load_weights(junk)
    assert str(err.value).split(": ", 1)[1].strip()
