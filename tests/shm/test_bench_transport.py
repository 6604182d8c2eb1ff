"""The frame transport benchmark runs end to end on tiny frames and reports its ratios.

Speed is not asserted (tests never judge wall-clock time); this keeps the benchmark working.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import transport


def write_cache(cpu: Path, index: int, level: str, size: str) -> None:
    folder = cpu / f"index{index}"
    folder.mkdir(parents=True)
    (folder / "level").write_text(level + "\n")
    (folder / "size").write_text(size + "\n")


@pytest.mark.parametrize(
    ("caches", "expected"),
    [
        ([("1", "48K"), ("1", "32K"), ("2", "1024K"), ("3", "32768K")], 32 << 20),
        ([("1", "32K"), ("2", "2M")], 2 << 20),  # no level 3: the highest level counts
        ([("3", "16M"), ("3", "8M")], 16 << 20),  # two at the top level: the larger
        ([("2", "65536")], 65536),  # a size without a unit is bytes
        ([("x", "1M"), ("2", "512K")], 512 << 10),  # an unreadable entry is ignored
        ([], 0),  # sysfs says nothing
    ],
)
def test_llc_size_is_read_from_sysfs(tmp_path: Path, caches, expected) -> None:
    for index, (level, size) in enumerate(caches):
        write_cache(tmp_path, index, level, size)
    assert transport.last_level_cache_bytes(tmp_path) == expected


def test_benchmark_runs_and_prints_its_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--producers", "2", "--height", "48", "--width", "64", "--seconds", "0.4"]
    transport.main([*argv, "--rounds", "2"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("round")] == [
        "round 1",
        "round 2",
    ]
    rows = {line.split()[1]: line for line in lines if line.startswith("(")}
    assert set(rows) == {"queue", "ring", "memcpy"}
    assert "WRONG" not in "\n".join(lines)
    assert " 0 torn reads" in rows["ring"]
    assert re.fullmatch(r"ring/queue = \d+\.\dx, ring = \d+% of memcpy", lines[-1])
