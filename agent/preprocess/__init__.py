"""Pure numpy/OpenCV preprocessing, one module per modality."""
