"""Write a synthetic worksite clip: an MP4 plus a ground-truth sidecar, one JSON line a frame.

    python -m pipeline.synthetic.video OUT.mp4 --seed 3 --frames 600 --size 1280x720 --fps 10
    python -m pipeline.synthetic.video OUT.mp4 --seed 3 --compliance   # scripted PPE cases

The sidecar is `OUT.mp4.truth.jsonl`; line i is `FrameTruth.to_dict()` of frame i. A
compliance scene's work zone is its `zone`, regenerated from (seed, size) alone.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import cv2

from pipeline.synthetic.scene import WorksiteScene

logger = logging.getLogger(__name__)


def truth_path(video_path: str | Path) -> Path:
    """Where `write_video` puts the ground truth of `video_path`."""
    return Path(f"{video_path}.truth.jsonl")


def write_video(
    path: str | Path,
    seed: int,
    frames: int,
    width: int,
    height: int,
    fps: float,
    compliance: bool = False,
) -> Path:
    """Render frames 0..frames-1 of `WorksiteScene(seed, width, height, fps, compliance)`
    into an MP4 ('mp4v') at `path`, and their truth into `truth_path(path)`. Returns the
    sidecar path."""
    if frames <= 0:
        raise ValueError(f"frames must be positive, got {frames}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scene = WorksiteScene(seed=seed, width=width, height=height, fps=fps, compliance=compliance)
    fourcc = cv2.VideoWriter.fourcc(*"mp4v")
    writer = cv2.VideoWriter(str(path), fourcc, fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot open an mp4v writer")
    sidecar = truth_path(path)
    try:
        with sidecar.open("w", encoding="utf-8") as truth_file:
            for index in range(frames):
                frame, truth = scene.render(index)
                writer.write(frame)
                truth_file.write(json.dumps(truth.to_dict(), separators=(",", ":")) + "\n")
    finally:
        writer.release()
    logger.info("Wrote %d frames of scene %d to %s (truth in %s)", frames, seed, path, sidecar)
    return sidecar


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"size must look like 640x360, got {text!r}") from error
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("output", type=Path, help="MP4 file to write")
    parser.add_argument("--seed", type=int, default=0, help="scene seed (>= 0)")
    parser.add_argument("--frames", type=int, default=300, help="number of frames")
    parser.add_argument("--size", type=_size, default=(640, 360), help="WIDTHxHEIGHT")
    parser.add_argument("--fps", type=float, default=10.0, help="frame rate")
    parser.add_argument(
        "--compliance", action="store_true", help="the scripted compliance scene of the seed"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(levelname)s] %(message)s")
    width, height = args.size
    sidecar = write_video(
        args.output, args.seed, args.frames, width, height, args.fps, args.compliance
    )
    print(
        f"{args.output}: {args.frames} frames {width}x{height} @ {args.fps:g} fps, truth {sidecar}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
