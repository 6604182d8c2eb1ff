"""Bodies of the small children the supervision tests supervise (importable by spawned
children). Each beats on its board row as a real child does, then behaves as named."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from enum import Enum
from multiprocessing.connection import Connection
from pathlib import Path

from pipeline.lifecycle import ExitCode, install_stop_signals
from pipeline.logs import log_to_supervisor
from pipeline.shm.board import StatusBoard

logger = logging.getLogger("test-child")

BEAT = 0.05  # seconds between heartbeats


class Behaviour(Enum):
    BEAT = "beat"  # beats until SIGTERM, then exits 0
    FINISH = "finish"  # beats for a moment, then exits 0 (a file that ended)
    CRASH = "crash"  # beats for a moment, then exits 1
    SOURCE = "source"  # exits with the code for a source that can never work
    MODEL = "model"  # exits with the code for a model that cannot run
    HANG = "hang"  # beats, then its loop blocks (a helper thread blocks too)
    # hangs, SIGABRT ignored (a library's own handler; a process in uninterruptible sleep
    # does not take it either)
    HANG_IGNORING_ABORT = "hang-ignoring-abort"
    MODEL_CALL_HANG = "model-call-hang"  # an inference child stuck inside a model call
    DEAF = "deaf"  # beats, ignores SIGTERM


@dataclass(frozen=True)
class BodyTask:
    board: str
    rows: int
    row: int
    behaviour: Behaviour
    notes: Path  # the child appends "<event> <time.monotonic()>" lines here


def note(task: BodyTask, event: str) -> None:
    with task.notes.open("a") as notes:
        notes.write(f"{event} {time.monotonic():.6f} {os.getpid()}\n")


def body(task: BodyTask, log_pipe: Connection) -> None:
    log_to_supervisor(log_pipe)
    stop = install_stop_signals()
    board = StatusBoard.attach(task.board, task.rows)
    row = board.row(task.row)
    behaviour = task.behaviour
    note(task, "started")
    if behaviour is Behaviour.SOURCE:
        logger.error("the source can never work")
        sys.exit(int(ExitCode.SOURCE))
    if behaviour is Behaviour.MODEL:
        logger.error("the model cannot be loaded")
        sys.exit(int(ExitCode.MODEL))
    if behaviour is Behaviour.DEAF:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    beats, parent = 0, os.getppid()
    while not stop.requested or (behaviour is Behaviour.DEAF and os.getppid() == parent):
        row.heartbeat = time.monotonic()
        beats += 1
        if beats == 10:
            if behaviour is Behaviour.CRASH:
                print("about to crash", file=sys.stderr, flush=True)
                import cv2  # OpenCV writes its native warning straight to descriptor 2

                cv2.VideoCapture("/nonexistent/camera.mp4", cv2.CAP_FFMPEG).release()
                sys.exit(int(ExitCode.CRASHED))
            if behaviour is Behaviour.FINISH:
                sys.exit(int(ExitCode.OK))
            if behaviour is Behaviour.HANG:
                threading.Thread(target=helper_thread_body, daemon=True).start()
                stuck_in_here()
            if behaviour is Behaviour.HANG_IGNORING_ABORT:
                signal.signal(signal.SIGABRT, signal.SIG_IGN)
                stuck_in_here()
            if behaviour is Behaviour.MODEL_CALL_HANG:
                row.model_call_started = time.monotonic()
                model_call()
        time.sleep(BEAT)
    note(task, "stopping")
    time.sleep(0.3)  # a clean stop takes a moment (drain, finalize): order stays visible
    note(task, "stopped")
    del row
    board.close()
    sys.exit(int(ExitCode.OK))


def stuck_in_here() -> None:
    while True:
        time.sleep(3600)


def helper_thread_body() -> None:
    while True:
        time.sleep(3600)


def model_call() -> None:
    while True:
        time.sleep(3600)


def slow_starter(pid_file: Path, log_pipe: Connection) -> None:
    """A child that takes seconds to start (imports on a loaded machine), then runs until
    its stop flag says to stop; writes its pid first."""
    pid_file.write_text(str(os.getpid()))
    time.sleep(3.0)  # the supervisor dies meanwhile
    stop = install_stop_signals()
    while not stop.requested:
        time.sleep(BEAT)


def short_lived_supervisor(pid_file: Path) -> None:
    """Spawns one child through the real bootstrap, as the supervisor does, then waits to be
    killed."""
    import multiprocessing

    from supervisor.bootstrap import child_main

    context = multiprocessing.get_context("spawn")
    _, log_writer = context.Pipe(duplex=False)
    _, out_writer = context.Pipe(duplex=False)
    child = context.Process(
        target=child_main, args=(slow_starter, pid_file, log_writer, out_writer, os.getpid())
    )
    child.start()
    while True:
        time.sleep(3600)
