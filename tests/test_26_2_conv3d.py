"""The 3D convolution from first principles equals torch.nn.functional.conv3d."""

import pytest
import torch
import torch.nn.functional as F

from companion.models import Conv3dUnfold, conv3d, conv3d_output_shape

CASES = [
    # (C_in, C_out, kernel, stride, padding, dilation, groups)
    (3, 4, 3, 1, 0, 1, 1),
    (3, 4, 3, 1, 1, 1, 1),
    (4, 6, (3, 1, 1), (2, 1, 1), (1, 0, 0), 1, 1),
    (4, 6, (1, 3, 3), (1, 2, 2), (0, 1, 1), 1, 2),
    (6, 6, (3, 2, 3), (2, 1, 2), (1, 0, 2), (1, 2, 1), 3),
    (4, 8, 2, 2, 1, 2, 4),
    (2, 3, (2, 5, 4), (1, 3, 2), (0, 2, 1), (2, 1, 2), 1),
]


@pytest.mark.parametrize("cin,cout,k,s,p,d,g", CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_matches_functional_conv3d(cin, cout, k, s, p, d, g, bias):
    torch.manual_seed(0)
    kk = (k,) * 3 if isinstance(k, int) else k
    x = torch.randn(2, cin, 7, 9, 10, dtype=torch.float64)
    w = torch.randn(cout, cin // g, *kk, dtype=torch.float64)
    b = torch.randn(cout, dtype=torch.float64) if bias else None
    ours = conv3d(x, w, b, s, p, d, g)
    ref = F.conv3d(x, w, b, s, p, d, g)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)
    assert tuple(ref.shape[2:]) == conv3d_output_shape(x.shape[2:], kk, s, p, d)


def test_module_has_conv3d_state_and_gradients():
    torch.manual_seed(0)
    ref = torch.nn.Conv3d(4, 6, (3, 3, 3), stride=(1, 2, 2), padding=1, groups=2)
    ours = Conv3dUnfold(4, 6, (3, 3, 3), stride=(1, 2, 2), padding=1, groups=2)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(1, 4, 5, 8, 8, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    torch.testing.assert_close(ours(x), ref(x2))
    ours(x).square().sum().backward()
    ref(x2).square().sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad, rtol=1e-4, atol=1e-4)


def test_output_shape_formula_known_values():
    # the R3D stem on a 16×112×112 clip: (3,7,7) kernel, stride (1,2,2), padding (1,3,3)
    assert conv3d_output_shape((16, 112, 112), (3, 7, 7), (1, 2, 2), (1, 3, 3)) == (16, 56, 56)
    assert conv3d_output_shape(8, 3, 2, 1) == (4, 4, 4)
    assert conv3d_output_shape((5, 5, 5), 3, 1, 0, 2) == (1, 1, 1)


def test_bad_input():
    w = torch.randn(4, 3, 3, 3, 3)
    with pytest.raises(ValueError, match="5-D"):
        conv3d(torch.randn(3, 8, 8, 8), w)
    with pytest.raises(ValueError, match="input channels"):
        conv3d(torch.randn(1, 2, 8, 8, 8), w)
    with pytest.raises(ValueError, match="groups"):
        conv3d(torch.randn(1, 3, 8, 8, 8), w, groups=2)
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        conv3d(torch.randn(1, 3, 2, 8, 8), w)
    with pytest.raises(TypeError):
        conv3d_output_shape((8, 8), 3)
