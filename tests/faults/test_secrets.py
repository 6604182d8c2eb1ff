"""Camera passwords with URL-reserved characters work as typed in the variable (vigia
percent-encodes them into the URL), a rejected password is its own state (AUTH_FAILED) on
the status line and in the log, and no password is ever shown."""

from __future__ import annotations

import os

import pytest

from pipeline.camera.urls import encode_userinfo, expand_url
from tests.faults.site import START, FaultSite, wait_for

PASSWORD = "p@ss:w/rd%41"  # every character that breaks a URL's userinfo, and a valid escape


@pytest.mark.parametrize(
    ("url", "expanded"),
    [
        ("rtsp://admin:${PW}@10.0.0.2:554/s1", "rtsp://admin:p%40ss%3Aw%2Frd%2541@10.0.0.2:554/s1"),
        ("rtsp://${USER_NAME}:${PW}@h/s", "rtsp://op%20one:p%40ss%3Aw%2Frd%2541@h/s"),
        ("http://cam/video.cgi?pwd=${PW}", "http://cam/video.cgi?pwd=p@ss:w/rd%41"),  # not userinfo
        (
            "rtspsrc location=rtsp://u:${PW}@h/s latency=0 ! appsink",
            "rtspsrc location=rtsp://u:p%40ss%3Aw%2Frd%2541@h/s latency=0 ! appsink",
        ),
    ],
)
def test_values_in_the_userinfo_are_percent_encoded(url, expanded):
    environ = {"PW": PASSWORD, "USER_NAME": "op one"}
    text, secrets = expand_url(url, "CAM1", environ)
    assert text == expanded
    assert PASSWORD in secrets  # masked as given ...
    if "%40" in expanded:
        assert encode_userinfo(PASSWORD) in secrets  # ... and as substituted


def camera(url: str) -> str:
    return (
        "  - id: CAMR\n    source:\n      kind: rtsp\n"
        f"      url: {url}\n      open_timeout: 5\n      reconnect_max: 2\n"
    )


def test_a_password_with_reserved_characters_works_as_typed(
    fault_site: FaultSite, rtsp_server, monkeypatch
):
    server = rtsp_server(user="admin", password=PASSWORD)
    url = server.url.replace("rtsp://", "rtsp://admin:${VIGIA_CAMR_PASSWORD}@")
    fault_site.write(camera(url))
    monkeypatch.setenv("VIGIA_CAMR_PASSWORD", PASSWORD)
    with fault_site.running(env=dict(os.environ)):
        wait_for(lambda: fault_site.answered_since("CAMR", 0, 5), START, "frames with the password")
        assert fault_site.stop() == 0, fault_site.output
    for text in (fault_site.log, fault_site.output):
        assert PASSWORD not in text and encode_userinfo(PASSWORD) not in text
    assert "rtsp://admin:***@127.0.0.1" in fault_site.log


def test_a_rejected_password_shows_auth_failed_and_is_never_shown(
    fault_site: FaultSite, rtsp_server, monkeypatch
):
    server = rtsp_server(user="admin", password=PASSWORD)
    url = server.url.replace("rtsp://", "rtsp://admin:${VIGIA_CAMR_PASSWORD}@")
    fault_site.write(camera(url), dashboard={"status_line_interval": 0.5})
    wrong = "wr0ng:p@ss"
    monkeypatch.setenv("VIGIA_CAMR_PASSWORD", wrong)
    with fault_site.running(env=dict(os.environ)):
        wait_for(lambda: "CAMR AUTH_FAILED" in fault_site.output, START, "AUTH_FAILED shown")
        assert fault_site.stop() == 0, fault_site.output
    log = fault_site.log
    assert "[CAMR] [ERROR] Authentication failed: rtsp://admin:***@127.0.0.1" in log
    assert log.count("Authentication failed") == 1  # reported once, retried quietly
    for text in (log, fault_site.output):
        for secret in (wrong, encode_userinfo(wrong), PASSWORD):
            assert secret not in text
