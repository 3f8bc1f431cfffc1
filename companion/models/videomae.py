"""VideoMAE (26.3): masked autoencoding of video with tube masking.

* **Tube masking** (:func:`tube_mask`): draw ONE random set of spatial positions and mask it in
  every temporal slot, ``int(ratio * N)`` of the ``N`` positions (176 of 196 at ratio 0.9). A
  masked patch cannot be copied from the same place in the neighbouring frame, because that place
  is masked too — with random (per-token) masking at 90 % the task would be easy interpolation.
* **Asymmetric encoder** (:class:`VideoMAEEncoder`): only the visible tokens (10 %) enter the
  encoder, so pretraining costs a tenth of a full forward pass (and attention a hundredth).
* **Light decoder**: the encoded visible tokens go back to their places, a shared learned mask
  token fills the holes, position embeddings are added again, and a few narrow blocks predict
  the pixels of each masked tubelet.
* **Target** (:func:`normalized_pixel_target`): every tubelet's pixels, normalised per tubelet
  and per channel — ``(x - mean) / (std + 1e-6)`` with the unbiased std over the tubelet's
  ``t p p`` pixels. The loss is the mean squared error on the masked tubelets only.

Fine-tuning: :class:`VideoMAEClassifier` runs the encoder on all tokens, averages them and
classifies. ``videomae_classifier(encoder=pretrained.encoder, num_classes=...)`` starts from a
pretraining run.
"""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from companion.models.attention import Block
from companion.models.timesformer import _init_linear
from companion.models.tubelets import SpaceTimePositionEmbedding, TubeletEmbedding, token_grid

__all__ = ["tube_mask", "tube_mask_from_scores", "random_token_mask", "patchify", "unpatchify", "normalized_pixel_target",
           "VideoMAEEncoder", "VideoMAE", "VideoMAEClassifier", "videomae", "videomae_classifier",
           "pretrain", "TINY_MAE", "encoder_features", "linear_probe", "copy_nearest_visible"]


def _check_ratio(ratio) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 < float(ratio) < 1.0:
        raise ValueError(f"mask ratio must be a number strictly between 0 and 1 (e.g. 0.9), got {ratio!r}")
    return float(ratio)


def tube_mask(batch: int, num_slots: int, num_patches: int, ratio: float = 0.9, *,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Boolean mask ``(batch, num_slots, num_patches)``, True = masked (hidden from the encoder).

    Per clip, ``int(ratio * num_patches)`` spatial positions are drawn without replacement and
    masked in EVERY temporal slot. Each clip gets its own positions.
    """
    ratio = _check_ratio(ratio)
    for v, name in ((batch, "batch"), (num_slots, "num_slots"), (num_patches, "num_patches")):
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    scores = torch.rand(batch, num_patches, generator=generator)
    return tube_mask_from_scores(scores, num_slots, ratio)


def tube_mask_from_scores(scores: torch.Tensor, num_slots: int, ratio: float = 0.9) -> torch.Tensor:
    """The deterministic core of :func:`tube_mask`: given one random score per spatial position
    ``(B, N)``, mask the ``int(ratio * N)`` positions with the LOWEST scores, in all ``num_slots``
    temporal slots. Returns bool ``(B, num_slots, N)``."""
    ratio = _check_ratio(ratio)
    b, n = scores.shape
    n_mask = int(ratio * n)
    order = scores.argsort(dim=1, stable=True)
    spatial = torch.zeros(b, n, dtype=torch.bool)
    spatial.scatter_(1, order[:, :n_mask], True)
    return spatial[:, None, :].expand(b, num_slots, n).clone()


def random_token_mask(batch: int, num_slots: int, num_patches: int, ratio: float = 0.9, *,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-token random masking (the easy baseline tube masking improves on): the same number
    ``int(ratio * num_slots * num_patches)`` of tokens per clip, drawn anywhere in space-time."""
    ratio = _check_ratio(ratio)
    total = num_slots * num_patches
    n_mask = int(ratio * total)
    order = torch.rand(batch, total, generator=generator).argsort(dim=1)
    m = torch.zeros(batch, total, dtype=torch.bool)
    m.scatter_(1, order[:, :n_mask], True)
    return m.reshape(batch, num_slots, num_patches)


def patchify(clip: torch.Tensor, patch_size: int, tubelet_size: int) -> torch.Tensor:
    """``(B, C, T, H, W)`` -> ``(B, T' h w, t p p C)``: the pixels of each tubelet, channel last,
    tokens in the same order as :class:`TubeletEmbedding` (slot, then row-major grid)."""
    b, c, T, H, W = clip.shape
    t, gh, gw = token_grid(T, (H, W), patch_size, tubelet_size)
    p, tt = patch_size, tubelet_size
    x = clip.reshape(b, c, t, tt, gh, p, gw, p)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)              # b, t', gh, gw, tt, p, p, c
    return x.reshape(b, t * gh * gw, tt * p * p * c)


