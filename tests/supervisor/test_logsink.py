"""The central log: the predecessor's line format, one file for all processes, and a child
killed in the middle of writing neither corrupts nor blocks it."""

import logging
import multiprocessing
import os
import re
import signal
import time

from supervisor.logsink import LogSink
from tests.supervisor.logging_children import chatter, flood

LINE = re.compile(
    r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \[[A-Z0-9_-]+\] \[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] "
)


def start(context, sink: LogSink, tag: str, target, *args):
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(target=target, args=(writer, *args), daemon=True)
    process.start()
    writer.close()
    sink.add_child(reader, tag)
    return process


def test_child_killed_mid_write_loses_nothing_else(tmp_path):
    context = multiprocessing.get_context("spawn")
    path = tmp_path / "pipeline.log"
    sink = LogSink(path, console_level=None)
    sink.start()
    try:
        logging.getLogger("test").info("Supervisor line")
        flooder = start(context, sink, "CAM001", flood)
        steady = start(context, sink, "CAM002", chatter, 300)
        deadline = time.monotonic() + 60  # a loaded machine takes a while to spawn
        while "[CAM001] [WARNING] flood 2 " not in path.read_text():
            assert time.monotonic() < deadline, "the flooding child never logged"
            time.sleep(0.05)
        os.kill(flooder.pid, signal.SIGKILL)  # almost surely inside a 200 kB send
        flooder.join(5)
        steady.join(30)
        assert steady.exitcode == 0
    finally:
        sink.close()
    lines = path.read_text().splitlines()
    entries = [line for line in lines if LINE.match(line)]
    assert len(entries) == len(lines), [line[:80] for line in lines if not LINE.match(line)][:3]
    assert "[SUPERVISOR] [INFO] Supervisor line" in lines[0]
    steady_lines = [line for line in lines if "[CAM002] [INFO] steady message" in line]
    assert [int(line.rsplit(" ", 1)[1]) for line in steady_lines] == list(range(300))
    floods = [line for line in lines if "[CAM001] [WARNING] flood" in line]
    assert floods and all(line.endswith("x" * 200_000) for line in floods)
