"""A child's descriptors 1 and 2 as log records: OpenCV's and FFmpeg's lines at their level,
tracebacks whole at ERROR, secrets masked, library floods bounded."""

import logging

import pytest

from supervisor.child_output import BURST_LINES, NATIVE_PREFIX, OutputLines

OPENCV_WARN = (
    "[ WARN:0@51.004] global cap_ffmpeg_impl.hpp:453 _opencv_ffmpeg_interrupt_callback "
    "Stream timeout triggered after 3028.7 ms"
)
FAULTHANDLER = """\
Fatal Python error: Aborted

Thread 0x00007f3c8d7fe640 (most recent call first):
  File "/work/pipeline/camera/capture.py", line 212 in _run
  File "/usr/lib/python3.11/threading.py", line 975 in run

Current thread 0x00007f3c9a1b2740 (most recent call first):
  File "/work/pipeline/camera/process.py", line 131 in _loop

Extension modules: numpy.core._multiarray_umath, cv2 (total: 2)
"""


@pytest.mark.parametrize(
    ("text", "records"),
    [
        (OPENCV_WARN + "\n", [(logging.WARNING, NATIVE_PREFIX + OPENCV_WARN)]),
        (
            "[ERROR:0@2.1] global cap.cpp:164 open VIDEOIO(CV_IMAGES): raised OpenCV exception\n",
            [
                (
                    logging.ERROR,
                    NATIVE_PREFIX + "[ERROR:0@2.1] global cap.cpp:164 open VIDEOIO(CV_IMAGES): "
                    "raised OpenCV exception",
                )
            ],
        ),
        (
            "[h264 @ 0x55d1c8a4b2c0] error while decoding MB 12 3\r\n",
            [
                (
                    logging.WARNING,
                    NATIVE_PREFIX + "[h264 @ 0x55d1c8a4b2c0] error while decoding MB 12 3",
                )
            ],
        ),
        ("something else printed\n\n", [(logging.WARNING, "something else printed")]),
        (
            'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
            "ValueError: bad\n",
            [
                (logging.ERROR, "Traceback (most recent call last):"),
                (logging.ERROR, '  File "x.py", line 1, in <module>'),
                (logging.ERROR, "ValueError: bad"),
            ],
        ),
    ],
)
def test_lines_become_records_at_their_level(text, records):
    assert OutputLines().feed(text.encode(), now=0.0) == records


def test_a_faulthandler_dump_is_one_error_record_per_line():
    records = OutputLines().feed(FAULTHANDLER.encode(), now=0.0)
    assert {level for level, _ in records} == {logging.ERROR}
    assert [message for _, message in records] == [
        line for line in FAULTHANDLER.splitlines() if line.strip()
    ]


def test_a_line_split_across_reads_waits_for_its_end():
    output = OutputLines()
    assert output.feed(OPENCV_WARN[:20].encode(), now=0.0) == []
    assert output.feed(OPENCV_WARN[20:].encode() + b"\npartial", now=0.0) == [
        (logging.WARNING, NATIVE_PREFIX + OPENCV_WARN)
    ]
    assert output.flush(now=1.0) == [(logging.WARNING, "partial")]


def test_secrets_are_masked_in_native_lines():
    output = OutputLines(secrets=("hunter2", "p%40ss"))
    records = output.feed(
        b"[rtsp @ 0xabc] method DESCRIBE rtsp://admin:hunter2@10.0.0.2/s failed\n"
        b"auth p%40ss rejected\n",
        now=0.0,
    )
    assert records == [
        (
            logging.WARNING,
            NATIVE_PREFIX + "[rtsp @ 0xabc] method DESCRIBE rtsp://admin:***@10.0.0.2/s failed",
        ),
        (logging.WARNING, "auth *** rejected"),
    ]


def test_a_flood_of_library_lines_is_bounded_and_counted_but_tracebacks_never_are():
    output = OutputLines()
    flood = ("[h264 @ 0x1] error while decoding MB\n" * (BURST_LINES * 3)).encode()
    first = output.feed(flood, now=0.0)
    assert len(first) == BURST_LINES
    dump = output.feed(FAULTHANDLER.encode(), now=1.0)
    assert len(dump) == len([line for line in FAULTHANDLER.splitlines() if line.strip()])
    later = output.feed(b"[h264 @ 0x1] error while decoding MB\n", now=11.0)
    assert later[0] == (
        logging.WARNING,
        f"{NATIVE_PREFIX}{BURST_LINES * 2} more lines in 10s not logged",
    )
    assert len(later) == 2