def unpatchify(tokens: torch.Tensor, grid, patch_size: int, tubelet_size: int,
               channels: int = 3) -> torch.Tensor:
    """Inverse of :func:`patchify` for a token grid ``(T', h, w)``."""
    t, gh, gw = grid
    p, tt = patch_size, tubelet_size
    b = tokens.shape[0]
    x = tokens.reshape(b, t, gh, gw, tt, p, p, channels)
    x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)              # b, c, t', tt, gh, p, gw, p
    return x.reshape(b, channels, t * tt, gh * p, gw * p)


def normalized_pixel_target(clip: torch.Tensor, patch_size: int, tubelet_size: int,
                            eps: float = 1e-6) -> torch.Tensor:
    """Per-tubelet, per-channel normalised pixels ``(B, L, t p p C)``: ``(x - mean) / (std + eps)``,
    std unbiased, over the ``t p p`` pixels of one channel of one tubelet."""
    b, c = clip.shape[:2]
    x = patchify(clip, patch_size, tubelet_size)       # (B, L, tpp*C) channel last
    x = x.reshape(b, x.shape[1], -1, c)
    mean = x.mean(dim=-2, keepdim=True)
    std = x.var(dim=-2, unbiased=True, keepdim=True).sqrt()
    return ((x - mean) / (std + eps)).reshape(b, x.shape[1], -1)


