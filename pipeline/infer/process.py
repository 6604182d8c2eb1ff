"""The inference process's main loop: gather -> copy (checked) -> run every model -> decode ->
answer each camera with every model's detections."""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from pipeline.config.backends import Backend
from pipeline.config.models import SiteConfig
from pipeline.detections import Detections
from pipeline.infer.backends import InferenceBackend, ModelLoadError
from pipeline.infer.batcher import Batcher
from pipeline.infer.layouts import Layout, decode
from pipeline.infer.letterbox import Letterbox
from pipeline.infer.site_models import SiteModel, SiteModels
from pipeline.infer.stages import StageClock
from pipeline.lifecycle import ExitCode, StopFlag, install_stop_signals
from pipeline.logs import log_to_supervisor
from pipeline.metering import WindowMeter
from pipeline.shm.board import BoardRow
from pipeline.shm.layout import INFERENCE_ROW, SiteLayout
from pipeline.shm.ring import FrameMeta

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InferenceTask:
    site: SiteConfig
    layout: SiteLayout
    models: SiteModels  # what the supervisor read from the model files and sized the rings for
    site_file: Path  # the site's YAML, named in messages that say what command fixes an engine


def inference_main(task: InferenceTask, log_pipe: Connection) -> None:
    """Process entry point (spawn target)."""
    log_to_supervisor(log_pipe)
    stop = install_stop_signals()
    try:
        code = InferenceWorker(task, stop).run()
    except ModelLoadError as error:
        logger.error("%s", error)
        code = ExitCode.MODEL
    except Exception:
        logger.exception("Inference Worker crashed")
        code = ExitCode.CRASHED
    sys.exit(int(code))


def load_backend(
    site: SiteConfig, model: SiteModel, site_file: Path
) -> tuple[InferenceBackend, str]:
    """The model's backend, loaded, and why it is that one: auto's few words (e.g. "engine
    stale: ONNX changed"), empty when the site names the backend."""
    # Each backend's module is imported only when a model asks for it (TensorRT, torch).
    backend, max_batch = model.config.backend, site.inference.max_batch
    if backend is Backend.ONNXRUNTIME:
        from pipeline.infer.backends.onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(model.config, model.spec, site.onnxruntime, max_batch), ""
    if backend is Backend.TENSORRT:
        from pipeline.infer.backends.tensorrt import TensorRtBackend

        return TensorRtBackend(site, model.config, model.spec, max_batch, site_file), ""
    if backend is Backend.TORCH:
        from pipeline.infer.backends.torch_backend import TorchBackend

        return TorchBackend(model.config, model.spec, site.torch, max_batch), ""
    if backend is Backend.AUTO:
        from pipeline.infer.backends.selection import load_auto

        loaded, choice = load_auto(site, model.config, model.spec, site_file)
        return loaded, choice.summary
    raise ModelLoadError(f"backend {backend.value} is not available in this build")


def frame_letterbox(meta: FrameMeta, view_width: int, view_height: int) -> Letterbox:
    """The letterbox (or stretch) the camera used for that very frame (its size may change
    mid-stream), from the frame's ring header."""
    return Letterbox(
        src_w=meta.orig_w,
        src_h=meta.orig_h,
        dst_w=view_width,
        dst_h=view_height,
        new_w=round(meta.scale_x * meta.orig_w),
        new_h=round(meta.scale_y * meta.orig_h),
        pad_x=meta.pad_x,
        pad_y=meta.pad_y,
    )


