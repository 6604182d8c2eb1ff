"""The torch backend: every ONNX operator it implements against ONNX Runtime on the same
inputs, real detectors (the demo, Ultralytics YOLO11 and RT-DETR exports) against the ONNX
Runtime backend, fixed batches, refusals, and a site run on it. Needs the torch extra
(requirements-torch.txt); runs on the CPU, and on CUDA in float16 where a GPU is present."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

try:
    import torch
except ImportError:  # the extra is part of the suite: fail, saying how to get it
    pytest.fail("torch is not installed: pip install -r requirements-torch.txt", pytrace=False)

from pipeline.config.backends import OnnxRuntimeConfig, TorchConfig
from pipeline.config.models import ModelConfig
from pipeline.infer.backends.base import ModelLoadError
from pipeline.infer.backends.onnx_torch import OnnxTorchGraph, UnsupportedGraph
from pipeline.infer.backends.onnxruntime import OnnxRuntimeBackend
from pipeline.infer.backends.torch_backend import TorchBackend
from pipeline.infer.model_spec import read_model_spec
from pipeline.infer.preprocess import to_model_input
from tests.export.ultralytics.exports import BUILD_TIMEOUT_S
from tests.infer.onnx_models import ULTRALYTICS_YOLO, constant_detector, yolo_output

REPO = Path(__file__).resolve().parents[2]
DEMO_MODEL = REPO / "models" / "demo" / "ppe-demo.onnx"
RNG = np.random.default_rng(20261201)
F32 = TensorProto.FLOAT
I64 = TensorProto.INT64


def floats(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return RNG.uniform(low, high, shape).astype(np.float32)


def longs(values) -> np.ndarray:
    return np.array(values, np.int64)


ELEMENT = {np.dtype(np.float32): F32, np.dtype(np.int64): I64, np.dtype(bool): TensorProto.BOOL}


def one_node(op, inputs, constants=None, outputs=1, **attrs) -> onnx.ModelProto:
    """A graph of one `op` node: `inputs` are graph inputs (name -> array, "" for an omitted
    optional one), `constants` initializers; outputs y0, y1..."""
    constants = constants or {}
    names = list(inputs) + list(constants)
    order = attrs.pop("order", names)
    node = helper.make_node(op, order, [f"y{i}" for i in range(outputs)], **attrs)
    graph = helper.make_graph(
        [node],
        op.lower(),
        [
            helper.make_tensor_value_info(name, ELEMENT[value.dtype], value.shape)
            for name, value in inputs.items()
        ],
        [onnx.ValueInfoProto(name=f"y{i}") for i in range(outputs)],
        [numpy_helper.from_array(value, name) for name, value in constants.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def run_both(model: onnx.ModelProto, inputs: dict[str, np.ndarray]):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(None, inputs)
    graph = OnnxTorchGraph(model, torch.device("cpu"), torch.float32)
    got = graph.run({name: torch.from_numpy(value) for name, value in inputs.items()})
    return expected, [got[f"y{i}"].numpy() for i in range(len(expected))]


X = floats(2, 3, 8, 8)
IMAGE = floats(1, 4, 9, 9)
CASES = {
    "Add broadcast": ("Add", {"a": floats(2, 3, 4), "b": floats(4)}, {}, 1, {}),
    "Sub": ("Sub", {"a": floats(3, 4), "b": floats(3, 1)}, {}, 1, {}),
    "Mul": ("Mul", {"a": floats(2, 3)}, {"b": np.array(0.5, np.float32)}, 1, {}),
    "Div float": ("Div", {"a": floats(5), "b": floats(5, low=0.5)}, {}, 1, {}),
    "Div int truncates": ("Div", {"a": longs([-7, 7, -8, 9])}, {"b": longs([2, -2, 3, 4])}, 1, {}),
    "Pow": ("Pow", {"a": floats(6, low=0.1)}, {"b": np.array(2.5, np.float32)}, 1, {}),
    "Mod int": ("Mod", {"a": longs([-7, 7, 5, -5])}, {"b": longs([3, -3, 3, 3])}, 1, {}),
    "Mod fmod": ("Mod", {"a": floats(6)}, {"b": np.array(0.7, np.float32)}, 1, {"fmod": 1}),
    "Equal": ("Equal", {"a": longs([1, 2, 3])}, {"b": longs([1, 0, 3])}, 1, {}),
    "Greater": ("Greater", {"a": floats(4), "b": floats(4)}, {}, 1, {}),
    "Less": ("Less", {"a": floats(4), "b": floats(4)}, {}, 1, {}),
    "Where": (
        "Where",
        {"c": np.array([True, False, True]), "a": floats(3), "b": floats(3)},
        {},
        1,
        {},
    ),
    "And": (
        "And",
        {"a": np.array([True, False, True]), "b": np.array([True, True, False])},
        {},
        1,
        {},
    ),
    "Xor": (
        "Xor",
        {"a": np.array([True, False, True]), "b": np.array([True, True, False])},
        {},
        1,
        {},
    ),
    "Not": ("Not", {"a": np.array([True, False])}, {}, 1, {}),
    "MatMul batched": ("MatMul", {"a": floats(2, 3, 4, 5), "b": floats(5, 6)}, {}, 1, {}),
    "Gemm transB": (
        "Gemm",
        {"a": floats(3, 4)},
        {"b": floats(5, 4), "c": floats(5)},
        1,
        {"transB": 1, "alpha": 0.5, "beta": 2.0},
    ),
    "Sigmoid": ("Sigmoid", {"a": floats(10)}, {}, 1, {}),
    "Relu": ("Relu", {"a": floats(10)}, {}, 1, {}),
    "Erf": ("Erf", {"a": floats(10)}, {}, 1, {}),
    "Sin": ("Sin", {"a": floats(10)}, {}, 1, {}),
    "Cos": ("Cos", {"a": floats(10)}, {}, 1, {}),
    "Log": ("Log", {"a": floats(10, low=0.1)}, {}, 1, {}),
    "Exp": ("Exp", {"a": floats(10)}, {}, 1, {}),
    "Sqrt": ("Sqrt", {"a": floats(10, low=0.0)}, {}, 1, {}),
    "Floor": ("Floor", {"a": floats(10)}, {}, 1, {}),
    "LeakyRelu": ("LeakyRelu", {"a": floats(10)}, {}, 1, {"alpha": 0.1}),
    "HardSigmoid": ("HardSigmoid", {"a": floats(10, low=-5, high=5)}, {}, 1, {}),
    "Softmax": ("Softmax", {"a": floats(2, 5, 3)}, {}, 1, {"axis": 1}),
    "LayerNormalization": (
        "LayerNormalization",
        {"a": floats(2, 5, 8)},
        {"s": floats(8), "b": floats(8)},
        1,
        {"axis": -1, "epsilon": 1e-5},
    ),
    "BatchNormalization": (
        "BatchNormalization",
        {"a": X},
        {"s": floats(3), "b": floats(3), "m": floats(3), "v": floats(3, low=0.5)},
        1,
        {},
    ),
    "Conv": (
        "Conv",
        {"a": X},
        {"w": floats(4, 3, 3, 3), "b": floats(4)},
        1,
        {"pads": [1, 1, 1, 1], "strides": [2, 2]},
    ),
    "Conv grouped dilated asymmetric": (
        "Conv",
        {"a": IMAGE},
        {"w": floats(4, 2, 3, 3)},
        1,
        {"pads": [0, 1, 2, 1], "group": 2, "dilations": [2, 1]},
    ),
    "MaxPool SPPF": (
        "MaxPool",
        {"a": X},
        {},
        1,
        {"kernel_shape": [5, 5], "pads": [2, 2, 2, 2], "strides": [1, 1]},
    ),
    "MaxPool ceil asymmetric": (
        "MaxPool",
        {"a": IMAGE},
        {},
        1,
        {"kernel_shape": [2, 2], "pads": [0, 0, 1, 1], "strides": [2, 2], "ceil_mode": 1},
    ),
    "GlobalAveragePool": ("GlobalAveragePool", {"a": X}, {}, 1, {}),
    "Resize nearest x2": (
        "Resize",
        {"a": X},
        {"r": np.zeros(0, np.float32), "s": np.array([1, 1, 2, 2], np.float32)},
        1,
        {
            "mode": "nearest",
            "coordinate_transformation_mode": "asymmetric",
            "nearest_mode": "floor",
            "order": ["a", "", "s"],
        },
    ),
    "Resize linear sizes": (
        "Resize",
        {"a": X},
        {"r": np.zeros(0, np.float32), "s": np.zeros(0, np.float32), "z": longs([2, 3, 13, 5])},
        1,
        {
            "mode": "linear",
            "coordinate_transformation_mode": "half_pixel",
            "order": ["a", "", "", "z"],
        },
    ),
    "GridSample": (
        "GridSample",
        {"a": X, "g": floats(2, 5, 6, 2, low=-1.1, high=1.1)},
        {},
        1,
        {"align_corners": 0, "mode": "bilinear", "padding_mode": "zeros"},
    ),
    "Concat": ("Concat", {"a": floats(2, 3), "b": floats(2, 4)}, {}, 1, {"axis": 1}),
    "Split sizes": ("Split", {"a": floats(2, 7)}, {"s": longs([3, 4])}, 2, {"axis": 1}),
    "Split equal": ("Split", {"a": floats(2, 7)}, {}, 3, {"axis": 1, "num_outputs": 3}),
    "Slice steps": (
        "Slice",
        {"a": floats(4, 10)},
        {"s": longs([1, -1]), "e": longs([4, -10]), "x": longs([0, 1]), "t": longs([2, -3])},
        1,
        {},
    ),
    "Slice to the end": (
        "Slice",
        {"a": floats(4, 10)},
        {"s": longs([2]), "e": longs([2**63 - 1])},
        1,
        {},
    ),
    "Reshape 0 and -1": ("Reshape", {"a": floats(2, 3, 4)}, {"s": longs([0, -1])}, 1, {}),
    "Transpose": ("Transpose", {"a": floats(2, 3, 4)}, {}, 1, {"perm": [2, 0, 1]}),
    "Unsqueeze": ("Unsqueeze", {"a": floats(2, 3)}, {"x": longs([0, -1])}, 1, {}),
    "Squeeze": ("Squeeze", {"a": floats(1, 3, 1)}, {"x": longs([2])}, 1, {}),
    "Flatten": ("Flatten", {"a": floats(2, 3, 4)}, {}, 1, {"axis": 2}),
    "Gather scalar": ("Gather", {"a": floats(3, 4)}, {"i": np.array(-1, np.int64)}, 1, {"axis": 1}),
    "Gather indices": ("Gather", {"a": floats(5, 2)}, {"i": longs([[0, -1], [2, 2]])}, 1, {}),
    "GatherElements": (
        "GatherElements",
        {"a": floats(3, 4)},
        {"i": longs([[0, 3], [1, -1], [2, 0]])},
        1,
        {"axis": 1},
    ),
    "Shape sliced": ("Shape", {"a": floats(2, 3, 4, 5)}, {}, 1, {"start": 1, "end": -1}),
    "ConstantOfShape": (
        "ConstantOfShape",
        {"a": longs([2, 3])},
        {},
        1,
        {"value": numpy_helper.from_array(np.array([1.5], np.float32))},
    ),
    "Range": (
        "Range",
        {},
        {
            "a": np.array(0.5, np.float32),
            "b": np.array(4.0, np.float32),
            "c": np.array(0.5, np.float32),
        },
        1,
        {},
    ),
    "Expand both ways": ("Expand", {"a": floats(3, 1)}, {"s": longs([2, 1, 4])}, 1, {}),
    "Tile": ("Tile", {"a": floats(2, 3)}, {"r": longs([2, 1])}, 1, {}),
    "ReduceSum": ("ReduceSum", {"a": floats(2, 3, 4)}, {"x": longs([1])}, 1, {"keepdims": 0}),
    "ReduceMax": ("ReduceMax", {"a": floats(2, 3, 4)}, {"x": longs([-1])}, 1, {"keepdims": 1}),
    "ReduceMean all": ("ReduceMean", {"a": floats(2, 3, 4)}, {}, 1, {"keepdims": 0}),
    "TopK": ("TopK", {"a": floats(2, 10)}, {"k": longs([4])}, 2, {"axis": 1}),
    "ArgMax": ("ArgMax", {"a": floats(3, 7)}, {}, 1, {"axis": 1, "keepdims": 0}),
    "Clip": (
        "Clip",
        {"a": floats(10)},
        {"l": np.array(-0.5, np.float32), "h": np.array(0.5, np.float32)},
        1,
        {},
    ),
    "Cast to int64": ("Cast", {"a": floats(6, low=-9, high=9)}, {}, 1, {"to": TensorProto.INT64}),
    "Pad constant": (
        "Pad",
        {"a": floats(1, 2, 3, 3)},
        {"p": longs([0, 0, 1, 2, 0, 0, 2, 1]), "v": np.array(0.25, np.float32)},
        1,
        {},
    ),
    "Pad edge": (
        "Pad",
        {"a": floats(1, 2, 3, 3)},
        {"p": longs([0, 0, 1, 1, 0, 0, 1, 1])},
        1,
        {"mode": "edge"},
    ),
    "Einsum": (
        "Einsum",
        {"a": floats(2, 3, 4), "b": floats(2, 4, 5)},
        {},
        1,
        {"equation": "bij,bjk->bik"},
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_each_operator_matches_onnx_runtime(case):
    op, inputs, constants, outputs, attrs = CASES[case]
    model = one_node(op, inputs, constants, outputs, **dict(attrs))
    expected, got = run_both(model, inputs)
    for want, have in zip(expected, got, strict=True):
        assert have.shape == want.shape
        assert have.dtype == want.dtype, f"{op}: {have.dtype} instead of {want.dtype}"
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-5)


def letterboxed(count: int, size: int) -> np.ndarray:
    from pipeline.infer.letterbox import Letterbox
    from pipeline.synthetic import WorksiteScene

    scene = WorksiteScene(seed=10_001, width=640, height=360)
    letterbox = Letterbox.fit(640, 360, size, size)
    return np.stack([letterbox.apply(scene.render(index * 5)[0]) for index in range(count)])


def backends(path: Path, max_batch: int, **torch_settings):
    model = ModelConfig(path=path)
    spec = read_model_spec(model)
    ours = TorchBackend(model, spec, TorchConfig(device="cpu", **torch_settings), max_batch)
    reference = OnnxRuntimeBackend(model, spec, OnnxRuntimeConfig(), max_batch)
    return ours, reference


@pytest.mark.parametrize("count", [1, 4])
def test_the_demo_detector_matches_onnx_runtime(count):
    ours, reference = backends(DEMO_MODEL, 4)
    frames = letterboxed(count, 320)
    got, want = ours.infer(frames)["output0"], reference.infer(frames)["output0"]
    assert got.shape == want.shape == (count, 7, 8500)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-3)  # boxes in pixels, scores 0-1
    assert ours.name == "torch cpu fp32"
    assert ours.preprocess_seconds > 0
    ours.close()


def test_the_input_tensor_is_the_hosts_preprocessing():
    ours, _ = backends(DEMO_MODEL, 4)
    frames = letterboxed(3, 320)
    tensor = ours.to_tensor(frames)
    np.testing.assert_array_equal(tensor.numpy(), to_model_input(frames))


@pytest.mark.parametrize(
    ("fixed_batch", "max_batch", "count"),
    [(4, 8, 2), (4, 8, 7), (1, 8, 3), (None, 8, 8), (None, 8, 1)],
)
def test_fixed_batches_are_padded_and_chunked(tmp_path, fixed_batch, max_batch, count):
    output = yolo_output([(50, 60, 20, 40, 1, 0.8)], classes=3)
    image = (fixed_batch or "batch", 3, 320, 320)
    path = constant_detector(tmp_path / "m.onnx", {"output0": output}, image, ULTRALYTICS_YOLO)
    ours, _ = backends(path, max_batch)
    result = ours.infer(np.zeros((count, 320, 320, 3), np.uint8))
    np.testing.assert_array_equal(result["output0"], np.repeat(output, count, axis=0))
    with pytest.raises(ValueError, match=rf"this model takes 1\.\.{max_batch}"):
        ours.infer(np.zeros((max_batch + 1, 320, 320, 3), np.uint8))


def test_an_operator_it_lacks_is_named_at_load(tmp_path):
    model = onnx.load(str(DEMO_MODEL))
    for node in model.graph.node:
        if node.op_type == "Sigmoid":
            node.op_type = "Selu"  # valid ONNX, not implemented here
    path = tmp_path / "selu.onnx"
    onnx.save(model, str(path))
    with pytest.raises(
        UnsupportedGraph, match=r"operators not implemented by the torch backend: Selu \(x67\)"
    ):
        OnnxTorchGraph(model, torch.device("cpu"), torch.float32)
    with pytest.raises(
        ModelLoadError, match=r"selu\.onnx: operators not implemented .*; use backend onnxruntime"
    ):
        backends(path, 4)


def test_an_old_opset_is_refused():
    model = one_node("Relu", {"a": floats(3)})
    model.opset_import[0].version = 11
    with pytest.raises(UnsupportedGraph, match="opset 11: re-export the model with opset 13"):
        OnnxTorchGraph(model, torch.device("cpu"), torch.float32)


def test_a_file_changed_since_the_site_started_is_refused(tmp_path):
    output = yolo_output([(50, 60, 20, 40, 1, 0.8)], classes=3)
    image = ("batch", 3, 256, 256)  # the demo's is 320x320
    path = constant_detector(tmp_path / "m.onnx", {"output0": output}, image, ULTRALYTICS_YOLO)
    planned = read_model_spec(ModelConfig(path=DEMO_MODEL))
    with pytest.raises(ModelLoadError, match="the file changed since the site started"):
        TorchBackend(ModelConfig(path=path), planned, TorchConfig(device="cpu"), 4)


def test_cuda_asked_for_without_a_gpu_is_refused():
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is here: test_fp16_on_cuda covers it")
    model = ModelConfig(path=DEMO_MODEL)
    with pytest.raises(
        ModelLoadError, match=r"torch\.device is cuda but this PyTorch .* sees no CUDA GPU"
    ):
        TorchBackend(model, read_model_spec(model), TorchConfig(device="cuda"), 4)


@pytest.mark.gpu
def test_fp16_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here (torch.cuda.is_available() is False)")
    model = ModelConfig(path=DEMO_MODEL)
    spec = read_model_spec(model)
    ours = TorchBackend(model, spec, TorchConfig(device="cuda"), 8)
    reference = OnnxRuntimeBackend(model, spec, OnnxRuntimeConfig(), 8)
    frames = letterboxed(8, 320)
    got, want = ours.infer(frames)["output0"], reference.infer(frames)["output0"]
    assert ours.name == "torch cuda fp16"
    assert np.abs(got[:, :4] - want[:, :4]).max() <= 2.0  # boxes, input pixels
    assert np.abs(got[:, 4:] - want[:, 4:]).max() <= 0.02  # class scores


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT_S)  # the first use builds the exports
@pytest.mark.parametrize("model", ["yolo11n", "rtdetr-l"])
def test_ultralytics_exports_match_onnx_runtime(ultralytics_exports, model):
    """Random-weight exports built from Ultralytics' .yaml (tests/export/ultralytics). RT-DETR's
    300 queries are ordered by scores that tie to 1e-7, so rows are compared as sets."""
    ours, reference = backends(ultralytics_exports.onnx(model, "dynamic"), 2)
    size = ours.spec.input_width
    frames = letterboxed(2, size)
    name = ours.spec.layout.outputs[0]
    got, want = ours.infer(frames)[name], reference.infer(frames)[name]
    assert got.shape == want.shape
    if model.startswith("rtdetr"):
        got, want = (np.sort(rows.reshape(2, -1, rows.shape[-1]), axis=1) for rows in (got, want))
    # float32 both: summation order differs, so large random-weight boxes differ in the 7th digit
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-3)


SITE = """\
site: torchsite
output_dir: {run_dir}
models:
  - name: person
    path: {model}
    backend: torch
    classes: [person]
  - name: ppe
    path: {model}
    backend: auto
    classes: [helmet, vest]
