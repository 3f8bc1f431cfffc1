"""An independent run of the same frozen graph: OpenCV's DNN module, for parity tests.

OpenCV cannot run the TensorFlow Object Detection API graph as it is (its pre- and
post-processing are TensorFlow control flow), but it runs the convolutional part given a *text
graph* that says which nodes to keep, and it has its own SSD layers: ``PriorBox`` (anchors) and
``DetectionOutput`` (box decoding + per-class NMS). This module writes that text graph:

1. ``cv2.dnn.writeTextGraph`` dumps the frozen graph's structure (no weights) as text;
2. the ``FeatureExtractor/`` and ``BoxPredictor_*`` computation nodes are kept, ``Identity``
   nodes bypassed and the preprocessing replaced by a placeholder (the caller feeds the network
   input, already scaled to [-1, 1]);
3. each predictor's output is flattened (NHWC order) and concatenated, the class logits go
   through a sigmoid;
4. one ``PriorBox`` per map carries the anchors' widths and heights in pixels (offset 0.5,
   variances 0.1, 0.1, 0.2, 0.2 = the box coder's 1/10, 1/10, 1/5, 1/5), and
   ``DetectionOutput`` decodes (``CENTER_SIZE``, ``loc_pred_transposed``: codes are
   ``ty, tx, th, tw``) and suppresses.

Nothing here comes from :mod:`companion.detection`'s model code: the structure is the graph's
own, the weights are read by OpenCV's own protobuf parser, and the anchors are written from the
anchor *parameters* (scales, aspect ratios) only.
"""

from __future__ import annotations

import math
import os
import re
import tempfile

import numpy as np

_KEEP_OPS = {"Conv2D", "DepthwiseConv2dNative", "FusedBatchNorm", "FusedBatchNormV3", "Relu6",
             "Add", "AddV2", "BiasAdd"}


def _blocks(text: str) -> list[str]:
    """The top-level ``node { ... }`` blocks of a text graph."""
    out, depth, start = [], 0, None
    for m in re.finditer(r"[{}]", text):
        if m.group() == "{":
            if depth == 0:
                start = text.rfind("node", 0, m.start())
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                out.append(text[start:m.end()])
    return out


def _node(name, op, inputs=(), attrs="") -> str:
    lines = [f'node {{\n  name: "{name}"\n  op: "{op}"']
    lines += [f'  input: "{i}"' for i in inputs]
    return "\n".join(lines) + ("\n" + attrs if attrs else "") + "\n}\n"


def _attr(key: str, value: str) -> str:
    return f'  attr {{\n    key: "{key}"\n    value {{\n      {value}\n    }}\n  }}'


def _floats(values) -> str:
    vals = " ".join(f"float_val: {v:.9g}" for v in values)
    return f"tensor {{ dtype: DT_FLOAT tensor_shape {{ dim {{ size: {len(values)} }} }} {vals} }}"


def anchor_sizes(unit: float, num_layers: int = 6, min_scale: float = 0.2, max_scale: float = 0.95,
                 aspect_ratios=(1.0, 2.0, 0.5, 3.0, 0.3333)) -> list[tuple[list, list]]:
    """Per map, the anchors' (widths, heights) in pixels for a scale-1 length of ``unit``."""
    scales = [min_scale + (max_scale - min_scale) * i / (num_layers - 1) for i in range(num_layers)]
    scales.append(1.0)
    out = []
    for i in range(num_layers):
        if i == 0:
            pairs = [(0.1, 1.0), (min_scale, 2.0), (min_scale, 0.5)]
        else:
            pairs = [(scales[i], r) for r in aspect_ratios] + [(math.sqrt(scales[i] * scales[i + 1]), 1.0)]
        out.append(([unit * s * math.sqrt(r) for s, r in pairs], [unit * s / math.sqrt(r) for s, r in pairs]))
    return out