class VideoMAEEncoder(nn.Module):
    """Tubelet embedding + fixed sin-cos space-time positions + ViT blocks, on visible tokens only."""

    def __init__(self, *, num_frames: int, img_size, patch_size: int, tubelet_size: int,
                 in_channels: int, dim: int, depth: int, heads: int, mlp_ratio: float = 4.0,
                 backend: str = "explicit"):
        super().__init__()
        t, gh, gw = token_grid(num_frames, img_size, patch_size, tubelet_size)
        self.grid = (t, gh, gw)
        self.num_frames, self.patch_size, self.tubelet_size = num_frames, patch_size, tubelet_size
        self.in_channels, self.dim = in_channels, dim
        self.patch_embed = TubeletEmbedding(in_channels, dim, patch_size, tubelet_size)
        self.pos = SpaceTimePositionEmbedding(t, (gh, gw), dim, temporal_init="sincos")
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, backend) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, clip: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encoded tokens: ``(B, L, D)`` without a mask, ``(B, L_visible, D)`` with one
        (``mask``: bool ``(B, T', N)`` or ``(B, L)``, True = masked, same count per clip)."""
        tokens = self.patch_embed(clip)
        grid = self.patch_embed.grid(clip)
        tokens = self.pos(tokens, grid[1:])
        b, t, n, d = tokens.shape
        x = tokens.reshape(b, t * n, d)
        if mask is not None:
            mask = _flat_mask(mask, b, t * n)
            visible = (~mask).sum(dim=1)
            if not torch.all(visible == visible[0]):
                raise ValueError("every clip in the batch must have the same number of visible tokens")
            if int(visible[0]) == 0:
                raise ValueError("the mask hides every token: nothing is left for the encoder")
            x = x[~mask].reshape(b, int(visible[0]), d)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


def _flat_mask(mask: torch.Tensor, b: int, length: int) -> torch.Tensor:
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True = masked), got {mask.dtype}")
    mask = mask.reshape(mask.shape[0], -1)
    if tuple(mask.shape) != (b, length):
        raise ValueError(f"mask has {tuple(mask.shape)} entries after flattening, expected ({b}, {length})")
    return mask


class VideoMAE(nn.Module):
    """Masked autoencoder: ``loss, pred, mask = model(clip)`` (pred: pixels of the masked tubelets)."""

    def __init__(self, *, num_frames: int = 16, img_size=224, patch_size: int = 16,
                 tubelet_size: int = 2, in_channels: int = 3, dim: int = 768, depth: int = 12,
                 heads: int = 12, decoder_dim: int = 384, decoder_depth: int = 4,
                 decoder_heads: int = 6, mlp_ratio: float = 4.0, mask_ratio: float = 0.9,
                 norm_pix_loss: bool = True, backend: str = "explicit"):
        super().__init__()
        self.mask_ratio = _check_ratio(mask_ratio)
        self.norm_pix_loss = norm_pix_loss
        self.encoder = VideoMAEEncoder(num_frames=num_frames, img_size=img_size,
                                       patch_size=patch_size, tubelet_size=tubelet_size,
                                       in_channels=in_channels, dim=dim, depth=depth, heads=heads,
                                       mlp_ratio=mlp_ratio, backend=backend)
        t, gh, gw = self.encoder.grid
        self.encoder_to_decoder = nn.Linear(dim, decoder_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.decoder_pos = SpaceTimePositionEmbedding(t, (gh, gw), decoder_dim, temporal_init="sincos")
        self.decoder_blocks = nn.ModuleList(Block(decoder_dim, decoder_heads, mlp_ratio, backend)
                                            for _ in range(decoder_depth))
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=1e-6)
        self.decoder_head = nn.Linear(decoder_dim, tubelet_size * patch_size * patch_size * in_channels)
        self.apply(_init_linear)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def make_mask(self, clip: torch.Tensor, ratio: float | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
        t, gh, gw = self.encoder.patch_embed.grid(clip)
        return tube_mask(clip.shape[0], t, gh * gw, self.mask_ratio if ratio is None else ratio,
                         generator=generator)

    def forward(self, clip: torch.Tensor, mask: torch.Tensor | None = None):
        if mask is None:
            mask = self.make_mask(clip).to(clip.device)
        grid = self.encoder.patch_embed.grid(clip)
        b, (t, gh, gw) = clip.shape[0], grid
        length = t * gh * gw
        flat = _flat_mask(mask, b, length)
        x = self.encoder_to_decoder(self.encoder(clip, flat))           # (B, L_vis, Dd)
        dd = x.shape[-1]
        full = self.mask_token.expand(b, length, dd).clone()
        full[~flat] = x.reshape(-1, dd)
        full = self.decoder_pos(full.reshape(b, t, gh * gw, dd), (gh, gw)).reshape(b, length, dd)
        for blk in self.decoder_blocks:
            full = blk(full)
        pred_all = self.decoder_head(self.decoder_norm(full))            # (B, L, tppC)
        if self.norm_pix_loss:
            target = normalized_pixel_target(clip, self.encoder.patch_size, self.encoder.tubelet_size)
        else:
            target = patchify(clip, self.encoder.patch_size, self.encoder.tubelet_size)
        loss = F.mse_loss(pred_all[flat], target[flat])
        return loss, pred_all, flat

    @torch.no_grad()
    def reconstruct(self, clip: torch.Tensor, mask: torch.Tensor | None = None):
        """``(masked_input, reconstruction, mask)`` as clips ``(B,C,T,H,W)`` for display.

        With the normalised-pixel target the prediction is in normalised units; it is mapped back
        with the *true* tubelet mean and std (as the VideoMAE visualisation does), and visible
        tubelets show the input.
        """
        was = self.training
        self.eval()
        if mask is None:
            mask = self.make_mask(clip)
        _, pred, flat = self(clip, mask)
        self.train(was)
        enc = self.encoder
        pix = patchify(clip, enc.patch_size, enc.tubelet_size)
        b, L, _ = pix.shape
        c = enc.in_channels
        if self.norm_pix_loss:
            px = pix.reshape(b, L, -1, c)
            mean, std = px.mean(-2, keepdim=True), px.var(-2, unbiased=True, keepdim=True).sqrt()
            pred = (pred.reshape(b, L, -1, c) * (std + 1e-6) + mean).reshape(b, L, -1)
        rec = torch.where(flat[..., None], pred, pix)
        shown = torch.where(flat[..., None], torch.full_like(pix, 0.5), pix)
        grid = enc.patch_embed.grid(clip)
        back = lambda tk: unpatchify(tk, grid, enc.patch_size, enc.tubelet_size, c).clamp(0, 1)
        return back(shown), back(rec), flat


class VideoMAEClassifier(nn.Module):
    """Encoder on all tokens -> mean over tokens -> LayerNorm -> linear head."""

    def __init__(self, encoder: VideoMAEEncoder, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.fc_norm = nn.LayerNorm(encoder.dim, eps=1e-6)
        self.head = nn.Linear(encoder.dim, num_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.head(self.fc_norm(self.encoder(clip).mean(dim=1)))


def videomae(*, num_frames: int = 16, img_size=224, patch_size: int = 16, tubelet_size: int = 2,
             dim: int = 768, depth: int = 12, heads: int = 12, decoder_dim: int = 384,
             decoder_depth: int = 4, decoder_heads: int = 6, mask_ratio: float = 0.9,
             in_channels: int = 3, mlp_ratio: float = 4.0, norm_pix_loss: bool = True,
             backend: str = "explicit") -> VideoMAE:
    """Build a :class:`VideoMAE` for pretraining (defaults: ViT-B, tubelet 2x16x16, 4-layer decoder)."""
    return VideoMAE(num_frames=num_frames, img_size=img_size, patch_size=patch_size,
                    tubelet_size=tubelet_size, in_channels=in_channels, dim=dim, depth=depth,
                    heads=heads, decoder_dim=decoder_dim, decoder_depth=decoder_depth,
                    decoder_heads=decoder_heads, mlp_ratio=mlp_ratio, mask_ratio=mask_ratio,
                    norm_pix_loss=norm_pix_loss, backend=backend)


def videomae_classifier(*, num_classes: int, encoder: VideoMAEEncoder | None = None,
                        **encoder_kwargs) -> VideoMAEClassifier:
    """A classifier on a VideoMAE encoder: pass ``encoder=`` (pretrained, e.g. ``mae.encoder``)
    or the encoder's size keywords to start from scratch."""
    if encoder is None:
        defaults = dict(num_frames=16, img_size=224, patch_size=16, tubelet_size=2, in_channels=3,
                        dim=768, depth=12, heads=12)
        defaults.update(encoder_kwargs)
        encoder = VideoMAEEncoder(**defaults)
        encoder.apply(_init_linear)
    elif encoder_kwargs:
        raise ValueError(f"pass either encoder= or size keywords, not both (got {sorted(encoder_kwargs)})")
    return VideoMAEClassifier(encoder, num_classes)


# --------------------------------------------------------------------------------------------
# A tiny CPU recipe on the synthetic actions (scripts/train_videomae_tiny.py, notebook 26_3_4)
# --------------------------------------------------------------------------------------------

#: Tiny VideoMAE: 8 frames of 32x32, tubelet 2x8x8 -> 4 slots x 16 positions = 64 tokens; encoder
#: the size of the small TimeSformer (width 64, 3 blocks, 4 heads), decoder width 32, 1 block.
#: With only 16 positions per slot, ratio 0.9 would leave 1 of 16 (int(0.9*16) = 14 masked, 2 left);
#: the tiny recipe uses 0.75 (12 masked, 4 visible per slot).
TINY_MAE = dict(num_frames=8, img_size=32, patch_size=8, tubelet_size=2, dim=64, depth=3, heads=4,
                decoder_dim=32, decoder_depth=1, decoder_heads=2, mask_ratio=0.75)


def pretrain(model: VideoMAE, dataset, *, epochs: int, batch_size: int = 32, lr: float = 1.5e-3,
             weight_decay: float = 0.05, warmup_steps: int = 50, seed: int = 0,
             max_seconds: float | None = None, progress: bool = True) -> list[float]:
    """Masked-autoencoder pretraining on the clips of ``dataset`` (labels ignored): AdamW, linear
    warm-up then cosine. Returns the per-step losses. ``max_seconds`` stops early (CPU time)."""
    import time

    from tqdm.auto import tqdm

    from companion.config import seed_everything

    seed_everything(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
    n = len(dataset)
    steps_per_epoch = max(1, n // batch_size)
    total = steps_per_epoch * epochs
    gen = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    t0 = time.process_time()
    bar = tqdm(total=total, desc="pretrain", disable=not progress)
    model.train()
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for b in range(steps_per_epoch):
            step = len(losses)
            scale = (step + 1) / warmup_steps if step < warmup_steps else \
                0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total - warmup_steps)))
            for group in opt.param_groups:
                group["lr"] = lr * scale
            clips = torch.stack([dataset[int(i)][0] for i in perm[b * batch_size:(b + 1) * batch_size]])
            mask = model.make_mask(clips, generator=gen)
            loss, _, _ = model(clips, mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if max_seconds is not None and time.process_time() - t0 > max_seconds:
                bar.close()
                model.eval()
                return losses
    bar.close()
    model.eval()
    return losses


# --------------------------------------------------------------------------------------------
# Measuring what pretraining learned: frozen features and a linear probe
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def encoder_features(encoder: VideoMAEEncoder, dataset, batch_size: int = 100,
                     pool: str = "tokens") -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen features of every clip of ``dataset`` and the labels.

    ``pool="tokens"``: the encoder on all tokens, averaged over tokens (what
    :class:`VideoMAEClassifier` feeds its head), ``(len, D)``. ``pool="slots"``: averaged over the
    spatial positions of each temporal slot and the slots concatenated in time order,
    ``(len, T' D)`` — a linear probe on these can weigh early and late slots differently, which
    it needs to tell an action from its time reversal; on the token average it cannot."""
    if pool not in ("tokens", "slots"):
        raise ValueError(f"pool must be 'tokens' or 'slots', got {pool!r}")
    was = encoder.training
    encoder.eval()
    t, gh, gw = encoder.grid
    feats, labels = [], []
    for i in range(0, len(dataset), batch_size):
        items = [dataset[j] for j in range(i, min(i + batch_size, len(dataset)))]
        x = encoder(torch.stack([c for c, _ in items]))
        if pool == "tokens":
            feats.append(x.mean(dim=1))
        else:
            feats.append(x.reshape(len(items), t, gh * gw, -1).mean(dim=2).reshape(len(items), -1))
        labels.append(torch.tensor([int(y) for _, y in items]))
    encoder.train(was)
    return torch.cat(feats), torch.cat(labels)


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor, *,
                 num_classes: int, weight_decay: float = 1e-3, iters: int = 200, return_pred: bool = False):
    """Accuracy on ``test`` of a multinomial logistic regression fitted on ``train`` (features
    standardised with the training statistics, L2 penalty ``weight_decay``, full-batch L-BFGS:
    deterministic). The frozen-feature evaluation of self-supervised pretraining.
    ``return_pred=True`` returns ``(accuracy, predicted test labels)``."""
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"features must be (n, D) with the same D, got {tuple(train_x.shape)} and {tuple(test_x.shape)}")
    if len(train_x) != len(train_y) or len(test_x) != len(test_y) or len(train_x) == 0:
        raise ValueError("features and labels must be non-empty and have the same length")
    mean, std = train_x.mean(0), train_x.std(0, unbiased=False) + 1e-6
    xs, xt = (train_x - mean) / std, (test_x - mean) / std
    w = torch.zeros(xs.shape[1], num_classes, requires_grad=True)
    b = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=iters, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(xs @ w + b, train_y) + weight_decay * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        pred = (xt @ w + b).argmax(1)
    acc = float((pred == test_y).float().mean())
    return (acc, pred) if return_pred else acc


# --------------------------------------------------------------------------------------------
# The no-learning baselines a reconstruction must beat
# --------------------------------------------------------------------------------------------


def copy_nearest_visible(tokens: torch.Tensor, mask: torch.Tensor, grid) -> torch.Tensor:
    """Fill every masked tubelet with a copy of the nearest visible tubelet of the same temporal
    slot (Euclidean distance on the ``h x w`` grid; ties to the lowest index). ``tokens``
    ``(B, L, K)`` as from :func:`patchify`, ``mask`` bool ``(B, L)`` or ``(B, T', N)`` (True =
    masked, each slot with at least one visible position), ``grid`` ``(T', h, w)``. Visible
    tubelets are returned unchanged. Under tube masking a hidden position is hidden in every
    frame, so the nearest *place* is the closest thing there is to copy."""
    t, gh, gw = grid
    b, length, k = tokens.shape
    m = _flat_mask(mask, b, length).reshape(b, t, gh * gw)
    if bool((m.all(dim=2)).any()):
        raise ValueError("a temporal slot has no visible tubelet: nothing to copy from")
    rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    pos = torch.stack([rows.flatten(), cols.flatten()], 1).float()
    dist = torch.cdist(pos, pos)                                          # (N, N)
    d = dist[None, None] + torch.where(m, float("inf"), 0.0)[:, :, None, :]   # (B, T', N, N): to visible only
    src = d.argmin(dim=-1) + torch.arange(t)[None, :, None] * (gh * gw)   # flat source index
    out = torch.gather(tokens, 1, src.reshape(b, length, 1).expand(-1, -1, k))
    return torch.where(m.reshape(b, length, 1), out, tokens)
