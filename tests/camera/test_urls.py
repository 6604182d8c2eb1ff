import pytest

from pipeline.camera.urls import (
    MissingVariable,
    check_url_variables,
    expand_url,
    mask_secrets,
    mask_url,
    url_variables,
)

ENV = {"CAM063_PASSWORD": "hunter2", "USER": "admin", "EMPTY": ""}


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("rtsp://admin:hunter2@10.0.0.63/stream1", "rtsp://admin:***@10.0.0.63/stream1"),
        ("rtsp://admin:hunter2@10.0.0.63:554/s", "rtsp://admin:***@10.0.0.63:554/s"),
        ("rtsps://u:p@cam.example/live", "rtsps://u:***@cam.example/live"),
        ("http://admin:pa@ss@cam/mjpg", "http://admin:***@cam/mjpg"),  # unencoded '@'
        ("rtsp://admin:${CAM063_PASSWORD}@h/s", "rtsp://admin:***@h/s"),
        ("rtsp://admin:@h/s", "rtsp://admin:***@h/s"),
        ("rtsp://admin@h:554/s", "rtsp://admin@h:554/s"),  # no password: unchanged
        ("rtsp://10.0.0.63:554/stream1", "rtsp://10.0.0.63:554/stream1"),
        (
            "http://cam/video.cgi?user=admin&password=hunter2",
            "http://cam/video.cgi?user=admin&password=***",
        ),
        ("http://cam/a?pwd=x&res=hd", "http://cam/a?pwd=***&res=hd"),
        ("http://cam/a?password=", "http://cam/a?password="),
        (
            "Connected to rtsp://a:b@h/1 and rtsp://c:d@k/2",
            "Connected to rtsp://a:***@h/1 and rtsp://c:***@k/2",
        ),
        ("/videos/site.mp4", "/videos/site.mp4"),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    ("url", "expanded", "values"),
    [
        ("rtsp://admin:${CAM063_PASSWORD}@h/s", "rtsp://admin:hunter2@h/s", ["hunter2"]),
        ("rtsp://${USER}:${CAM063_PASSWORD}@h/s", "rtsp://admin:hunter2@h/s", ["admin", "hunter2"]),
        ("rtsp://h/s", "rtsp://h/s", []),
        ("rtsp://a:${EMPTY}@h/s", "rtsp://a:@h/s", [""]),
        ("rtsp://a:$HOME@h/s", "rtsp://a:$HOME@h/s", []),  # only ${NAME} is a reference
    ],
)
def test_expand_url(url, expanded, values):
    assert expand_url(url, "CAM063", ENV) == (expanded, values)


def test_missing_variable_names_the_camera_and_the_variable():
    with pytest.raises(MissingVariable) as caught:
        expand_url("rtsp://admin:${CAM064_PASSWORD}@h/s", "CAM064", ENV)
    message = str(caught.value)
    assert "camera CAM064" in message
    assert "CAM064_PASSWORD is not set" in message


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("rtsp://a:${GOOD_1}@h/s", True),
        ("rtsp://a:$plain@h/s", True),
        ("rtsp://a:${1BAD}@h/s", False),
        ("rtsp://a:${UNCLOSED@h/s", False),
        ("rtsp://a:${}@h/s", False),
    ],
)
def test_check_url_variables(url, ok):
    if ok:
        check_url_variables(url)
    else:
        with pytest.raises(ValueError, match="malformed variable reference") as caught:
            check_url_variables(url)
        assert "@h/s" in str(caught.value)


def test_url_variables_in_order():
    assert url_variables("rtsp://${A}:${B}@h/${A}") == ["A", "B", "A"]


@pytest.mark.parametrize(
    ("text", "secrets", "masked"),
    [
        ("auth with hunter2 failed", ["hunter2"], "auth with *** failed"),
        ("rtsp://a:hunter2@h failed", ["hunter2"], "rtsp://a:***@h failed"),
        ("nothing to hide", ["", "zzz"], "nothing to hide"),
        ("abcabc", ["abc", "abcabc"], "***"),  # longest first
    ],
)
def test_mask_secrets(text, secrets, masked):
    assert mask_secrets(text, secrets) == masked
