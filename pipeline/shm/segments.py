"""Shared-memory segments: their names, creation with reserved pages, attachment, cleanup.

The supervisor creates every segment and unlinks it at exit; child processes attach and never
unlink. Names carry a per-run prefix, `<site>_<pid>_<random>`, so that two runs of the same
site never collide and a run killed with SIGKILL can be recognised (its pid is gone) and
swept by the next one.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import sys
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

logger = logging.getLogger(__name__)

SHM_DIR = "/dev/shm"
NAME_ROOT = "vigia"
SITE_CHARS = 12  # sanitised site names are cut to this many characters
# shm_open names including the leading "/" that SharedMemory adds: PSHMNAMLEN on macOS is 31,
# NAME_MAX on Linux is 255.
MAX_NAME_LEN = 30 if sys.platform == "darwin" else 254

_PREFIX_RE = re.compile(r"^(?P<site>[a-z0-9-]+)_(?P<pid>\d+)_(?P<token>[0-9a-f]{4})$")


class ShmSpaceError(OSError):
    """The shared-memory filesystem has too little free space for a segment."""

    def __init__(self, name: str, needed: int, free: int, path: str = SHM_DIR) -> None:
        super().__init__(
            errno.ENOSPC,
            f"shared memory for {name} needs {needed:,} bytes but {path} has only "
            f"{free:,} bytes free; enlarge it (Docker: --shm-size) or lower the camera count, "
            "ring slots or model input size",
        )
        self.name = name
        self.needed = needed
        self.free = free


def sanitise_site(site: str) -> str:
    """Lower-case `site`, keep [a-z0-9-], cut to SITE_CHARS characters ("site" if empty)."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", site.lower()).strip("-")[:SITE_CHARS].strip("-")
    return cleaned or "site"


def run_prefix(site: str) -> str:
    """A prefix unique to this run: `<site-sanitised>_<pid>_<4 hex digits>`."""
    return f"{sanitise_site(site)}_{os.getpid()}_{secrets.token_hex(2)}"


@dataclass(frozen=True)
class SegmentNames:
    """The names of every segment of one run, all `vigia_<prefix>_...`."""

    prefix: str

    def __post_init__(self) -> None:
        if not _PREFIX_RE.match(self.prefix):
            raise ValueError(
                f"segment prefix must look like '<site>_<pid>_<4 hex>' (see run_prefix()), "
                f"got {self.prefix!r}"
            )

    def frames(self, camera_index: int, view: int = 0) -> str:
        """The FrameRing of camera `camera_index` (0-based, config order) for model input
        `view` (0-based: see pipeline/shm/layout.py)."""
        return self._name(f"frames_{self._index(camera_index)}_{self._index(view)}")

    def results(self, camera_index: int) -> str:
        """The ResultRing of camera `camera_index` (0-based, config order)."""
        return self._name(f"results_{self._index(camera_index)}")

    def board(self) -> str:
        """The status board."""
        return self._name("board")

    def _name(self, role: str) -> str:
        name = f"{NAME_ROOT}_{self.prefix}_{role}"
        if len(name) > MAX_NAME_LEN:
            raise ValueError(
                f"shared memory name {name!r} has {len(name)} characters, over this platform's "
                f"limit of {MAX_NAME_LEN}; use a shorter site name"
            )
        return name

    @staticmethod
    def _index(index: int) -> int:
        if index < 0:
            raise ValueError(f"camera and view indexes must be >= 0, got {index}")
        return index


def shm_free_bytes(path: str = SHM_DIR) -> int:
    """Bytes free for unprivileged use on the filesystem holding `path`."""
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def create_segment(name: str, nbytes: int) -> SharedMemory:
    """Create segment `name` of `nbytes` bytes (mode 0600, zero-filled) with its pages reserved.

    tmpfs allocates pages on first touch, so a segment larger than the free space of /dev/shm
    would be created without complaint and the process writing it would die of SIGBUS later.
    Checking the free space first and then reserving the pages with posix_fallocate turns
    that into a ShmSpaceError here. Raises FileExistsError if the name is taken.
    """
    if nbytes <= 0:
        raise ValueError(f"segment size must be positive, got {nbytes} bytes")
    free = _free_or_none()
    if free is not None and nbytes > free:
        raise ShmSpaceError(name, nbytes, free)
    shm = SharedMemory(name=name, create=True, size=nbytes)  # SharedMemory uses mode 0600
    try:
        reserve_pages(shm, nbytes)
    except BaseException:
        shm.close()
        unlink_segment(shm)
        raise
    return shm


