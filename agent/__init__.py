"""Edge inspection agent: multi-sensor streams in, fused MQTT alarms out."""

import os

# numpy's BLAS (OpenBLAS) on one thread, unless the environment says otherwise; set here, before
# numpy is first imported. The agent's products are small (a mel filterbank over a second of
# sound, a window of registers) and run beside ONNX Runtime's own threads: OpenBLAS waking its
# threads for each one made a sound clip's MFCC 5x slower on two busy cores (7.8 ms against
# 1.5 ms) and an episode replay 1.5x slower, with results bit for bit the same.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# OpenCV decodes an image of up to 2^30 pixels: a 1 MB PNG of 20,000 x 20,000 then takes 1.2 GB
# (frames from files are untrusted input). 2^26 pixels (67 Mpx, 8K by 8K) is past any camera's;
# read by OpenCV when it is first imported, so set here.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(2**26))

__version__ = "0.1.0"
