"""A site with an event sink: a violation a camera raises is stored in the outbox, delivered
by the EVENTS process to the sink, and carries evidence that exists in the run folder."""

from __future__ import annotations

import json

from tests.e2e.conftest import LOG_LINE, MODEL, SiteRun, wait_for

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
        if not delivered.exists():
            return []
        events = [json.loads(line) for line in delivered.read_text().splitlines() if line]
        return [event for event in events if event["type"] == "violation.start"]

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
