"""INT8 calibration frames captured from the site's own cameras, for a site whose
`tensorrt.calibration_frames` names no folder.

Each camera's source is opened with the pipeline's own code (pipeline/camera/sources.py: files,
the synthetic worksite, RTSP/HTTP, USB, GStreamer) and `calibration_capture.per_camera` frames
are kept, spread evenly over `spread_s` seconds of the stream's own time (a file or the
synthetic scene is read as fast as it decodes, a live camera at its own pace). They are written
as JPEG files to `<engine_dir>/calibration/cameras-<key>/<camera id>/`, a folder that is then
used like a folder of frames (engines/calibration.py chooses, letterboxes, caches and versions
them by their bytes).

`<key>` hashes what was asked for: the cameras' ids and sources, the frames per camera and the
spread. A capture is kept until one of those changes: a live camera never gives the same frames
twice, so capturing again at every build would make every int8 engine stale. Delete the folder
to capture anew.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engines.calibration import CalibrationError, calibration_dir
from engines.progress import BuildProgress
from engines.targets import EngineTarget
from pipeline.config.backends import CalibrationCapture
from pipeline.config.sources import CameraConfig, LiveSource

logger = logging.getLogger(__name__)

# Part of every key: a change to how frames are captured and stored starts a new capture.
CAPTURE_VERSION = "jpeg95-1"
JPEG_QUALITY = 95
CAPTURE_PHASE = "Calibration frames from the cameras"


def capture_key(cameras: Sequence[CameraConfig], settings: CalibrationCapture) -> str:
    """12 hex digits naming a capture: each camera's id and source as configured (secrets stay
    `${NAME}` templates), the frames per camera and the spread in seconds."""
    digest = hashlib.sha256(CAPTURE_VERSION.encode())
    digest.update(f"{settings.per_camera} {settings.spread_s!r}".encode())
    for camera in cameras:
        digest.update(camera.id.encode())
        digest.update(camera.source.model_dump_json().encode())
    return digest.hexdigest()[:12]


def capture_folder(
    engine_dir: Path, cameras: Sequence[CameraConfig], settings: CalibrationCapture
) -> Path:
    return calibration_dir(engine_dir) / f"cameras-{capture_key(cameras, settings)}"


def frames_folder(target: EngineTarget) -> Path:
    """Where `target`'s calibration frames are: the site's folder, else its cameras' capture
    (which may not have been made yet)."""
    settings = target.settings
    if settings.calibration_frames is not None:
        return settings.calibration_frames
    return capture_folder(settings.engine_dir, target.cameras, settings.calibration_capture)


def ready_frames_folder(target: EngineTarget, progress: BuildProgress | None) -> Path:
    """`frames_folder(target)`, captured from the cameras first when it has not been."""
    folder = frames_folder(target)
    if target.settings.calibration_frames is None and not folder.is_dir():
        capture_frames(target.cameras, target.settings.calibration_capture, folder, progress)
    return folder


def capture_frames(
    cameras: Sequence[CameraConfig],
    settings: CalibrationCapture,
    folder: Path,
    progress: BuildProgress | None = None,
) -> Path:
    """Read `settings.per_camera` frames from each camera into `folder/<camera id>/`. The
    folder appears whole or not at all; CalibrationError names a camera that cannot give its
    frames. `progress` hears one phase whose steps are the frames kept."""
    work = folder.with_name(folder.name + ".partial")
    if work.exists():
        shutil.rmtree(work)  # left by a capture that was interrupted
    total = settings.per_camera * len(cameras)
    logger.info(
        "Capturing %d calibration frames from %d camera(s) into %s", total, len(cameras), folder
    )
    if progress is not None:
        progress.phase_start(CAPTURE_PHASE, None, total)
    kept = 0
    try:
        for camera in cameras:
            camera_folder = work / camera.id
            camera_folder.mkdir(parents=True)
            for image in spread_frames(camera, settings):
                _write_jpeg(camera_folder / f"{kept:05d}.jpg", image)
                if progress is not None:
                    progress.step_complete(CAPTURE_PHASE, kept)
                kept += 1
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        if progress is not None:
            progress.phase_finish(CAPTURE_PHASE)
    work.rename(folder)
    return folder


def spread_frames(camera: CameraConfig, settings: CalibrationCapture) -> list[np.ndarray]:
    """`settings.per_camera` BGR frames (original resolution) of `camera`, one every
    spread_s / (per_camera - 1) seconds of the stream's timestamps from its first frame.
    A file that ends first gives what it had; a live camera that sends nothing for its
    `stall_timeout` is a CalibrationError."""
    from pipeline.camera.sources import SourceError, describe_source, open_source

    source_config = camera.source
    where = f"calibration capture: camera {camera.id} ({describe_source(source_config)})"
    fallback = "; or set tensorrt.calibration_frames to a folder of frames from it"
    wanted = settings.per_camera
    interval = settings.spread_s / (wanted - 1)
    stall = source_config.stall_timeout if isinstance(source_config, LiveSource) else None
    started = time.monotonic()
    kept: list[np.ndarray] = []
    try:
        source = open_source(source_config, camera.id)
    except SourceError as error:
        raise CalibrationError(f"{where}: {error}{fallback}") from None
    try:
        first_pts: float | None = None
        last_frame_at = time.monotonic()
        while len(kept) < wanted:
            try:
                frame = source.read()
            except SourceError as error:
                raise CalibrationError(f"{where}: {error}{fallback}") from None
            now = time.monotonic()
            if frame is None:
                if not source.live:
                    break  # a file that has ended (loop: false)
                if stall is not None and now - last_frame_at > stall:
                    raise CalibrationError(
                        f"{where}: no frame for {stall:g} s (its stall_timeout), {len(kept)} of "
                        f"{wanted} kept{fallback}"
                    )
                continue
            last_frame_at = now
            if first_pts is None:
                first_pts = frame.pts
            # A small tolerance: timestamps that are multiples of the interval must count.
            if frame.pts - first_pts >= len(kept) * interval - 1e-6:
                kept.append(frame.image)
    finally:
        source.close()
    if not kept:
        raise CalibrationError(f"{where}: the source gave no frame{fallback}")
    if len(kept) < wanted:
        logger.warning("%s: the source ended after %d of %d frames", where, len(kept), wanted)
    logger.info(
        "Calibration frames: %d from %s in %.1f s", len(kept), camera.id, time.monotonic() - started
    )
    return kept


def _write_jpeg(path: Path, image: np.ndarray) -> None:
    import cv2

    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise CalibrationError(f"calibration capture: cannot write {path}")
