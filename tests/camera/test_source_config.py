"""Camera source settings as a site file states them: defaults, bounds, and messages that
never show a password."""

from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_site_config
from pipeline.config.sources import RtspSource, SourceKind, Transport

SITE = """\
model:
  path: model.onnx
cameras:
  - id: CAM063
    source: {source}
"""


def load(tmp_path: Path, source: str):
    path = tmp_path / "site.yaml"
    path.write_text(SITE.format(source=source))
    return load_site_config(path)


def problems(tmp_path: Path, source: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, source)
    return str(caught.value)


def test_rtsp_defaults():
    source = RtspSource(url="rtsp://admin:${CAM063_PASSWORD}@10.0.0.63/stream1")
    assert source.kind is SourceKind.RTSP
    assert source.transport is Transport.TCP
    assert (source.open_timeout, source.read_timeout, source.stall_timeout) == (10.0, 5.0, 10.0)
    assert (source.reconnect_initial, source.reconnect_max) == (1.0, 60.0)


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("{kind: rtsp, url: 'rtsps://cam/s', transport: udp}", SourceKind.RTSP),
        ("{kind: rtsp, url: 'http://cam/mjpg/video.cgi'}", SourceKind.RTSP),
        ("{kind: usb, device: 0, width: 1280, height: 720, fps: 30}", SourceKind.USB),
        ("{kind: usb, device: /dev/video2}", SourceKind.USB),
        (
            "{kind: gstreamer, pipeline: 'videotestsrc ! videoconvert ! appsink'}",
            SourceKind.GSTREAMER,
        ),
        ("{kind: file, path: clip.mp4}", SourceKind.FILE),
        ("{kind: synthetic}", SourceKind.SYNTHETIC),
    ],
)
def test_every_kind_loads(tmp_path, source, kind):
    assert load(tmp_path, source).cameras[0].source.kind is kind


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "{kind: rtsp, url: 'ftp://admin:hunter2@10.0.0.63/s'}",
            "url must start with rtsp://, rtsps://, http://, https:// "
            "(got 'ftp://admin:***@10.0.0.63/s')",
        ),
        (
            "{kind: rtsp, url: 'rtsp://admin:${1PW}@h/s'}",
            "malformed variable reference in 'rtsp://admin:***@h/s'",
        ),
        ("{kind: rtsp, url: 'rtsp://h/s', transport: quic}", "must be one of 'tcp' or 'udp'"),
        ("{kind: rtsp, url: 'rtsp://h/s', read_timeout: 0}", "read_timeout: must be >= 0.1"),
        (
            "{kind: rtsp, url: 'rtsp://h/s', reconnect_initial: 5, reconnect_max: 2}",
            "reconnect_max (2) must be >= reconnect_initial (5)",
        ),
        ("{kind: usb, device: 300}", "a device index is 0..255"),
        ("{kind: usb, device: video0}", "a device path starts with /"),
        (
            "{kind: gstreamer, pipeline: 'rtspsrc location=rtsp://a:hunter2@h/s ! fakesink'}",
            "pipeline must end in an appsink",
        ),
        ("{kind: webcam}", "use one of: file, synthetic, rtsp, usb, gstreamer"),
    ],
)
def test_mistakes_are_explained_without_the_password(tmp_path, source, message):
    text = problems(tmp_path, source)
    assert message in text
    assert "hunter2" not in text
