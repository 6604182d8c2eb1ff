"""TensorRT engine building (`make engines`): ONNX in, serialized engine plus manifest out."""
