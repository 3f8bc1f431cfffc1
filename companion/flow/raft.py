"""RAFT (Teed & Deng, 2020) assembled from the small pieces of this package.

    model = raft_small()                     # random init; raft_small(pretrained=True) = our weights
    flows = model(img1, img2, num_flow_updates=12)   # images (B, 3, H, W) in [-1, 1]
    flow = flows[-1]                          # (B, 2, H, W), x then y, in pixels

The forward pass:

1. features of both frames (one batched encoder call) → all-pairs correlation pyramid;
2. context of frame 1 → split into the GRU's initial hidden state (tanh) and context (ReLU);
3. ``coords0`` = pixel grid at 1/8 resolution, ``coords1`` = current estimate (starts at coords0);
4. each iteration: look up correlations around ``coords1`` → update block → ``coords1 += Δf``
   (``coords1`` is detached first so gradients do not flow through the lookup positions) →
   upsample ``coords1 − coords0`` ×8 and append it to the list of predictions.

Same module names, call convention and numbers as ``torchvision.models.optical_flow.raft_*``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from companion.flow.correlation import CorrBlock, OnDemandCorrBlock
from companion.flow.encoders import BottleneckBlock, Encoder, ResidualBlock, batch_norm, instance_norm
from companion.flow.update import FlowHead, MaskPredictor, MotionEncoder, RecurrentBlock, UpdateBlock
from companion.flow.upsample import upsample_flow

MIN_SIZE = 128
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


def pixel_grid(batch: int, h: int, w: int, device=None) -> torch.Tensor:
    """(B, 2, H, W) grid of pixel coordinates, channel 0 = x (column), channel 1 = y (row)."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    return torch.stack([xs, ys]).float()[None].repeat(batch, 1, 1, 1)


