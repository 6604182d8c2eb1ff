"""ONNX Runtime CPU latency of the demo detector, batch 1 against batch 8, in one run.

    python -m bench.model_latency [--model models/demo/ppe-demo.onnx]

Inputs are real letterboxed synthetic frames through the runtime's own backend and
preprocessing. The last line is `batch8/batch1 per-image = 0.NNx (...)`: below 1 means
batching makes each image cheaper.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from pipeline.infer.backends.onnxruntime import OnnxRuntimeBackend
from pipeline.infer.letterbox import Letterbox
from pipeline.synthetic import WorksiteScene


def per_image_ms(backend: OnnxRuntimeBackend, batch: np.ndarray, repeats: int) -> float:
    for _ in range(3):
        backend.infer(batch)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        backend.infer(batch)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000 / batch.shape[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, default=Path("models/demo/ppe-demo.onnx"))
    parser.add_argument("--repeats", type=int, default=40, help="timed runs per batch size")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: all)")
    args = parser.parse_args()
    backend = OnnxRuntimeBackend.from_path(args.model, 8, threads=args.threads)
    width, height = backend.spec.input_width, backend.spec.input_height
    scene = WorksiteScene(seed=10_001, width=1280, height=720)
    letterbox = Letterbox.fit(1280, 720, width, height)
    frames = np.stack([letterbox.apply(scene.render(i * 10)[0]) for i in range(8)])
    batch8 = frames  # uint8, as the rings hold them: the backend converts (timed with it)
    batch1 = np.ascontiguousarray(batch8[:1])
    one = per_image_ms(backend, batch1, args.repeats)
    eight = per_image_ms(backend, batch8, max(5, args.repeats // 4))
    print(f"  {args.model} ({width}x{height}), ONNX Runtime CPU, threads={args.threads or 'all'}")
    print(f"  batch 1: {one:.2f} ms per image ({1000 / one:.0f} images/s)")
    print(f"  batch 8: {eight:.2f} ms per image ({1000 / eight:.0f} images/s)")
    print(
        f"batch8/batch1 per-image = {eight / one:.2f}x "
        f"(batch1 {one:.2f} ms, batch8 {eight:.2f} ms per image)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
