"""Recording retention: which segment files to delete, by age and by the site's total size.

A camera sweeps when it opens a segment; the sweep covers every run folder of the site
(`<site root>/<run>/recordings/<camera>/<UTC start>.mp4`, the site root being the folder
that holds the run folders, `runs/<site>` by default), because a site restarted every day
leaves its older recordings in older run folders. Only files named as segments are ever
considered, so nothing else in those folders is touched.

A segment being written is never deleted: its writer holds an exclusive `flock` on it for
as long as it is open (recording.py), and the sweep deletes a file only while holding that
lock itself. A killed writer's lock goes with its process, so its last segment becomes an
ordinary closed one. Cameras take turns: one sweep per site per `check_interval_s`,
claimed through a lock file in the site root.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config.evidence import RetentionConfig

logger = logging.getLogger(__name__)

SEGMENT_NAME = re.compile(r"^\d{8}T\d{6}Z(\.\d+)?\.mp4$")  # 20261201T101500Z.mp4, ...Z.1.mp4
SWEEP_MARKER = ".recordings-retention"  # in the site root: when the last sweep ran


@dataclass(frozen=True)
class SegmentFile:
    path: Path
    size: int  # bytes
    modified: float  # Unix time of its last write (when it was closed, for a closed segment)


@dataclass
class SweepResult:
    deleted: list[SegmentFile] = field(default_factory=list)
    in_use: list[Path] = field(default_factory=list)  # wanted gone, but still being written
    total_bytes: int = 0  # the site's segments after the sweep

    @property
    def freed_bytes(self) -> int:
        return sum(segment.size for segment in self.deleted)


def scan_segments(site_root: Path) -> list[SegmentFile]:
    """Every segment file of the site: `site_root/*/recordings/*/<segment name>`."""
    found = []
    for path in site_root.glob("*/recordings/*/*.mp4"):
        if not SEGMENT_NAME.match(path.name):
            continue
        try:
            status = path.stat()
        except FileNotFoundError:  # deleted by another camera's sweep meanwhile
            continue
        found.append(SegmentFile(path, status.st_size, status.st_mtime))
    return found


def plan_retention(
    segments: Sequence[SegmentFile],
    now: float,
    max_age_s: float | None,
    max_bytes: int | None,
    keep: Collection[Path] = (),
) -> list[SegmentFile]:
    """Which segments to delete, oldest first: every one last written more than `max_age_s`
    before `now` (Unix time), then more of the oldest until the rest fit in `max_bytes`.
    Segments in `keep` (being written) are never chosen but count towards the size."""
    ordered = sorted(segments, key=lambda segment: (segment.modified, str(segment.path)))
    doomed: list[SegmentFile] = []
    total = sum(segment.size for segment in ordered)
    for segment in ordered:
        if segment.path in keep:
            continue
        too_old = max_age_s is not None and now - segment.modified > max_age_s
        too_big = max_bytes is not None and total > max_bytes
        if not (too_old or too_big):
            continue
        doomed.append(segment)
        total -= segment.size
    return doomed


def delete_closed(path: Path) -> bool | None:
    """Delete `path` unless a writer holds its lock. True: deleted; False: being written;
    None: already gone."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        try:
            os.unlink(path)
        except FileNotFoundError:
            return None
        return True
    finally:
        os.close(fd)  # releases the lock


def sweep(
    site_root: Path, config: RetentionConfig, now: float, force: bool = False
) -> SweepResult | None:
    """Apply `config` to the site's recordings now (Unix time). None: another camera swept
    less than `check_interval_s` ago, or is sweeping (unless `force`)."""
    if config.max_age_h is None and config.max_total_gb is None:
        return None
    site_root.mkdir(parents=True, exist_ok=True)
    marker = os.open(site_root / SWEEP_MARKER, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # another camera is sweeping
        last = _last_sweep(marker)
        if not force and last is not None and now - last < config.check_interval_s:
            return None
        result = _sweep(site_root, config, now)
        os.ftruncate(marker, 0)
        os.pwrite(marker, f"{now:.3f}\n".encode(), 0)
    finally:
        os.close(marker)
    if result.deleted:
        logger.info(
            "Retention deleted %d recording segments (%.1f MB); the site keeps %.1f MB",
            len(result.deleted),
            result.freed_bytes / 1e6,
            result.total_bytes / 1e6,
        )
    return result


def _sweep(site_root: Path, config: RetentionConfig, now: float) -> SweepResult:
    max_age_s = None if config.max_age_h is None else config.max_age_h * 3600
    max_bytes = None if config.max_total_gb is None else int(config.max_total_gb * 1e9)
    segments = scan_segments(site_root)
    result = SweepResult()
    keep: set[Path] = set()
    gone: set[Path] = set()
    while True:  # again when a segment turned out to be open: the next oldest goes instead
        remaining = [segment for segment in segments if segment.path not in gone]
        plan = plan_retention(remaining, now, max_age_s, max_bytes, keep)
        newly_open = False
        for segment in plan:
            deleted = delete_closed(segment.path)
            if deleted is False:
                keep.add(segment.path)
                result.in_use.append(segment.path)
                newly_open = True
                break
            gone.add(segment.path)
            if deleted:
                result.deleted.append(segment)
        if not newly_open:
            break
    result.total_bytes = sum(s.size for s in segments if s.path not in gone)
    if max_bytes is not None and result.total_bytes > max_bytes:
        logger.warning(
            "Recordings hold %.1f MB, over max_total_gb (%.1f MB), and only open segments "
            "are left to delete",
            result.total_bytes / 1e6,
            max_bytes / 1e6,
        )
    return result


def _last_sweep(marker: int) -> float | None:
    text = os.pread(marker, 64, 0).decode(errors="replace").strip()
    try:
        return float(text) if text else None
    except ValueError:
        return None
