"""Capture of HTTP streams: raw H.264 served over HTTP (python's http.server cannot serve
byte ranges, which an MP4 would need), and a camera that answers 401."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.camera.capture import Capture
from pipeline.camera.urls import mask_url
from pipeline.config.sources import RtspSource
from tests.camera.media import encode_pattern
from tests.camera.watch import Watch

USER, PASSWORD = "viewer", "Http-S3cret"


class Handler(SimpleHTTPRequestHandler):
    """Serves the clips folder; asks for basic auth when the path starts with /private/."""

    def do_GET(self) -> None:
        if self.path.startswith("/private/"):
            token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != f"Basic {token}":
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.path = self.path.removeprefix("/private")
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_base(tmp_path: Path) -> Iterator[str]:
    encode_pattern(tmp_path / "clip.h264", 320, 240, frames=100)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def http(url: str) -> RtspSource:
    return RtspSource(url=url, open_timeout=2, read_timeout=2, stall_timeout=2, reconnect_max=1)


def test_http_stream_delivers_frames_and_reopens_when_it_ends(http_base):
    """The server sends the clip as fast as it can and closes: to a live source that is a lost
    connection, so the capture reopens it (and decodes the clip again)."""
    with Capture(http(f"{http_base}/clip.h264"), "CAM1") as capture:
        watch = Watch(capture)
        watch.until(lambda: capture.reconnects >= 1, 10.0, "a reconnection after the end")
        watch.until(lambda: capture.frames_read >= 150, 10.0, "frames of the second pass")
    assert capture.failure is None
    assert all(frame.image.shape == (240, 320, 3) for frame in watch.frames)


def test_http_401_is_an_authentication_failure(http_base, caplog):
    url = http_base.replace("http://", f"http://{USER}:${{HTTP_PW}}@") + "/private/clip.h264"
    with Capture(http(url), "CAM1", environ={"HTTP_PW": "wrong"}) as capture:
        watch = Watch(capture)
        watch.until(lambda: capture.auth_failed, 5.0, "authentication failure")
        assert capture.last_error == f"{mask_url(url)}: HTTP error 401 Unauthorized"
    with Capture(http(url), "CAM1", environ={"HTTP_PW": PASSWORD}) as capture:
        watch = Watch(capture)
        watch.until(lambda: len(watch.frames) >= 5, 5.0, "frames with the right password")
    assert PASSWORD not in caplog.text
