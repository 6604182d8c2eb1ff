"""What recording and evidence cost a camera: encoder, pre-roll memory, the loop with them on.

    python -m bench.evidence [--seconds 15] [--fps 10] [--size 1920x1080]

(a) encoder: libx264 through PyAV (pipeline.camera.recording.VideoEncoder, one thread) on
    synthetic worksite frames at 1080p and 720p, veryfast and ultrafast: CPU ms per frame
    (conversion to yuv420p included) and kB per frame; beside it, JPEG (cv2.imencode, q80)
    per frame, the other way to keep a pre-roll encoded.
(b) loop: a camera loop on a real H.264 source (OpenCV decode, letterbox to 640, the
    compliance monitor on the scene's true boxes, draw.annotate), paced at --fps, run with
    the recorder and evidence off, then on (segments + 10 s pre-roll + clips), then off
    again; camera_cost = process CPU per frame on / off (all threads: the encoder's work is
    the camera's cost even though it runs beside the loop), loop ms = the loop thread's own
    CPU per frame, handing over = wall time of stream.write + evidence.on_frame (what
    the loop waits for the recorder and evidence, GIL waits included), record_ms = the encoder thread's CPU
    per frame. The encoder's queue holds the whole run, so no frame is dropped and every
    frame's encoding is counted (a camera drops what its encoder cannot keep up with).
    preroll_mb: the most the evidence pre-roll held during the run (pre_s = 10 s plus up
    to one keyframe interval).
(c) evidence writes (in the encoder's thread): a clip of pre_s + post_s cut from the
    pre-roll (a copy of packets), and a start snapshot (emphasis + JPEG q90).
(d) rich stream: recording the source's own packets with no decode and no encode (PyAV
    demux -> fragmented MP4), CPU ms per frame.

Last line: `camera_cost=N.NNx preroll_mb=N record_ms=N.N`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from pipeline.analytics import ClassRoles, ComplianceMonitor, EventSource, zone_specs
from pipeline.camera.draw import annotate
from pipeline.camera.evidence import emphasise, open_video_outputs, write_clip, write_jpeg
from pipeline.camera.h264 import MOVFLAGS, EncodedPacket, VideoEncoder
from pipeline.config.compliance import ComplianceConfig
from pipeline.config.evidence import (
    EncoderConfig,
    EvidenceConfig,
    RecordingConfig,
    RetentionConfig,
    X264Preset,
)
from pipeline.detections import Detections
from pipeline.infer.letterbox import Letterbox
from pipeline.synthetic import FrameTruth, WorksiteScene

CLASS_NAMES = ("person", "helmet", "vest")
PREROLL_S = 10.0
SOURCE_FRAMES = 60  # rendered once, encoded to the source file, looped


def render(size: tuple[int, int], fps: float) -> tuple[list[np.ndarray], list[FrameTruth]]:
    scene = WorksiteScene(seed=7, width=size[0], height=size[1], fps=fps)
    frames, truths = [], []
    for index in range(SOURCE_FRAMES):
        frame, truth = scene.render(index)
        frames.append(frame)
        truths.append(truth)
    return frames, truths


def detections_of(truth: FrameTruth) -> Detections:
    """The scene's true boxes, as a perfect detector would report them."""
    rows = []
    for worker in truth.workers:
        rows.append((*worker.person_box, 0.9, 0))
        if worker.helmet_box is not None:
            rows.append((*worker.helmet_box, 0.8, 1))
        if worker.vest_box is not None:
            rows.append((*worker.vest_box, 0.8, 2))
    if not rows:
        return Detections.empty()
    array = np.array(rows, dtype=np.float64)
    return Detections.create(array[:, 0:4], array[:, 4], array[:, 5])


def encode_all(
    frames: list[np.ndarray], fps: float, preset: X264Preset
) -> tuple[list[EncodedPacket], float]:
    """Packets and encoder-thread CPU ms per frame."""
    height, width = frames[0].shape[:2]
    encoder = VideoEncoder((width, height), fps, EncoderConfig(preset=preset), 0.0, 1)
    started = time.thread_time()
    packets = []
    for index, frame in enumerate(frames):
        packets += encoder.encode(frame, index / fps)
    packets += encoder.flush()
    return packets, (time.thread_time() - started) * 1000 / len(frames)


