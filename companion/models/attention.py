"""Self-attention written out by hand (26.3): ``softmax(Q K^T / sqrt(d)) V`` as two matmuls and
a softmax, so the attention weights can be inspected and the matmuls counted.

``torch.nn.functional.scaled_dot_product_attention`` computes the same numbers faster, but on CPU
:class:`torch.utils.flop_counter.FlopCounterMode` counts it as 0 FLOPs; the explicit version is
counted correctly (two batched matmuls of ``L x L x d`` multiply-adds each). Set
``backend="sdpa"`` on a module for speed once you no longer need to look inside.

Cost of the attention matrix alone, per layer, in multiply-accumulates (MACs) at width ``D`` with
``N`` patches per frame and ``T`` frames (see :func:`attention_matrix_macs`):

* joint (every token attends to every token): ``2 (N T)^2 D``
* divided (time within each spatial position, then space within each frame): ``2 N T (N + T) D``
* factorised encoder (space per frame, then time over one token per frame): ``2 (T N^2 + T^2) D``
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["explicit_attention", "MultiHeadSelfAttention", "Mlp", "Block", "cost_model", "count_macs",
           "attention_matrix_macs", "linear_macs_per_token"]


def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask=None, *,
                       return_weights: bool = False):
    """Scaled dot-product attention over the last two dims: ``(..., Lq, d), (..., Lk, d)``.

    ``mask`` follows ``scaled_dot_product_attention``: a bool tensor (True = may attend) or a
    float tensor added to the scores, broadcastable to ``(..., Lq, Lk)``.
    """
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"shape mismatch: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)};"
                         " need q[..., d] == k[..., d] and k[..., L, :] == v[..., L, :]")
    scale = q.shape[-1] ** -0.5
    scores = torch.matmul(q, k.transpose(-2, -1)) * scale          # (..., Lq, Lk)
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
    weights = scores.softmax(dim=-1)
    out = torch.matmul(weights, v)                                  # (..., Lq, d)
    return (out, weights) if return_weights else out


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention ``(B, L, D) -> (B, L, D)`` with one fused qkv projection.

    Parameter layout matches :class:`torch.nn.MultiheadAttention` (``in_proj_weight`` rows =
    [q; k; v], ``out_proj``), see :meth:`load_from_torch`. ``backend`` is ``"explicit"``
    (default: matmul + softmax, countable) or ``"sdpa"`` (PyTorch's fused kernel).
    """

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True, backend: str = "explicit"):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads} (head width = dim/heads)")
        self.dim, self.heads = dim, heads
        self.backend = backend
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.last_weights: torch.Tensor | None = None
        self.keep_weights = False

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        if value not in ("explicit", "sdpa"):
            raise ValueError(f"backend must be 'explicit' or 'sdpa', got {value!r}")
        self._backend = value

    def forward(self, x: torch.Tensor, mask=None) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                            # (B, heads, L, d_head)
        if self.backend == "sdpa" and not self.keep_weights:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            out, w = explicit_attention(q, k, v, mask, return_weights=True)
            self.last_weights = w.detach() if self.keep_weights else None
        return self.proj(out.transpose(1, 2).reshape(b, n, d))

    @torch.no_grad()
    def load_from_torch(self, mha: nn.MultiheadAttention) -> "MultiHeadSelfAttention":
        """Copy the weights of a ``torch.nn.MultiheadAttention`` (same dim, heads) into this module."""
        if mha.embed_dim != self.dim or mha.num_heads != self.heads:
            raise ValueError(f"nn.MultiheadAttention has dim {mha.embed_dim}, heads {mha.num_heads}; "
                             f"this module has dim {self.dim}, heads {self.heads}")
        self.qkv.weight.copy_(mha.in_proj_weight)
        if self.qkv.bias is not None:
            self.qkv.bias.copy_(mha.in_proj_bias)
        self.proj.weight.copy_(mha.out_proj.weight)
        self.proj.bias.copy_(mha.out_proj.bias)
        return self


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm Transformer block: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))`` (ViT)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, backend: str = "explicit"):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MultiHeadSelfAttention(dim, heads, backend=backend)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, mask=None):
        x = x + self.attn(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))

    @torch.no_grad()
    def load_from_torch(self, layer: nn.TransformerEncoderLayer) -> "Block":
        """Copy a ``nn.TransformerEncoderLayer(norm_first=True, activation='gelu')`` into this block."""
        self.attn.load_from_torch(layer.self_attn)
        for mine, theirs in ((self.norm1, layer.norm1), (self.norm2, layer.norm2),
                             (self.mlp.fc1, layer.linear1), (self.mlp.fc2, layer.linear2)):
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
        return self


