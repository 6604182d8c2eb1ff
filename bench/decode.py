"""Camera-side CPU cost per frame against a bare OpenCV decode loop, and the camera process's
peak memory, on the same 1080p H.264 file in one run.

    python -m bench.decode [--frames 250] [--rounds 5] [--input 640] [--clip FILE.mp4]

Without --clip, renders `--frames` synthetic worksite frames at 1920x1080 and encodes them as an
IP camera would (H.264 main profile, no B-frames, 4 Mbit/s, a keyframe every 2 s) with
GStreamer's x264enc (`gst-launch-1.0`, package gstreamer1.0-plugins-ugly).

Interleaved rounds, each decoding the whole file:
(a) bare:   `while cv2.VideoCapture.read()` on the main thread;
(b) camera: what a camera process does per frame: the capture thread decodes (pipeline.camera
            Capture, a non-realtime file so no frame is dropped), the loop polls it, letterboxes
            into a slot of a real FrameRing (`Letterbox.apply(out=ring.begin_write())`) and
            publishes, holding the last two frames as if awaiting results.
CPU time is `time.process_time()` of this process (every thread, FFmpeg's included) per decoded
frame; the headline is the median over rounds of each round's camera/bare ratio. OpenCV runs
on one thread, as in a camera process (FFmpeg's decoding threads are its own). Peak RSS: (b)
run once more in a fresh spawned process that imports the camera process's modules, reading
its own high-water mark (VmHWM).

Last line: `camera/bare-decode = N.NNx, rss = NNN MB`.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2

WIDTH, HEIGHT, FPS = 1920, 1080, 25
IDLE_SLEEP = 0.002  # the camera loop's sleep when no frame is ready (pipeline.camera.process)
IN_FLIGHT = 2  # frames a camera holds while awaiting results (transport.max_in_flight default)
SLOTS = 4


@dataclass
class Round:
    frames: int
    cpu_s: float
    wall_s: float

    @property
    def cpu_ms_per_frame(self) -> float:
        return 1000 * self.cpu_s / self.frames


def encode_clip(path: Path, frames: int) -> None:
    """Synthetic worksite frames -> H.264 MP4 through gst-launch-1.0 (raw BGR on stdin)."""
    from pipeline.synthetic import WorksiteScene

    gst = shutil.which("gst-launch-1.0")
    if gst is None:
        raise SystemExit(
            "gst-launch-1.0 not found: apt-get install gstreamer1.0-tools "
            "gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly "
            "(or pass --clip with a 1080p H.264 file)"
        )
    pipeline = (
        f"fdsrc fd=0 blocksize={WIDTH * HEIGHT * 3} ! rawvideoparse width={WIDTH} "
        f"height={HEIGHT} format=bgr framerate={FPS}/1 ! videoconvert ! video/x-raw,format=I420 "
        f"! x264enc bitrate=4000 bframes=0 key-int-max={2 * FPS} speed-preset=veryfast "
        f"! video/x-h264,profile=main ! h264parse ! mp4mux ! filesink location={path}"
    )
    scene = WorksiteScene(seed=11, width=WIDTH, height=HEIGHT, fps=FPS)
    encoder = subprocess.Popen([gst, "-q", *pipeline.split()], stdin=subprocess.PIPE)
    assert encoder.stdin is not None
    for index in range(frames):
        image, _ = scene.render(index)
        encoder.stdin.write(image.tobytes())
    encoder.stdin.close()
    if encoder.wait(timeout=300) != 0:
        raise SystemExit(f"gst-launch-1.0 failed to encode {path}")


def bare_decode(clip: Path) -> Round:
    cpu, wall = time.process_time(), time.perf_counter()
    capture = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG)
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    return Round(frames, time.process_time() - cpu, time.perf_counter() - wall)


def camera_side(clip: Path, input_size: int, ring_name: str) -> Round:
    from pipeline.camera.capture import Capture
    from pipeline.camera.ring_writer import RingWriter
    from pipeline.config.models import FileSource
    from pipeline.shm.layout import FrameView
    from pipeline.shm.ring import FrameRing

    ring = FrameRing.create(ring_name, SLOTS, input_size, input_size)
    held: deque[object] = deque(maxlen=IN_FLIGHT)
    writer = RingWriter([ring], [FrameView(input_size, input_size)])
    frames = 0
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        capture = Capture(FileSource(path=clip, loop=False, realtime=False), "BENCH")
        with capture:
            while True:
                frame = capture.poll()
                if frame is None:
                    if capture.finished:
                        break
                    time.sleep(IDLE_SLEEP)
                    continue
                writer.send(frame)
                held.append(frame)
                frames += 1
        result = Round(frames, time.process_time() - cpu, time.perf_counter() - wall)
    finally:
        held.clear()
        ring.close()
        ring.unlink()
    return result


def letterbox_alone(clip: Path, input_size: int, frames: int) -> tuple[float, float]:
    """CPU ms per frame of `Letterbox.apply` alone on the first `frames` decoded frames, and of
    a plain bilinear `cv2.resize` to the same size (a reference: it samples at 3:1 where the
    letterbox averages)."""
    import numpy as np

    from pipeline.infer.letterbox import Letterbox

    capture = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG)
    images = [capture.read()[1] for _ in range(frames)]
    capture.release()
    height, width = images[0].shape[:2]
    letterbox = Letterbox.fit(width, height, input_size, input_size)
    out = np.empty((input_size, input_size, 3), np.uint8)
    inner = out[: letterbox.new_h, : letterbox.new_w]
    cpu = time.process_time()
    for image in images:
        letterbox.apply(image, out=out)
    applied = time.process_time()
    for image in images:
        cv2.resize(image, (letterbox.new_w, letterbox.new_h), dst=inner)
    resized = time.process_time()
    return 1000 * (applied - cpu) / frames, 1000 * (resized - applied) / frames


def peak_rss_of_this_process_mb() -> float:
    """The high-water mark of this process's resident memory since it started (exec).

    Not `getrusage().ru_maxrss`: Linux carries the peak a parent had reached when it forked
    into the child's ru_maxrss (through exec), so a child of this benchmark, which rendered
    1080p frames, would report the parent's peak. /proc/self/status VmHWM is this image's own.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB -> MiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure_rss(clip: Path, input_size: int, ring_name: str, camera: bool, out: mp.Queue) -> None:
    from pipeline.camera.process import OPENCV_THREADS  # the camera process's imports

    cv2.setNumThreads(OPENCV_THREADS)

    if camera:
        camera_side(clip, input_size, ring_name)
    else:
        bare_decode(clip)
    out.put(peak_rss_of_this_process_mb())


