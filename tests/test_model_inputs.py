"""Model inputs (issue 14): every model refuses a float64 / float16 / bfloat16 input with a clear
``TypeError`` (documented policy in ``companion/models/_checks.py``: inputs take the weights' dtype,
never a silent conversion; torch.autocast is the way to mixed precision), and an empty batch
with a ``ValueError``; RAFT refuses NaN / infinite images instead of returning NaN flow."""

from __future__ import annotations

import pytest
import torch

from companion.flow import raft_small
from companion.models import (c3d, frame_cnn, inflate, slowfast, small_cnn2d, timesformer, two_stream,
                              video_resnet, videomae, videomae_classifier, vivit)


def _raft():
    return raft_small().eval(), (torch.zeros(1, 3, 128, 128), torch.zeros(1, 3, 128, 128)), \
        dict(num_flow_updates=1)


# name -> () -> (model, tuple of float32 inputs, forward kwargs); every input's batch axis is 0
MODELS = {
    "C3D": lambda: (c3d(num_classes=4, width=4, fc_width=8, size=32, dropout=0.0),
                    (torch.rand(1, 3, 16, 32, 32),), {}),
    "FrameCNN": lambda: (frame_cnn(widths=(4, 8, 8, 8)), (torch.rand(2, 3, 3, 32, 32),), {}),
    "SmallCNN2d": lambda: (small_cnn2d(widths=(4, 8, 8, 8)), (torch.rand(2, 3, 32, 32),), {}),
    "I3D": lambda: (inflate(small_cnn2d(widths=(4, 8, 8, 8))), (torch.rand(1, 3, 4, 32, 32),), {}),
    "R3D": lambda: (video_resnet("r3d", widths=(4, 8, 8, 8)), (torch.rand(1, 3, 4, 32, 32),), {}),
    "R(2+1)D": lambda: (video_resnet("r2plus1d", widths=(4, 8, 8, 8)), (torch.rand(1, 3, 4, 32, 32),), {}),
    "SlowFast": lambda: (slowfast(widths=(8, 8, 8, 8)), (torch.rand(1, 3, 8, 32, 32),), {}),
    "TwoStream": lambda: (two_stream(num_flows=2, widths=(4, 8, 8, 8)), (torch.rand(1, 7, 32, 32),), {}),
    "TimeSformer": lambda: (timesformer(num_frames=2, img_size=32, dim=16, depth=1, heads=2, num_classes=4),
                            (torch.rand(1, 3, 2, 32, 32),), {}),
    "ViViT": lambda: (vivit(num_frames=4, img_size=32, dim=16, spatial_depth=1, temporal_depth=1, heads=2,
                            num_classes=4), (torch.rand(1, 3, 4, 32, 32),), {}),
    "VideoMAE": lambda: (videomae(num_frames=4, img_size=32, dim=16, depth=1, heads=2, decoder_dim=16,
                                  decoder_depth=1, decoder_heads=2), (torch.rand(1, 3, 4, 32, 32),), {}),
    "VideoMAEClassifier": lambda: (videomae_classifier(num_classes=4, num_frames=4, img_size=32, dim=16,
                                                       depth=1, heads=2), (torch.rand(1, 3, 4, 32, 32),), {}),
    "RAFT": _raft,
}


def _run(model, inputs, kw):
    torch.manual_seed(0)
    with torch.no_grad():
        return model(*inputs, **kw)


@pytest.mark.parametrize("name", MODELS)
def test_float32_input_runs(name):
    model, inputs, kw = MODELS[name]()
    out = _run(model.eval(), inputs, kw)
    first = out[0] if isinstance(out, (list, tuple)) else out
    assert torch.isfinite(first).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", MODELS)
def test_other_float_dtypes_refused_clearly(name, dtype):
    model, inputs, kw = MODELS[name]()
    with pytest.raises(TypeError) as err:
        _run(model.eval(), tuple(x.to(dtype) for x in inputs), kw)
    msg = str(err.value)
    assert "torch.float32 weights" in msg and str(dtype) in msg and "x.to(torch.float32)" in msg


@pytest.mark.parametrize("name", MODELS)
def test_empty_batch_refused_clearly(name):
    model, inputs, kw = MODELS[name]()
    with pytest.raises(ValueError, match=r"empty batch \(B=0"):
        _run(model.eval(), tuple(x[:0] for x in inputs), kw)


@pytest.mark.parametrize("name", ["FrameCNN", "R3D", "TimeSformer"])
def test_dtype_follows_the_model(name):
    """A float64 model takes float64 input and gives the float32 model's answer."""
    model, inputs, kw = MODELS[name]()
    model.eval()
    ref = _run(model, inputs, kw)
    out = _run(model.double(), tuple(x.double() for x in inputs), kw)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out.float(), ref, atol=1e-4, rtol=1e-4)


def test_autocast_accepts_lower_precision():
    model, (x,), _ = MODELS["FrameCNN"]()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.eval()(x.bfloat16())
    assert out.shape == (2, 8) and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_raft_non_finite_images_refused(bad):
    model, (a, b), kw = _raft()
    b = b.clone()
    b[0, 1, 5, 7] = bad
    with pytest.raises(ValueError, match="image2 has 1 NaN or infinite"):
        _run(model, (a, b), kw)
