"""The same SSDLite, run by ONNX Runtime: the lab's detector at a fraction of the CPU.

**Why.** SSDLite-MobileNetV2 is ~90 small layers, most of them 1x1 and depthwise 3x3
convolutions on small maps. PyTorch's eager mode pays a cost per layer whatever the map's size
(dispatch, a fresh output tensor, its kernels' set-up): a 64x64 input still takes 5.4 ms, and the
lab's motion gate sends ~1,600 small crops through the network per run. ONNX Runtime plans the
whole graph once (memory, convolution + clip fused) and runs it with its own CPU kernels.
Measured on one thread here (``benchmarks/bench_lab_ssd.py --sections 6``): 63.6 vs 128.9 ms for
a whole 768x576 frame, 2.5 vs 8.6 ms for a 160x96 crop, 1.1 vs 5.4 for 64x64, outputs within
~1e-6 relative; the lab end to end at 0.54x the CPU per frame.

**How.** :func:`to_onnx` traces the fused :class:`~companion.detection.ssdlite.SSDLite` with
``torch.onnx.export`` (batch, height and width dynamic). The one thing a trace cannot carry is
TensorFlow's "SAME" padding: its size depends on the input (``conv_bn.same_padding``), so the
trace records the explicit ``Pad`` of one size. ONNX has the rule built in: a convolution with
``auto_pad="SAME_UPPER"`` pads exactly like TensorFlow (total ``max((ceil(n/s)-1)*s + k - n, 0)``,
the odd pixel at the end). So each stride-2 convolution's traced ``Pad`` is removed and the
attribute set, and the graph fits every input size (the 300x300 square and any multiple of 32).

:class:`OnnxSSDLite` has the model's contract — ``(B, 3, H, W)`` in [-1, 1] ->
``(codes (B, N, 4), logits (B, N, C + 1), map sizes)`` — and follows PyTorch's thread setting
(``torch.get_num_threads()`` at call time: one session per thread count), so the lab's
one-thread workers and the gate's two-thread whole frames work unchanged. The exported graph is
cached in the data folder, keyed by the weights and this package's network code, and checked
against PyTorch on a small input every time it is loaded.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import uuid
import warnings
from pathlib import Path

import numpy as np
import torch

from companion.detection.conv_bn import ConvBN
from companion.detection.ssdlite import SSDLite

#: bump when the export changes, so cached graphs of an older export are not reused
EXPORT_VERSION = 1
#: an export input whose every stride-2 layer sees an even size: the traced pads are all (0, 1)
_TRACE_HW = (1024, 1024)
_SOURCES = ("conv_bn.py", "mobilenet_v2.py", "ssdlite.py", "onnx_runtime.py")


def available() -> bool:
    """True when ONNX Runtime and the ``onnx`` package can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def map_sizes(h: int, w: int) -> list[tuple[int, int]]:
    """The six detection maps' (rows, cols) for an ``h x w`` input, as SSDLite.forward reports:
    "SAME" convolutions of stride 2 give ``ceil(n / 2)``; the maps are at strides 16 and 32, then
    each extra layer halves again."""
    sizes, hw = [], (h, w)
    for _ in range(9):  # stem, four stride-2 blocks, four extra layers: strides 2, 4, ..., 512
        hw = (-(-hw[0] // 2), -(-hw[1] // 2))
        sizes.append(hw)
    return sizes[3:]  # strides 16 (block 13's expansion), 32 (Conv_1), then the extra layers


def _stride2_convs(model: SSDLite) -> int:
    return sum(1 for m in model.modules() if isinstance(m, ConvBN) and m.stride > 1)


class _Outputs(torch.nn.Module):
    """The network without its map sizes (a trace returns tensors only)."""

    def __init__(self, model: SSDLite):
        super().__init__()
        self.model = model

    def forward(self, x):
        codes, logits, _ = self.model(x)
        return codes, logits


def to_onnx(model: SSDLite) -> bytes:
    """The fused ``model`` as an ONNX graph (bytes) with dynamic batch, height and width."""
    import onnx
    from onnx import helper

    if any(isinstance(m, ConvBN) and m.bn is not None for m in model.modules()):
        raise ValueError("fold the batch norms first (model.fuse()): the export is for inference")
    buf = io.BytesIO()
    dummy = torch.zeros(1, 3, *_TRACE_HW)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and trace notes
        torch.onnx.export(_Outputs(model).eval(), (dummy,), buf, dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["codes", "logits"],
                          dynamic_axes={"x": {0: "batch", 2: "height", 3: "width"},
                                        "codes": {0: "batch", 1: "anchors"},
                                        "logits": {0: "batch", 1: "anchors"}})
    graph = onnx.load_from_string(buf.getvalue())
    made_by = {out: node for node in graph.graph.node for out in node.output}
    pads = []
    for node in graph.graph.node:
        pad = made_by.get(node.input[0]) if node.op_type == "Conv" else None
        if pad is None or pad.op_type != "Pad":
            continue
        node.input[0] = pad.input[0]  # the convolution reads the unpadded map ...
        for a in [a for a in node.attribute if a.name == "pads"]:
            node.attribute.remove(a)
        node.attribute.append(helper.make_attribute("auto_pad", "SAME_UPPER"))  # ... and pads itself
        pads.append(pad)
    if len(pads) != _stride2_convs(model):  # pragma: no cover - the exporter changed its output
        raise RuntimeError(f"expected one Pad before each of the {_stride2_convs(model)} stride-2 "
                           f"convolutions, found {len(pads)}")
    for pad in pads:
        graph.graph.node.remove(pad)
    left = [n.op_type for n in graph.graph.node if n.op_type == "Pad"]
    if left:  # pragma: no cover
        raise RuntimeError(f"{len(left)} Pad nodes left in the exported graph")
    # the pads' size arithmetic is now unused: keep only nodes that lead to an output
    needed = {o.name for o in graph.graph.output}
    keep = []
    for node in reversed(list(graph.graph.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    del graph.graph.node[:]
    graph.graph.node.extend(reversed(keep))
    onnx.checker.check_model(graph)
    return graph.SerializeToString()


def _cache_key(model: SSDLite) -> str:
    h = hashlib.sha256(f"v{EXPORT_VERSION} torch {torch.__version__}".encode())
    here = Path(__file__).parent
    for name in _SOURCES:
        h.update((here / name).read_bytes())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def cached_onnx(model: SSDLite, cache: Path | None = None, *, refresh: bool = False) -> bytes:
    """:func:`to_onnx`, kept in ``cache`` (default: the data folder's ``onnx/``); ``refresh``
    exports again and replaces the cached file."""
    if cache is None:
        from companion.config import data_dir

        cache = data_dir() / "onnx"
    path = Path(cache) / f"ssdlite-{_cache_key(model)}.onnx"
    if path.is_file() and not refresh:
        return path.read_bytes()
    data = to_onnx(model)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # atomic: two processes exporting at once both end with one file
    except OSError:
        pass  # a read-only data folder only costs the export next time
    return data


class OnnxSSDLite:
    """``OnnxSSDLite(model)(x) -> (codes, logits, sizes)``, like ``model(x)``, by ONNX Runtime.

    ``check=True`` compares the two on a small random input once: a cached graph that does not
    load or disagrees (a damaged file) is exported again, once; if the fresh export disagrees by
    more than ``1e-4`` relative too, it raises. A broken graph never runs silently.
    """

    def __init__(self, model: SSDLite, *, cache: Path | None = None, check: bool = True):
        import onnxruntime  # noqa: F401  (fail here, with the import error, not at the first frame)

        self.num_classes = model.num_classes
        self._bytes = cached_onnx(model, cache)
        self._sessions: dict[int, object] = {}
        self._lock = threading.Lock()
        if check:
            try:
                self.check_against(model)
            except Exception:  # noqa: BLE001 - a damaged cache file: ONNX Runtime's own errors
                self._bytes = cached_onnx(model, cache, refresh=True)
                self._sessions.clear()
                self.check_against(model)

    def session(self, threads: int):
        with self._lock:
            if threads not in self._sessions:
                import onnxruntime as ort

                so = ort.SessionOptions()
                so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
                so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                so.add_session_config_entry("session.intra_op.allow_spinning", "0")
                so.log_severity_level = 3
                self._sessions[threads] = ort.InferenceSession(
                    self._bytes, so, providers=["CPUExecutionProvider"])
            return self._sessions[threads]

    def __call__(self, x: torch.Tensor):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected a (B, 3, H, W) batch, got shape {tuple(x.shape)}")
        sess = self.session(max(1, torch.get_num_threads()))
        arr = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        codes, logits = sess.run(None, {"x": arr})
        return (torch.from_numpy(codes), torch.from_numpy(logits),
                map_sizes(int(x.shape[2]), int(x.shape[3])))

    @torch.no_grad()
    def check_against(self, model: SSDLite, hw: tuple[int, int] = (96, 64)) -> float:
        x = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(0)) * 2 - 1
        ref = model(x.contiguous(memory_format=torch.channels_last))
        got = self(x)
        if got[2] != ref[2]:
            raise RuntimeError(f"ONNX map sizes {got[2]} differ from the model's {ref[2]}")
        err = 0.0
        for a, b in zip(got[:2], ref[:2]):
            err = max(err, float((a - b).abs().max() / b.abs().max().clamp(min=1e-12)))
        if err > 1e-4:
            raise RuntimeError(f"the ONNX graph disagrees with the PyTorch model ({err:.2g} "
                               f"relative, at most 1e-4 accepted): run the detector with "
                               f"backend='torch'")
        return err
