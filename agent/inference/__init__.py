"""Model sessions without sense knowledge: ONNX Runtime and TensorRT, backend choice, batching,
model files and their metadata."""
