"""INT8 calibration frames: chosen from a folder, letterboxed as the rings hold them, cached.

Everything cached is named after what it was made from, so nothing is reused across a change:
- the frames, letterboxed to the model input (`<stem>.<set id>.frames.npy`): the set id hashes
  the chosen files' names and bytes, the input size and the resize mode;
- TensorRT 10's calibration cache (`<stem>.<set id>.trt<version>.onnx<sha>.calib`): scales
  are valid only for the TensorRT version and the graph that produced them;
- ModelOpt's Q/DQ ONNX (`<stem>.<set id>.modelopt<version>.onnx<sha>.qdq.onnx`).
All live in `<engine_dir>/calibration/`.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from pipeline.infer.letterbox import Letterbox

logger = logging.getLogger(__name__)

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
MIN_FRAMES = 8
# Part of every set id: a change to how frames are prepared invalidates every cache.
PREPARATION_VERSION = "letterbox-bgr-u8-1"


class CalibrationError(ValueError):
    """The calibration frames cannot be had; says which folder and what to put in it."""


def choose_frames(folder: Path, count: int) -> list[Path]:
    """`count` frames spread evenly over the folder's images in name order (all of them
    when there are fewer)."""
    if not folder.is_dir():
        raise CalibrationError(
            f"tensorrt.calibration_frames: {folder} is not a folder; put a few hundred frames "
            "from the site's cameras there (.jpg or .png)"
        )
    files = sorted(path for path in folder.rglob("*") if path.suffix.lower() in FRAME_SUFFIXES)
    if len(files) < MIN_FRAMES:
        raise CalibrationError(
            f"tensorrt.calibration_frames: {folder} has {len(files)} frames (.jpg, .png); "
            f"int8 calibration needs at least {MIN_FRAMES}, a few hundred is usual"
        )
    if len(files) <= count:
        return files
    picks = np.linspace(0, len(files) - 1, count).round().astype(int)
    return [files[index] for index in picks]


def set_id(files: list[Path], root: Path, input_size: tuple[int, int], stretch: bool) -> str:
    """16 hex digits naming the calibration set: files (relative names and bytes), the input
    (width, height) in pixels, the resize mode and how frames are prepared."""
    digest = hashlib.sha256(PREPARATION_VERSION.encode())
    digest.update(f"{input_size[0]}x{input_size[1]} stretch={stretch}".encode())
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def prepare_frames(files: list[Path], input_size: tuple[int, int], stretch: bool) -> np.ndarray:
    """(N, H, W, 3) uint8 BGR, each file letterboxed (or stretched) to `input_size`
    (width, height) as the camera processes write them into the rings."""
    import cv2

    width, height = input_size
    frames = np.empty((len(files), height, width, 3), np.uint8)
    for index, path in enumerate(files):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise CalibrationError(f"{path}: not an image OpenCV can read")
        fit = Letterbox.stretch if stretch else Letterbox.fit
        fit(image.shape[1], image.shape[0], width, height).apply(image, out=frames[index])
    return frames


def calibration_dir(engine_dir: Path) -> Path:
    return engine_dir / "calibration"


def cached_frames(
    engine_dir: Path,
    stem: str,
    folder: Path,
    count: int,
    input_size: tuple[int, int],
    stretch: bool,
) -> tuple[str, np.ndarray]:
    """(set id, frames): read from the cache when this very set was prepared before."""
    files = choose_frames(folder, count)
    identity = set_id(files, folder, input_size, stretch)
    cache = calibration_dir(engine_dir) / f"{stem}.{identity}.frames.npy"
    if cache.is_file():
        frames = np.load(cache)
        logger.info(
            "Calibration frames: %d from %s (set %s, cached)", len(frames), folder, identity
        )
        return identity, frames
    frames = prepare_frames(files, input_size, stretch)
    cache.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache.with_name(cache.name + ".tmp.npy")
    np.save(temporary, frames)
    temporary.replace(cache)
    logger.info("Calibration frames: %d from %s (set %s, prepared)", len(frames), folder, identity)
    return identity, frames


def tensorrt_cache_file(
    engine_dir: Path, stem: str, identity: str, tensorrt_version: str, onnx_sha256: str
) -> Path:
    name = f"{stem}.{identity}.trt{tensorrt_version}.onnx{onnx_sha256[:12]}.calib"
    return calibration_dir(engine_dir) / name


def qdq_onnx_file(
    engine_dir: Path, stem: str, identity: str, modelopt_version: str, onnx_sha256: str
) -> Path:
    name = f"{stem}.{identity}.modelopt{modelopt_version}.onnx{onnx_sha256[:12]}.qdq.onnx"
    return calibration_dir(engine_dir) / name
