"""The Chapter 23 detector: SSDLite-MobileNetV2 (a single-shot detector on a mobile backbone),
built from scratch in PyTorch and loaded from a TensorFlow frozen graph without TensorFlow.

Read top to bottom, one idea per file:

* :mod:`~companion.detection.graphdef` — the protobuf wire format; a frozen graph's weights by name
* :mod:`~companion.detection.conv_bn` — convolution + batch norm + ReLU6, TensorFlow "SAME" padding,
  batch norm folded into the convolution
* :mod:`~companion.detection.mobilenet_v2` — inverted residual blocks; the two maps SSD taps
* :mod:`~companion.detection.ssdlite` — extra layers, depthwise-separable box / class heads,
  loading the 404 weight tensors by name
* :mod:`~companion.detection.anchors` — the anchor grid (1,917 boxes at 300x300)
* :mod:`~companion.detection.box_coder` — offsets -> boxes (scales 10, 10, 5, 5)
* :mod:`~companion.detection.onnx_runtime` — the same network exported to ONNX and run by ONNX
  Runtime (the lab's default: 2-5x less CPU), "SAME" padding as ONNX's ``SAME_UPPER``
* :mod:`~companion.detection.detector` — frames in, ``supervision.Detections`` out (the lab's ``ssd``)
* :mod:`~companion.detection.motion` — detect where things move (a speed option)
* :mod:`~companion.detection.evaluate` — recall / precision against boxes drawn by hand
* :mod:`~companion.detection.opencv_reference` — the same graph run by OpenCV's DNN module (tests)
"""

from companion.detection.detector import SSDPersonDetector, load_person_ssd
from companion.detection.motion import MotionGatedDetector
from companion.detection.ssdlite import SSDLite

__all__ = ["SSDLite", "SSDPersonDetector", "MotionGatedDetector", "load_person_ssd"]
