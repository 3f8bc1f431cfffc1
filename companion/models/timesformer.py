"""TimeSformer (26.3): a ViT over space-time tokens with three kinds of self-attention.

* ``attention="joint"`` — one attention over all ``1 + T N`` tokens (class token + every patch
  of every frame): cost grows like ``(N T)^2``.
* ``attention="divided"`` — TimeSformer's block: first *temporal* attention (each spatial
  position attends to itself in the other frames: ``N`` sequences of length ``T``), a linear
  ``temporal_fc`` and a residual; then *spatial* attention (``T`` sequences of length ``1 + N``,
  the class token copied into every frame and its ``T`` outputs averaged back); then the MLP.
  Cost grows like ``N T (N + T)``.
* ``attention="space"`` — no temporal attention at all: each frame goes through the ViT alone
  and the frames' class tokens are averaged at the end. It cannot see the order of frames.

The temporal parts start at zero (``temporal_fc`` weight and bias, the temporal position
table), so an untrained divided model is *exactly* the space-only model on a clip of one repeated
frame: image-pretrained ViT weights can be loaded and training starts from the image model. The
price: at step 0 no gradient reaches the temporal attention (its output is multiplied by the zero
``temporal_fc``). ``temporal_fc_std > 0`` starts ``temporal_fc`` random instead, and
``block_order="space_time"`` swaps the divided block's two steps (both measured on the synthetic
actions in notebook 26_3_2 and ``scripts/train_timesformer_actions.py``: neither lets the one-block
divided model learn rotate cw vs ccw).

Token layout: ``[cls, (t=0, patches row-major), (t=1, ...), ...]`` — shape ``(B, 1 + T N, D)``.
"""

from __future__ import annotations

import torch
from torch import nn

from companion.models.attention import Block, Mlp, MultiHeadSelfAttention
from companion.models.tubelets import SpaceTimePositionEmbedding, TubeletEmbedding, token_grid

__all__ = ["TimeSformer", "DividedBlock", "timesformer", "ATTENTION_KINDS", "temporal_sequences",
           "train_on_actions", "reversal_pair_accuracy", "ACTIONS_MODEL", "ACTIONS_FIT",
           "spatial_sequences"]

ATTENTION_KINDS = ("divided", "joint", "space")
BLOCK_ORDERS = ("time_space", "space_time")


def temporal_sequences(patches: torch.Tensor, num_frames: int, num_patches: int) -> torch.Tensor:
    """``(B, T N, D)`` (frame-major) -> ``(B N, T, D)``: one sequence per spatial position,
    holding that position in every frame — what temporal attention attends over."""
    b, _, d = patches.shape
    return patches.reshape(b, num_frames, num_patches, d).transpose(1, 2).reshape(b * num_patches, num_frames, d)


def from_temporal_sequences(x: torch.Tensor, num_frames: int, num_patches: int) -> torch.Tensor:
    """Inverse of :func:`temporal_sequences`: ``(B N, T, D)`` -> ``(B, T N, D)``."""
    d = x.shape[-1]
    b = x.shape[0] // num_patches
    return x.reshape(b, num_patches, num_frames, d).transpose(1, 2).reshape(b, num_frames * num_patches, d)


def spatial_sequences(patches: torch.Tensor, num_frames: int, num_patches: int) -> torch.Tensor:
    """``(B, T N, D)`` -> ``(B T, N, D)``: one sequence per frame — what spatial attention sees."""
    b, _, d = patches.shape
    return patches.reshape(b * num_frames, num_patches, d)


