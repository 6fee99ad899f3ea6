"""The NB201 dev table maps onto hwnas's nb201 archs, and the strategies benchmark refuses a
missing table with one line.

``tests/data/nb201_dev_subset.csv`` is 202 rows of ``shared/data/nb201-dev/nb201_dev.csv`` (the
cifar100/raspi4 true front plus 160 seeded random rows); its sources are MIT-licensed
(NATS-Bench via v-tao/nats-bench-landscape; HELP), see ``tests/data/NB201_DEV_SUBSET.md``.
"""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from hwnas.errors import HwnasError
from hwnas.testing.tabular import DEVICES, read_pairs

SUBSET = Path(__file__).resolve().parents[1] / "data" / "nb201_dev_subset.csv"
ROOT = Path(__file__).resolve().parents[2]


def test_every_dev_arch_string_is_an_nb201_arch_and_round_trips():
    pairs = read_pairs(SUBSET, complete=False)
    assert len(pairs) == 12 and {p.split("/")[1] for p in pairs} == set(DEVICES)
    pair = pairs["cifar100/raspi4"]
    lines = SUBSET.read_text().splitlines()[1:]
    assert len(pair.accuracy) == len(lines) == 202
    for line in lines:
        text = line.split(",")[0]
        arch = pair.space.parse(text)
        assert str(arch) == text
        acc, lat = pair.values(arch)
        assert (acc, lat) == (float(line.split(",")[1]), float(line.split(",")[3]))


def test_edge_order_maps_to_positions():
    space = read_pairs(SUBSET, complete=False)["imagenet16/pixel2"].space
    arch = space.parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|"
                       "nor_conv_1x1~1|skip_connect~2|")
    # positions: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2
    assert arch.choices == ("nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3",
                            "nor_conv_1x1", "skip_connect")


def test_subset_true_front_is_the_front_of_its_rows():
    pair = read_pairs(SUBSET, complete=False)["cifar100/raspi4"]
    front = pair.true_front()
    pts = pair.all_points()
    for acc, lat in front:  # nothing in the table dominates a front point
        assert not ((pts[:, 0] >= acc) & (pts[:, 1] <= lat) & ((pts[:, 0] > acc) | (pts[:, 1] < lat))).any()


def test_incomplete_missing_or_garbled_tables_are_refused(tmp_path):
    with pytest.raises(HwnasError, match="lists 202 of the 15625 nb201 archs"):
        read_pairs(SUBSET)
    with pytest.raises(HwnasError, match="no NB201 dev table at"):
        read_pairs(tmp_path / "absent.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("arch,cifar100_acc\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1.0\n")
    with pytest.raises(HwnasError, match="lacks column"):
        read_pairs(bad)
    text = SUBSET.read_text().splitlines()
    text[1] = "|conv~0|" + text[1][text[1].index(","):]
    garbled = tmp_path / "garbled.csv"
    garbled.write_text("\n".join(text) + "\n")
    with pytest.raises(HwnasError, match=r"garbled.csv:2: .*node groups"):
        read_pairs(garbled, complete=False)


def test_benchmark_refuses_a_missing_table_with_one_line(tmp_path):
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.rglob("*")}
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "strategies.py"), "--data",
                          str(tmp_path / "none.csv"), "--problems", "cifar100/raspi4"],
                         capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr.strip().splitlines() == [
        f"error: no NB201 dev table at {tmp_path / 'none.csv'}; pass --data PATH/nb201_dev.csv"]
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.rglob("*")} == before
