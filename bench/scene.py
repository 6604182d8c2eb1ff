"""Synthetic scene rendering speed on one core, at three frame sizes, side by side.

    python -m bench.scene [--frames 300]

Prints frames/s per size; the last line is `scene 640x360 = NNN frames/s`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2

from pipeline.synthetic import WorksiteScene

SIZES = ((1920, 1080), (1280, 720), (640, 360))


def frames_per_second(width: int, height: int, frames: int, seeds: range) -> float:
    """Median over scenes of frames/s, rendering consecutive frames as a live source does.
    The first frame of each scene (which builds its static background) is not timed."""
    rates = []
    for seed in seeds:
        scene = WorksiteScene(seed=seed, width=width, height=height)
        scene.render(0)
        started = time.perf_counter()
        for index in range(1, frames + 1):
            scene.render(index)
        rates.append(frames / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=300, help="frames per scene")
    parser.add_argument("--scenes", type=int, default=3, help="scenes per size")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # one core, as one camera's source process would use
    results = {}
    for width, height in SIZES:
        frames = max(10, args.frames * 640 * 360 // (width * height))
        results[(width, height)] = frames_per_second(width, height, frames, range(args.scenes))
        print(
            f"  {width}x{height}: {results[(width, height)]:.0f} frames/s ({frames} frames x "
            f"{args.scenes} scenes)"
        )
    base = results[(640, 360)]
    for (width, height), rate in results.items():
        print(f"  {width}x{height} / 640x360 = {rate / base:.2f}x")
    print(f"scene 640x360 = {base:.0f} frames/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
