"""The transport survives a camera SIGKILLed mid-write, and the site refuses what it cannot
do: too little /dev/shm, other users' segments; it sweeps what a killed run left. (Killed
inference processes and the rest of the faults: tests/faults/.)"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from tests.e2e.conftest import SiteRun, wait_for


def answered_after(site_run: SiteRun, moment: float, frames: int = 3) -> bool:
    return all(
        len([t for t in site_run.done_times(camera) if t > moment]) >= frames
        for camera in ("CAM1", "CAM2")
    )


def test_camera_killed_repeatedly_mid_stream_recovers_every_time(site_run: SiteRun):
    """A camera killed at arbitrary moments (possibly inside a ring write) is replaced, and
    the replacement's frames reach inference: the ring is repaired, seqs keep increasing."""
    site_run.set_fps(30)
    with site_run.running(duration=240) as process:
        for _ in range(3):
            started = time.time()
            wait_for(
                lambda since=started: (
                    len([t for t in site_run.done_times("CAM1") if t > since]) >= 3
                ),
                30,
                "CAM1 answers",
            )
            pid = wait_for(lambda: site_run.pid_of("CAM1"), 60, "CAM1 to start")
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda p=pid: (site_run.pid_of("CAM1") or p) != p, 60, "a new CAM1 process")
        restarted_at = time.time()
        wait_for(lambda: answered_after(site_run, restarted_at), 60, "answers after the last kill")
        site_run.interrupt(process)
    log = "\n".join(site_run.log_lines)
    assert log.count("[SUPERVISOR] [ERROR] CAM1: process was killed by SIGKILL") == 3
    assert "CAM1: restarted (pid" in log and "restart 3)" in log
    assert site_run.leftover_segments() == []


def test_too_small_dev_shm_is_refused_with_both_sizes(site_run: SiteRun):
    # A private mount namespace with its own 1 MB /dev/shm; as a normal user, inside a user
    # namespace where this user is root (util-linux's unshare, on every Debian).
    namespaces = ["--mount"] if os.geteuid() == 0 else ["--user", "--map-root-user", "--mount"]
    inner = " ".join(f"'{part}'" for part in site_run.start_command(2))
    result = subprocess.run(
        [
            "unshare",
            *namespaces,
            "sh",
            "-c",
            f"mount -t tmpfs -o size=1m tmpfs /dev/shm && exec {inner}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=site_run.cwd,
    )
    assert "mount:" not in result.stderr and "unshare:" not in result.stderr, (
        f"a private /dev/shm could not be mounted here: {result.stderr.strip()}"
    )
    assert result.returncode == 2, result.stderr
    assert (
        "needs" in result.stderr and "but /dev/shm has only 1,048,576 bytes free" in result.stderr
    )
    assert "--shm-size" in result.stderr
    assert "Traceback" not in result.stderr
    # The refusal is in the run's log too, in the log format, once.
    log = "\n".join(site_run.log_lines)
    assert log.count("but /dev/shm has only 1,048,576 bytes free") == 1
    assert "[SUPERVISOR] [ERROR] Cannot start: shared memory for site" in log


def test_stale_segments_are_swept_and_foreign_ones_left_alone(site_run: SiteRun):
    dead_pid = 4_000_000  # above pid_max: no such process
    ours = f"/dev/shm/vigia_{site_run.site}_{dead_pid}_abcd_frames_0"
    foreign = f"/dev/shm/vigia_{site_run.site}_{dead_pid}_abcd_frames_1"
    for path in (ours, foreign):
        with open(path, "wb") as segment:
            segment.write(b"\0" * 4096)
    can_chown = os.geteuid() == 0
    if can_chown:
        os.chown(foreign, 65534, 65534)
    try:
        result = subprocess.run(
            site_run.start_command(2), capture_output=True, text=True, timeout=120, cwd=site_run.cwd
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert not os.path.exists(ours)
        log = "\n".join(site_run.log_lines)
        # Logged once (it was logged twice: a WARNING and an INFO line).
        assert log.count(os.path.basename(ours)) == 1
        assert f"removed stale segment {os.path.basename(ours)} left by a previous run" in log
        if can_chown:
            assert os.path.exists(foreign)
            assert f"{os.path.basename(foreign)} belongs to uid 65534, not to us: left alone" in log
    finally:
        for path in (ours, foreign):
            if os.path.exists(path):
                os.unlink(path)
