"""The delivery process's entry point (spawn target), as the supervisor starts its children.

    delivery_main(DeliveryTask(...), log_pipe)

Exit codes (pipeline.lifecycle.ExitCode): OK after a requested stop, CONFIG when a sink's
${NAME} secret is not set (a restart cannot help), CRASHED otherwise (restarted by policy;
the next start delivers what was pending).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from pipeline.config.events import EventsConfig
from pipeline.events.credentials import MissingSecret
from pipeline.events.delivery import DeliveryCrashed, DeliveryStatus, run_delivery
from pipeline.events.outbox import OutboxError
from pipeline.lifecycle import ExitCode, install_stop_signals
from pipeline.logs import log_to_supervisor
from pipeline.shm.board import BoardRow, StatusBoard

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryTask:
    """Everything the delivery process needs, picklable for the spawn start method."""

    site: str
    events: EventsConfig
    outbox_path: Path
    directory: Path  # where relative file-sink paths resolve
    board: str | None = None  # status board segment, when the process has a row on it
    board_rows: int = 0
    board_row: int = -1


def delivery_main(task: DeliveryTask, log_pipe: Connection) -> None:
    log_to_supervisor(log_pipe)
    stop = install_stop_signals()
    board = StatusBoard.attach(task.board, task.board_rows) if task.board else None
    row: BoardRow | None = board.row(task.board_row) if board is not None else None

    def heartbeat(status: DeliveryStatus) -> None:
        if row is not None:
            outbox = status.outbox
            row.events_held = outbox.events
            row.events_pending = max((sink.pending for sink in status.sinks), default=0)
            row.events_dropped = outbox.dropped + outbox.refused
            row.sinks_failing = sum(sink.failing_since is not None for sink in status.sinks)
            row.heartbeat = status.now
            row.updated = status.now

    logger.info("Events Worker started (pid %d)", os.getpid())
    try:
        run_delivery(
            task.events, task.outbox_path, task.site, stop, heartbeat, directory=task.directory
        )
        code = ExitCode.OK
    except MissingSecret as error:
        logger.error("%s", error)
        code = ExitCode.CONFIG
    except (OutboxError, DeliveryCrashed) as error:
        logger.error("Events delivery failed: %s", error)
        code = ExitCode.CRASHED
    except Exception:
        logger.exception("Events delivery crashed")
        code = ExitCode.CRASHED
    finally:
        row = None
        if board is not None:
            board.close()
    sys.exit(int(code))
