"""Pictures of flow: the Middlebury colour wheel, arrows, and backward warping.

Colour coding (Baker et al., 2007): the direction of a flow vector picks the hue on a 55-colour
wheel (red → yellow → green → cyan → blue → magenta), its length the saturation (white = no
motion). :func:`flow_to_color` normalises by the largest magnitude in the batch, exactly like
``torchvision.utils.flow_to_image``; pass ``max_flow`` to fix the scale across pictures.

Backward warping: to compare frame 1 with frame 2 *under* a flow, sample frame 2 at
``p + f(p)`` for every pixel p of frame 1 (``grid_sample``); where the flow is right and nothing
is occluded, the warped frame 2 reproduces frame 1.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# (segment length, channel that ramps, direction) around the wheel, starting at red
_SEGMENTS = (("RY", 15), ("YG", 6), ("GC", 4), ("CB", 11), ("BM", 13), ("MR", 6))


def color_wheel() -> torch.Tensor:
    """The 55×3 Middlebury wheel (values 0–255, float)."""
    rows = []
    for name, n in _SEGMENTS:
        ramp = torch.floor(255 * torch.arange(n) / n)
        seg = torch.zeros(n, 3)
        if name == "RY":
            seg[:, 0], seg[:, 1] = 255, ramp
        elif name == "YG":
            seg[:, 0], seg[:, 1] = 255 - ramp, 255
        elif name == "GC":
            seg[:, 1], seg[:, 2] = 255, ramp
        elif name == "CB":
            seg[:, 1], seg[:, 2] = 255 - ramp, 255
        elif name == "BM":
            seg[:, 2], seg[:, 0] = 255, ramp
        else:  # MR
            seg[:, 2], seg[:, 0] = 255 - ramp, 255
        rows.append(seg)
    return torch.cat(rows)


def flow_to_color(flow, max_flow: float | None = None) -> torch.Tensor:
    """(2, H, W) or (B, 2, H, W) float flow → uint8 (3, H, W) / (B, 3, H, W) colour image."""
    if isinstance(flow, np.ndarray):
        flow = torch.from_numpy(flow)
    if not isinstance(flow, torch.Tensor) or not flow.is_floating_point():
        raise TypeError("flow must be a floating-point tensor or array of shape (2, H, W) or (B, 2, H, W)")
    single = flow.ndim == 3
    f = flow[None] if single else flow
    if f.ndim != 4 or f.shape[1] != 2:
        raise ValueError(f"flow must have shape (2, H, W) or (B, 2, H, W), got {tuple(flow.shape)}")
    f = f.float()
    scale = f.pow(2).sum(1).sqrt().max() if max_flow is None else torch.tensor(float(max_flow))
    f = f / (scale + torch.finfo(torch.float32).eps)
    wheel = color_wheel().to(f.device)
    n = wheel.shape[0]
    rad = f.pow(2).sum(1).sqrt()
    angle = torch.atan2(-f[:, 1], -f[:, 0]) / torch.pi  # in [-1, 1]
    pos = (angle + 1) / 2 * (n - 1)
    k0 = torch.floor(pos).long()
    k1 = torch.where(k0 + 1 == n, torch.zeros_like(k0), k0 + 1)
    frac = pos - k0
    out = torch.empty((f.shape[0], 3) + f.shape[2:], dtype=torch.uint8, device=f.device)
    for c in range(3):
        col = (1 - frac) * (wheel[k0, c] / 255.0) + frac * (wheel[k1, c] / 255.0)
        col = 1 - rad * (1 - col)  # saturation grows with magnitude
        out[:, c] = torch.floor(255 * col).clamp(0, 255).to(torch.uint8)
    return out[0] if single else out


def warp_backward(img, flow) -> torch.Tensor:
    """Sample ``img`` (frame 2; (C, H, W) or (B, C, H, W)) at ``p + flow(p)``: frame 2 seen from
    frame 1. Outside the image it returns zeros."""
    img = torch.as_tensor(img)
    flow = torch.as_tensor(flow)
    single = img.ndim == 3
    im = (img[None] if single else img).float()
    fl = (flow[None] if flow.ndim == 3 else flow).float()
    if fl.shape[1] != 2 or fl.shape[-2:] != im.shape[-2:] or fl.shape[0] != im.shape[0]:
        raise ValueError(f"flow {tuple(flow.shape)} does not match image {tuple(img.shape)}: "
                         "expected (2, H, W) / (B, 2, H, W) with the image's H, W")
    h, w = im.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, device=im.device), torch.arange(w, device=im.device), indexing="ij")
    x = (xs + fl[:, 0]) / (w - 1) * 2 - 1
    y = (ys + fl[:, 1]) / (h - 1) * 2 - 1
    out = F.grid_sample(im, torch.stack([x, y], dim=-1), mode="bilinear", padding_mode="zeros",
                        align_corners=True)
    return out[0] if single else out


def quiver(ax, flow, step: int = 16, image=None, color: str = "yellow", scale: float = 1.0):
    """Arrows every ``step`` px on a matplotlib axis (optionally over ``image``), in image coords."""
    f = flow.detach().cpu().numpy() if isinstance(flow, torch.Tensor) else np.asarray(flow)
    h, w = f.shape[-2:]
    if image is not None:
        from companion.viz import _to_hwc_uint8

        ax.imshow(_to_hwc_uint8(image))
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    u, v = f[0][ys, xs], f[1][ys, xs]
    ax.quiver(xs, ys, u * scale, v * scale, color=color, angles="xy", scale_units="xy", scale=1,
              width=0.003)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_axis_off()
    return ax


def show_flow(flow, ax=None, max_flow: float | None = None, title: str | None = None):
    """Draw the colour-coded flow on an axis (creates a figure if none is given)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    ax.imshow(flow_to_color(torch.as_tensor(flow), max_flow).permute(1, 2, 0).cpu().numpy())
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax
