"""Small H.264 test clips made with GStreamer's x264enc (gst-launch-1.0), and damaged copies."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

GST_LAUNCH = shutil.which("gst-launch-1.0")


def encode_pattern(
    path: Path,
    width: int,
    height: int,
    frames: int,
    fps: int = 10,
    pattern: str = "ball",
    keyframe_interval: int = 10,
) -> Path:
    """A videotestsrc clip in H.264: `.mp4` muxed, `.h264` raw Annex B (no container)."""
    if GST_LAUNCH is None:
        raise RuntimeError("gst-launch-1.0 is not installed (apt install gstreamer1.0-tools)")
    raw = path.suffix == ".h264"
    caps = "video/x-h264,profile=baseline" + (",stream-format=byte-stream" if raw else "")
    tail = ["h264parse", "!"] + ([] if raw else ["mp4mux", "!"])
    command = [
        GST_LAUNCH,
        "-q",
        "videotestsrc",
        f"num-buffers={frames}",
        f"pattern={pattern}",
        "!",
        f"video/x-raw,width={width},height={height},framerate={fps}/1",
        "!",
        "x264enc",
        f"key-int-max={keyframe_interval}",
        "tune=zerolatency",
        "speed-preset=ultrafast",
        "!",
        caps,
        "!",
        *tail,
        "filesink",
        f"location={path}",
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return path


def overwrite_chunks(source: Path, target: Path, chunks: int, size: int, seed: int) -> Path:
    """A copy of `source` with `chunks` runs of `size` random bytes written over its middle
    part (between 25% and 75% of the file), like a damaged recording."""
    data = bytearray(source.read_bytes())
    rng = random.Random(seed)
    for number in range(chunks):
        start = len(data) // 4 + (number * len(data) // 2) // chunks
        data[start : start + size] = rng.randbytes(size)
    target.write_bytes(bytes(data))
    return target


def garbage(target: Path, size: int, seed: int) -> Path:
    target.write_bytes(random.Random(seed).randbytes(size))
    return target
