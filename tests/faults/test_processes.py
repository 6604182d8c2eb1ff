"""Processes killed and frozen under a running site: each is replaced and answered again, a
frozen one leaves the traceback of every thread, the others go on at their rate; a killed
supervisor's children leave by themselves and the next start sweeps what they left."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from tests.faults.site import RECOVER, START, FaultSite, synthetic_cameras, wait_for
from tests.processes import alive


def rate(site: FaultSite, camera: str, start: float, end: float) -> float:
    """Answered frames per second of `camera` between two wall-clock times."""
    return len([t for t in site.done_times(camera) if start < t <= end]) / (end - start)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSTOP])
def test_a_killed_or_frozen_camera_is_replaced_and_the_other_keeps_its_rate(
    fault_site: FaultSite, signum
):
    fault_site.write(synthetic_cameras(fps=8), supervisor_heartbeat_timeout=3)
    with fault_site.running():
        wait_for(lambda: fault_site.answered_since("CAM2", 0, 10), START, "CAM2 answers")
        wait_for(lambda: fault_site.answered_since("CAM1", time.time() - 5, 20), START, "CAM1")
        before = rate(fault_site, "CAM1", time.time() - 5, time.time())
        old = fault_site.kill("CAM2", signum)
        faulted = time.time()
        wait_for(lambda: (fault_site.pid_of("CAM2") or old) != old, RECOVER, "a new CAM2")
        wait_for(lambda: fault_site.answered_since("CAM2", faulted), RECOVER, "CAM2 answers")
        during = rate(fault_site, "CAM1", faulted, time.time())
        assert fault_site.stop() == 0, fault_site.output
    assert during >= 0.5 * before, (before, during)
    log = fault_site.log
    if signum == signal.SIGKILL:
        assert "[SUPERVISOR] [ERROR] CAM2: process was killed by SIGKILL" in log
    else:
        assert re.search(
            r"CAM2: Heartbeat timeout \(3s\): last beat [\d.]+s ago; sending SIGABRT", log
        )
        frozen = [line for line in log.splitlines() if "[CAM2] [ERROR]" in line]
        assert len([line for line in frozen if "(most recent call first)" in line]) >= 2
        assert any(re.search(r'File ".*pipeline/camera/\w+\.py", line \d+ in ', x) for x in frozen)
        assert "CAM2: process hung (Heartbeat timeout (3s)" in log
    assert "CAM2: restarted (pid" in log
    assert fault_site.leftover_segments() == []


@pytest.mark.parametrize(("fps", "moment"), [(2, "idle"), (30, "mid-batch")])
def test_a_killed_inference_process_is_replaced_and_every_camera_answered_again(
    fault_site: FaultSite, fps, moment
):
    fault_site.write(synthetic_cameras(fps=fps))
    with fault_site.running():
        wait_for(
            lambda: all(fault_site.answered_since(c, 0) for c in ("CAM1", "CAM2")), START, "answers"
        )
        time.sleep(0.3)
        old = fault_site.kill("INFERENCE")
        killed = time.time()
        wait_for(lambda: (fault_site.pid_of("INFERENCE") or old) != old, RECOVER, "new inference")
        wait_for(
            lambda: all(fault_site.answered_since(c, killed) for c in ("CAM1", "CAM2")),
            RECOVER,
            f"answers after a kill while {moment}",
        )
        assert fault_site.stop() == 0, fault_site.output
    assert "[SUPERVISOR] [ERROR] INFERENCE: process was killed by SIGKILL" in fault_site.log
    assert fault_site.leftover_segments() == []


def test_children_of_a_killed_supervisor_leave_and_the_next_start_sweeps_and_runs(
    fault_site: FaultSite,
):
    """SIGKILL of the supervisor and of the resource tracker it started (the helper that
    would otherwise remove the segments): nothing of the run cleans up after it."""
    fault_site.write(synthetic_cameras(fps=5))
    with fault_site.running() as supervisor:
        wait_for(lambda: fault_site.answered_since("CAM2", 0), START, "answers")
        children = [fault_site.pid_of(tag) for tag in ("INFERENCE", "CAM1", "CAM2")]
        trackers = [pid for pid in child_pids(supervisor.pid) if "resource_tracker" in cmdline(pid)]
        left = fault_site.leftover_segments()
        for pid in [supervisor.pid, *trackers]:
            os.kill(pid, signal.SIGKILL)
        supervisor.wait(10)
        wait_for(lambda: not any(alive(pid) for pid in children), 20, "the children to exit")
    assert trackers and left and sorted(fault_site.leftover_segments()) == sorted(left)

    first_log = fault_site.log
    fault_site.run_dir = fault_site.folder / "second-run"
    fault_site.write(synthetic_cameras(fps=5))
    with fault_site.running():
        wait_for(lambda: fault_site.answered_since("CAM1", 0), START, "the next run answers")
        assert fault_site.stop() == 0, fault_site.output
    log = fault_site.log
    assert log != first_log
    for name in left:
        assert log.count(name) == 1 and f"removed stale segment {name}" in log
    assert fault_site.leftover_segments() == []


def child_pids(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [int(child) for child in children.read().split()]


def cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as command:
        return command.read().replace(b"\0", b" ").decode(errors="replace")
