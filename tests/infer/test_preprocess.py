import numpy as np
import pytest

from pipeline.infer.preprocess import to_model_input


def test_to_model_input_flips_channels_and_scales():
    images = np.zeros((2, 4, 5, 3), dtype=np.uint8)
    images[..., 0] = 255  # blue in BGR
    tensor = to_model_input(images)
    assert tensor.shape == (2, 3, 4, 5) and tensor.dtype == np.float32
    assert (tensor[:, 2] == 1.0).all() and (tensor[:, :2] == 0.0).all()


def test_to_model_input_writes_into_a_given_buffer():
    images = np.full((1, 2, 2, 3), 51, dtype=np.uint8)
    out = np.empty((3, 3, 2, 2), np.float32)
    result = to_model_input(images, out=out[:1])
    assert result.base is out or np.shares_memory(result, out)
    assert np.allclose(out[0], 0.2)
    with pytest.raises(ValueError, match=r"expected \(B, H, W, 3\) uint8 images"):
        to_model_input(np.zeros((1, 2, 2), np.uint8))