def check_image_pair(image1, image2, *, min_size: int = MIN_SIZE, like: nn.Module | None = None) -> None:
    """Raise a clear error unless both are float tensors (B, 3, H, W), B >= 1, same size, H and W
    divisible by 8 and at least ``min_size``, finite values in [-1, 1], and (given the model
    ``like``) of its weights' dtype and device."""
    for name, img in (("image1", image1), ("image2", image2)):
        if not isinstance(img, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of shape (B, 3, H, W), got {type(img).__name__}")
        if not img.is_floating_point():
            raise TypeError(f"{name} has dtype {img.dtype}; RAFT expects a floating-point tensor scaled "
                            "to [-1, 1] (e.g. uint8 frames: x.float() / 127.5 - 1)")
        if img.ndim != 4:
            raise ValueError(f"{name} must be 4-D (B, 3, H, W), got shape {tuple(img.shape)}"
                             + (" (add a batch axis with .unsqueeze(0))" if img.ndim == 3 else ""))
        if img.shape[1] != 3:
            raise ValueError(f"{name} must have 3 (RGB) channels in dim 1, got {img.shape[1]} "
                             f"(shape {tuple(img.shape)}; channels-last? use .permute(0, 3, 1, 2))")
    from companion.models._checks import check_model_input  # (lazy: companion.models imports flow)

    for name, img in (("image1", image1), ("image2", image2)):
        check_model_input(img, name=f"RAFT ({name})", like=like)
    if image1.shape != image2.shape:
        raise ValueError(f"image1 and image2 must have the same shape, got {tuple(image1.shape)} "
                         f"and {tuple(image2.shape)}")
    h, w = image1.shape[-2:]
    if h % 8 or w % 8:
        raise ValueError(f"H and W must be divisible by 8, got {h}×{w} (pad with "
                         "companion.flow.pad_to_multiple, then crop the flow)")
    if h < min_size or w < min_size:
        raise ValueError(f"images must be at least {min_size}×{min_size}, got {h}×{w}: the 4-level "
                         "correlation pyramid of smaller feature maps gives NaNs")
    for name, img in (("image1", image1), ("image2", image2)):
        finite = torch.isfinite(img)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            raise ValueError(f"{name} has {bad} NaN or infinite values; RAFT needs finite images in [-1, 1] "
                             "(NaN pixels would spread into the whole flow field)")
    lo, hi = float(torch.minimum(image1.min(), image2.min())), float(torch.maximum(image1.max(), image2.max()))
    if lo < -1.01 or hi > 1.01:
        raise ValueError(f"pixel values span [{lo:.3g}, {hi:.3g}]; RAFT expects images scaled to "
                         "[-1, 1] (from uint8: x / 127.5 - 1)")


class RAFT(nn.Module):
    def __init__(self, *, feature_encoder: Encoder, context_encoder: Encoder, corr_block: CorrBlock,
                 update_block: UpdateBlock, mask_predictor: MaskPredictor | None = None):
        super().__init__()
        self.feature_encoder = feature_encoder
        self.context_encoder = context_encoder
        self.corr_block = corr_block
        self.update_block = update_block
        self.mask_predictor = mask_predictor

    def use_memory_lean_correlation(self, on: bool = True) -> "RAFT":
        """Swap the full all-pairs volume for the on-demand correlation (same flow, less memory)."""
        cls = OnDemandCorrBlock if on else CorrBlock
        self.corr_block = cls(num_levels=self.corr_block.num_levels, radius=self.corr_block.radius)
        return self

    def forward(self, image1: torch.Tensor, image2: torch.Tensor, num_flow_updates: int = 12) -> list[torch.Tensor]:
        check_image_pair(image1, image2, like=self)
        if int(num_flow_updates) < 1:
            raise ValueError(f"num_flow_updates must be ≥ 1, got {num_flow_updates}")
        b, _, h, w = image1.shape
        fmap1, fmap2 = self.feature_encoder(torch.cat([image1, image2], dim=0)).chunk(2, dim=0)
        self.corr_block.build_pyramid(fmap1, fmap2)

        ctx = self.context_encoder(image1)
        hidden_size = self.update_block.hidden_state_size
        hidden, context = ctx.split([hidden_size, ctx.shape[1] - hidden_size], dim=1)
        hidden, context = torch.tanh(hidden), F.relu(context)

        coords0 = pixel_grid(b, h // 8, w // 8, device=fmap1.device)
        coords1 = coords0.clone()
        predictions = []
        for _ in range(int(num_flow_updates)):
            coords1 = coords1.detach()
            corr = self.corr_block.index_pyramid(coords1)
            hidden, delta = self.update_block(hidden, context, corr, coords1 - coords0)
            coords1 = coords1 + delta
            mask = None if self.mask_predictor is None else self.mask_predictor(hidden)
            predictions.append(upsample_flow(coords1 - coords0, mask))
        return predictions


def _build(*, feat_widths, ctx_widths, block, ctx_norm, radius, corr_layers, flow_layers, motion_out,
           hidden, gru_kernels, gru_padding, head_hidden, mask: bool, memory_lean: bool) -> RAFT:
    corr_cls = OnDemandCorrBlock if memory_lean else CorrBlock
    corr_block = corr_cls(num_levels=4, radius=radius)
    motion = MotionEncoder(in_channels_corr=corr_block.out_channels, corr_layers=corr_layers,
                           flow_layers=flow_layers, out_channels=motion_out)
    recurrent = RecurrentBlock(input_size=motion_out + ctx_widths[-1] - hidden, hidden_size=hidden,
                               kernel_size=gru_kernels, padding=gru_padding)
    return RAFT(
        feature_encoder=Encoder(feat_widths, block=block, norm=instance_norm),
        context_encoder=Encoder(ctx_widths, block=block, norm=ctx_norm),
        corr_block=corr_block,
        update_block=UpdateBlock(motion_encoder=motion, recurrent_block=recurrent,
                                 flow_head=FlowHead(in_channels=hidden, hidden_size=head_hidden)),
        mask_predictor=MaskPredictor(in_channels=hidden, hidden_size=256) if mask else None,
    )


def raft_small(pretrained: bool = False, *, memory_lean: bool = False) -> RAFT:
    """RAFT-small (990,162 parameters). ``pretrained=True`` loads the weights trained here on
    synthetic FlyingChairs-like data by ``scripts/train_raft_small.py``."""
    model = _build(feat_widths=(32, 32, 64, 96, 128), ctx_widths=(32, 32, 64, 96, 160),
                   block=BottleneckBlock, ctx_norm=None, radius=3, corr_layers=(96,),
                   flow_layers=(64, 32), motion_out=82, hidden=96, gru_kernels=(3,), gru_padding=(1,),
                   head_hidden=128, mask=False, memory_lean=memory_lean)
    if pretrained:
        path = WEIGHTS_DIR / "raft_small_synthetic.pt"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; run scripts/train_raft_small.py to produce it")
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        state = ckpt["state_dict"] if isinstance(ckpt, dict) and "state_dict" in ckpt else ckpt
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        model.eval()
    return model


def raft_large(pretrained: bool = False, *, memory_lean: bool = False) -> RAFT:
    """RAFT-large (5,257,536 parameters). No weights are shipped for it (``pretrained`` must be
    False); load torchvision's with ``model.load_state_dict(tv.state_dict())`` if you have them."""
    if pretrained:
        raise ValueError("no pretrained weights ship for raft_large; only raft_small(pretrained=True)")
    return _build(feat_widths=(64, 64, 96, 128, 256), ctx_widths=(64, 64, 96, 128, 256),
                  block=ResidualBlock, ctx_norm=batch_norm, radius=4, corr_layers=(256, 192),
                  flow_layers=(128, 64), motion_out=128, hidden=128,
                  gru_kernels=((1, 5), (5, 1)), gru_padding=((0, 2), (2, 0)), head_hidden=256,
                  mask=True, memory_lean=memory_lean)


def pad_to_multiple(img: torch.Tensor, multiple: int = 8, min_size: int = MIN_SIZE):
    """Replicate-pad (…, H, W) on the bottom/right to a multiple of ``multiple`` (and ≥ min_size).
    Returns the padded tensor and (H, W) to crop the flow back with ``flow[..., :H, :W]``."""
    h, w = img.shape[-2:]
    ph = max(-(-h // multiple) * multiple, min_size) - h
    pw = max(-(-w // multiple) * multiple, min_size) - w
    if ph or pw:
        img = F.pad(img, (0, pw, 0, ph), mode="replicate")
    return img, (h, w)


@torch.no_grad()
def predict_flow(model: RAFT, img1, img2, num_flow_updates: int = 12) -> torch.Tensor:
    """Convenience: uint8 (H, W, 3) NumPy or (3, H, W) tensors of any size → (2, H, W) flow."""
    import numpy as np

    def prep(x):
        t = torch.as_tensor(np.ascontiguousarray(x)) if not isinstance(x, torch.Tensor) else x
        if t.ndim == 3 and t.shape[-1] == 3 and t.shape[0] != 3:
            t = t.permute(2, 0, 1)
        if t.ndim != 3 or t.shape[0] != 3:
            raise ValueError(f"expected an RGB image (H, W, 3) or (3, H, W), got shape {tuple(t.shape)}")
        t = t.float() / 127.5 - 1 if t.dtype == torch.uint8 else t.float()
        return t[None]

    a, b = prep(img1), prep(img2)
    if a.shape != b.shape:
        raise ValueError(f"the two images differ in size: {tuple(a.shape[-2:])} vs {tuple(b.shape[-2:])}")
    a, (h, w) = pad_to_multiple(a)
    b, _ = pad_to_multiple(b)
    was = model.training
    model.eval()
    flow = model(a, b, num_flow_updates=num_flow_updates)[-1][0, :, :h, :w]
    model.train(was)
    return flow
