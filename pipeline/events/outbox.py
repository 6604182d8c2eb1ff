"""The durable outbox: every event is stored here before anything else is told about it.

Why SQLite (WAL journal, synchronous=FULL), not append-only files with fsync:
- Many writers (every camera process, the supervisor) and one reader (the delivery process).
  SQLite serializes writers with file locks that the kernel releases when a process dies, even
  by SIGKILL, so a killed writer never jams the others. Append-only files would need a file
  per writer (then a merge that loses the global order) or a lock of our own.
- A commit is atomic: after a crash an event is wholly there or not at all. With plain files a
  torn last record has to be detected and cut on every start.
- Per-sink delivery cursors live in the same database and advance in a transaction, so each
  sink resumes exactly after the last event it acknowledged, after a restart of any process
  or of the machine, and a slow sink holds back no other (its cursor is its own).
- WAL lets the reader read while a camera appends; synchronous=FULL fsyncs the WAL at each
  commit, so a stored event survives a power cut, not only a process crash. One append costs
  one small fsync (bench/events.py measures it: `outbox_p99_ms`).
The database must be on a local file system (WAL needs shared memory between the processes
that open it; not NFS).

Order: `seq` is assigned inside the write transaction and writers are serialized, so events
are delivered in the order their appends committed (in particular, per camera).

Bounds (`OutboxConfig`): at most `max_events` events and `max_bytes` bytes of event JSON are
held, delivered or not. Delivered events are pruned by the delivery process once every sink's
cursor is past them. When an append would exceed a bound:
- `drop_oldest` (default): the oldest held events are deleted to make room, whether delivered
  or not, and counted in `dropped`; a sink that had not received them logs the gap. The newest
  events are the ones a safety team can still act on.
- `refuse_new`: the new event is not stored and is counted in `refused`; `append` returns
  REFUSED. Chosen where the first events of an incident matter most.
Both counters are persistent (in the database) and reported by `stats()`, which the delivery
process passes to its heartbeat for the dashboard; the appending process logs a warning.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from pipeline.config.events import OutboxConfig, WhenFull
from pipeline.events.schema import Event, EventType

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
OUTBOX_FILE = "outbox.sqlite3"  # inside the events folder (config.events.events_directory)
FULL_WARNING_INTERVAL = 60.0  # seconds between "outbox full" warnings of one writer
PRUNE_CHUNK = 1000  # events deleted per transaction, so writers never wait long
_SCHEMA = (
    # AUTOINCREMENT: a seq is never reused, so a cursor never points at a newer event.
    "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
    "id TEXT NOT NULL UNIQUE, camera TEXT, type TEXT NOT NULL, body TEXT NOT NULL, "
    "size INTEGER NOT NULL, stored REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cursors (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS totals (one INTEGER PRIMARY KEY CHECK (one = 1), "
    "events INTEGER NOT NULL, bytes INTEGER NOT NULL, dropped INTEGER NOT NULL, "
    "refused INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO totals VALUES (1, 0, 0, 0, 0)",
)


class OutboxError(RuntimeError):
    """The outbox cannot be used (locked past busy_timeout, disk full, not an outbox)."""


class AppendOutcome(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # an event with this id is still held: not stored twice
    REFUSED = "refused"  # full and when_full is refuse_new (or the event alone is too big)


@dataclass(frozen=True)
class Appended:
    outcome: AppendOutcome
    seq: int | None  # the stored event's position; None unless STORED
    dropped: int  # oldest events deleted to make room (drop_oldest)


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    id: str
    camera: str | None
    type: EventType
    body: str  # the event's JSON, as sent by every sink


@dataclass(frozen=True)
class OutboxStats:
    events: int  # held now (delivered to some sinks or none)
    bytes: int  # of event JSON held
    dropped: int  # ever dropped by drop_oldest
    refused: int  # ever refused by refuse_new
    last_seq: int  # highest seq ever assigned (0: none yet)


class Outbox:
    """One connection to the outbox database. One per process and thread (SQLite
    connections are not shared across threads); open it after the process has started."""

    def __init__(self, path: Path, limits: OutboxConfig) -> None:
        self.path = path
        self.limits = limits
        self._last_full_warning = -FULL_WARNING_INTERVAL
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                path, timeout=limits.busy_timeout, isolation_level=None, check_same_thread=True
            )
            self._db.execute(f"PRAGMA busy_timeout = {int(limits.busy_timeout * 1000)}")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OutboxError(f"{path}: cannot use a WAL journal (got {mode}); local disk?")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA journal_size_limit = 4194304")
            with self._write():
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version not in (0, SCHEMA_VERSION):
                    raise OutboxError(
                        f"{path}: outbox schema version {version}, this release reads "
                        f"{SCHEMA_VERSION}; deliver it with the release that wrote it, or move it"
                    )
                for statement in _SCHEMA:  # not executescript(): it commits first
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as error:
            raise OutboxError(f"{path}: cannot open the events outbox: {error}") from error

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up front, so the
        busy timeout applies (a deferred upgrade can fail at once with SQLITE_BUSY)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise OutboxError(f"{self.path}: {error}") from error
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def append(self, event: Event) -> Appended:
        """Store `event` durably (fsynced) before returning. Raises OutboxError when the
        database stays locked past busy_timeout or the disk is full."""
        body = event.to_json()
        size = len(body.encode())
        try:
            with self._write() as db:
                if db.execute("SELECT 1 FROM events WHERE id = ?", (event.id,)).fetchone():
                    return Appended(AppendOutcome.DUPLICATE, None, 0)
                events, held = db.execute("SELECT events, bytes FROM totals").fetchone()
                dropped = 0
                too_many = events + 1 > self.limits.max_events
                too_big = held + size > self.limits.max_bytes
                if too_many or too_big:
                    if self.limits.when_full is WhenFull.REFUSE_NEW or size > self.limits.max_bytes:
                        db.execute("UPDATE totals SET refused = refused + 1")
                        outcome = Appended(AppendOutcome.REFUSED, None, 0)
                        self._warn_full(events, held, "refused the new event")
                        return outcome
                    dropped = self._drop_oldest(
                        db, events + 1 - self.limits.max_events, held + size - self.limits.max_bytes
                    )
                    self._warn_full(events, held, f"dropped the {dropped} oldest")
                cursor = db.execute(
                    "INSERT INTO events (id, camera, type, body, size, stored) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (event.id, event.camera, event.type.value, body, size, time.time()),
                )
                db.execute("UPDATE totals SET events = events + 1, bytes = bytes + ?", (size,))
                return Appended(AppendOutcome.STORED, cursor.lastrowid, dropped)
        except sqlite3.DatabaseError as error:
            raise OutboxError(f"{self.path}: event {event.id} not stored: {error}") from error

    def _drop_oldest(self, db: sqlite3.Connection, events: int, held_bytes: int) -> int:
        """Delete the fewest oldest events that free `events` rows and `held_bytes` bytes."""
        last, count, freed = 0, 0, 0
        rows = db.execute("SELECT seq, size FROM events ORDER BY seq")
        for seq, size in rows:
            if count >= events and freed >= held_bytes:
                break
            last, count, freed = seq, count + 1, freed + size
        rows.close()
        if count:
            db.execute("DELETE FROM events WHERE seq <= ?", (last,))
            db.execute(
                "UPDATE totals SET events = events - ?, bytes = bytes - ?, dropped = dropped + ?",
                (count, freed, count),
            )
        return count

    def _warn_full(self, events: int, held: int, action: str) -> None:
        now = time.monotonic()
        if now - self._last_full_warning < FULL_WARNING_INTERVAL:
            return
        self._last_full_warning = now
        stats = self.stats()
        logger.warning(
            "Events outbox full (%d events, %d bytes; limits %d, %d): %s (%s). Dropped so far "
            "%d, refused %d: a sink is down or too slow",
            events,
            held,
            self.limits.max_events,
            self.limits.max_bytes,
            action,
            self.limits.when_full.value,
            stats.dropped,
            stats.refused,
        )

    def read_after(self, seq: int, limit: int) -> list[StoredEvent]:
        """Up to `limit` events with a seq above `seq`, in order."""
        rows = self._db.execute(
            "SELECT seq, id, camera, type, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        return [StoredEvent(row[0], row[1], row[2], EventType(row[3]), row[4]) for row in rows]

    def cursor(self, sink: str) -> int:
        """Seq of the last event `sink` acknowledged. A new sink starts before the oldest
        event held (or after the last one ever stored, when none is held)."""
        row = self._db.execute("SELECT seq FROM cursors WHERE sink = ?", (sink,)).fetchone()
        if row is not None:
            return int(row[0])
        with self._write() as db:
            start = db.execute(
                "SELECT coalesce((SELECT min(seq) - 1 FROM events), "
                "(SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)"
            ).fetchone()[0]
            db.execute("INSERT OR IGNORE INTO cursors VALUES (?, ?)", (sink, start))
            return int(db.execute("SELECT seq FROM cursors WHERE sink = ?", (sink,)).fetchone()[0])

    def set_cursor(self, sink: str, seq: int) -> None:
        """Record (fsynced) that `sink` acknowledged every event up to `seq`."""
        try:
            with self._write() as db:
                db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?)", (sink, seq))
        except sqlite3.DatabaseError as error:
            raise OutboxError(f"{self.path}: cursor of {sink} not saved: {error}") from error

    def pending(self, sink: str) -> int:
        """Events held that `sink` has not acknowledged."""
        row = self._db.execute(
            "SELECT count(*) FROM events WHERE seq > (SELECT seq FROM cursors WHERE sink = ?)",
            (sink,),
        ).fetchone()
        return int(row[0])

    def forget_cursors(self, keep: Iterable[str]) -> list[str]:
        """Remove the cursors of sinks no longer configured (they would hold events forever)."""
        kept = set(keep)
        names = [row[0] for row in self._db.execute("SELECT sink FROM cursors").fetchall()]
        gone = [name for name in names if name not in kept]
        if gone:
            with self._write() as db:
                db.executemany("DELETE FROM cursors WHERE sink = ?", [(name,) for name in gone])
        return gone

    def prune(self, sinks: Iterable[str]) -> int:
        """Delete the events every one of `sinks` has acknowledged; returns how many."""
        names = list(sinks)
        if not names:
            return 0
        floor = min(self.cursor(name) for name in names)
        removed = 0
        while True:
            with self._write() as db:
                last, count, size = db.execute(
                    "SELECT max(seq), count(*), coalesce(sum(size), 0) FROM (SELECT seq, size "
                    "FROM events WHERE seq <= ? ORDER BY seq LIMIT ?)",
                    (floor, PRUNE_CHUNK),
                ).fetchone()
                if not count:
                    return removed
                db.execute("DELETE FROM events WHERE seq <= ?", (last,))
                db.execute(
                    "UPDATE totals SET events = events - ?, bytes = bytes - ?", (count, size)
                )
            removed += count

    def stats(self) -> OutboxStats:
        events, held, dropped, refused = self._db.execute(
            "SELECT events, bytes, dropped, refused FROM totals"
        ).fetchone()
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return OutboxStats(events, held, dropped, refused, int(row[0]) if row else 0)

    def close(self) -> None:
        try:
            self._db.close()
        except sqlite3.Error:
            logger.exception("Could not close the events outbox %s", self.path)

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
