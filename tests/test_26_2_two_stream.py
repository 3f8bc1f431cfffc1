"""Two-stream: cross-modality initialisation, stacked flow from OpenCV, late fusion."""

import numpy as np
import pytest
import torch

from companion.models import TwoStream, cross_modality_init, flow_stack, pack_two_stream, two_stream



def _translating_clip(T=8, size=48, dx=1, dy=0):
    rng = np.random.default_rng(0)
    big = rng.random((size + 20, size + 20))
    from scipy.ndimage import gaussian_filter

    big = gaussian_filter(big, 2.0)
    big = (big - big.min()) / (big.max() - big.min())
    frames = [np.roll(big, (t * dy, t * dx), axis=(0, 1))[10:10 + size, 10:10 + size] for t in range(T)]
    clip = np.stack(frames)[None].repeat(3, 0)  # (3, T, H, W)
    return torch.from_numpy(clip).float()


def test_cross_modality_init():
    w = torch.randn(16, 3, 5, 5)
    wf = cross_modality_init(w, 20)
    assert wf.shape == (16, 20, 5, 5)
    torch.testing.assert_close(wf[:, 7], w.mean(1))
    m = two_stream(num_flows=10)
    torch.testing.assert_close(m.flow.conv1.weight, cross_modality_init(m.rgb.conv1.weight, 20))
    assert m.flow.conv1.in_channels == 20
    assert m.rgb.conv1.weight.data_ptr() != m.flow.conv1.weight.data_ptr()
    # body weights start equal (copied), but are independent parameters
    torch.testing.assert_close(m.flow.fc.weight, m.rgb.fc.weight)
    assert m.flow.fc.weight.data_ptr() != m.rgb.fc.weight.data_ptr()


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_flow_stack_recovers_known_translation(method):
    clip = _translating_clip(dx=1, dy=0)
    fl = flow_stack(clip, num_flows=4, method=method, subtract_mean=False)
    assert fl.shape == (8, 48, 48)
    inner = fl[:, 8:-8, 8:-8]
    u, v = inner[0::2].median().item(), inner[1::2].median().item()
    assert abs(u - 1.0) < 0.25 and abs(v) < 0.25, (u, v)
    assert flow_stack(clip, 4, method).mean(dim=(1, 2)).abs().max() < 1e-4  # mean subtracted


def test_custom_flow_function_and_packing():
    clip = torch.rand(3, 12, 32, 32)
    zero = lambda a, b: np.zeros(a.shape[:2] + (2,), np.float32)  # noqa: E731
    fl = flow_stack(clip, 10, zero)
    assert fl.shape == (20, 32, 32) and fl.abs().max() == 0
    packed = pack_two_stream(clip, 10, zero)
    assert packed.shape == (23, 32, 32)
    torch.testing.assert_close(packed[:3], clip[:, 5])  # middle frame of the 11-frame window 0..10
    batch = flow_stack(clip[None].repeat(2, 1, 1, 1, 1), 10, zero)
    assert batch.shape == (2, 20, 32, 32)


def test_late_fusion_is_average_of_softmax():
    torch.manual_seed(0)
    m = two_stream(num_classes=6, num_flows=3, fusion_weights=(1, 3)).eval()
    rgb, flow = torch.rand(2, 3, 32, 32), torch.randn(2, 6, 32, 32)
    with torch.no_grad():
        out = m(rgb, flow)
        a, b = m.rgb(rgb), m.flow(flow)
        torch.testing.assert_close(out.exp(), 0.25 * a.softmax(1) + 0.75 * b.softmax(1))
        torch.testing.assert_close(m(torch.cat([rgb, flow], 1)), out)


def test_bad_input():
    m = two_stream(num_flows=3)
    with pytest.raises(ValueError, match="2L"):
        m(torch.rand(1, 3, 32, 32), torch.rand(1, 4, 32, 32))
    with pytest.raises(ValueError, match="channels"):
        m(torch.rand(1, 8, 32, 32))
    with pytest.raises(ValueError, match="4-D"):
        m(torch.rand(1, 3, 2, 32, 32), torch.rand(1, 6, 32, 32))
    with pytest.raises(ValueError, match="at least 11 frames"):
        flow_stack(torch.rand(3, 8, 32, 32), 10)
    with pytest.raises(ValueError, match="unknown flow method"):
        flow_stack(torch.rand(3, 8, 32, 32), 2, "lucas")
    with pytest.raises(ValueError, match="RGB"):
        flow_stack(torch.rand(2, 8, 32, 32), 2)


def test_raft_flow_when_available():
    import importlib.util
    from pathlib import Path

    if importlib.util.find_spec("companion.flow") is None:
        pytest.skip("companion.flow not present")
    import companion.flow as flow_mod

    weights = Path(flow_mod.__file__).resolve().parents[1] / "weights" / "raft_small_synthetic.pt"
    if not hasattr(flow_mod, "raft_small") or not weights.exists():
        pytest.skip("companion.flow.raft_small(pretrained=True) weights not shipped yet")
    clip = _translating_clip(T=3, size=48, dx=2)
    fl = flow_stack(clip, 2, "raft", subtract_mean=False)
    assert fl.shape == (4, 48, 48) and torch.isfinite(fl).all()
    # the plumbing (resize to RAFT's 128-px minimum, scale back, (u, v) order): the flow points right
    u, v = fl[0, 10:-10, 10:-10].median().item(), fl[1, 10:-10, 10:-10].median().item()
    assert u > 0.75 and abs(v) < 0.5 * u, (u, v)
