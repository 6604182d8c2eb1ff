"""bench/gpu_check.py off the GPU: graph skeletons small and refilled to the same graph, and
a clear stop on a machine without a CUDA GPU."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from bench.gpu_check import inflate, skeleton
from tests.engines.sites import DEMO_MODEL, REPO


def test_a_skeleton_is_small_and_inflates_to_a_graph_that_runs(tmp_path):
    small = skeleton(DEMO_MODEL, tmp_path / "graphs")
    assert small.stat().st_size < DEMO_MODEL.stat().st_size / 10
    inflated = inflate(small, tmp_path)
    source, refilled = onnx.load(str(DEMO_MODEL)), onnx.load(str(inflated))
    assert [n.op_type for n in refilled.graph.node] == [n.op_type for n in source.graph.node]
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in source.graph.initializer}
    for tensor in refilled.graph.initializer:
        values, original = onnx.numpy_helper.to_array(tensor), weights[tensor.name]
        assert values.shape == original.shape and values.dtype == original.dtype
        if original.size > 4096:  # refilled: same mean and spread, other values
            assert abs(values.std() - original.std()) < 0.05 * original.std() + 1e-6
        else:
            np.testing.assert_array_equal(values, original)
    session = ort.InferenceSession(str(inflated), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {"images": np.zeros((2, 3, 320, 320), np.float32)})
    assert output.shape == (2, 7, 8500)


def test_a_full_graph_is_used_as_it_is(tmp_path):
    assert inflate(DEMO_MODEL, tmp_path) == DEMO_MODEL


def test_without_a_cuda_gpu_it_stops_at_once_saying_so():
    try:
        import torch
    except ImportError:
        pytest.fail("torch is not installed: pip install -r requirements-torch.txt", pytrace=False)
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is here: run python -m bench.gpu_check run")
    result = subprocess.run(
        [sys.executable, "-m", "bench.gpu_check", "run"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("gpu_check: no CUDA GPU visible to PyTorch")
    assert "Traceback" not in result.stderr
