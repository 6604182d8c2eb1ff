"""The demo PPE detector: a small YOLO-style network trained on synthetic worksite scenes.

Training (`train`) needs torch; evaluation (`evaluate`, `metrics`) and the shipped ONNX model
use only the runtime's own code (ONNX Runtime, letterbox, preprocessing, decoding).
"""

CLASS_NAMES = ("person", "helmet", "vest")
INPUT_SIZE = 320  # square model input, pixels
DEFAULT_ONNX = "models/demo/ppe-demo.onnx"
