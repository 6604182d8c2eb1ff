"""A site with an event sink: a violation a camera raises is stored in the outbox, delivered
by the EVENTS process to the sink, and carries evidence that exists in the run folder."""

from __future__ import annotations

import json
import time
from pathlib import Path

import av
import cv2

from pipeline.config.events import OutboxConfig
from pipeline.events import OUTBOX_FILE, Outbox
from tests.e2e.conftest import LOG_LINE, MODEL, SiteRun, wait_for
from tests.events.conftest import WebhookServer, first_copies
from tests.jsonl import complete_records
from tests.processes import alive

SITE = """\
site: {site}
output_dir: {run_dir}
model: {{path: {model}}}
compliance: {{rules: {{min_violation_s: 1.0}}}}
events:
  sinks:
    - {{kind: file, path: delivered.jsonl}}
cameras:
  - id: CAM1
    source: {{kind: synthetic, seed: 30001, width: 640, height: 360, fps: 8}}
"""


def test_violations_reach_the_sink_with_their_evidence(site_run: SiteRun):
    site_run.config.write_text(
        SITE.format(site=site_run.site, run_dir=site_run.run_dir, model=MODEL)
    )
    delivered = site_run.run_dir / "events" / "delivered.jsonl"

    def starts() -> list[dict]:
        return [e for e in complete_records(delivered) if e["type"] == "violation.start"]

    with site_run.running(duration=120) as process:
        wait_for(starts, 90, "a violation delivered to the file sink")
        site_run.interrupt(process)

    raised = [
        json.loads(line)
        for line in (site_run.run_dir / "events.jsonl").read_text().splitlines()
        if line
    ]
    raised_starts = [event for event in raised if event["type"] == "violation_start"]
    received = starts()
    # Every start a camera raised reached the sink once (a clean stop flushes the outbox).
    assert len({event["id"] for event in received}) == len(received) == len(raised_starts)
    for event in received:
        assert event["schema"] == "vigia.event/1" and event["camera"] == "CAM1"
        payload = event["payload"]
        assert payload["missing"] and payload["zone"] == "frame"
        snapshot = site_run.run_dir / payload["snapshot"]
        assert snapshot.is_file() and snapshot.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    log = site_run.log_lines
    assert any("[EVENTS] [INFO] Events: stopped; every sink has every event" in x for x in log)
    assert all(LOG_LINE.match(line) for line in log)
    assert site_run.leftover_segments() == []


KILLED_SITE = """\
site: {site}
output_dir: {run_dir}
model: {{path: {model}}}
compliance: {{rules: {{min_violation_s: 1.0}}}}
recording: {{segment_s: 10}}
events:
  sinks:
    - kind: webhook
      url: {url}
      allowed_networks: [127.0.0.1/32]
      retry_initial: 0.2
      retry_max: 1.0
cameras:
  - id: CAM1
    source: {{kind: synthetic, seed: 30001, width: 640, height: 360, fps: 8}}
"""


def test_a_site_killed_mid_run_leaves_playable_recordings_and_the_next_start_sends_the_rest(
    site_run: SiteRun,
):
    """The webhook is down for the whole first run; its camera and its EVENTS process are
    SIGKILLed (both restarted), then the supervisor itself. What was recorded before the
    kills plays; what was raised waits in the outbox and reaches the webhook at the next
    start, in order, once each after de-duplication."""
    server = WebhookServer()
    server.status = 503
    outbox_path = site_run.run_dir / "events" / OUTBOX_FILE
    try:
        site_run.config.write_text(
            KILLED_SITE.format(
                site=site_run.site, run_dir=site_run.run_dir, model=MODEL, url=server.url()
            )
        )
        with site_run.running(duration=300) as process:
            raised = site_run.run_dir / "events.jsonl"
            wait_for(
                lambda: raised.exists() and "violation_start" in raised.read_text(),
                90,
                "a violation raised",
            )
            wait_for(lambda: server.received, 30, "a delivery attempt the webhook refuses")
            site_run.kill_and_await_restart("CAM1")
            site_run.kill_and_await_restart("EVENTS")
            recordings = site_run.run_dir / "recordings" / "CAM1"
            wait_for(lambda: len(list(recordings.glob("*.mp4"))) >= 3, 60, "a third segment")
            time.sleep(3)  # a few fragments into it
            children = [site_run.pid_of(tag) for tag in ("INFERENCE", "CAM1", "EVENTS")]
            process.kill()
            process.wait()
        wait_for(lambda: not any(alive(pid) for pid in children), 30, "orphans to exit")
        # The killed camera's segment and the one cut by the end: each plays to its last
        # fragment, in OpenCV and in PyAV alike.
        for path in recordings.glob("*.mp4"):
            assert 0 < _opencv_frames(path) == _pyav_frames(path), path
        with Outbox(outbox_path, OutboxConfig()) as outbox:
            stored = [event.id for event in outbox.read_after(0, 10_000)]
            assert stored and outbox.pending("webhook") == len(stored)
        assert server.accepted_ids() == []

        server.status = 200
        with site_run.running(duration=300) as process:
            wait_for(lambda: set(stored) <= set(server.accepted_ids()), 90, "the pending events")
            site_run.interrupt(process)
        delivered = first_copies(server.accepted_ids())
        assert delivered[: len(stored)] == stored  # the killed run's events first, in order
        with Outbox(outbox_path, OutboxConfig()) as outbox:
            assert outbox.pending("webhook") == 0
        assert site_run.leftover_segments() == []
    finally:
        server.close()


def _opencv_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    return frames


def _pyav_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))