torch: {{device: cpu, threads: 1}}
inference: {{max_batch: 2, max_wait_ms: 20}}
recording: {{enabled: false}}
cameras:
  - id: CAM1
    source: {{kind: synthetic, seed: 20003, width: 640, height: 360, fps: 5}}
  - id: CAM2
    source: {{kind: synthetic, seed: 20004, width: 640, height: 360, fps: 5}}
"""


def answered(run_dir: Path) -> list[dict]:
    path = run_dir / "detections.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.endswith("}")]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_site_runs_on_the_torch_backend_and_auto_says_why(tmp_path):
    """The torch backend through the inference process; on a machine without TensorRT, auto
    takes ONNX Runtime and the log says so. Runs until both cameras have answers (importing
    torch in a spawned process takes tens of seconds on two busy cores), then Ctrl-C."""
    run_dir = tmp_path / "run"
    site = tmp_path / "site.yaml"
    site.write_text(SITE.format(run_dir=run_dir, model=DEMO_MODEL))
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.run", str(site), "--duration", "240", "--no-dashboard"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline and process.poll() is None:
            cameras = {record["camera"] for record in answered(run_dir) if record["detections"]}
            if cameras == {"CAM1", "CAM2"}:
                break
            time.sleep(1)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = (run_dir / "pipeline.log").read_text()
    assert process.returncode == 0, output[-3000:] + log[-3000:]
    assert "Model ready: person: ppe-demo.onnx" in log and "on torch cpu fp32" in log
    assert "ppe: backend auto chose auto ort cpu: TensorRT is not installed" in log
    records = answered(run_dir)
    assert {r["camera"] for r in records if r["detections"]} == {"CAM1", "CAM2"}, log[-3000:]
    assert "person" in {d["model"] for r in records for d in r["detections"]}
