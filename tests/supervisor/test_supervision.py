"""The supervision loop driven directly, over real spawned children that beat on a real status
board (tests/supervisor/supervised_children.py): restarts by policy, hung children aborted
for a traceback, model calls judged by their start, the site's exit code, staged shutdown."""

from __future__ import annotations

import multiprocessing
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipeline.config.events import OutboxConfig
from pipeline.events import EventEmitter, Outbox, decode_event
from pipeline.lifecycle import ExitCode
from pipeline.shm.board import StatusBoard
from pipeline.shm.segments import SegmentNames, run_prefix
from pipeline.shm.states import ProcessState
from supervisor.children import Child, ChildRole, ChildSpec
from supervisor.logsink import LogSink
from supervisor.machine import Timing
from supervisor.policy import RestartPolicy
from supervisor.supervision import Limits, Supervision
from tests.supervisor.supervised_children import Behaviour, BodyTask, body

FAST = Limits(
    heartbeat_timeout=1.5,
    startup_timeout=60.0,
    inference_timeout=60.0,
    abort_grace=2.0,
    shutdown_timeout=20.0,
    camera_drain=0.5,
)


@dataclass
class Site:
    """A board, a log and children of given roles and behaviours, under one Supervision."""

    tmp: Path
    limits: Limits = FAST
    max_restarts: int = 5
    fatal_retry: float = 0.0
    roles: list[tuple[str, ChildRole, Behaviour]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.board = StatusBoard.create(SegmentNames(run_prefix("sup-test")).board(), 8)
        self.log = self.tmp / "pipeline.log"
        self.logs = LogSink(self.log, console_level=None)
        self.logs.start()
        self.children: list[Child] = []

    def add(self, tag: str, role: ChildRole, behaviour: Behaviour) -> Child:
        row = len(self.children)
        task = BodyTask(self.board.name, 8, row, behaviour, self.tmp / f"{tag}.notes")
        policy = RestartPolicy(self.max_restarts, 3600.0, first_delay=0.2, max_delay=2.0)
        child = Child(
            ChildSpec(tag, body, task, row=row, role=role),
            self.board.row(row),
            policy,
            Timing(startsecs=0.3, healthy_period=300.0, fatal_retry=self.fatal_retry),
            multiprocessing.get_context("spawn"),
            self.logs,
        )
        self.children.append(child)
        return child

    def supervision(self) -> Supervision:
        now = time.monotonic()
        for child in self.children:
            child.start(now)
        return Supervision(self.children, self.limits)

    def notes(self, tag: str) -> list[tuple[str, float]]:
        path = self.tmp / f"{tag}.notes"
        lines = path.read_text().splitlines() if path.exists() else []
        return [(line.split()[0], float(line.split()[1])) for line in lines]

    def log_text(self) -> str:
        return self.log.read_text()

    def close(self) -> None:
        for child in self.children:
            child.kill()
            if child.process is not None:
                child.process.join(5)
            child.detach_row()
        self.logs.close()
        self.board.close()
        self.board.unlink()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    made = Site(tmp_path)
    yield made
    made.close()


def run_until(supervision: Supervision, predicate, timeout: float) -> None:
    """Tick the loop until `predicate()` holds (fails the test after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        assert supervision.tick(time.monotonic()) is None or predicate()
        time.sleep(0.05)


def test_healthy_children_run_then_stop_in_role_order(site: Site):
    """Cameras stop first (they drain through a running inference), then services (they flush
    what the cameras wrote), then inference."""
    for tag, role in (("INFERENCE", ChildRole.INFERENCE), ("CAM1", ChildRole.CAMERA)):
        site.add(tag, role, Behaviour.BEAT)
    site.add("DELIVERY", ChildRole.SERVICE, Behaviour.BEAT)
    supervision = site.supervision()
    run_until(supervision, lambda: all(c.state is ProcessState.RUNNING for c in site.children), 60)
    assert supervision.run(duration=0.5) is ExitCode.OK
    assert all(child.state is ProcessState.STOPPED for child in site.children)
    stops = {tag: dict(site.notes(tag)) for tag in ("CAM1", "DELIVERY", "INFERENCE")}
    assert stops["CAM1"]["stopped"] < stops["DELIVERY"]["stopping"]
    assert stops["DELIVERY"]["stopped"] < stops["INFERENCE"]["stopping"]
    assert "Duration of 0s reached; stopping" in site.log_text()


def test_a_crashing_camera_backs_off_longer_each_time_then_is_fatal_the_rest_go_on(site: Site):
    site.max_restarts = 3
    site.add("INFERENCE", ChildRole.INFERENCE, Behaviour.BEAT)
    steady = site.add("CAM1", ChildRole.CAMERA, Behaviour.BEAT)
    crashing = site.add("CAM2", ChildRole.CAMERA, Behaviour.CRASH)
    supervision = site.supervision()
    outbox = Outbox(site.tmp / "outbox.sqlite3", OutboxConfig())
    supervision.events = EventEmitter(outbox, "sup-test", camera=None)
    run_until(supervision, lambda: crashing.state is ProcessState.FATAL, 90)
    # The operational event, once, about the camera.
    (stored,) = outbox.read_after(0, 10)
    event = decode_event(stored.body)
    assert (event.type.value, event.camera) == ("process.fatal", "CAM2")
    assert event.payload == {
        "process": "CAM2",
        "exit_code": 1,
        "restarts": 3,
        "reason": "3 restarts within 3600s; last exit: process exited with code 1 (CRASHED)",
    }
    outbox.close()
    assert supervision.outcome() is None  # CAM1 still runs: the site goes on
    assert steady.state is ProcessState.RUNNING and int(steady.row.restarts) == 0
    log = site.log_text()
    delays = [float(d) for d in re.findall(r"CAM2: restarting in ([\d.]+)s", log)]
    assert len(delays) == 3 and delays[0] < delays[1] < delays[2], delays
    assert re.search(
        r"\[SUPERVISOR\] \[ERROR\] CAM2: FATAL: 3 restarts within 3600s; last exit: process "
        r"exited with code 1 \(CRASHED\); not restarting again",
        log,
    )
    assert log.count("[CAM2] [WARNING] about to crash") == 4  # its stderr, in the log
    native = re.findall(r"\[CAM2\] \[WARNING\] OpenCV/FFmpeg: \[ WARN:\S+\] global .+", log)
    assert len(native) == 4, log  # OpenCV's own line, tagged with the camera
    assert len([e for e, _ in site.notes("CAM2") if e == "started"]) == 4


def test_a_hung_camera_leaves_every_threads_traceback_then_is_restarted(site: Site):
    site.add("INFERENCE", ChildRole.INFERENCE, Behaviour.BEAT)
    hung = site.add("CAM1", ChildRole.CAMERA, Behaviour.HANG)
    supervision = site.supervision()
    run_until(supervision, lambda: int(hung.row.restarts) >= 1, 60)
    log = site.log_text()
    assert re.search(r"CAM1: Heartbeat timeout \(2s\): last beat [\d.]+s ago; sending SIGABRT", log)
    dump = [line for line in log.splitlines() if "[CAM1] [ERROR]" in line]
    assert any("Fatal Python error: Aborted" in line for line in dump)
    assert len([line for line in dump if "(most recent call first)" in line]) >= 2
    assert any(
        re.search(r'File ".*supervised_children.py", line \d+ in stuck_in_here', x) for x in dump
    )
    assert any("in helper_thread_body" in line for line in dump)
    assert "CAM1: process hung (Heartbeat timeout" in log and "was killed by SIGABRT" in log


def test_a_hung_child_that_ignores_sigabrt_is_killed_after_the_grace(site: Site):
    site.add("INFERENCE", ChildRole.INFERENCE, Behaviour.BEAT)
    hung = site.add("CAM1", ChildRole.CAMERA, Behaviour.HANG_IGNORING_ABORT)
    supervision = site.supervision()
    run_until(supervision, lambda: hung.aborted_at is not None, 60)
    aborted = time.monotonic()
    run_until(supervision, lambda: int(hung.row.restarts) >= 1, 30)
    assert time.monotonic() - aborted >= FAST.abort_grace - 0.2
    log = site.log_text()
    assert "CAM1: still there 2s after SIGABRT; killing it (SIGKILL)" in log
    assert "was killed by SIGKILL" in log


def test_a_model_call_stuck_past_the_inference_timeout_is_caught(site: Site):
    """The heartbeat timeout is long; the call's own start says it is stuck."""
    site.limits = Limits(heartbeat_timeout=300.0, inference_timeout=1.0, abort_grace=2.0)
    inference = site.add("INFERENCE", ChildRole.INFERENCE, Behaviour.MODEL_CALL_HANG)
    site.add("CAM1", ChildRole.CAMERA, Behaviour.BEAT)
    supervision = site.supervision()
    run_until(supervision, lambda: int(inference.row.restarts) >= 1, 60)
    log = site.log_text()
    assert re.search(r"INFERENCE: model call running for [\d.]+s \(inference timeout 1s\)", log)
    assert any(re.search(r"\[INFERENCE\] \[ERROR\] .* in model_call", x) for x in log.splitlines())


@pytest.mark.parametrize(
    ("cameras", "inference", "code", "why"),
    [
        ([Behaviour.FINISH, Behaviour.FINISH], Behaviour.BEAT, ExitCode.OK, "Every camera has"),
        ([Behaviour.SOURCE, Behaviour.SOURCE], Behaviour.BEAT, ExitCode.SOURCE, "No camera can"),
        ([Behaviour.FINISH, Behaviour.SOURCE], Behaviour.BEAT, ExitCode.SOURCE, "CAM2 OFFLINE"),
        ([Behaviour.CRASH, Behaviour.SOURCE], Behaviour.BEAT, ExitCode.CRASHED, "CAM1 FATAL"),
        ([Behaviour.BEAT], Behaviour.MODEL, ExitCode.MODEL, "Inference cannot run"),
        ([Behaviour.BEAT], Behaviour.CRASH, ExitCode.CRASHED, "Inference cannot run"),
    ],
)
def test_the_site_ends_with_a_code_that_says_why(site: Site, cameras, inference, code, why):
    site.max_restarts = 0
    site.fatal_retry = 3600.0  # a cool-down to come does not keep a site that cannot run
    site.add("INFERENCE", ChildRole.INFERENCE, inference)
    for number, behaviour in enumerate(cameras, 1):
        site.add(f"CAM{number}", ChildRole.CAMERA, behaviour)
    supervision = site.supervision()
    started = time.monotonic()
    assert supervision.run(duration=120) is code
    assert time.monotonic() - started < 90
    assert why in site.log_text()
    assert not any(child.alive for child in site.children)


def test_a_second_sigterm_forces_a_stop_the_children_do_not_obey(site: Site):
    site.add("INFERENCE", ChildRole.INFERENCE, Behaviour.BEAT)
    deaf = site.add("CAM1", ChildRole.CAMERA, Behaviour.DEAF)
    supervision = site.supervision()
    run_until(supervision, lambda: deaf.state is ProcessState.RUNNING, 60)
    supervision.request(signal.SIGTERM)
    threading.Timer(1.0, supervision.request, (signal.SIGTERM,)).start()
    started = time.monotonic()
    assert supervision.run() is ExitCode.OK
    assert time.monotonic() - started < 5  # not the 5.5 s the camera stage would wait
    assert "CAM1: killed (stop forced)" in site.log_text()


def test_a_child_that_outlives_its_stage_is_aborted_for_a_traceback_then_killed(site: Site):
    site.limits = Limits(heartbeat_timeout=5.0, shutdown_timeout=4.0, camera_drain=0.1)
    site.add("INFERENCE", ChildRole.INFERENCE, Behaviour.BEAT)
    deaf = site.add("CAM1", ChildRole.CAMERA, Behaviour.DEAF)
    supervision = site.supervision()
    run_until(supervision, lambda: deaf.state is ProcessState.RUNNING, 60)
    supervision.request(signal.SIGHUP)  # the terminal closed: a clean stop, never forced
    supervision.request(signal.SIGHUP)
    started = time.monotonic()
    assert supervision.run() is ExitCode.OK
    assert time.monotonic() - started < 4.0 + 3  # within shutdown_timeout, plus reaping
    log = site.log_text()
    assert "Stop requested (signal SIGHUP)" in log
    assert "CAM1: did not stop in time; sending SIGABRT for a traceback" in log
    assert "[CAM1] [ERROR] Fatal Python error: Aborted" in log
    assert dict(site.notes("INFERENCE"))["stopped"] > 0  # inference still stopped cleanly
