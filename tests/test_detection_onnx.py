"""The SSD run by ONNX Runtime (companion.detection.onnx_runtime) is the same network as the
PyTorch model: same map sizes at every input size, same outputs to 1e-4 relative, TensorFlow's
"SAME" padding carried by ONNX's own rule, a cache that survives damage, and the lab's detector
giving the same boxes with either backend. (Parity of both backends with OpenCV's DNN module on
real frames: tests/test_detection_ssd.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from companion.detection import onnx_runtime as O  # noqa: E402
from companion.detection.detector import SSDPersonDetector, load_person_ssd  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return load_person_ssd(None)


@pytest.fixture(scope="module")
def runner(model, tmp_path_factory):
    return O.OnnxSSDLite(model, cache=tmp_path_factory.mktemp("onnx"))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("hw", [(32, 32), (300, 300), (96, 64), (224, 160), (288, 416), (576, 768),
                                (301, 177)])
def test_map_sizes_are_the_models(model, hw):
    with torch.inference_mode():
        _, _, sizes = model(torch.zeros(1, 3, *hw).contiguous(memory_format=torch.channels_last))
    assert O.map_sizes(*hw) == sizes


@pytest.mark.parametrize("hw,batch", [((300, 300), 1), ((96, 64), 2), ((576, 768), 1),
                                      ((160, 352), 3), ((32, 32), 1)])
def test_same_outputs_as_pytorch_at_any_input_size(model, runner, hw, batch):
    """One graph, exported once at 1024x1024, fits the square 300 input (odd map sizes: the
    "SAME" pads differ from the traced ones) and every multiple of 32, batched or not."""
    x = torch.rand(batch, 3, *hw, generator=torch.Generator().manual_seed(sum(hw))) * 2 - 1
    with torch.inference_mode():
        ref = model(x.contiguous(memory_format=torch.channels_last))
    got = runner(x)
    assert got[2] == ref[2]
    assert got[0].shape == ref[0].shape and got[1].shape == ref[1].shape
    assert _rel(got[0], ref[0]) < 1e-4 and _rel(got[1], ref[1]) < 1e-4


def test_stride2_convolutions_pad_like_tensorflow(model):
    """The exported graph has no Pad node left: each stride-2 convolution carries ONNX's
    SAME_UPPER rule instead, and only those do."""
    graph = onnx.load_from_string(O.to_onnx(model)).graph
    ops = [n.op_type for n in graph.node]
    assert "Pad" not in ops
    same = [n for n in graph.node if n.op_type == "Conv"
            and any(a.name == "auto_pad" and a.s == b"SAME_UPPER" for a in n.attribute)]
    strides = [list(a.ints) for n in same for a in n.attribute if a.name == "strides"]
    assert len(same) == 9 and all(s == [2, 2] for s in strides)


def test_follows_pytorchs_thread_setting(runner):
    before = torch.get_num_threads()
    try:
        x = torch.zeros(1, 3, 64, 64)
        torch.set_num_threads(1)
        runner(x)
        torch.set_num_threads(2)
        runner(x)
        assert {1, 2} <= set(runner._sessions)
        assert runner.session(2).get_session_options().intra_op_num_threads == 2
    finally:
        torch.set_num_threads(before)


def test_cache_is_reused_and_a_damaged_file_is_replaced(model, tmp_path, monkeypatch):
    O.OnnxSSDLite(model, cache=tmp_path)
    (path,) = tmp_path.glob("ssdlite-*.onnx")
    good = path.read_bytes()
    calls = []
    real = O.to_onnx
    monkeypatch.setattr(O, "to_onnx", lambda m: calls.append(1) or real(m))
    O.OnnxSSDLite(model, cache=tmp_path)
    assert calls == []  # read from the cache
    path.write_bytes(good[: len(good) // 2])  # a truncated file
    runner = O.OnnxSSDLite(model, cache=tmp_path)
    assert calls == [1] and path.read_bytes() == good
    assert runner.check_against(model) < 1e-4


def test_cache_key_follows_the_weights(model, tmp_path):
    other = load_person_ssd(None)
    with torch.no_grad():
        next(other.heads[0].cls.parameters()).add_(1.0)
    assert O._cache_key(other) != O._cache_key(model)


def test_bad_input_and_backend_names_are_refused(model, runner):
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        runner(torch.zeros(3, 64, 64))
    with pytest.raises(ValueError, match="backend must be one of"):
        SSDPersonDetector(None, model=model, backend="tensorflow")
    with pytest.raises(ValueError, match="fold the batch norms"):
        from companion.detection.ssdlite import SSDLite

        O.to_onnx(SSDLite(num_classes=1).eval())


def test_detector_gives_the_same_boxes_with_either_backend(model):
    """Whole frames and crops through the lab's detector: boxes and scores of the two backends
    agree (random weights, score threshold low so that many boxes are compared)."""
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    kw = dict(model=model, input_size=320, score_threshold=0.05, shape_filter=False)
    a = SSDPersonDetector(None, backend="torch", **kw)
    b = SSDPersonDetector(None, backend="onnxruntime", **kw)
    assert (a.backend, b.backend) == ("torch", "onnxruntime")
    for da, db in [(a(frame), b(frame)),
                   (a.detect_crop(frame, (40, 30, 180, 200)), b.detect_crop(frame, (40, 30, 180, 200)))]:
        assert len(da) == len(db) > 5
        np.testing.assert_allclose(db.xyxy, da.xyxy, atol=1e-3)
        np.testing.assert_allclose(db.confidence, da.confidence, atol=1e-5)


def test_lab_summary_says_what_ran_the_network(model, tmp_path):
    from companion.detection.motion import MotionGatedDetector
    from companion.lab.pipeline import run_lab

    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (3, 96, 128, 3), dtype=np.uint8)
    seen = {}
    for backend in ("onnxruntime", "torch"):
        det = MotionGatedDetector(SSDPersonDetector(None, model=model, input_size=128, backend=backend))
        res = run_lab(frames, line=(64, 0, 64, 96), detector=det, fps=10, write_files=False,
                      progress=False)
        seen[backend] = res.summary["detector_backend"]
    res = run_lab(frames, line=(64, 0, 64, 96), detector="bgsub", fps=10, write_files=False,
                  progress=False)
    assert seen == {"onnxruntime": "onnxruntime", "torch": "torch"}
    assert res.summary["detector_backend"] is None


def test_auto_takes_onnx_runtime_when_installed_else_pytorch(model, monkeypatch):
    assert SSDPersonDetector(None, model=model).backend == "onnxruntime"
    monkeypatch.setattr(O, "available", lambda: False)
    assert SSDPersonDetector(None, model=model).backend == "torch"
    with pytest.raises(ImportError, match="pip install onnxruntime onnx"):
        SSDPersonDetector(None, model=model, backend="onnxruntime")


def test_auto_falls_back_to_pytorch_with_a_warning_when_the_export_fails(model, monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("exporter gone")

    monkeypatch.setattr(O, "OnnxSSDLite", broken)
    with pytest.warns(RuntimeWarning, match="exporter gone.*PyTorch instead"):
        det = SSDPersonDetector(None, model=model)
    assert det.backend == "torch"
    with pytest.raises(RuntimeError, match="exporter gone"):
        SSDPersonDetector(None, model=model, backend="onnxruntime")