def peak_rss_mb(clip: Path, input_size: int, ring_name: str, camera: bool) -> float:
    context = mp.get_context("spawn")
    out: mp.Queue = context.Queue()
    child = context.Process(target=_measure_rss, args=(clip, input_size, ring_name, camera, out))
    child.start()
    rss = float(out.get(timeout=600))
    child.join(60)
    return rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=250, help="frames in the generated clip")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--input", type=int, default=640, help="model input side, pixels")
    parser.add_argument("--clip", type=Path, help="an existing 1080p H.264 file")
    args = parser.parse_args()

    from pipeline.camera.process import OPENCV_THREADS
    from pipeline.shm.segments import SegmentNames, run_prefix

    cv2.setNumThreads(OPENCV_THREADS)  # as in a camera process; FFmpeg's threads are its own

    ring_name = SegmentNames(run_prefix("bench")).frames(0)
    with tempfile.TemporaryDirectory() as folder:
        clip = args.clip
        if clip is None:
            clip = Path(folder) / "worksite-1080p.mp4"
            started = time.perf_counter()
            encode_clip(clip, args.frames)
            print(
                f"clip: {args.frames} frames 1920x1080 H.264 main 4 Mbit/s, encoded in "
                f"{time.perf_counter() - started:.1f} s"
            )
        bare_decode(clip)  # warm the file cache and FFmpeg's one-time setup
        bare, camera = [], []
        for number in range(1, args.rounds + 1):
            bare.append(bare_decode(clip))
            camera.append(camera_side(clip, args.input, ring_name))
            print(
                f"round {number}: bare {bare[-1].cpu_ms_per_frame:.2f} ms CPU/frame "
                f"({bare[-1].frames} frames, {bare[-1].frames / bare[-1].wall_s:.0f} frames/s), "
                f"camera {camera[-1].cpu_ms_per_frame:.2f} ms CPU/frame "
                f"({camera[-1].frames} frames, {camera[-1].frames / camera[-1].wall_s:.0f} frames/s)"
            )
        if {r.frames for r in bare + camera} != {bare[0].frames}:
            raise SystemExit("the two loops decoded different frame counts: a capture bug")
        bare_ms = statistics.median(r.cpu_ms_per_frame for r in bare)
        camera_ms = statistics.median(r.cpu_ms_per_frame for r in camera)
        # Each round's pair ran back to back: their ratio is steadier than a ratio of
        # medians when other load drifts over the run.
        ratio = statistics.median(
            c.cpu_ms_per_frame / b.cpu_ms_per_frame for b, c in zip(bare, camera, strict=True)
        )
        letterbox_ms, bilinear_ms = letterbox_alone(clip, args.input, min(50, bare[0].frames))
        camera_rss = peak_rss_mb(clip, args.input, ring_name, camera=True)
        bare_rss = peak_rss_mb(clip, args.input, ring_name, camera=False)
    print(f"bare decode: {bare_ms:.2f} ms CPU/frame (median of {args.rounds} rounds)")
    print(
        f"camera side: {camera_ms:.2f} ms CPU/frame (decode + letterbox to "
        f"{args.input}x{args.input} + ring write)"
    )
    print(
        f"of which letterbox alone: {letterbox_ms:.2f} ms CPU/frame "
        f"(a bilinear cv2.resize to the same size: {bilinear_ms:.2f} ms)"
    )
    print(
        f"peak RSS: camera side {camera_rss:.0f} MB, bare decode {bare_rss:.0f} MB (same imports)"
    )
    print(f"camera/bare-decode = {ratio:.2f}x, rss = {camera_rss:.0f} MB")


if __name__ == "__main__":
    main()
