"""The temperature sense: an infrared camera calibrated to degrees Celsius."""
