"""26.4 RAFT: parity with torchvision (strict state-dict load, flows ≤ 1e-3 px), the pieces
(correlation, pyramid, lookup order, upsampling), the memory-lean correlation, input checks,
the sequence loss and the shipped weights."""

import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.models.optical_flow import raft_large as tv_raft_large
from torchvision.models.optical_flow import raft_small as tv_raft_small

from companion.flow import (CorrBlock, OnDemandCorrBlock, all_pairs_correlation, correlation_pyramid,
                            lookup, raft_large, raft_small, window_offsets)
from companion.flow.correlation import volume_bytes
from companion.flow.upsample import upsample_bilinear, upsample_convex


def _pair(h=128, w=128, shift=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = F.avg_pool2d(torch.rand(1, 3, h + 8, w + 8, generator=g), 3, 1)[..., :h, :w] * 2 - 1
    b = torch.roll(a, shifts=(1, shift), dims=(-2, -1))
    return a.clamp(-1, 1), b.clamp(-1, 1)


@pytest.mark.parametrize("ours,theirs,params,tensors", [
    (raft_small, tv_raft_small, 990_162, 106),
    (raft_large, tv_raft_large, 5_257_536, None),
])
def test_state_dict_loads_strict_and_flows_match_torchvision(ours, theirs, params, tensors):
    torch.manual_seed(0)
    tv = theirs().eval()
    m = ours().eval()
    assert sum(p.numel() for p in m.parameters()) == params
    if tensors:
        assert len(m.state_dict()) == tensors
    m.load_state_dict(tv.state_dict(), strict=True)
    a, b = _pair(128, 160)
    with torch.no_grad():
        ft = tv(a, b, num_flow_updates=4)
        fc = m(a, b, num_flow_updates=4)
    assert len(fc) == 4
    worst = max((x - y).abs().max().item() for x, y in zip(fc, ft))
    assert worst <= 1e-3, worst
    assert fc[-1].shape == (1, 2, 128, 160)


def test_memory_lean_correlation_gives_the_same_flow():
    torch.manual_seed(1)
    tv = tv_raft_small().eval()
    m = raft_small(memory_lean=True).eval()
    m.load_state_dict(tv.state_dict(), strict=True)
    assert isinstance(m.corr_block, OnDemandCorrBlock)
    a, b = _pair(128, 128, shift=5)
    with torch.no_grad():
        diff = (m(a, b, num_flow_updates=5)[-1] - tv(a, b, num_flow_updates=5)[-1]).abs().max().item()
    assert diff <= 1e-3, diff


def test_on_demand_features_equal_full_volume_features():
    g = torch.Generator().manual_seed(0)
    f1, f2 = torch.randn(2, 16, 16, 20, generator=g), torch.randn(2, 16, 16, 20, generator=g)
    coords = torch.rand(2, 2, 16, 20, generator=g) * torch.tensor([19.0, 15.0]).view(1, 2, 1, 1)
    full, lean = CorrBlock(num_levels=3, radius=2), OnDemandCorrBlock(num_levels=3, radius=2)
    full.build_pyramid(f1, f2)
    lean.build_pyramid(f1, f2)
    torch.testing.assert_close(lean.index_pyramid(coords), full.index_pyramid(coords), atol=1e-5, rtol=1e-5)


def test_all_pairs_correlation_is_scaled_dot_product():
    g = torch.Generator().manual_seed(0)
    f1, f2 = torch.randn(1, 8, 4, 5, generator=g), torch.randn(1, 8, 4, 5, generator=g)
    c = all_pairs_correlation(f1, f2)
    assert c.shape == (1, 4, 5, 4, 5)
    expected = torch.einsum("dij,dkl->ijkl", f1[0], f2[0]) / math.sqrt(8)
    torch.testing.assert_close(c[0], expected)
    pyr = correlation_pyramid(c, 2)
    assert [p.shape for p in pyr] == [(20, 1, 4, 5), (20, 1, 2, 2)]
    torch.testing.assert_close(pyr[1][0, 0, 0, 0], c[0, 0, 0, :2, :2].mean())


def test_window_order_is_x_major_like_trained_raft():
    d = window_offsets(1)
    # first index walks x, second walks y: the pitfall "meshgrid(dy, dx)" must be kept
    assert d[0, 1].tolist() == [-1.0, 0.0] and d[1, 0].tolist() == [0.0, -1.0]
    # a volume whose value at frame-2 pixel (x, y) is 10·x + y: the window at (2, 3) reads it
    h, w = 6, 7
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    level = (10 * xs + ys).float()[None, None].repeat(h * w, 1, 1, 1)
    coords = torch.zeros(1, 2, h, w)
    coords[0, 0], coords[0, 1] = 2.0, 3.0
    feats = lookup([level], coords, radius=1)[0, :, 0, 0]
    expected = [10 * (2 + dx) + (3 + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    torch.testing.assert_close(feats, torch.tensor(expected, dtype=torch.float32), atol=1e-4, rtol=0)


def test_lookup_at_fractional_offset_is_bilinear_and_zero_outside():
    level = torch.arange(12.0).view(1, 1, 3, 4)
    coords = torch.tensor([0.5, 1.25]).view(1, 2, 1, 1)
    centre = lookup([level], coords, radius=0)[0, 0, 0, 0]
    assert abs(centre.item() - (1.25 * 4 + 0.5)) < 1e-5
    far = lookup([level], torch.tensor([10.0, 10.0]).view(1, 2, 1, 1), radius=0)
    assert far.abs().max() == 0


def test_upsampling_matches_torchvision():
    from torchvision.models.optical_flow._utils import upsample_flow as tv_up

    g = torch.Generator().manual_seed(0)
    flow, mask = torch.randn(2, 2, 5, 6, generator=g), torch.randn(2, 576, 5, 6, generator=g)
    torch.testing.assert_close(upsample_bilinear(flow), tv_up(flow))
    torch.testing.assert_close(upsample_convex(flow, mask), tv_up(flow, mask))
    # away from the border, a constant coarse flow of 1 px is 8 px at full resolution, whatever the mask
    const = torch.ones(1, 2, 3, 3)
    up = upsample_convex(const, torch.randn(1, 576, 3, 3, generator=g))
    torch.testing.assert_close(up[..., 8:16, 8:16], 8 * torch.ones(1, 2, 8, 8))


def test_volume_bytes_anchor():
    # ~4.3 GB fp32 for the finest level at 1088×1920 (reference facts)
    assert abs(volume_bytes(1088, 1920, num_levels=1) / 1e9 - 4.26) < 0.01


@pytest.mark.parametrize("a_shape,b_shape,kind,words", [
    ((1, 3, 128, 128), (1, 3, 128, 136), ValueError, "same shape"),
    ((1, 3, 130, 128), (1, 3, 130, 128), ValueError, "divisible by 8"),
    ((1, 3, 120, 256), (1, 3, 120, 256), ValueError, "at least 128"),
    ((1, 1, 128, 128), (1, 1, 128, 128), ValueError, "3 (RGB) channels"),
    ((3, 128, 128), (3, 128, 128), ValueError, "4-D"),
])
def test_bad_inputs_raise_clear_errors(a_shape, b_shape, kind, words):
    m = raft_small().eval()
    with pytest.raises(kind, match=None) as e:
        m(torch.zeros(a_shape), torch.zeros(b_shape))
    assert words in str(e.value)


def test_wrong_dtype_and_range():
    m = raft_small().eval()
    with pytest.raises(TypeError, match="floating-point"):
        m(torch.zeros(1, 3, 128, 128, dtype=torch.uint8), torch.zeros(1, 3, 128, 128, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        m(torch.full((1, 3, 128, 128), 200.0), torch.full((1, 3, 128, 128), 200.0))
    with pytest.raises(TypeError, match="torch.Tensor"):
        m([[0.0]], torch.zeros(1, 3, 128, 128))
    with pytest.raises(ValueError, match="num_flow_updates"):
        m(torch.zeros(1, 3, 128, 128), torch.zeros(1, 3, 128, 128), num_flow_updates=0)


def test_sequence_loss_weights_later_iterations_more():
    import companion.flow.training as mod

    gt = torch.zeros(1, 2, 4, 4)
    preds = [torch.ones(1, 2, 4, 4), 2 * torch.ones(1, 2, 4, 4), 3 * torch.ones(1, 2, 4, 4)]
    # mean |err| per iteration: 1, 2, 3 with weights 0.8², 0.8, 1
    assert abs(mod.sequence_loss(preds, gt, gamma=0.8).item() - (0.64 + 1.6 + 3.0)) < 1e-5
    huge = torch.full((1, 2, 4, 4), 500.0)  # flows above 400 px are ignored
    assert mod.sequence_loss([huge], huge * 0 + 500, gamma=0.8).item() == 0
    a, b, f = mod.batch_for_step(3, 2, seed=0)
    a2, b2, f2 = mod.batch_for_step(3, 2, seed=0)
    assert torch.equal(a, a2) and torch.equal(f, f2)
    assert a.shape[1:] == (3, 128, 160) and a.min() >= -1 and a.max() <= 1


def test_shipped_weights_load_and_are_small():
    from companion.flow.raft import WEIGHTS_DIR

    path = WEIGHTS_DIR / "raft_small_synthetic.pt"
    assert path.exists(), "companion/weights/raft_small_synthetic.pt must ship with the package"
    assert path.stat().st_size < 5e6
    m = raft_small(pretrained=True)
    assert not m.training
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["settings"]["seed"] == 0 and ckpt["curve"]["loss"]
    with pytest.raises(ValueError, match="no pretrained"):
        raft_large(pretrained=True)
