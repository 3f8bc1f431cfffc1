"""26.3 explicit attention vs PyTorch's: scaled_dot_product_attention, nn.MultiheadAttention,
nn.TransformerEncoderLayer; FLOP counting of explicit vs fused attention; the cost formulas."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from companion.models import Block, MultiHeadSelfAttention, attention_matrix_macs, explicit_attention
from companion.models.attention import cost_model, count_macs


def test_explicit_attention_matches_sdpa():
    q, k, v = torch.randn(2, 3, 7, 8), torch.randn(2, 3, 9, 8), torch.randn(2, 3, 9, 8)
    torch.testing.assert_close(explicit_attention(q, k, v), F.scaled_dot_product_attention(q, k, v))
    bool_mask = torch.rand(7, 9) > 0.3
    bool_mask[:, 0] = True                                   # no row fully masked
    torch.testing.assert_close(explicit_attention(q, k, v, bool_mask),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=bool_mask))
    add = torch.randn(7, 9)
    torch.testing.assert_close(explicit_attention(q, k, v, add),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=add))
    out, w = explicit_attention(q, k, v, return_weights=True)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 7))
    assert (explicit_attention(q, k, v * 2) - out).abs().max() > 0.1   # the check can fail


def test_multihead_matches_torch():
    torch.manual_seed(1)
    mha = nn.MultiheadAttention(48, 6, batch_first=True).eval()
    mine = MultiHeadSelfAttention(48, 6).load_from_torch(mha).eval()
    x = torch.randn(3, 11, 48)
    want, _ = mha(x, x, x, need_weights=False)
    torch.testing.assert_close(mine(x), want, rtol=1e-5, atol=1e-5)
    mine.backend = "sdpa"
    torch.testing.assert_close(mine(x), want, rtol=1e-5, atol=1e-5)
    mine.backend, mine.keep_weights = "explicit", True
    mine(x)
    _, w = mha(x, x, x, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(mine.last_weights, w, rtol=1e-5, atol=1e-6)


def test_block_matches_transformer_encoder_layer():
    torch.manual_seed(2)
    layer = nn.TransformerEncoderLayer(32, 4, dim_feedforward=128, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True, layer_norm_eps=1e-6).eval()
    blk = Block(32, 4).load_from_torch(layer).eval()
    x = torch.randn(2, 13, 32)
    torch.testing.assert_close(blk(x), layer(x), rtol=1e-5, atol=1e-5)


def test_bad_shapes_and_settings():
    with pytest.raises(ValueError, match="divisible by heads"):
        MultiHeadSelfAttention(30, 4)
    with pytest.raises(ValueError, match="backend"):
        MultiHeadSelfAttention(32, 4, backend="flash")
    with pytest.raises(ValueError, match="shape mismatch"):
        explicit_attention(torch.randn(2, 4, 8), torch.randn(2, 4, 6), torch.randn(2, 4, 6))


def test_flop_counter_sees_explicit_attention_but_not_sdpa_on_cpu():
    x = torch.randn(1, 50, 64)
    a = MultiHeadSelfAttention(64, 4)
    proj = 50 * 64 * 3 * 64 + 50 * 64 * 64                  # qkv + output projection
    assert count_macs(a, x) == proj + 2 * 50 * 50 * 64      # + Q K^T + A V
    a.backend = "sdpa"
    assert count_macs(a, x) == proj                         # the facts-file caveat


@pytest.mark.parametrize("T", [2, 5, 16])
def test_cost_models_counted_equal_analytic(T):
    for kind in ("joint", "divided", "factorised"):
        m = cost_model(kind, T, img_size=32, patch_size=8, dim=32, heads=2)
        assert count_macs(m, torch.rand(1, 3, T, 32, 32)) == m.macs(), kind


def test_attention_matrix_formulas():
    n, t, d = 196, 8, 768
    assert attention_matrix_macs("joint", n, t, d) == 2 * (n * t) ** 2 * d
    assert attention_matrix_macs("divided", n, t, d) == 2 * n * t * (n + t) * d
    assert attention_matrix_macs("divided", n, t, d) == (attention_matrix_macs("space", n, t, d)
                                                         + 2 * n * t * t * d)
    assert attention_matrix_macs("factorised", n, t, d) == 2 * (t * n * n + t * t) * d
    with pytest.raises(ValueError):
        attention_matrix_macs("sparse", n, t, d)