class DividedBlock(nn.Module):
    """Temporal attention -> temporal_fc -> residual; spatial attention (cls per frame) -> residual; MLP.

    ``order="time_space"`` is TimeSformer's; ``"space_time"`` runs the spatial step first, so the
    temporal step compares tokens that already know their frame (a diagnostic of notebook 26_3_2:
    on the synthetic actions it did not help the one-block model, 0.82-0.86 vs 0.861)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, backend: str = "explicit",
                 order: str = "time_space"):
        super().__init__()
        if order not in BLOCK_ORDERS:
            raise ValueError(f"order must be one of {BLOCK_ORDERS}, got {order!r}")
        self.order = order
        self.temporal_norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.temporal_attn = MultiHeadSelfAttention(dim, heads, backend=backend)
        self.temporal_fc = nn.Linear(dim, dim)
        nn.init.zeros_(self.temporal_fc.weight)
        nn.init.zeros_(self.temporal_fc.bias)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MultiHeadSelfAttention(dim, heads, backend=backend)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def time_step(self, x: torch.Tensor, t: int, n: int) -> torch.Tensor:
        """Patches attend to their own position in the other frames: (B, T N, D) -> (B N, T, D)."""
        cls, patches = x[:, :1], x[:, 1:]
        xt = temporal_sequences(patches, t, n)
        xt = xt + self.temporal_fc(self.temporal_attn(self.temporal_norm1(xt)))
        return torch.cat([cls, from_temporal_sequences(xt, t, n)], dim=1)

    def space_step(self, x: torch.Tensor, t: int, n: int) -> torch.Tensor:
        """One sequence per frame, (B T, 1 + N, D), the class token copied into each; its T outputs
        are averaged back into one."""
        b, _, d = x.shape
        cls, patches = x[:, :1], x[:, 1:]
        xs = torch.cat([cls.expand(b, t, d).reshape(b * t, 1, d), spatial_sequences(patches, t, n)], dim=1)
        ys = self.attn(self.norm1(xs)).reshape(b, t, 1 + n, d)
        cls_update = ys[:, :, 0].mean(dim=1, keepdim=True)              # average the T copies
        return x + torch.cat([cls_update, ys[:, :, 1:].reshape(b, t * n, d)], dim=1)

    def forward(self, x: torch.Tensor, num_frames: int, num_patches: int) -> torch.Tensor:
        t, n = num_frames, num_patches
        if self.order == "time_space":
            x = self.space_step(self.time_step(x, t, n), t, n)
        else:
            x = self.time_step(self.space_step(x, t, n), t, n)
        return x + self.mlp(self.norm2(x))


class TimeSformer(nn.Module):
    """Video ViT with ``attention`` in ``"divided" | "joint" | "space"``: clip ``(B,C,T,H,W)`` -> logits."""

    def __init__(self, *, num_frames: int = 8, img_size=224, patch_size=16, in_channels: int = 3,
                 dim: int = 768, depth: int = 12, heads: int = 12, mlp_ratio: float = 4.0,
                 num_classes: int = 400, attention: str = "divided", backend: str = "explicit",
                 pos_std: float = 0.02, input_norm: str | None = None, pool: str = "cls",
                 time_std: float = 0.0, qk_std: float | None = None, temporal_fc_std: float = 0.0,
                 block_order: str = "time_space"):
        super().__init__()
        if input_norm not in (None, "clip"):
            raise ValueError(f"input_norm must be None or 'clip', got {input_norm!r}")
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', got {pool!r}")
        self.input_norm, self.pool = input_norm, pool
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {attention!r}")
        if block_order not in BLOCK_ORDERS:
            raise ValueError(f"block_order must be one of {BLOCK_ORDERS}, got {block_order!r}")
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        t, gh, gw = token_grid(num_frames, img_size, patch_size, 1)
        self.attention, self.num_frames, self.dim = attention, num_frames, dim
        self.patch_embed = TubeletEmbedding(in_channels, dim, patch_size, tubelet_size=1)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.cls_pos = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.cls_pos, std=0.02)
        self.pos = SpaceTimePositionEmbedding(t, (gh, gw), dim, std=pos_std,
                                              temporal_init="none" if attention == "space" else "zeros")
        if time_std and self.pos.temporal is not None:   # opt out of the zero start (small-data recipe)
            nn.init.trunc_normal_(self.pos.temporal, std=time_std, a=-2 * time_std, b=2 * time_std)
        if attention == "divided":
            self.blocks = nn.ModuleList(DividedBlock(dim, heads, mlp_ratio, backend, block_order)
                                        for _ in range(depth))
        else:
            self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, backend) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)
        self.apply(_init_linear)
        if temporal_fc_std < 0:
            raise ValueError(f"temporal_fc_std must be >= 0 (0 = TimeSformer's zero start), got {temporal_fc_std!r}")
        for blk in self.blocks:  # _init_linear must not undo the zero start of temporal_fc
            if isinstance(blk, DividedBlock):
                nn.init.zeros_(blk.temporal_fc.weight)
                nn.init.zeros_(blk.temporal_fc.bias)
                if temporal_fc_std:   # opt out of the zero start: the temporal path is open from step 0
                    nn.init.trunc_normal_(blk.temporal_fc.weight, std=temporal_fc_std,
                                          a=-2 * temporal_fc_std, b=2 * temporal_fc_std)
        if qk_std is not None:  # wider start for the query and key projections (see ACTIONS_MODEL)
            if qk_std <= 0:
                raise ValueError(f"qk_std must be a positive std (or None for ViT's 0.02), got {qk_std!r}")
            for m in self.modules():
                if isinstance(m, MultiHeadSelfAttention):
                    nn.init.trunc_normal_(m.qkv.weight[:2 * dim], std=qk_std, a=-2 * qk_std, b=2 * qk_std)

    def set_backend(self, backend: str) -> "TimeSformer":
        for m in self.modules():
            if isinstance(m, MultiHeadSelfAttention):
                m.backend = backend
        return self

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The normalised class-token feature ``(B, D)``."""
        if self.input_norm == "clip":   # standardise each clip per channel (removes its colour cast)
            self.patch_embed.grid(x)
            x = (x - x.mean((2, 3, 4), keepdim=True)) / (x.std((2, 3, 4), keepdim=True) + 1e-6)
        tokens = self.patch_embed(x)                                     # (B, T, N, D)
        b, t, n, d = tokens.shape
        grid = self.patch_embed.grid(x)[1:]
        tokens = self.pos(tokens, grid)
        cls = self.cls_token + self.cls_pos
        if self.attention == "space":
            z = torch.cat([cls.expand(b * t, 1, d), tokens.reshape(b * t, n, d)], dim=1)
            for blk in self.blocks:
                z = blk(z)
            z = z.reshape(b, t, 1 + n, d)
            if self.pool == "mean":
                return self.norm(z[:, :, 1:]).mean(dim=(1, 2))
            return self.norm(z[:, :, 0].mean(dim=1))
        z = torch.cat([cls.expand(b, 1, d), tokens.reshape(b, t * n, d)], dim=1)
        for blk in self.blocks:
            z = blk(z, t, n) if self.attention == "divided" else blk(z)
        z = self.norm(z)
        return z[:, 1:].mean(dim=1) if self.pool == "mean" else z[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))

    def macs(self, num_frames: int | None = None, img_size=None) -> int:
        """Exact multiply-accumulates of one forward pass on one clip, counting every linear /
        conv / attention matmul (what ``FlopCounterMode`` counts, divided by 2)."""
        num_frames = num_frames or self.num_frames
        ph, pw = self.patch_embed.patch_size
        img = img_size or (self.pos.grid_hw[0] * ph, self.pos.grid_hw[1] * pw)
        t, gh, gw = token_grid(num_frames, img, (ph, pw), 1)
        n, d = gh * gw, self.dim
        hidden = self.blocks[0].mlp.fc1.out_features if len(self.blocks) else 0
        c = self.patch_embed.in_channels
        lin = 4 * d * d + 2 * d * hidden
        total = t * n * d * c * ph * pw + d * self.head.out_features
        for _ in self.blocks:
            if self.attention == "joint":
                L = n * t + 1
                total += L * lin + 2 * L * L * d
            elif self.attention == "space":
                L = n + 1
                total += t * (L * lin + 2 * L * L * d)
            else:
                total += n * t * 5 * d * d + 2 * n * t * t * d                 # temporal part
                total += t * (n + 1) * 4 * d * d + 2 * t * (n + 1) ** 2 * d      # spatial part
                total += (n * t + 1) * 2 * d * hidden                            # MLP
        return total


