"""Fixtures of the fault-injection suite: a site folder, and the camera tests' H.264 clips and
real RTSP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.camera.conftest import clips, rtsp_server
from tests.faults.site import MODEL, FaultSite

__all__ = ["clips", "fault_site", "rtsp_server"]


@pytest.fixture
def fault_site(tmp_path: Path) -> Iterator[FaultSite]:
    if not MODEL.is_file():
        pytest.fail(f"{MODEL} is missing: the demo model ships with the repository")
    site = FaultSite(tmp_path)
    yield site
    if site.process is not None and site.process.poll() is None:
        site.process.kill()
        site.process.wait(30)
