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


def test_small_data_options_mean_pool_and_clip_norm():
    torch.manual_seed(0)
    m = vivit(pool="mean", input_norm="clip", pos_std=1.0, **KW).eval()
    x = torch.rand(2, 3, 8, 32, 32)
    # per-clip, per-channel standardisation: an affine change of each channel changes nothing
    scale, shift = torch.tensor([2.0, 0.5, 3.0]).view(1, 3, 1, 1, 1), torch.tensor([0.1, -0.3, 0.7]).view(1, 3, 1, 1, 1)
    torch.testing.assert_close(m(x), m(x * scale + shift), rtol=1e-4, atol=1e-4)
    assert 0.5 < float(m.pos.spatial.detach().std()) < 1.0          # truncated at 2 std
    # mean pooling reads the tokens, not the class token: with no blocks, the feature is the
    # normalised mean of the temporal tokens, whatever the class tokens hold
    flat = vivit(pool="mean", **{**KW, "spatial_depth": 0, "temporal_depth": 0}).eval()
    before = flat.forward_features(x)
    with torch.no_grad():
        flat.spatial_cls.add_(1.0), flat.temporal_cls.add_(1.0)
    torch.testing.assert_close(flat.forward_features(x), before)
    cls_model = vivit(**KW).eval()
    assert cls_model.pool == "cls" and cls_model.input_norm is None
    with pytest.raises(ValueError, match="pool"):
        vivit(pool="max", **KW)
    with pytest.raises(ValueError, match="input_norm"):
        vivit(input_norm="frame", **KW)


def test_shipped_vivit_reproduces_its_stated_accuracy():
    """Notebook 26_3_3 prints the shipped ViViT's held-out accuracy (800 clips, seed 2) next to the
    checkpoint's figure: re-scoring must reproduce it, and it must be well above chance."""
    import importlib.util
    from pathlib import Path

    from companion.training import predict

    spec = importlib.util.spec_from_file_location(
        "train_vivit_actions", Path(__file__).resolve().parents[1] / "scripts" / "train_vivit_actions.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model, ckpt = mod.load_shipped()
    val = mod.recipe().val_clips(ckpt["model"])
    logits, labels = predict(model, val, batch_size=200)
    acc = float((logits.argmax(1) == labels).float().mean())
    assert len(val) == ckpt["report"]["n_val"] == 800
    assert abs(acc - ckpt["report"]["held_out_acc"]) <= 1 / 800 + 1e-9
    assert acc > 0.5
