"""INT8 calibration frames: chosen evenly, letterboxed as the rings hold them, cached under a
name that changes with anything they were made from."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engines.calibration import (
    CalibrationError,
    cached_frames,
    choose_frames,
    prepare_frames,
    qdq_onnx_file,
    set_id,
    tensorrt_cache_file,
)
from pipeline.infer.letterbox import Letterbox


def write_frames(folder, count, size=(64, 48)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count)
    for index in range(count):
        image = rng.integers(0, 255, (size[1], size[0], 3), np.uint8)
        cv2.imwrite(str(folder / f"{index:03d}.png"), image)
    return folder


@pytest.mark.parametrize(
    ("available", "count", "picked"), [(20, 5, [0, 5, 10, 14, 19]), (9, 50, list(range(9)))]
)
def test_frames_are_spread_over_the_folder(tmp_path, available, count, picked):
    folder = write_frames(tmp_path / "frames", available)
    (folder / "notes.txt").write_text("not a frame")
    chosen = choose_frames(folder, count)
    assert [int(path.stem) for path in chosen] == picked


@pytest.mark.parametrize(
    ("frames", "message"),
    [(None, "is not a folder; put a few hundred frames"), (3, "has 3 frames .* at least 8")],
)
def test_too_few_frames_are_refused(tmp_path, frames, message):
    folder = tmp_path / "frames"
    if frames is not None:
        write_frames(folder, frames)
    with pytest.raises(CalibrationError, match=message):
        choose_frames(folder, 100)


def test_frames_are_letterboxed_like_the_rings(tmp_path):
    folder = write_frames(tmp_path / "frames", 8, size=(64, 48))
    files = choose_frames(folder, 8)
    prepared = prepare_frames(files, (32, 32), stretch=False)
    assert prepared.shape == (8, 32, 32, 3) and prepared.dtype == np.uint8
    expected = Letterbox.fit(64, 48, 32, 32).apply(cv2.imread(str(files[0])))
    np.testing.assert_array_equal(prepared[0], expected)
    stretched = prepare_frames(files[:1], (32, 32), stretch=True)
    np.testing.assert_array_equal(
        stretched[0], Letterbox.stretch(64, 48, 32, 32).apply(cv2.imread(str(files[0])))
    )


def test_an_unreadable_frame_is_named(tmp_path):
    folder = write_frames(tmp_path / "frames", 8)
    (folder / "008.png").write_bytes(b"not a png")
    with pytest.raises(CalibrationError, match=r"008\.png: not an image OpenCV can read"):
        prepare_frames(choose_frames(folder, 9), (32, 32), stretch=False)


def test_the_set_id_follows_files_size_and_resize_mode(tmp_path):
    folder = write_frames(tmp_path / "frames", 8)
    files = choose_frames(folder, 8)
    base = set_id(files, folder, (320, 320), False)
    assert set_id(files, folder, (320, 320), False) == base
    assert set_id(files, folder, (640, 640), False) != base
    assert set_id(files, folder, (320, 320), True) != base
    assert set_id(files[:-1], folder, (320, 320), False) != base
    cv2.imwrite(str(files[3]), np.zeros((48, 64, 3), np.uint8))
    assert set_id(files, folder, (320, 320), False) != base


def test_prepared_frames_are_cached_by_set(tmp_path):
    folder = write_frames(tmp_path / "frames", 8)
    engines = tmp_path / "engines"
    identity, frames = cached_frames(engines, "ppe-demo", folder, 8, (32, 32), False)
    cache = engines / "calibration" / f"ppe-demo.{identity}.frames.npy"
    assert cache.is_file()
    np.testing.assert_array_equal(np.load(cache), frames)
    again_identity, again = cached_frames(engines, "ppe-demo", folder, 8, (32, 32), False)
    assert again_identity == identity
    np.testing.assert_array_equal(again, frames)
    other_identity, _ = cached_frames(engines, "ppe-demo", folder, 8, (64, 64), False)
    assert other_identity != identity
    assert len(list((engines / "calibration").glob("*.frames.npy"))) == 2


def test_tensorrt_and_modelopt_caches_are_named_after_their_versions(tmp_path):
    sha = "0123456789ab" + "f" * 52
    trt10 = tensorrt_cache_file(tmp_path, "ppe-demo", "abcd", "10.16.0.72", sha)
    assert trt10.name == "ppe-demo.abcd.trt10.16.0.72.onnx0123456789ab.calib"
    assert tensorrt_cache_file(tmp_path, "ppe-demo", "abcd", "10.3.0.26", sha) != trt10
    qdq = qdq_onnx_file(tmp_path, "ppe-demo", "abcd", "0.47.0", sha)
    assert qdq.name == "ppe-demo.abcd.modelopt0.47.0.onnx0123456789ab.qdq.onnx"
    assert qdq.parent == tmp_path / "calibration"
