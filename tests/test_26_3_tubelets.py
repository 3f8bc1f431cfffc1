"""26.3 tubelet embedding: Conv3d(stride = kernel) == flatten + matmul, token counts, clear errors,
central-frame initialisation from a 2D patch embedding, position-table resizing."""

import pytest
import torch
from torch import nn

from companion.models import (SpaceTimePositionEmbedding, TubeletEmbedding, inflate_patch_embedding,
                              num_tokens, resize_spatial_pos, resize_temporal_pos, timesformer,
                              token_grid)


def test_conv3d_equals_flatten_and_matmul():
    emb = TubeletEmbedding(3, 24, patch_size=4, tubelet_size=2)
    x = torch.rand(2, 3, 6, 12, 8)
    got = emb(x)                                                       # (B, T', N, D)
    assert got.shape == (2, 3, 6, 24)
    b = x.reshape(2, 3, 3, 2, 3, 4, 2, 4).permute(0, 2, 4, 6, 1, 3, 5, 7)  # b,t',h,w,c,t,p,p
    flat = b.reshape(2, 3, 6, 3 * 2 * 4 * 4)
    want = flat @ emb.proj.weight.reshape(24, -1).T + emb.proj.bias
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("T,size,p,t,expected", [(16, 224, 16, 1, 3136), (16, 224, 16, 2, 1568),
                                                 (8, 224, 16, 1, 1568), (1, 224, 16, 1, 196),
                                                 (32, (112, 64), 16, 4, 8 * 7 * 4)])
def test_token_counts(T, size, p, t, expected):
    assert num_tokens(T, size, p, t) == expected


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="multiple of 2"):
        token_grid(7, 32, 8, 2)
    with pytest.raises(ValueError, match="height 30 is not divisible by the patch size 8"):
        token_grid(8, (30, 32), 8, 1)
    with pytest.raises(ValueError, match="width 33"):
        token_grid(8, (32, 33), 8, 1)
    emb = TubeletEmbedding(3, 8, 8, 2)
    with pytest.raises(ValueError, match="multiple of 2"):
        emb(torch.rand(1, 3, 5, 16, 16))
    with pytest.raises(ValueError, match=r"\(B, C, T, H, W\)"):
        emb(torch.rand(3, 4, 16, 16))
    with pytest.raises(ValueError, match="channels"):
        emb(torch.rand(1, 4, 4, 16, 16))
    with pytest.raises(TypeError, match="floating-point"):
        emb(torch.zeros(1, 3, 4, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="not divisible"):
        timesformer(num_frames=4, img_size=30, patch_size=8, dim=16, depth=1, heads=2, num_classes=2)


@pytest.mark.parametrize("mode", ["central", "average"])
@pytest.mark.parametrize("t", [2, 3, 4])
def test_inflated_embedding_equals_2d_on_static_clip(mode, t):
    conv = nn.Conv2d(3, 16, kernel_size=8, stride=8)
    emb = inflate_patch_embedding(conv, t, mode)
    frame = torch.rand(2, 3, 32, 24)
    clip = frame[:, :, None].expand(2, 3, 2 * t, 32, 24).contiguous()
    got = emb(clip)                                                    # (B, 2, N, D)
    want = conv(frame).flatten(2).transpose(1, 2)                      # (B, N, D)
    for s in range(2):
        torch.testing.assert_close(got[:, s], want, rtol=1e-5, atol=1e-5)
    if mode == "central":
        w = emb.proj.weight
        assert torch.equal(w[:, :, t // 2], conv.weight)
        others = [i for i in range(t) if i != t // 2]
        assert torch.all(w[:, :, others] == 0)  # every other slot is zero


def test_central_init_differs_from_average_on_moving_clip():
    conv = nn.Conv2d(3, 8, 4, 4)
    clip = torch.rand(1, 3, 2, 8, 8)
    a, b = inflate_patch_embedding(conv, 2, "central")(clip), inflate_patch_embedding(conv, 2, "average")(clip)
    assert (a - b).abs().max() > 1e-3


def test_inflate_rejects_non_patch_conv():
    with pytest.raises(ValueError, match="stride = kernel"):
        inflate_patch_embedding(nn.Conv2d(3, 8, 3, padding=1), 2)
    with pytest.raises(TypeError):
        inflate_patch_embedding(nn.Linear(3, 8), 2)


def test_position_resizing():
    pos = torch.randn(1, 1, 16, 8)
    assert resize_spatial_pos(pos, (4, 4), (4, 4)) is pos
    big = resize_spatial_pos(pos, (4, 4), (8, 6))
    assert big.shape == (1, 1, 48, 8)
    # a constant table stays constant under interpolation
    const = torch.ones(1, 1, 16, 8)
    torch.testing.assert_close(resize_spatial_pos(const, (4, 4), (6, 6)), torch.ones(1, 1, 36, 8))
    tpos = torch.arange(4.0)[None, :, None].expand(1, 4, 3)
    up = resize_temporal_pos(tpos, 8)
    assert up.shape == (1, 8, 3)
    assert torch.all(up[0, 1:, 0] >= up[0, :-1, 0])                   # order kept
    with pytest.raises(ValueError):
        resize_spatial_pos(pos, (3, 4), (4, 4))


def test_position_embedding_adds_separable_tables():
    pe = SpaceTimePositionEmbedding(4, (2, 3), 5, temporal_init="normal")
    z = torch.zeros(1, 4, 6, 5)
    out = pe(z)
    torch.testing.assert_close(out, pe.spatial + pe.temporal)
    assert pe(torch.zeros(1, 8, 6, 5)).shape == (1, 8, 6, 5)          # other clip length
    assert SpaceTimePositionEmbedding(4, (2, 3), 5, temporal_init="zeros").temporal.abs().sum() == 0
    with pytest.raises(ValueError, match="temporal_init"):
        SpaceTimePositionEmbedding(4, (2, 3), 5, temporal_init="bogus")


def test_model_runs_on_other_frame_counts_and_sizes():
    m = timesformer(num_frames=4, img_size=32, patch_size=8, dim=16, depth=1, heads=2, num_classes=3).eval()
    assert m(torch.rand(1, 3, 8, 48, 32)).shape == (1, 3)
    same = m(torch.rand(1, 3, 4, 32, 32))
    assert same.shape == (1, 3)