def _init_linear(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def timesformer(*, attention: str = "divided", num_frames: int = 8, img_size=224, patch_size=16,
                dim: int = 768, depth: int = 12, heads: int = 12, num_classes: int = 400,
                in_channels: int = 3, mlp_ratio: float = 4.0, backend: str = "explicit",
                pos_std: float = 0.02, input_norm: str | None = None, pool: str = "cls",
                time_std: float = 0.0, qk_std: float | None = None,
                temporal_fc_std: float = 0.0, block_order: str = "time_space") -> TimeSformer:
    """Build a :class:`TimeSformer`. Defaults are TimeSformer-Base (8 x 224^2, patch 16);
    the companion trains e.g. ``timesformer(num_frames=8, img_size=32, patch_size=8, dim=64,
    depth=2, heads=4, num_classes=6)`` on CPU. ``pos_std``: spread of the learned spatial position
    table at initialisation (0.02 as in ViT; the temporal table always starts at zero).
    ``input_norm="clip"`` standardises each clip per colour channel (over T, H, W) first — it is
    symmetric in time, so it tells the model nothing about frame order. ``pool``: classify the
    class token (``"cls"``, TimeSformer) or the mean of the final patch tokens (``"mean"``).
    ``temporal_fc_std``: 0 (default, TimeSformer) starts ``temporal_fc`` at zero, so an untrained
    divided model is the image model; a positive std starts it random instead (divided only).
    ``block_order``: ``"time_space"`` (TimeSformer) or ``"space_time"`` (divided only; see
    :class:`DividedBlock`)."""
    return TimeSformer(num_frames=num_frames, img_size=img_size, patch_size=patch_size,
                       in_channels=in_channels, dim=dim, depth=depth, heads=heads,
                       mlp_ratio=mlp_ratio, num_classes=num_classes, attention=attention,
                       backend=backend, pos_std=pos_std, input_norm=input_norm, pool=pool,
                       time_std=time_std, qk_std=qk_std, temporal_fc_std=temporal_fc_std,
                       block_order=block_order)


# --------------------------------------------------------------------------------------------
# The companion's small recipe on the synthetic actions of 26.2 (used by the benchmark, the
# training script and notebook 26_3_2)
# --------------------------------------------------------------------------------------------

#: Small TimeSformer on the synthetic actions: 8 frames of 32x32, patch 8 (16 positions x 8 frames
#: = 128 tokens), width 64, 3 blocks, 4 heads. The spatial position table starts with std 1 instead
#: of ViT's 0.02: with std 0.02 a small transformer trained for a few hundred steps sits at chance
#: for a long time before it discovers where its tokens are (measured on a quadrant toy task:
#: ~170 steps to take off with 0.02, ~50 with 1.0).
#: Two more choices that matter at this scale (measured: with the class token and raw [0, 1] clips
#: the model sat at chance for 2+ epochs): each clip is standardised per colour channel
#: (``input_norm="clip"``; the synthetic backgrounds have random colour casts) and the classifier
#: reads the mean of the patch tokens (``pool="mean"``). Neither tells the model anything about
#: the order of frames.
#: Finally the temporal position table starts random (std 1) instead of at zero: from zero, order
#: information has to grow through two zero-initialised factors (the table and ``temporal_fc``)
#: and in 12 epochs it did not — held-out 41 % with within-pair accuracy 0.51, i.e. it learned the
#: pairs but not the direction; with ``time_std=1`` the same run learns the direction too.
ACTIONS_MODEL = dict(num_frames=8, img_size=32, patch_size=8, dim=64, depth=3, heads=4, num_classes=8,
                     pos_std=1.0, input_norm="clip", pool="mean", time_std=1.0)
ACTIONS_FIT = dict(epochs=12, batch_size=16, lr=1e-3, weight_decay=0.05, warmup_steps=100, seed=0)
ACTIONS_DATA = dict(n_train=2400, n_val=800, train_seed=1, val_seed=2)


def actions_datasets(n_train: int = ACTIONS_DATA["n_train"], n_val: int = ACTIONS_DATA["n_val"], *,
                     train_seed: int = ACTIONS_DATA["train_seed"], val_seed: int = ACTIONS_DATA["val_seed"]):
    """Training and held-out :class:`~companion.synthetic.actions.ActionClips` (cached), disjoint seeds."""
    from companion.synthetic.actions import ActionClips

    kw = dict(num_frames=ACTIONS_MODEL["num_frames"], size=ACTIONS_MODEL["img_size"], cache=True)
    return ActionClips(n_train, seed=train_seed, **kw), ActionClips(n_val, seed=val_seed, **kw)


def reversal_pair_accuracy(logits: torch.Tensor, labels: torch.Tensor, pairs) -> float:
    """Accuracy of telling a class from its time reversal: for each clip whose label is in a
    pair ``(a, b)``, the prediction is whichever of the two logits is larger. Chance = 0.5."""
    correct, total = 0, 0
    for a, b in pairs:
        sel = (labels == a) | (labels == b)
        if sel.any():
            pred = torch.where(logits[sel, a] >= logits[sel, b], a, b)
            correct += int((pred == labels[sel]).sum())
            total += int(sel.sum())
    if total == 0:
        raise ValueError("no clip of any reversal pair in labels")
    return correct / total


def train_on_actions(attention: str = "divided", *, epochs: int | None = None, n_train: int | None = None,
                     n_val: int | None = None, threads: int | None = 1, progress: bool = True,
                     n_val_curve: int = 200, **fit_overrides):
    """Train the :data:`ACTIONS_MODEL` TimeSformer on synthetic actions with ``companion.training.fit``.

    Returns ``(model, history, report)``; ``report`` holds held-out accuracy, reversal-pair
    accuracy, the CPU seconds (``time.process_time``) and wall seconds of data generation +
    training + predicting the held-out set, and the settings. The per-epoch held-out curve in
    ``history`` uses the first ``n_val_curve`` held-out clips. ``threads=1`` pins PyTorch to one thread, so CPU seconds bound the
    wall time on an idle core.
    """
    import time

    from companion.config import seed_everything
    from companion.synthetic.actions import REVERSAL_PAIRS
    from companion.training import evaluate, fit, predict

    if threads:
        torch.set_num_threads(threads)
    fit_kw = {**ACTIONS_FIT, **fit_overrides}
    if epochs is not None:
        fit_kw["epochs"] = epochs
    seed_everything(fit_kw["seed"])
    cpu0, wall0 = time.process_time(), time.perf_counter()
    train, val = actions_datasets(n_train or ACTIONS_DATA["n_train"], n_val or ACTIONS_DATA["n_val"])
    model = timesformer(attention=attention, **ACTIONS_MODEL)
    # the per-epoch curve uses the first ``n_val_curve`` held-out clips; the final numbers all of them
    curve = torch.utils.data.Subset(val, range(min(n_val_curve, len(val))))
    hist = fit(model, train, curve, progress=progress, desc=f"{attention}", **fit_kw)
    logits, labels = predict(model, val, batch_size=100)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    ev = evaluate(model, val, batch_size=100)
    report = dict(attention=attention, held_out_acc=ev["acc"], train_acc=hist.train_acc[-1],
                  pair_acc=reversal_pair_accuracy(logits, labels, REVERSAL_PAIRS),
                  cpu_s=cpu, wall_s=wall, threads=torch.get_num_threads(), n_train=len(train),
                  n_val=len(val), fit=fit_kw, model=dict(ACTIONS_MODEL), confusion=ev["confusion"].tolist())
    return model, hist, report
