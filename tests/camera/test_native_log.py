import os

import pytest

from pipeline.camera.native_log import NativeMessages, capture_native_messages

REFUSED = (
    "[tcp @ 0x55c32050cc40] Connection to tcp://127.0.0.1:1?timeout=0 failed: Connection refused"
)
WARN = "[ WARN:0@0.039] global cap.cpp:212 open VIDEOIO(FFMPEG): backend is generally available"


@pytest.mark.parametrize(
    ("lines", "reason", "rejected"),
    [
        (
            [REFUSED, WARN],
            "Connection to tcp://127.0.0.1:1?timeout=0 failed: Connection refused",
            False,
        ),
        (
            ["[rtsp @ 0x5561] method DESCRIBE failed: 401 (Unauthorized)", WARN],
            "method DESCRIBE failed: 401 (Unauthorized)",
            True,
        ),
        (["[http @ 0x7f00aa] HTTP error 403 Forbidden"], "HTTP error 403 Forbidden", True),
        (
            ["[rtsp @ 0x5561] method DESCRIBE failed: 404 (Not Found)"],
            "method DESCRIBE failed: 404 (Not Found)",
            False,
        ),
        (["[mov,mp4,m4a,3gp,3g2,mj2 @ 0x556e] moov atom not found"], "moov atom not found", False),
        ([WARN], None, False),
        ([], None, False),
    ],
)
def test_reason_and_rejected_credentials(lines, reason, rejected):
    messages = NativeMessages(lines)
    assert messages.reason() == reason
    assert messages.authentication_rejected() is rejected


def test_captures_descriptor_2_and_restores_it(capfd):
    with capture_native_messages() as messages:
        os.write(2, b"[rtsp @ 0xabc] inside\n")
    os.write(2, b"after\n")
    assert messages.lines == ["[rtsp @ 0xabc] inside"]
    assert capfd.readouterr().err == "after\n"
