"""Two models of different input sizes: where should the second resize happen?

    python -m bench.views [--size 1920x1080] [--frames 200]

(a) per view in the camera (what vigia does): each camera process resizes the decoded frame
    once per view, straight from the full frame (letterbox or stretch), into that view's ring;
(b) one view in the camera, the rest in the inference process: the camera letterboxes into
    the largest view only; inference cuts the content out of it and resizes that again for the
    other model (a second resampling of an already reduced image);
(c) what the camera process does (pipeline.camera.ring_writer.RingWriter): the largest view
    from the full frame, a smaller one from the larger view's content, both in the camera.
Both are timed on one core on the same frames, as ms per frame, with the share each puts on
the inference process, which is the one process every camera waits for.
Last line: `full_frame=N.NN ms in_inference=N.NN ms (inference N.NN) ring_writer=N.NN ms`.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from pipeline.camera.ring_writer import RingWriter
from pipeline.camera.sources import CapturedFrame
from pipeline.infer.letterbox import Letterbox
from pipeline.shm.layout import FrameView
from pipeline.shm.ring import FrameRing
from pipeline.shm.segments import SegmentNames, run_prefix
from pipeline.synthetic import WorksiteScene

VIEWS = ((640, 640, False), (320, 320, True))  # a 640 YOLO and a stretched 320 RT-DETR-like


def resize_for(view: tuple[int, int, bool], width: int, height: int) -> Letterbox:
    w, h, stretch = view
    return (Letterbox.stretch if stretch else Letterbox.fit)(width, height, w, h)


def full_frame_views(frames: list[np.ndarray], outs: list[np.ndarray]) -> float:
    height, width = frames[0].shape[:2]
    resizes = [resize_for(view, width, height) for view in VIEWS]
    started = time.perf_counter()
    for frame in frames:
        for resize, out in zip(resizes, outs, strict=True):
            resize.apply(frame, out=out)
    return (time.perf_counter() - started) * 1000 / len(frames)


def inference_resize(frames: list[np.ndarray], outs: list[np.ndarray]) -> tuple[float, float]:
    """(camera ms, inference ms) per frame."""
    height, width = frames[0].shape[:2]
    first = resize_for(VIEWS[0], width, height)
    camera = inference = 0.0
    for frame in frames:
        started = time.perf_counter()
        first.apply(frame, out=outs[0])
        resized = time.perf_counter()
        content = outs[0][
            first.pad_y : first.pad_y + first.new_h, first.pad_x : first.pad_x + first.new_w
        ]
        second = resize_for(VIEWS[1], content.shape[1], content.shape[0])
        second.apply(np.ascontiguousarray(content), out=outs[1])
        camera += resized - started
        inference += time.perf_counter() - resized
    return camera * 1000 / len(frames), inference * 1000 / len(frames)


def ring_writer(frames: list[np.ndarray]) -> float:
    """The camera process's own writer into real rings of both views, ms per frame."""
    views = [FrameView(w, h, stretch) for w, h, stretch in VIEWS]
    names = SegmentNames(run_prefix("bench-views"))
    rings = [
        FrameRing.create(names.frames(0, i), 2, v.height, v.width) for i, v in enumerate(views)
    ]
    try:
        writer = RingWriter(rings, views)
        started = time.perf_counter()
        for index, image in enumerate(frames):
            writer.send(CapturedFrame(image, index, index / 10, time.monotonic()))
        return (time.perf_counter() - started) * 1000 / len(frames)
    finally:
        for ring in rings:
            ring.close()
            ring.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--size", default="1920x1080", help="camera frame WxH")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    cv2.setNumThreads(1)  # as in a camera process
    scene = WorksiteScene(seed=10_002, width=width, height=height)
    frames = [scene.render(index * 7)[0] for index in range(min(args.frames, 50))]
    frames = (frames * (args.frames // len(frames) + 1))[: args.frames]
    outs = [np.empty((h, w, 3), np.uint8) for w, h, _ in VIEWS]
    a, b_camera, b_inference, c = [], [], [], []
    for _ in range(args.rounds):  # interleaved, so drifting load hits all alike
        a.append(full_frame_views(frames, outs))
        camera, inference = inference_resize(frames, outs)
        b_camera.append(camera)
        b_inference.append(inference)
        c.append(ring_writer(frames))
    a_ms, b_cam, b_inf, c_ms = (float(np.median(v)) for v in (a, b_camera, b_inference, c))
    views = ", ".join(f"{w}x{h} {'stretched' if s else 'letterboxed'}" for w, h, s in VIEWS)
    print(f"{args.size} frames into {views}, median of {args.rounds} rounds, one core")
    print(f"(a) every view in the camera: {a_ms:.2f} ms per frame, all in the camera process")
    print(f"(b) second view in inference: camera {b_cam:.2f} ms + inference {b_inf:.2f} ms")
    print(f"(c) the camera's RingWriter: {c_ms:.2f} ms per frame, all in the camera process")
    print(
        f"full_frame={a_ms:.2f} ms in_inference={b_cam + b_inf:.2f} ms (inference {b_inf:.2f}) "
        f"ring_writer={c_ms:.2f} ms"
    )


if __name__ == "__main__":
    main()
