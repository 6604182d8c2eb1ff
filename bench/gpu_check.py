"""The GPU path measured on a machine with CUDA and PyTorch (TensorRT not needed), a few minutes.

    python -m bench.gpu_check run [--graphs DIR] [--seconds 20]
    python -m bench.gpu_check skeleton IN.onnx... --out DIR      (any machine)

`run`, in one process tree, printing one line per figure:
1. the cuda-python memory code of the TensorRT backend (pinned and device buffers, async
   copies on its own stream): a 32-frame 640x640 uint8 batch there and back, checked, and
   host-to-device GB/s from pinned against pageable memory;
2. the torch backend in float16 on every graph (the demo detector, plus each .onnx in
   --graphs) at batch 1, 8 and 32: images/s;
3. the whole pipeline on the torch backend with 8 and 32 synthetic 1080p cameras against the
   same backend alone at the pipeline's mean batch: `pipeline/raw = 0.NN` for each.

Random-weight RT-DETR-L/X and YOLO11 graphs come from Ultralytics' .yaml files, built in the
export venv (`make export-venv`) on any machine; their weights are hundreds of MB, so
`skeleton` keeps every graph's structure, its integer and small tensors, and only the mean
and spread of each large float tensor (a few MB per graph), and `run` refills them with
seeded noise of that mean and spread: the same graph and the same work per image.
On a machine without a CUDA GPU `run` stops at once, saying so.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

REPO = Path(__file__).resolve().parents[1]
DEMO_MODEL = REPO / "models" / "demo" / "ppe-demo.onnx"
STATUS = re.compile(r"INFERENCE RUNNING ([\d.]+) img/s batch ([\d.]+)")
SKELETON_KEY = "vigia_skeleton"  # metadata: {initializer: [mean, std]} of the removed tensors
KEPT_ELEMENTS = 4096  # float tensors up to this size are kept as they are (anchors, scales)


def skeleton(source: Path, out: Path) -> Path:
    """`source` without its large float weights: their mean and spread in the metadata."""
    model = onnx.load(str(source))
    spread: dict[str, list[float]] = {}
    for tensor in model.graph.initializer:
        values = numpy_helper.to_array(tensor)
        if values.dtype.kind == "f" and values.size > KEPT_ELEMENTS:
            spread[tensor.name] = [float(values.mean()), float(values.std())]
            tensor.ClearField("raw_data")
            tensor.ClearField("float_data")
            tensor.data_location = onnx.TensorProto.DEFAULT
    entry = model.metadata_props.add()
    entry.key, entry.value = SKELETON_KEY, json.dumps(spread)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{source.stem}.skeleton.onnx"
    onnx.save(model, str(path))
    return path


def inflate(path: Path, out: Path) -> Path:
    """A skeleton's weights refilled with seeded noise of their recorded mean and spread."""
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    if SKELETON_KEY not in meta:
        return path
    spread = json.loads(meta[SKELETON_KEY])
    rng = np.random.default_rng(0)
    for tensor in model.graph.initializer:
        if tensor.name in spread:
            mean, std = spread[tensor.name]
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)
            values = rng.normal(mean, std, tuple(tensor.dims)).astype(dtype)
            tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
    inflated = out / path.name.replace(".skeleton", "")
    onnx.save(model, str(inflated))
    return inflated


def require_cuda() -> None:
    try:
        import torch
    except ImportError:
        raise SystemExit(
            "gpu_check: torch is not installed (pip install -r requirements-torch.txt)"
        ) from None
    if not torch.cuda.is_available():
        raise SystemExit(
            f"gpu_check: no CUDA GPU visible to PyTorch {torch.__version__} on this machine; "
            "run it on a GPU machine (python -m bench.gpu_check run)"
        )


def cuda_python_memory() -> None:
    from pipeline.infer.backends.cuda_memory import (
        CudaPythonMemory,
        cuda_device,
        cuda_runtime_version,
    )

    gpu = cuda_device(0)
    print(
        f"GPU: {gpu.name}, compute {gpu.compute_capability}, CUDA runtime {cuda_runtime_version()}"
    )
    memory = CudaPythonMemory(0)
    try:
        shape = (32, 640, 640, 3)
        host = memory.pinned(shape, np.dtype(np.uint8))
        host[...] = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
        device = memory.device(host.nbytes)
        back = memory.pinned(shape, np.dtype(np.uint8))
        memory.to_device(device, host)
        memory.to_host(back, device)
        memory.synchronize()
        assert np.array_equal(back, host), "the batch came back changed"
        pageable = np.array(host)
        rates = {}
        for label, source in (("pinned", host), ("pageable", pageable)):
            started = time.perf_counter()
            for _ in range(20):
                memory.to_device(device, source)
            memory.synchronize()
            rates[label] = 20 * host.nbytes / (time.perf_counter() - started) / 1e9
        print(
            f"cuda-python buffers: 32x640x640x3 uint8 there and back, equal; host to device "
            f"pinned {rates['pinned']:.1f} GB/s, pageable {rates['pageable']:.1f} GB/s "
            f"({rates['pinned'] / rates['pageable']:.1f}x) (stream {memory.stream:#x})"
        )
    finally:
        memory.close()


