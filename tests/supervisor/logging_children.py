"""Child process bodies for the log sink tests (importable by spawned children)."""

import logging
import time
from multiprocessing.connection import Connection

from pipeline.logs import log_to_supervisor


def chatter(pipe: Connection, count: int) -> None:
    log_to_supervisor(pipe)
    log = logging.getLogger("chatter")
    for number in range(count):
        log.info("steady message %d", number)
        time.sleep(0.002)


def flood(pipe: Connection) -> None:
    """Logs large records as fast as it can until it is killed."""
    log_to_supervisor(pipe)
    log = logging.getLogger("flood")
    payload = "x" * 200_000
    number = 0
    while True:
        log.warning("flood %d %s", number, payload)
        number += 1
