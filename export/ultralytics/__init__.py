"""Ultralytics checkpoints (RT-DETR, YOLOv8/11, YOLO-World-v2) to the ONNX files the runtime
loads: `python -m export ultralytics ...` in the export venv (requirements-export.txt).

Modules: `exporting` (load, bake prompts, export, write metadata), `parity` (ONNX Runtime
against the source model), `world` (YOLO-World prompts), `metadata` (the `vigia_*` keys, no
torch needed), `environment` (is this the export venv), `cli`.
"""
