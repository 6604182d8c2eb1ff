import numpy as np
import pytest

from pipeline.infer.letterbox import PAD_VALUE, Letterbox


@pytest.mark.parametrize(
    ("src", "dst", "new", "pad"),
    [
        ((640, 360), (320, 320), (320, 180), (0, 70)),  # landscape: padding top and bottom
        ((360, 640), (320, 320), (180, 320), (70, 0)),  # portrait: padding left and right
        ((1920, 1080), (640, 640), (640, 360), (0, 140)),
        ((320, 320), (320, 320), (320, 320), (0, 0)),  # already the right size
        ((100, 50), (320, 320), (320, 160), (0, 80)),  # upscaling
    ],
)
def test_fit_geometry(src, dst, new, pad):
    lb = Letterbox.fit(*src, *dst)
    assert (lb.new_w, lb.new_h) == new
    assert (lb.pad_x, lb.pad_y) == pad


@pytest.mark.parametrize(
    ("src", "box_original"),
    [
        ((640, 360), [10.0, 20.0, 110.0, 220.0]),
        ((360, 640), [5.0, 300.0, 355.0, 640.0]),
        ((1280, 720), [0.0, 0.0, 1280.0, 720.0]),
        ((1920, 1080), [960.0, 540.0, 1000.0, 600.0]),
    ],
)
def test_boxes_round_trip_exactly(src, box_original):
    lb = Letterbox.fit(*src, 320, 320)
    box = np.array([box_original], dtype=np.float32)
    np.testing.assert_allclose(lb.to_original(lb.to_input(box)), box, atol=1e-3)


def test_to_original_known_values_and_clipping():
    lb = Letterbox.fit(640, 360, 320, 320)  # scale 0.5, pad_y 70
    boxes = np.array([[0, 70, 160, 160], [-10, 0, 330, 330]], dtype=np.float32)
    np.testing.assert_allclose(
        lb.to_original(boxes), [[0, 0, 320, 180], [0, 0, 640, 360]], atol=1e-4
    )


def test_apply_pads_and_places_image():
    frame = np.full((360, 640, 3), 7, dtype=np.uint8)
    lb = Letterbox.fit(640, 360, 320, 320)
    out = np.zeros((320, 320, 3), dtype=np.uint8)
    result = lb.apply(frame, out=out)
    assert result is out
    assert (out[:70] == PAD_VALUE).all() and (out[250:] == PAD_VALUE).all()
    assert (out[70:250] == 7).all()


def test_apply_portrait_pads_sides():
    frame = np.full((640, 360, 3), 200, dtype=np.uint8)
    out = Letterbox.fit(360, 640, 320, 320).apply(frame)
    assert (out[:, :70] == PAD_VALUE).all() and (out[:, 250:] == PAD_VALUE).all()
    assert (out[:, 70:250] == 200).all()


def test_apply_rejects_wrong_frame_size():
    lb = Letterbox.fit(640, 360, 320, 320)
    with pytest.raises(ValueError, match="expected a 640x360 frame, got 320x240"):
        lb.apply(np.zeros((240, 320, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("src", "dst"),
    [((1920, 1080), 640), ((1920, 1080), 320), ((1281, 719), 320), ((1281, 719), 640)],
)
def test_shrinking_averages_instead_of_aliasing(src, dst):
    """One-pixel stripes (a far vest's reflective band, a fence) shrunk 3:1 or 6:1 must turn
    grey: a resize that samples instead of averaging keeps them black or white at random."""
    frame = np.zeros((src[1], src[0], 3), dtype=np.uint8)
    frame[:, ::2] = 255
    lb = Letterbox.fit(*src, dst, dst)
    inner = lb.apply(frame)[lb.pad_y : lb.pad_y + lb.new_h, lb.pad_x : lb.pad_x + lb.new_w]
    assert np.abs(inner.astype(int) - 128).max() <= 32
