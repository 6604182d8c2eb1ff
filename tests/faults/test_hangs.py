"""A model call that never returns is caught by its own timeout while the loop is blocked; a
camera that crashes on every start backs off longer each time, goes FATAL after its budget,
shows FATAL, and the rest are not touched."""

from __future__ import annotations

import itertools
import os
import re
import time

from tests.faults.models import hanging_detector, marker_video
from tests.faults.site import MODEL, RECOVER, START, FaultSite, synthetic_cameras, wait_for


def test_a_model_call_that_hangs_is_caught_by_the_inference_timeout(fault_site: FaultSite):
    model = hanging_detector(MODEL, fault_site.folder / "hanging.onnx")
    video = marker_video(fault_site.folder / "marked.mp4", frames=300, marked=range(60, 62))
    cameras = synthetic_cameras(fps=5, count=1) + (
        f"  - id: CAMM\n    source: {{kind: file, path: {video}, loop: true}}\n"
    )
    # The heartbeat timeout alone would take minutes; the call's own start tells sooner.
    fault_site.write(
        cameras, model=model, supervisor_heartbeat_timeout=300, supervisor_inference_timeout=3
    )
    with fault_site.running():
        old = wait_for(lambda: fault_site.pid_of("INFERENCE"), START, "inference")
        wait_for(lambda: "model call running for" in fault_site.log, START + 30, "the hang caught")
        caught = time.time()
        wait_for(lambda: (fault_site.pid_of("INFERENCE") or old) != old, RECOVER, "new inference")
        wait_for(lambda: fault_site.answered_since("CAM1", caught), RECOVER, "answers again")
        assert fault_site.stop() == 0, fault_site.output
    log = fault_site.log
    assert re.search(
        r"\[SUPERVISOR\] \[WARNING\] INFERENCE: model call running for [\d.]+s \(inference "
        r"timeout 3s\); sending SIGABRT for a traceback of every thread",
        log,
    )
    dump = [line for line in log.splitlines() if "[INFERENCE] [ERROR]" in line]
    assert any(re.search(r'File ".*backends/onnxruntime\.py", line \d+ in infer', x) for x in dump)
    assert any(re.search(r'File ".*infer/process\.py", line \d+ in _run_batch', x) for x in dump)
    assert "INFERENCE: process hung (model call running for" in log
    assert fault_site.leftover_segments() == []


def test_a_camera_that_crashes_on_every_start_backs_off_then_is_fatal_alone(
    fault_site: FaultSite,
):
    """Its frame ring is removed from /dev/shm under the running site (someone cleaning up):
    every new CAM2 process fails to attach and crashes."""
    fault_site.write(
        synthetic_cameras(fps=8),
        supervisor_max_restarts=3,
        supervisor_backoff_initial=1.0,
        supervisor_fatal_retry=0,
        dashboard={"status_line_interval": 0.5},
    )
    with fault_site.running():
        wait_for(lambda: fault_site.answered_since("CAM2", 0), START, "CAM2 answers")
        (ring,) = [name for name in fault_site.segments() if name.endswith("_frames_1_0")]
        os.unlink(f"/dev/shm/{ring}")
        fault_site.kill("CAM2")
        faulted = time.time()
        wait_for(lambda: "CAM2: FATAL" in fault_site.log, RECOVER + 30, "CAM2 FATAL")
        fatal = time.time()
        wait_for(lambda: fault_site.answered_since("CAM1", fatal, 10), RECOVER, "CAM1 going on")
        wait_for(lambda: "CAM2 FATAL" in fault_site.output, 10, "FATAL in the status line")
        assert fault_site.stop() == 0, fault_site.output
    log = fault_site.log
    delays = [float(d) for d in re.findall(r"CAM2: restarting in ([\d.]+)s", log)]
    assert len(delays) == 3 and delays[0] < delays[1] < delays[2], delays
    assert log.count("[CAM2] [ERROR] Camera Worker crashed") == 3
    assert re.search(
        r"\[SUPERVISOR\] \[ERROR\] CAM2: FATAL: 3 restarts within 3600s; last exit: process "
        r"exited with code 1 \(CRASHED\); not restarting again",
        log,
    )
    assert "CAM1: restarted" not in log and "INFERENCE: restarted" not in log
    gaps = fault_site.done_times("CAM1")
    assert max(b - a for a, b in itertools.pairwise(gaps) if a > faulted) < 5  # never stalled
    assert fault_site.leftover_segments() == []
