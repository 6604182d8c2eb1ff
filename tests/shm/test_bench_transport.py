"""The frame transport benchmark runs end to end on tiny frames and reports its ratios.

Speed is not asserted (tests never judge wall-clock time); this keeps the benchmark working.
"""

from __future__ import annotations

import re

import pytest

from bench import transport


def test_llc_size_is_read_from_sysfs() -> None:
    assert transport.last_level_cache_bytes() >= 0


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
