"""Model descriptions as real exports have them (shared/FACTS.md: ultralytics 8.4 exports of
yolo11n, yolov8s, rtdetr-l; the EfficientNMS plugin's outputs; RT-DETR's own export)."""

NAMES80 = str({i: str(i) for i in range(80)})  # a model built from a .yaml: '0'..'79'
NAMES3 = "{0: 'person', 1: 'helmet', 2: 'vest'}"
NAMES2 = "{0: 'person', 1: 'helmet'}"
DYNAMIC_IMAGES = [("images", ["batch", 3, "height", "width"])]
FIXED_IMAGES = [("images", [4, 3, 640, 640])]


def ultralytics(head=None, names=NAMES80, **extra):
    metadata = {
        "description": "Ultralytics YOLO11n model",
        "author": "Ultralytics",
        "task": "detect",
        "imgsz": "[640, 640]",
        "stride": "32",
        "names": names,
    }
    if head is not None:
        metadata["head"] = head
    metadata.update(extra)
    return metadata


NMS_ARGS = "{'batch': 4, 'dynamic': True, 'half': False, 'opset': None, 'nms': True}"
PLAIN_ARGS = "{'batch': 1, 'dynamic': False, 'half': False, 'opset': None, 'nms': False}"
EFFICIENT_NMS_OUTPUTS = [
    ("num_dets", ["batch", 1]),
    ("det_boxes", ["batch", 100, 4]),
    ("det_scores", ["batch", 100]),
    ("det_classes", ["batch", 100]),
]
ORIGINAL_RTDETR_INPUTS = [("images", ["N", 3, 640, 640]), ("orig_target_sizes", ["N", 2])]
ORIGINAL_RTDETR_OUTPUTS = [
    ("labels", ["N", 300]),
    ("boxes", ["N", 300, 4]),
    ("scores", ["N", 300]),
]
