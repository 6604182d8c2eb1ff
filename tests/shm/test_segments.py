"""Segment names, creation with reserved pages, refusal when /dev/shm is too small, cleanup."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from pipeline.shm.segments import (
    MAX_NAME_LEN,
    SHM_DIR,
    ForeignSegmentError,
    SegmentNames,
    ShmSpaceError,
    attach_segment,
    create_segment,
    remove_stale_segments,
    reserve_pages,
    run_prefix,
    sanitise_site,
    segment_exists,
    shm_free_bytes,
    stale_segments,
    unlink_segment,
)
from tests.shm.conftest import Children

GIB = 1 << 30


@pytest.mark.parametrize(
    ("site", "sanitised"),
    [
        ("plant_a", "plant-a"),
        ("Plant A / North gate", "plant-a-nort"),
        ("obra-2026", "obra-2026"),
        ("São Paulo", "s-o-paulo"),
        ("///", "site"),
        ("", "site"),
        ("abcdefghijk-lmnop", "abcdefghijk"),  # cut to 12, trailing '-' dropped
    ],
)
def test_site_names_are_sanitised(site: str, sanitised: str) -> None:
    assert sanitise_site(site) == sanitised
    assert run_prefix(site).startswith(f"{sanitised}_{os.getpid()}_")


def test_names_are_unique_per_run_and_role() -> None:
    first, second = SegmentNames(run_prefix("plant")), SegmentNames(run_prefix("plant"))
    assert first.prefix != second.prefix
    names = [first.board(), second.board()]
    for segments in (first, second):
        names += [segments.frames(i, view) for i in range(100) for view in range(3)]
        names += [segments.results(i) for i in range(100)]
    assert len(set(names)) == len(names)
    assert first.frames(0) == f"vigia_{first.prefix}_frames_0_0"
    assert first.frames(11, 2) == f"vigia_{first.prefix}_frames_11_2"
    assert first.results(7) == f"vigia_{first.prefix}_results_7"
    assert first.board() == f"vigia_{first.prefix}_board"
    assert max(len(name) for name in names) <= MAX_NAME_LEN


def test_bad_prefixes_and_indices_are_refused() -> None:
    with pytest.raises(ValueError, match="run_prefix"):
        SegmentNames("plant a")
    with pytest.raises(ValueError, match=">= 0"):
        SegmentNames(run_prefix("plant")).frames(-1)
    with pytest.raises(ValueError, match=">= 0"):
        SegmentNames(run_prefix("plant")).frames(0, -1)


def test_created_segment_is_private_zeroed_and_shared(names: SegmentNames) -> None:
    shm = create_segment(names.board(), 10_000)
    try:
        mode = os.stat(os.path.join(SHM_DIR, names.board())).st_mode
        assert stat.S_IMODE(mode) == 0o600
        assert shm.size == 10_000
        created_view, attached = shm.buf, attach_segment(names.board())
        attached_view = attached.buf
        assert created_view is not None and attached_view is not None
        assert bytes(created_view[:10_000]) == bytes(10_000)
        created_view[123] = 45
        assert attached_view[123] == 45
        del created_view, attached_view
        attached.close()
        # pages reserved at creation, not at first touch
        assert os.stat(os.path.join(SHM_DIR, names.board())).st_blocks * 512 >= 10_000
    finally:
        shm.close()
        unlink_segment(shm)
    assert not segment_exists(names.board())


def test_a_taken_name_is_refused(names: SegmentNames) -> None:
    shm = create_segment(names.board(), 4096)
    try:
        with pytest.raises(FileExistsError):
            create_segment(names.board(), 4096)
    finally:
        shm.close()
        unlink_segment(shm)


def test_too_little_shared_memory_fails_at_creation(names: SegmentNames) -> None:
    """A too-small /dev/shm once surfaced as SIGBUS on the first write to a ring."""
    wanted = shm_free_bytes() + GIB
    with pytest.raises(ShmSpaceError) as failure:
        create_segment(names.frames(0), wanted)
    message = str(failure.value)
    assert f"{wanted:,} bytes" in message and "free" in message
    assert failure.value.needed == wanted
    assert 0 <= failure.value.free < wanted
    assert not segment_exists(names.frames(0))


def test_reserving_more_pages_than_exist_fails_without_touching_memory(
    names: SegmentNames,
) -> None:
    """The check behind create_segment's free-space test, on the real filesystem: tmpfs
    refuses a reservation larger than itself at once (ENOSPC), before allocating anything."""
    stats = os.statvfs(SHM_DIR)
    shm = create_segment(names.board(), 4096)
    try:
        impossible = stats.f_blocks * stats.f_frsize + GIB
        with pytest.raises(ShmSpaceError, match=f"needs {impossible:,} bytes"):
            reserve_pages(shm, impossible)
    finally:
        shm.close()
        unlink_segment(shm)


def test_failed_unlink_is_logged_not_raised(
    names: SegmentNames, caplog: pytest.LogCaptureFixture
) -> None:
    shm = create_segment(names.board(), 4096)
    shm.close()
    unlink_segment(shm)
    with caplog.at_level(logging.WARNING, logger="pipeline.shm.segments"):
        unlink_segment(shm)
    assert "already removed" in caplog.text


def test_segments_of_dead_runs_are_swept(children: Children) -> None:
    """Only this site's segments whose creating pid is gone are removed."""
    finished = children.start(os.getpid)  # any short-lived process: its pid is then free
    finished.join(30)
    dead_pid = finished.pid
    assert dead_pid is not None
    site = f"sweep{os.getpid()}"
    stale = f"vigia_{site}_{dead_pid}_0a1b_frames_0"
    live = f"vigia_{site}_{os.getpid()}_0a1b_board"
    other_site = f"vigia_other{os.getpid()}_{dead_pid}_0a1b_board"
    for name in (stale, live, other_site):
        with open(os.path.join(SHM_DIR, name), "wb"):
            pass  # on Linux a file in /dev/shm is a POSIX shared memory segment
    try:
        assert stale_segments(site) == [stale]
        assert remove_stale_segments(site) == [stale]
        assert not segment_exists(stale)
        assert segment_exists(live) and segment_exists(other_site)
    finally:
        for name in (stale, live, other_site):
            if segment_exists(name):
                os.unlink(os.path.join(SHM_DIR, name))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a segment to another user")
def test_attach_refuses_a_segment_owned_by_another_user(names: SegmentNames) -> None:
    shm = create_segment(names.board(), 4096)
    try:
        os.fchown(shm._fd, 65534, 65534)  # what another user's segment looks like
        with pytest.raises(ForeignSegmentError, match="belongs to uid 65534"):
            attach_segment(names.board())
    finally:
        shm.close()
        shm.unlink()
