"""26.3 ViViT factorised encoder: central-frame initialisation (== the 2D embedding on a static
clip), shapes, exact MAC count, clear errors."""

import pytest
import torch
from torch import nn

from companion.models import vivit
from companion.models.attention import count_macs

KW = dict(num_frames=8, img_size=32, patch_size=8, tubelet_size=2, dim=32, spatial_depth=2,
          temporal_depth=1, heads=4, num_classes=6)


def test_central_frame_init_equals_2d_embedding_on_static_clip():
    conv = nn.Conv2d(3, 32, 8, 8)
    m = vivit(init_from=conv, **KW).eval()
    frame = torch.rand(2, 3, 32, 32)
    clip = frame[:, :, None].expand(2, 3, 8, 32, 32).contiguous()
    tokens = m.patch_embed(clip)                                   # (B, 4 slots, 16, 32)
    want = conv(frame).flatten(2).transpose(1, 2)
    for s in range(4):
        torch.testing.assert_close(tokens[:, s], want, rtol=1e-5, atol=1e-5)
    # consequently every slot's spatial summary is the same on a static clip
    s = m.slot_features(clip)
    torch.testing.assert_close(s, s[:, :1].expand_as(s), rtol=1e-5, atol=1e-6)
    # ... and not on a moving one
    s2 = m.slot_features(torch.rand(2, 3, 8, 32, 32))
    assert (s2 - s2[:, :1]).abs().max() > 1e-3


def test_shapes_and_other_lengths():
    m = vivit(**KW).eval()
    assert m(torch.rand(3, 3, 8, 32, 32)).shape == (3, 6)
    assert m(torch.rand(1, 3, 16, 48, 32)).shape == (1, 6)          # position tables resized
    assert m.slot_features(torch.rand(1, 3, 8, 32, 32)).shape == (1, 4, 32)


def test_mac_count_is_exact():
    m = vivit(**KW)
    assert count_macs(m, torch.rand(1, 3, 8, 32, 32)) == m.macs()


def test_errors():
    with pytest.raises(ValueError, match="multiple of 2"):
        vivit(**{**KW, "num_frames": 7})
    m = vivit(**KW)
    with pytest.raises(ValueError, match="multiple of 2"):
        m(torch.rand(1, 3, 5, 32, 32))
    with pytest.raises(ValueError, match="init_from"):
        vivit(init_from=nn.Conv2d(3, 16, 8, 8), **KW)
