"""SlowFast: pathway shapes, time-strided laterals, and the frame-count contract."""

import pytest
import torch

from companion.models import SlowFast, lateral_output_shape, slowfast


def test_forward_and_pair_input_agree():
    torch.manual_seed(0)
    m = slowfast(num_classes=5, alpha=4, beta=1 / 4).eval()
    clip = torch.rand(2, 3, 16, 32, 32)
    with torch.no_grad():
        a = m(clip)
        b = m([clip[:, :, ::4], clip])
    assert a.shape == (2, 5)
    torch.testing.assert_close(a, b)


def test_lateral_shapes_and_channels():
    m = slowfast(alpha=4, beta=1 / 4, widths=(16, 32, 64, 128))
    # fast width = beta * slow width; laterals double fast channels with a stride-alpha time conv
    assert [s[0].conv1.out_channels for s in m.fast_stages] == [4, 8, 16, 32]
    lat = m.laterals[1]
    assert lat.conv.kernel_size == (5, 1, 1) and lat.conv.stride == (4, 1, 1) and lat.conv.padding == (2, 0, 0)
    x = torch.rand(2, 4, 32, 8, 8)
    out = lat(x)
    assert tuple(out.shape) == lateral_output_shape(x.shape, alpha=4, kernel=5) == (2, 8, 8, 8, 8)
    # slow stage input = slow channels + 2·beta·C fast channels
    assert m.slow_stages[1][0].conv1.in_channels == 16 + 2 * 4


def test_default_paper_like_config():
    m = SlowFast(num_classes=400, alpha=8, beta=1 / 8)
    assert m.fast_stem[0].out_channels == 8 and m.fast_stem[0].kernel_size == (5, 7, 7)
    assert m.slow_stem[0].kernel_size == (1, 7, 7)
    assert m.fc.in_features == 512 + 64


def test_mismatched_frames_error():
    m = slowfast(alpha=4)
    slow = torch.rand(1, 3, 4, 32, 32)
    with pytest.raises(ValueError, match=r"slow has T=4, so fast must have T=16; got T=12"):
        m([slow, torch.rand(1, 3, 12, 32, 32)])
    with pytest.raises(ValueError, match="multiple of 4"):
        m(torch.rand(1, 3, 14, 32, 32))
    with pytest.raises(ValueError, match="at least 4 frames"):
        m(torch.rand(1, 3, 2, 32, 32))
    with pytest.raises(ValueError, match="3 channels"):
        m(torch.rand(1, 1, 16, 32, 32))
    with pytest.raises(ValueError, match="5-D"):
        m(torch.rand(3, 16, 32, 32))
    with pytest.raises(ValueError, match="alpha"):
        SlowFast(alpha=0)