class ModelRunner:
    """One model of the site: answers a batch of its view in site terms (boxes in
    original-frame pixels, site-wide class ids, its model index).

    Models that are the same file on the same backend (one detector split by class filters)
    share one loaded backend, run once per batch: `outputs` caches that run.
    """

    def __init__(
        self, model: SiteModel, backend: InferenceBackend, row: BoardRow, why: str = ""
    ) -> None:
        """`why`: auto's reason for the backend, for the dashboard ("" for a named one)."""
        self.model = model
        self.backend = backend
        self.row = row
        self._lookup = model.site_class_ids()
        spec = model.spec
        self._size = (spec.input_width, spec.input_height)
        # YOLO scores compete per cell: keep only the wanted classes' rows before decoding, so
        # a person is never lost to a dropped class that scored higher in the same cell.
        self._yolo_rows: np.ndarray | None = None
        if spec.layout.layout is Layout.YOLO and len(model.kept) < len(spec.class_names):
            self._yolo_rows = np.array([0, 1, 2, 3, *(4 + k for k in model.kept)])
            self._lookup = model.class_offset + np.arange(len(model.kept), dtype=np.int32)
        self._latency = WindowMeter()
        self._images = WindowMeter()
        row.backend = backend.name
        row.backend_reason = why

    def answer(self, outputs: dict[str, np.ndarray], metas: list[FrameMeta]) -> list[Detections]:
        if self._yolo_rows is not None:
            name = self.model.spec.layout.outputs[0]
            outputs = {name: outputs[name][:, self._yolo_rows]}
        letterboxes = [frame_letterbox(meta, *self._size) for meta in metas]
        content = [
            (lb.pad_x, lb.pad_y, lb.pad_x + lb.new_w, lb.pad_y + lb.new_h) for lb in letterboxes
        ]
        config = self.model.config
        decoded = decode(
            self.model.spec.layout,
            outputs,
            config.conf_threshold,
            config.iou_threshold,
            config.max_detections,
            input_size=self._size,
            content=content,
        )
        answers = []
        for detections, letterbox in zip(decoded, letterboxes, strict=True):
            site_ids = self._lookup[detections.class_id]
            kept = detections[site_ids >= 0]
            answers.append(
                kept.replace(
                    xyxy=letterbox.to_original(kept.xyxy),
                    class_id=site_ids[site_ids >= 0],
                    model_index=np.full(len(kept), self.model.index, dtype=np.int32),
                )
            )
        return answers

    def note(self, batch_ms: float, images: int) -> None:
        """One batch answered: `batch_ms` its model run and decoding, milliseconds."""
        self._latency.add(batch_ms)
        self._images.add(count=images)

    def publish(self, now: float) -> None:
        if self._latency.roll(now):
            self._images.roll(now)
            self.row.infer_ms = self._latency.mean
            self.row.images_per_s = self._images.rate
            self.row.updated = now


