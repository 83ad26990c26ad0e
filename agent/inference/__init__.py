"""Scorers: turn one preprocessed Sample into a Score through an ONNX model (or a rule)."""