def encoder_table(frames: list[np.ndarray], fps: float) -> None:
    print("(a) encoder, one thread, CPU ms/frame and kB/frame (MB/hour at the bench's fps):")
    for width, height in ((1920, 1080), (1280, 720)):
        scaled = [
            cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA) for frame in frames
        ]
        for preset in (X264Preset.VERYFAST, X264Preset.ULTRAFAST):
            packets, ms = encode_all(scaled[:30], fps, preset)
            kb = sum(len(p.data) for p in packets) / len(scaled[:30]) / 1000
            print(
                f"  {width}x{height} {preset.value:>9}: {ms:6.1f} ms  {kb:6.1f} kB"
                f"  ({kb * fps * 3600 / 1000:,.0f} MB/h)"
            )
        started = time.thread_time()
        sizes = [
            len(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])[1]) for frame in scaled
        ]
        ms = (time.thread_time() - started) * 1000 / len(scaled)
        kb = float(np.mean(sizes)) / 1000
        print(
            f"  {width}x{height} JPEG q80: {ms:6.1f} ms  {kb:6.1f} kB"
            f"  (a 10 s pre-roll at {fps:g} frames/s: {kb * fps * PREROLL_S / 1000:.0f} MB)"
        )


def write_source(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """The camera's stream: H.264 as an IP camera would send it (veryfast, crf 23)."""
    packets, _ = encode_all(frames, fps, X264Preset.VERYFAST)
    write_clip(path, packets, fps)


def decoded(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index in the source, frame), looping the file."""
    while True:
        capture = cv2.VideoCapture(str(path))
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            yield index, frame
            index += 1
        capture.release()


def run_loop(
    source: Path, truths: list[FrameTruth], fps: float, seconds: float, run_dir: Path | None
) -> dict[str, float]:
    """One camera loop at `fps` for `seconds`; recorder and evidence on when `run_dir`."""
    config = ComplianceConfig()
    roles = ClassRoles.from_names(CLASS_NAMES)
    stream = evidence = None
    if run_dir is not None:
        # A queue long enough for the whole run: on a busy machine the encoder falls behind
        # and a camera would drop frames; here every frame is encoded, so its cost is counted.
        retention = RetentionConfig(max_age_h=None, max_total_gb=None)
        recording = RecordingConfig(queue_frames=256, retention=retention)
        stream, evidence = open_video_outputs(
            recording, EvidenceConfig(pre_s=PREROLL_S), run_dir, None, "CAM1", fps
        )
    frames = round(seconds * fps)
    source_frames = decoded(source)
    _, first = next(source_frames)
    height, width = first.shape[:2]
    monitor = ComplianceMonitor(
        EventSource("bench", "CAM1"), zone_specs((), config), roles, config, fps, (640, 640)
    )
    letterbox, slot = Letterbox.fit(width, height, 640, 640), np.zeros((640, 640, 3), np.uint8)
    process_started, loop_started = time.process_time(), time.thread_time()
    wall_started = time.monotonic()
    events = 0
    handovers: list[float] = []  # seconds the loop spent handing a frame over (GIL included)
    handover_cpu = 0.0  # of which the loop thread's own CPU
    preroll_peak = 0  # bytes
    for count in range(frames):
        index, frame = next(source_frames)
        t = wall_started + count / fps
        letterbox.apply(frame, out=slot)
        analysis = monitor.update(detections_of(truths[index]), t, (width, height))
        annotated = annotate(frame, analysis, roles, CLASS_NAMES)
        if stream is not None and evidence is not None:
            handing, handing_cpu = time.perf_counter(), time.thread_time()
            stream.write(annotated, t)
            evidence.on_frame(analysis, annotated, t)
            handovers.append(time.perf_counter() - handing)
            handover_cpu += time.thread_time() - handing_cpu
            preroll_peak = max(preroll_peak, evidence.preroll_bytes)
        events += len(analysis.events)
        pause = wall_started + (count + 1) / fps - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    result = {"loop_ms": (time.thread_time() - loop_started) * 1000 / frames, "events": events}
    if stream is not None and evidence is not None:
        result["preroll_mb"] = preroll_peak / 1e6
        evidence.close()
        stream.close(timeout=600)
        result["record_ms"] = stream.encode_s * 1000 / max(1, stream.frames)
        result["dropped"] = stream.dropped
        result["clips"] = evidence.clips
        result["handover_ms"] = float(np.mean(handovers)) * 1000
        result["handover_max_ms"] = max(handovers) * 1000
        result["handover_cpu_ms"] = handover_cpu * 1000 / frames
    result["cpu_ms"] = (time.process_time() - process_started) * 1000 / frames
    return result


def loop_cost(
    frames: list[np.ndarray],
    truths: list[FrameTruth],
    fps: float,
    seconds: float,
    directory: Path,
) -> tuple[float, dict[str, float], dict[str, float]]:
    """(b): the loop off, on, off again on `frames` written as the camera's H.264 stream
    (directory/source.mp4); camera_cost (CPU per frame on / off), the run with recording and
    evidence on, and the mean of the two off runs."""
    source = directory / "source.mp4"
    write_source(source, frames, fps)
    runs: list[dict[str, float]] = []
    for name in ("off", "on", "off"):
        run_dir = directory / f"run-{len(runs)}" if name == "on" else None
        runs.append(run_loop(source, truths, fps, seconds, run_dir))
    off = {key: (runs[0][key] + runs[2][key]) / 2 for key in ("cpu_ms", "loop_ms")}
    return runs[1]["cpu_ms"] / off["cpu_ms"], runs[1], off


def evidence_writes(frames: list[np.ndarray], fps: float, directory: Path) -> None:
    packets, _ = encode_all(frames, fps, X264Preset.VERYFAST)
    started = time.perf_counter()
    write_clip(directory / "clip.mp4", packets, fps)
    clip_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    box = (800.0, 300.0, 960.0, 760.0)
    write_jpeg(directory / "snapshot.jpg", emphasise(frames[0], box, "CAM1 zone frame #1"), 90)
    snapshot_ms = (time.perf_counter() - started) * 1000
    print(
        f"(c) a {len(frames) / fps:.0f} s clip from packets: {clip_ms:.0f} ms; "
        f"a start snapshot: {snapshot_ms:.0f} ms (both in the encoder's thread)"
    )


def rich_stream(source: Path, directory: Path) -> float:
    """CPU ms per frame to record the source's own packets (no decode, no encode)."""
    started, frames = time.process_time(), 0
    with av.open(str(source)) as reader:
        stream = reader.streams.video[0]
        options = {"movflags": MOVFLAGS, "flush_packets": "1"}
        with av.open(
            str(directory / "rich.mp4"), "w", format="mp4", container_options=options
        ) as writer:
            out = writer.add_stream_from_template(stream)
            for packet in reader.demux(stream):
                if packet.dts is None:
                    continue
                packet.stream = out
                writer.mux(packet)
                frames += 1
    return (time.process_time() - started) * 1000 / max(1, frames)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="per loop run (12-25: the queue holds 256)"
    )
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--size", default="1920x1080", help="WIDTHxHEIGHT of the camera")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    cv2.setNumThreads(1)  # as in a camera process
    print(f"rendering {SOURCE_FRAMES} frames of {width}x{height} ...", flush=True)
    frames, truths = render((width, height), args.fps)
    encoder_table(frames, args.fps)
    with tempfile.TemporaryDirectory(prefix="bench-evidence-") as folder:
        directory = Path(folder)
        source = directory / "source.mp4"
        camera_cost, on, off = loop_cost(frames, truths, args.fps, args.seconds, directory)
        print(
            f"(b) loop at {args.fps:g} frames/s, {args.seconds:g} s each: CPU/frame "
            f"off {off['cpu_ms']:.1f} ms, on {on['cpu_ms']:.1f} ms ({camera_cost:.2f}x); loop "
            f"thread off {off['loop_ms']:.2f} ms, on {on['loop_ms']:.2f} ms; encoder "
            f"{on['record_ms']:.1f} ms/frame, {on['dropped']:.0f} frames dropped, "
            f"{on['events']:.0f} events, {on['clips']:.0f} clips; handing a frame over "
            f"(write + on_frame, wall): mean {on['handover_ms']:.3f} ms, "
            f"max {on['handover_max_ms']:.1f} ms, its CPU {on['handover_cpu_ms']:.3f} ms"
        )
        evidence_writes(frames[: round((5 + 5) * args.fps)], args.fps, directory)
        rich_ms = rich_stream(source, directory)
        print(f"(d) rich stream (source packets, no re-encode): {rich_ms:.2f} ms/frame")
    print(
        f"camera_cost={camera_cost:.2f}x preroll_mb={on['preroll_mb']:.1f} "
        f"record_ms={on['record_ms']:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
