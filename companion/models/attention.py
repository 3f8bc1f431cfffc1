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
import torch.nn.functional as F
from torch import nn

from companion.bench import peak_tensor_bytes  # noqa: F401  (re-exported: the cost sweep uses it)

__all__ = ["explicit_attention", "MultiHeadSelfAttention", "Mlp", "Block", "cost_model", "count_macs", "cost_sweep",
           "plot_cost_sweep", "predicted_crossover", "first_below", "peak_tensor_bytes",
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


def predicted_crossover(num_patches: int, dim: int) -> float:
    """Frame count where a joint and a divided layer cost the same MACs (class tokens ignored):
    the divided block's extra temporal qkv/proj/fc (5 D^2 per token) equals the extra attention of
    the joint block, ``2 N T D (N T - N - T)``, i.e. ``N T - N - T = 2.5 D``."""
    return (2.5 * dim + num_patches) / (num_patches - 1)


def _median_thread_time(fn, repeats: int) -> float:
    import statistics
    import time

    fn()
    times = []
    for _ in range(repeats):
        t0 = time.thread_time()
        fn()
        times.append(time.thread_time() - t0)
    return statistics.median(times)


def cost_sweep(frames, *, img_size: int = 112, patch_size: int = 16, dim: int = 192, heads: int = 3,
               repeats: int = 7, time_it: bool = True, memory: bool = True, progress: bool = False):
    """Measure one layer of each kind in :data:`COST_KINDS` for every ``T`` in ``frames``.

    Each row: ``T``, ``tokens``, ``macs_<kind>`` (FlopCounterMode / 2), ``analytic_<kind>``
    (``model.macs()``), ``attn_<kind>`` (attention matrices only); with ``memory``:
    ``act_<kind>`` (peak bytes of live activations, :func:`peak_tensor_bytes`) and ``mem_<kind>``
    (peak extra resident memory, ``companion.bench.peak_memory``, median of 3: noisy, the
    allocator reuses freed pages); with ``time_it``: ``ms_<kind>`` (wall ms, joint and factorised
    each alternated with divided by ``companion.bench.compare_speed``), ``ratio_joint`` /
    ``ratio_factorised`` (wall time relative to divided) and ``cpu_ms_<kind>`` (median CPU time
    of the calling thread — insensitive to other processes when PyTorch runs one thread).
    """
    import statistics

    from tqdm.auto import tqdm

    from companion.bench import compare_speed, peak_memory

    n = (img_size // patch_size) ** 2
    rows = []
    for t in tqdm(list(frames), desc="frames", disable=not progress):
        clip = torch.rand(1, 3, t, img_size, img_size)
        models = {k: cost_model(k, t, img_size=img_size, patch_size=patch_size, dim=dim, heads=heads)
                  for k in COST_KINDS}
        row = {"T": t, "tokens": n * t, "N": n, "D": dim}
        with torch.no_grad():
            for k, m in models.items():
                row[f"macs_{k}"] = count_macs(m, clip)
                row[f"analytic_{k}"] = m.macs()
                row[f"attn_{k}"] = attention_matrix_macs(k, n, t, dim)
                if memory:
                    row[f"act_{k}"] = peak_tensor_bytes(lambda m=m: m(clip))
                    row[f"mem_{k}"] = statistics.median(peak_memory(lambda m=m: m(clip)) for _ in range(3))
            if time_it:
                jd = compare_speed(lambda: models["joint"](clip), lambda: models["divided"](clip),
                                   repeats=repeats, names=("joint", "divided"))
                fd = compare_speed(lambda: models["factorised"](clip), lambda: models["divided"](clip),
                                   repeats=repeats, names=("factorised", "divided"))
                row.update(ms_joint=jd.median_a_s * 1e3,
                           ms_divided=statistics.median([jd.median_b_s, fd.median_b_s]) * 1e3,
                           ms_factorised=fd.median_a_s * 1e3, ratio_joint=jd.ratio,
                           ratio_factorised=fd.ratio)
                for k, m in models.items():
                    row[f"cpu_ms_{k}"] = _median_thread_time(lambda m=m: m(clip), repeats) * 1e3
        rows.append(row)
    return rows


def first_below(frames, a, b):
    """Smallest T from which ``a[T] < b[T]`` holds for it and every larger T (None if never)."""
    frames = list(frames)
    for i, t in enumerate(frames):
        if all(x < y for x, y in zip(a[i:], b[i:])):
            return t
    return None


def plot_cost_sweep(rows, path=None):
    """MACs (with the theoretical curves), memory and time against T; returns the figure."""
    import matplotlib.pyplot as plt

    ts = [r["T"] for r in rows]
    colours = {"joint": "tab:red", "divided": "tab:blue", "factorised": "tab:green"}
    panels = [("macs", "GMACs (FlopCounterMode / 2)", 1e-9)]
    if "act_joint" in rows[0]:
        panels.append(("act", "peak live activations (MB)", 1e-6))
        panels.append(("mem", "peak extra RSS (MB, noisy)", 1e-6))
    if "cpu_ms_joint" in rows[0]:
        panels.append(("cpu_ms", "CPU time per clip (ms)", 1.0))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    for ax, (key, label, scale) in zip(axes[0], panels):
        for k, c in colours.items():
            ax.plot(ts, [r[f"{key}_{k}"] * scale for r in rows], "o-", color=c, ms=4, label=f"{k} (measured)")
        if key == "macs":
            last = rows[-1]  # attention-only theory, scaled to meet the measurement at the largest T
            for k, form in (("joint", "(NT)²"), ("divided", "NT(N+T)")):
                s = last[f"macs_{k}"] / last[f"attn_{k}"]
                ax.plot(ts, [r[f"attn_{k}"] * s * scale for r in rows], "--", color=colours[k],
                        alpha=0.6, label=f"∝ {form}")
            x = predicted_crossover(rows[0]["N"], rows[0]["D"])
            ax.axvline(x, color="grey", ls=":", label=f"predicted crossover T≈{x:.1f}")
        ax.set_xlabel(f"frames T (N = {rows[0]['N']} patches each)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_title(f"one layer, D = {rows[0]['D']}, batch 1")
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=100)
    return fig
