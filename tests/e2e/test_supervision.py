"""The predecessor's restart semantics: a hung process is aborted on heartbeat timeout (its
traceback lands in the log) and restarted; past max_restarts inside restart_window a process
is FATAL and the rest go on."""

from __future__ import annotations

import os
import re
import signal
import time

from tests.e2e.conftest import SiteRun, wait_for


def test_hung_camera_is_killed_on_heartbeat_timeout_and_restarted(site_run: SiteRun):
    site_run.extra_args = ["--heartbeat-timeout", "2"]
    with site_run.running(duration=240) as process:
        pid = wait_for(lambda: site_run.pid_of("CAM2"), 90, "CAM2 to start")
        wait_for(lambda: site_run.done_times("CAM2"), 90, "CAM2 answers")
        os.kill(pid, signal.SIGSTOP)  # alive but hung: only the heartbeat can tell
        wait_for(lambda: (site_run.pid_of("CAM2") or pid) != pid, 60, "CAM2 replaced")
        restarted_at = time.time()
        wait_for(
            lambda: [t for t in site_run.done_times("CAM2") if t > restarted_at],
            60,
            "answers again",
        )
        site_run.interrupt(process)
    log = "\n".join(site_run.log_lines)
    assert re.search(r"\[SUPERVISOR\] \[WARNING\] CAM2: Heartbeat timeout \(2s\)", log)
    assert re.search(
        r"CAM2: process hung \(Heartbeat timeout \(2s\).*\), was killed by SIGABRT", log
    )
    # faulthandler's dump of every thread, one log line each, tagged with the camera
    assert re.search(r"\[CAM2\] \[ERROR\] Thread 0x[0-9a-f]+ \(most recent call first\):", log)
    assert re.search(r'\[CAM2\] \[ERROR\]   File ".*pipeline/camera/process\.py", line \d+', log)


def test_restart_limit_makes_a_camera_fatal_and_the_site_goes_on(site_run: SiteRun):
    site_run.extra_args = ["--max-restarts", "1", "--restart-window", "3600"]
    with site_run.running(duration=240) as process:
        wait_for(lambda: site_run.done_times("CAM2"), 90, "CAM2 answers")
        pid = site_run.pid_of("CAM2")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # the one restart allowed
        wait_for(lambda: (site_run.pid_of("CAM2") or pid) != pid, 60, "a new CAM2 process")
        assert "CAM2: restarted" in "\n".join(site_run.log_lines)
        os.kill(site_run.pid_of("CAM2") or 0, signal.SIGKILL)
        wait_for(lambda: "CAM2: FATAL" in "\n".join(site_run.log_lines), 30, "CAM2 FATAL")
        fatal_at = time.time()
        wait_for(
            lambda: len([t for t in site_run.done_times("CAM1") if t > fatal_at]) >= 5,
            60,
            "CAM1 going on",
        )
        output = site_run.interrupt(process)
    log = "\n".join(site_run.log_lines)
    assert (
        "[SUPERVISOR] [ERROR] CAM2: FATAL: 1 restarts within 3600s; last exit: process was "
        "killed by SIGKILL; trying again in 3600s" in log
    )
    assert log.count("CAM2: restarted") == 1
    assert "FATAL" in output  # the status line shows it
    assert site_run.leftover_segments() == []