def torch_backend(path: Path, max_batch: int):
    from pipeline.config.models import ModelConfig, TorchConfig
    from pipeline.infer.backends.torch_backend import TorchBackend
    from pipeline.infer.model_spec import read_model_spec

    model = ModelConfig(path=path)
    return TorchBackend(model, read_model_spec(model), TorchConfig(device="cuda"), max_batch)


def images_per_second(backend, batch: int, seconds: float) -> float:
    spec = backend.spec
    frames = np.random.default_rng(batch).integers(
        0, 256, (batch, spec.input_height, spec.input_width, 3), dtype=np.uint8
    )
    for _ in range(3):
        backend.infer(frames)  # warm-up (cuDNN picks its kernels)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        backend.infer(frames)  # returns numpy: the GPU's work is done
        count += batch
    return count / (time.perf_counter() - started)


def site_yaml(cameras: int, run_dir: Path) -> str:
    lines = [
        "site: gpucheck",
        f"output_dir: {run_dir}",
        f"model: {{path: {DEMO_MODEL}, backend: torch}}",
        "torch: {device: cuda}",
        f"inference: {{max_batch: {cameras}, max_wait_ms: 20}}",
        "recording: {enabled: false}",
        "detections_log: {enabled: false}",
        "dashboard: {status_line_interval: 1.0}",
        "cameras:",
    ]
    for index in range(cameras):
        lines.append(
            f"  - {{id: CAM{index + 1:03d}, source: {{kind: synthetic, seed: {40000 + index}, "
            "width: 1920, height: 1080, fps: 30}}"
        )
    return "\n".join(lines) + "\n"


def pipeline_rate(cameras: int, seconds: float) -> tuple[float, float]:
    """(images/s, mean batch) of the site on the torch backend, after a third of warm-up."""
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "site.yaml"
        config.write_text(site_yaml(cameras, Path(folder) / "run"))
        command = [sys.executable, "-m", "pipeline.run", str(config), "--duration", str(seconds)]
        result = subprocess.run(
            [*command, "--no-dashboard"], cwd=REPO, capture_output=True, text=True, check=True
        )
    samples = [(float(a), float(b)) for a, b in STATUS.findall(result.stdout)]
    steady = samples[len(samples) // 3 :]
    if not steady:
        raise SystemExit(f"no status lines from the pipeline:\n{result.stdout}\n{result.stderr}")
    return statistics.mean(s[0] for s in steady), statistics.mean(s[1] for s in steady)


def run(graphs: Path | None, seconds: float) -> int:
    require_cuda()
    import torch

    print(
        f"{torch.cuda.get_device_name(0)}, PyTorch {torch.__version__}, {time.strftime('%Y-%m-%d')}"
    )
    cuda_python_memory()
    with tempfile.TemporaryDirectory() as folder:
        paths = [DEMO_MODEL]
        if graphs is not None:
            paths += [inflate(p, Path(folder)) for p in sorted(graphs.glob("*.onnx"))]
        for path in paths:
            backend = torch_backend(path, 32)
            rates = [images_per_second(backend, b, seconds / 10) for b in (1, 8, 32)]
            backend.close()
            print(
                f"torch fp16 {path.stem}: batch 1 {rates[0]:.0f}, batch 8 {rates[1]:.0f}, "
                f"batch 32 {rates[2]:.0f} images/s"
            )
    for cameras in (8, 32):
        rate, batch = pipeline_rate(cameras, seconds)
        backend = torch_backend(DEMO_MODEL, cameras)
        raw = images_per_second(backend, max(1, round(batch)), seconds / 2)
        backend.close()
        print(
            f"{cameras} cameras 1080p: pipeline {rate:.0f} images/s at mean batch {batch:.1f}, "
            f"raw {raw:.0f}: pipeline/raw = {rate / raw:.2f} ({rate / cameras:.1f} fps per camera)"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    measure = commands.add_parser("run", help="measure (a CUDA GPU and PyTorch needed)")
    measure.add_argument("--graphs", type=Path, help="folder of .onnx graphs or skeletons")
    measure.add_argument("--seconds", type=float, default=20.0, help="per pipeline run")
    make = commands.add_parser("skeleton", help="graphs without their large weights")
    make.add_argument("onnx", type=Path, nargs="+")
    make.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "skeleton":
        for source in args.onnx:
            path = skeleton(source, args.out)
            print(
                f"{path}: {path.stat().st_size / 1e6:.1f} MB (from {source.stat().st_size / 1e6:.1f} MB)"
            )
        return 0
    return run(args.graphs, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
