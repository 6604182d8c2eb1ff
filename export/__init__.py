"""Model export: checkpoints to ONNX, and the demo detector trained on synthetic scenes."""
