"""A child whose supervisor is SIGKILLed leaves by itself, even one still starting.

Regression: a child that recorded its parent only once its modules were imported took the
re-parenting init for its supervisor when the supervisor had died meanwhile, and ran on
unsupervised for good (seen under load: camera processes alive an hour after their site).
"""

import multiprocessing
import os
import signal
import time

from tests.supervisor.supervised_children import short_lived_supervisor


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] == "Z"  # a zombie waiting for init
    except FileNotFoundError:
        return True


def test_a_child_still_starting_when_its_supervisor_is_killed_exits(tmp_path):
    pid_file = tmp_path / "child.pid"
    supervisor = multiprocessing.get_context("spawn").Process(
        target=short_lived_supervisor, args=(pid_file,)
    )
    supervisor.start()
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the child did not start"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.join(10)
    deadline = time.monotonic() + 15
    while not gone(child):
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)
            raise AssertionError("the orphaned child kept running")
        time.sleep(0.1)