def text_graph(pb_path, *, unit: float = 300.0, score_threshold: float = 0.01,
               nms_threshold: float = 0.6, keep_top_k: int = 200) -> str:
    """The OpenCV text graph for an SSD frozen graph (see the module docstring)."""
    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        full = os.path.join(tmp, "full.pbtxt")
        cv2.dnn.writeTextGraph(str(pb_path), full)
        with open(full) as f:
            blocks = _blocks(f.read())
    parsed = []
    for b in blocks:
        name = re.search(r'^  name: "([^"]+)"', b, re.M).group(1)
        op = re.search(r'^  op: "([^"]+)"', b, re.M).group(1)
        inputs = re.findall(r'^  input: "([^"]+)"', b, re.M)
        parsed.append((name, op, inputs, b))
    identity = {name: inputs[0] for name, op, inputs, _ in parsed if op == "Identity"}

    def resolve(i):
        while i in identity:
            i = identity[i]
        return i

    out = [_node("image_tensor", "Placeholder", attrs=_attr("dtype", "type: DT_FLOAT"))]
    first = True
    for name, op, inputs, block in parsed:
        if op not in _KEEP_OPS or not name.startswith(("FeatureExtractor/", "BoxPredictor_")):
            continue
        new_inputs = [resolve(i) for i in inputs]
        if first:  # the first convolution reads the preprocessed image
            new_inputs[0], first = "image_tensor", False
        body = re.sub(r'^  input: "[^"]+"\n', "", block, flags=re.M)
        body = body.replace(f'  op: "{op}"\n', f'  op: "{op}"\n'
                            + "".join(f'  input: "{i}"\n' for i in new_inputs), 1)
        out.append(body + "\n")

    n_maps = 6
    out.append(_node("concat/axis_flatten", "Const",
                     attrs=_attr("value", "tensor { dtype: DT_INT32 tensor_shape { } int_val: -1 }")))
    for kind in ("BoxEncodingPredictor", "ClassPredictor"):
        flat = []
        for i in range(n_maps):
            src = f"BoxPredictor_{i}/{kind}/BiasAdd"
            out.append(_node(f"{src}/Flatten", "Flatten", [src]))
            flat.append(f"{src}/Flatten")
        out.append(_node(f"{kind}/concat", "ConcatV2", flat + ["concat/axis_flatten"],
                         _attr("N", f"i: {n_maps}")))
    out.append(_node("ClassPredictor/concat/sigmoid", "Sigmoid", ["ClassPredictor/concat"]))
    priors = []
    for i, (widths, heights) in enumerate(anchor_sizes(unit)):
        attrs = "\n".join([_attr("flip", "b: false"), _attr("clip", "b: false"),
                           _attr("width", _floats(widths)), _attr("height", _floats(heights)),
                           _attr("variance", _floats([0.1, 0.1, 0.2, 0.2]))])
        out.append(_node(f"PriorBox_{i}", "PriorBox",
                         [f"BoxPredictor_{i}/BoxEncodingPredictor/BiasAdd", "image_tensor"], attrs))
        priors.append(f"PriorBox_{i}")
    out.append(_node("PriorBox/concat", "ConcatV2", priors + ["concat/axis_flatten"],
                     _attr("N", f"i: {n_maps}")))
    attrs = "\n".join([
        _attr("num_classes", "i: 2"), _attr("share_location", "b: true"),
        _attr("background_label_id", "i: 0"), _attr("nms_threshold", f"f: {nms_threshold}"),
        _attr("top_k", "i: 100000"), _attr("code_type", 's: "CENTER_SIZE"'),
        _attr("keep_top_k", f"i: {keep_top_k}"),
        _attr("confidence_threshold", f"f: {score_threshold}"),
        _attr("loc_pred_transposed", "b: true")])
    out.append(_node("detection_out", "DetectionOutput",
                     ["BoxEncodingPredictor/concat", "ClassPredictor/concat/sigmoid", "PriorBox/concat"],
                     attrs))
    return "".join(out)


class OpenCVSSD:
    """The frozen graph run by ``cv2.dnn``: ``detect(x)`` for one preprocessed ``(H, W, 3)``
    float image in [-1, 1] -> ``(boxes (K, 4) x1 y1 x2 y2 in pixels, scores (K,))``, best first."""

    def __init__(self, pb_path, *, unit: float = 300.0, score_threshold: float = 0.01,
                 nms_threshold: float = 0.6, keep_top_k: int = 200):
        import cv2

        self._tmp = tempfile.TemporaryDirectory()
        pbtxt = os.path.join(self._tmp.name, "ssd.pbtxt")
        with open(pbtxt, "w") as f:
            f.write(text_graph(pb_path, unit=unit, score_threshold=score_threshold,
                               nms_threshold=nms_threshold, keep_top_k=keep_top_k))
        self.net = cv2.dnn.readNetFromTensorflow(str(pb_path), pbtxt)
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)

    def detect(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = x.shape[:2]
        blob = np.ascontiguousarray(x.transpose(2, 0, 1)[None], np.float32)
        self.net.setInput(blob)
        out = self.net.forward().reshape(-1, 7)  # image, label, score, x1, y1, x2, y2 (0..1)
        out = out[out[:, 2] > 0]
        boxes = out[:, 3:7].astype(np.float64) * [w, h, w, h]
        order = np.argsort(-out[:, 2], kind="stable")
        return boxes[order], out[order, 2].astype(np.float64)