def _free_or_none() -> int | None:
    try:
        return shm_free_bytes()
    except OSError:  # no /dev/shm (macOS): posix_fallocate, where present, is the only check
        return None


def reserve_pages(shm: SharedMemory, nbytes: int) -> None:
    """Allocate the first `nbytes` of `shm` now (posix_fallocate); ShmSpaceError on ENOSPC.

    A no-op where posix_fallocate does not exist (macOS) or the filesystem does not support it.
    """
    fallocate = getattr(os, "posix_fallocate", None)
    fd = getattr(shm, "_fd", -1)  # SharedMemory keeps the fd open on POSIX; no public accessor
    if fallocate is None or fd < 0:
        return
    try:
        fallocate(fd, 0, nbytes)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise ShmSpaceError(shm.name, nbytes, _free_or_none() or 0) from exc
        if exc.errno in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            logger.debug(
                "posix_fallocate unsupported for %s (%s): pages not reserved", shm.name, exc
            )
            return
        raise


class ForeignSegmentError(PermissionError):
    """A segment with one of our names belongs to another user: never read, write or remove it."""


def attach_segment(name: str) -> SharedMemory:
    """Attach to an existing segment of ours. The caller closes it and never unlinks it.

    Raises ForeignSegmentError when another user owns it (root could otherwise open anything).
    """
    shm = SharedMemory(name=name, create=False)
    fd = getattr(shm, "_fd", -1)
    if fd >= 0:
        owner = os.fstat(fd).st_uid
        if owner != os.geteuid():
            shm.close()
            raise ForeignSegmentError(
                f"shared memory {name} belongs to uid {owner}, not to this user ({os.geteuid()}); refusing it"
            )
    return shm


def close_segment(shm: SharedMemory) -> None:
    """Unmap `shm`; logs (does not raise) when numpy views into it are still alive."""
    try:
        shm.close()
    except BufferError:
        logger.warning(
            "segment %s still has views in use; unmapped when they are released", shm.name
        )


def unlink_segment(shm: SharedMemory) -> None:
    """Remove segment `shm` (creator only); a failure is logged, not raised."""
    try:
        shm.unlink()
    except FileNotFoundError:
        logger.warning("segment %s was already removed", shm.name)
    except OSError:
        logger.exception("could not remove segment %s", shm.name)


def segment_exists(name: str) -> bool:
    """Whether segment `name` exists (Linux: a file in /dev/shm)."""
    return (Path(SHM_DIR) / name.lstrip("/")).exists()


def stale_segments(site: str, shm_dir: str = SHM_DIR) -> list[str]:
    """Our segments of `site` left by runs whose creating process no longer exists.

    Segments of another user are never touched; they are logged and left alone.
    """
    pattern = re.compile(
        rf"^{NAME_ROOT}_{re.escape(sanitise_site(site))}_(?P<pid>\d+)_[0-9a-f]{{4}}_"
    )
    stale = []
    try:
        entries = sorted(os.listdir(shm_dir))
    except OSError:
        return []
    for entry in entries:
        match = pattern.match(entry)
        if not match or _pid_alive(int(match["pid"])):
            continue
        try:
            owner = os.stat(os.path.join(shm_dir, entry)).st_uid
        except FileNotFoundError:
            continue
        if owner != os.geteuid():
            logger.warning(
                "shared memory %s belongs to uid %d, not to us: left alone", entry, owner
            )
            continue
        stale.append(entry)
    return stale


def remove_stale_segments(site: str, shm_dir: str = SHM_DIR) -> list[str]:
    """Remove the segments that stale_segments() finds; returns their names."""
    removed = []
    for name in stale_segments(site, shm_dir):
        try:
            os.unlink(os.path.join(shm_dir, name))
        except FileNotFoundError:
            continue
        except OSError:
            logger.exception("could not remove stale segment %s", name)
            continue
        logger.info("removed stale segment %s left by a previous run", name)
        removed.append(name)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
