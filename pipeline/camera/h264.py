"""H.264 through PyAV (libx264): frames to packets, packets to MP4 files.

Packets carry their own bytes and times (milliseconds since the stream's first frame), so one
encoder's output can go to several files (recording segments, evidence clips) without a
second encode. SPS/PPS are repeated in every keyframe (the encoder is opened without a global
header), so any keyframe can open a file: the muxer takes the codec's parameters from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import cv2
import numpy as np
import numpy.typing as npt

from pipeline.config.evidence import EncoderConfig

TIME_BASE = Fraction(1, 1000)  # packet times: milliseconds since the stream's first frame
# `hybrid_fragmented` (libavformat 61.7, FFmpeg 7.1): fragmented while written, a plain MP4
# once closed. Older FFmpeg: fragmented for good (plays everywhere, seeks less well).
MOVFLAGS = (
    "hybrid_fragmented"
    if av.library_versions["libavformat"] >= (61, 7)
    else "frag_keyframe+empty_moov+default_base_moof"
)
# Without it the muxer keeps up to 32 KB of a finished fragment in its buffer, which a kill loses.
FLUSH_EVERY_PACKET = {"flush_packets": "1"}


@dataclass(frozen=True, eq=False)
class EncodedPacket:
    """One H.264 access unit (SPS/PPS repeated in every keyframe: any keyframe can open a file)."""

    data: bytes
    pts: int  # milliseconds since the stream's origin (its first frame)
    dts: int
    keyframe: bool
    t: float  # the frame's time on the camera timeline, seconds
    generation: int  # the encoder that made it; one file never mixes two
    size: tuple[int, int]  # (width, height), pixels

    @property
    def decode_t(self) -> float:
        """When it is decoded, camera timeline: a cut by this time leaves every packet kept
        decodable (B-frames come after the frames they refer to)."""
        return self.t - (self.pts - self.dts) / 1000


class VideoEncoder:
    """libx264 for one frame size. `encode` returns the packets ready so far (the encoder
    holds back a few frames for lookahead); `flush` the rest."""

    def __init__(
        self,
        size: tuple[int, int],
        fps: float,
        config: EncoderConfig,
        origin: float,
        generation: int,
    ) -> None:
        # 4:2:0 needs even sides: an odd column or row is cropped off.
        self.size = (size[0] - size[0] % 2, size[1] - size[1] % 2)
        self.origin = origin
        self.generation = generation
        context = av.CodecContext.create("libx264", "w")
        assert isinstance(context, av.VideoCodecContext)
        context.width, context.height = self.size
        context.pix_fmt = "yuv420p"
        context.time_base = TIME_BASE
        context.framerate = Fraction(fps).limit_denominator(1001)
        context.gop_size = max(1, round(config.keyframe_s * fps))
        context.thread_count = config.threads
        context.options = {"preset": config.preset.value, "crf": str(config.crf)}
        context.open()
        self._context = context
        self._last_pts = -1

    def encode(self, frame: np.ndarray, t: float) -> list[EncodedPacket]:
        """`frame`: BGR uint8 (H, W, 3) of this encoder's size (an odd edge is cropped);
        `t`: seconds on the camera timeline (times that do not increase are nudged by 1 ms)."""
        width, height = self.size
        yuv = cast(
            "npt.NDArray[np.uint8]", cv2.cvtColor(frame[:height, :width], cv2.COLOR_BGR2YUV_I420)
        )
        video_frame = yuv420p_frame(yuv, width, height)
        pts = max(round((t - self.origin) * 1000), self._last_pts + 1)
        self._last_pts = pts
        video_frame.pts = pts
        video_frame.time_base = TIME_BASE
        return self._wrap(self._context.encode(video_frame))

    def flush(self) -> list[EncodedPacket]:
        return self._wrap(self._context.encode(None))

    def _wrap(self, packets: list[av.Packet]) -> list[EncodedPacket]:
        return [
            EncodedPacket(
                data=bytes(packet),
                pts=int(packet.pts or 0),
                dts=int(packet.dts if packet.dts is not None else packet.pts or 0),
                keyframe=packet.is_keyframe,
                t=self.origin + (packet.pts or 0) / 1000,
                generation=self.generation,
                size=self.size,
            )
            for packet in packets
        ]


def yuv420p_frame(yuv: npt.NDArray[np.uint8], width: int, height: int) -> av.VideoFrame:
    """An I420 image ((H * 3/2, W), cv2's layout) copied into a new frame's planes.

    Instead of VideoFrame.from_ndarray, whose copy goes through bytes while holding the GIL
    (4.7 ms per 1080p frame here, the camera loop waiting meanwhile): numpy copies into
    the planes in 0.6 ms and releases the GIL while it does."""
    video_frame = av.VideoFrame(width, height, "yuv420p")
    quarter = width * height // 4
    chroma = yuv[height:].reshape(-1)
    parts = (
        yuv[:height],
        chroma[:quarter].reshape(height // 2, width // 2),
        chroma[quarter:].reshape(height // 2, width // 2),
    )
    for plane, part in zip(video_frame.planes, parts, strict=True):
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
        rows[:, : plane.width] = part
    return video_frame


class Mp4Writer:
    """Packets of one encoder into one MP4 file, times shifted so the first packet decodes
    at 0. The first packet must be a keyframe. `movflags`: MOVFLAGS for a segment (kept
    playable by a kill), "+faststart" for a clip written whole (index first, for browsers)."""

    def __init__(self, path: Path, first: EncodedPacket, fps: float, movflags: str) -> None:
        if not first.keyframe:
            raise ValueError("an MP4 file must start at a keyframe")
        options = {"movflags": movflags, **FLUSH_EVERY_PACKET}
        self.path = path
        self.generation = first.generation
        self._container = av.open(str(path), "w", format="mp4", container_options=options)
        width, height = first.size
        self._stream = self._container.add_mux_stream(
            "h264", rate=Fraction(fps).limit_denominator(1001), width=width, height=height
        )
        self._stream.time_base = TIME_BASE
        self._offset = first.dts
        self.first_t = first.t
        self.packets = 0

    def write(self, packet: EncodedPacket) -> None:
        muxed = av.Packet(packet.data)
        muxed.pts = packet.pts - self._offset
        muxed.dts = packet.dts - self._offset
        muxed.time_base = TIME_BASE
        muxed.is_keyframe = packet.keyframe
        muxed.stream = self._stream
        self._container.mux(muxed)
        self.packets += 1

    def close(self) -> None:
        self._container.close()
