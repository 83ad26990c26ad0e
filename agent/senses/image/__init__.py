"""The image sense: an RGB camera judged by the YOLOv8 defect detector."""