class InferenceWorker:
    def __init__(self, task: InferenceTask, stop: StopFlag) -> None:
        self.task = task
        self.stop = stop
        site, layout = task.site, task.layout
        self.board = layout.attach_board()
        self.row = self.board.row(INFERENCE_ROW)
        # rings[camera][view]; the batcher watches view 0, published last by the camera.
        self.rings = [layout.attach_frame_rings(camera) for camera in range(layout.cameras)]
        self.results = [layout.attach_results(camera) for camera in range(layout.cameras)]
        self.max_batch = site.inference.max_batch
        self.batcher = Batcher(
            [rings[0] for rings in self.rings], self.max_batch, site.inference.max_wait_ms / 1000
        )
        self.images = [
            np.empty((self.max_batch, view.height, view.width, 3), np.uint8)
            for view in layout.views
        ]
        self.batches = WindowMeter()

    def run(self) -> ExitCode:
        models = self.task.models.models
        logger.info(
            "Inference Worker started (pid %d), loading %s",
            os.getpid(),
            ", ".join(f"{model.name} ({model.config.path})" for model in models),
        )
        runners: list[ModelRunner] = []
        loaded: dict[tuple[Path, Backend], tuple[InferenceBackend, str]] = {}
        try:
            # No heartbeat while loading: the supervisor gives a STARTING process its
            # startup allowance (an engine may take minutes), not the heartbeat timeout.
            for model in models:
                key = (model.config.path.resolve(), model.config.backend)
                if key not in loaded:
                    loaded[key] = load_backend(self.task.site, model, self.task.site_file)
                backend, why = loaded[key]
                row = self.board.row(self.task.layout.model_row(model.index))
                runners.append(ModelRunner(model, backend, row, why))
                logger.info("Model ready: %s on %s", model.spec.describe(), backend.name)
            self.row.backend = runners[0].backend.name
            logger.info(
                "Models ready: %d on %d loaded backend(s), batches of up to %d frames",
                len(runners),
                len(loaded),
                self.max_batch,
            )
            self.clock = StageClock(self.task.site.inference.report_interval, time.monotonic())
            while not self.stop.requested:
                started = time.monotonic()
                self.row.heartbeat = started
                picks = self.batcher.gather(lambda: self.stop.requested)
                now = time.monotonic()
                self.clock.waiting += now - started
                if picks:
                    self._run_batch(runners, picks)
                now = time.monotonic()
                self._publish_rates(now, runners)
                if self.clock.report_due(now):
                    logger.info("%s", self.clock.report(now))
        finally:
            for backend, _ in loaded.values():
                backend.close()
        logger.info("Inference Worker stopped")
        return ExitCode.OK

    def _run_batch(self, runners: list[ModelRunner], picks: list) -> None:
        clock = self.clock
        started = time.perf_counter()
        cameras: list[int] = []
        metas: list[list[FrameMeta]] = [[] for _ in self.images]  # per view
        for pick in picks:
            index = len(cameras)
            read = [
                ring.read_into(pick.slot, self.images[view][index])
                for view, ring in enumerate(self.rings[pick.camera])
            ]
            if any(meta is None or meta.seq != pick.seq for meta in read):
                self.row.torn_reads += 1  # overwritten while we copied: drop, never guess
                continue
            cameras.append(pick.camera)
            for view, meta in enumerate(read):
                assert meta is not None
                metas[view].append(meta)
        self.row.dropped_stale = self.batcher.superseded
        copied = time.perf_counter()
        clock.add("copy", copied - started)
        if not cameras:
            return
        count = len(cameras)
        runs: dict[int, tuple[dict[str, np.ndarray], float]] = {}  # per backend: outputs, ms
        per_model = []
        for runner in runners:
            view = runner.model.view
            backend = runner.backend
            shared = runs.get(id(backend))
            if shared is None:
                run_started, preprocess_before = time.perf_counter(), backend.preprocess_seconds
                # The loop (and its heartbeat) is blocked during the call: the supervisor
                # judges the call by its start against supervisor_inference_timeout.
                self.row.model_call_started = time.monotonic()
                try:
                    outputs = backend.infer(self.images[view][:count])
                finally:
                    self.row.model_call_started = 0.0
                run_seconds = time.perf_counter() - run_started
                preprocess = backend.preprocess_seconds - preprocess_before
                clock.add("preprocess", preprocess)
                clock.add("model", run_seconds - preprocess)
                shared = runs[id(backend)] = (outputs, run_seconds * 1000)
            decode_started = time.perf_counter()
            per_model.append(runner.answer(shared[0], metas[view]))
            decode_seconds = time.perf_counter() - decode_started
            clock.add("decode", decode_seconds)
            runner.note(shared[1] + decode_seconds * 1000, count)
        answered = time.perf_counter()
        infer_ms = (answered - copied) * 1000
        for index, camera in enumerate(cameras):
            detections = Detections.concat([answers[index] for answers in per_model])
            self.results[camera].write(metas[0][index].seq, detections, count, infer_ms)
        clock.add("answer", time.perf_counter() - answered)
        clock.images += count
        self.row.batches += 1
        self.row.frames_done += count
        self.batches.add(value=count)  # one batch of `count` images
        self.row.infer_ms = infer_ms

    def _publish_rates(self, now: float, runners: list[ModelRunner]) -> None:
        for runner in runners:
            runner.publish(now)
        if self.batches.roll(now):
            self.row.batch_mean = self.batches.mean
            self.row.images_per_s = self.batches.rate * self.batches.mean
            self.row.updated = now