def attention_matrix_macs(kind: str, num_patches: int, num_frames: int, dim: int) -> int:
    """MACs of the ``Q K^T`` and ``A V`` products of ONE layer (no class tokens, no projections).

    ``kind``: ``"joint"`` -> ``2 (N T)^2 D``; ``"divided"`` -> ``2 N T (N + T) D``;
    ``"factorised"`` -> ``2 (T N^2 + T^2) D`` (one spatial layer per frame + one temporal layer
    over the T frame tokens); ``"space"`` -> ``2 T N^2 D``.
    """
    n, t, d = num_patches, num_frames, dim
    if kind == "joint":
        return 2 * (n * t) ** 2 * d
    if kind == "divided":
        return 2 * n * t * (n + t) * d
    if kind == "factorised":
        return 2 * (t * n * n + t * t) * d
    if kind == "space":
        return 2 * t * n * n * d
    raise ValueError(f"kind must be 'joint', 'divided', 'factorised' or 'space', got {kind!r}")


def linear_macs_per_token(dim: int, mlp_ratio: float = 4.0, *, temporal: bool = False) -> int:
    """MACs of a block's linear layers per token: qkv + proj (4 D^2) + MLP (2 r D^2);
    ``temporal=True`` adds the temporal qkv + proj + temporal_fc of a divided block (5 D^2)."""
    hidden = int(dim * mlp_ratio)
    macs = 4 * dim * dim + 2 * dim * hidden
    return macs + (5 * dim * dim if temporal else 0)


# --------------------------------------------------------------------------------------------
# Measuring the cost (used by benchmarks/bench_attention_cost.py and notebook 26_3_2)
# --------------------------------------------------------------------------------------------

COST_KINDS = ("joint", "divided", "factorised")


def cost_model(kind: str, num_frames: int, *, img_size: int = 112, patch_size: int = 16,
               dim: int = 192, heads: int = 3, backend: str = "explicit") -> nn.Module:
    """One-layer model of each kind at a fixed small width, for cost sweeps over ``num_frames``.

    ``"joint"`` / ``"divided"``: a depth-1 TimeSformer; ``"factorised"``: a ViViT factorised
    encoder with one spatial and one temporal layer and tubelet size 1 (same tokens as the others).
    Defaults (N = 49 patches, D = 192) keep ViT-B's ratio N/D = 196/768.
    """
    from companion.models.timesformer import timesformer
    from companion.models.vivit import vivit

    common = dict(num_frames=num_frames, img_size=img_size, patch_size=patch_size, dim=dim,
                  heads=heads, num_classes=10, backend=backend)
    if kind in ("joint", "divided"):
        return timesformer(attention=kind, depth=1, **common).eval()
    if kind == "factorised":
        return vivit(tubelet_size=1, spatial_depth=1, temporal_depth=1, **common).eval()
    raise ValueError(f"kind must be one of {COST_KINDS}, got {kind!r}")


def count_macs(model: nn.Module, *inputs) -> int:
    """Multiply-accumulates of ``model(*inputs)`` by :class:`FlopCounterMode` (FLOPs / 2).

    Only matmuls and convolutions are counted; with ``backend="sdpa"`` attention counts as 0 on CPU.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return counter.get_total_flops() // 2
