"""Two-stream networks (Simonyan & Zisserman, NeurIPS 2014): appearance + motion, fused late.

* **Spatial stream** — a 2D CNN on one RGB frame (here the middle frame of the clip): *what*
  is in the scene.
* **Temporal stream** — the *same* kind of 2D CNN on a stack of ``L`` optical-flow fields, i.e.
  ``2L`` input channels ``(u₁, v₁, u₂, v₂, …)``: *how* things move. Motion is handed to the
  network precomputed, so a 2D network can classify it.
* **Late fusion** — the class scores (softmax) of the two streams are averaged (weights
  configurable); :meth:`TwoStream.forward` returns the log of the fused scores.

**Cross-modality initialisation** (Wang et al., TSN 2016): the temporal stream starts from the
spatial stream's weights; its first convolution, which must take ``2L`` channels instead of 3,
gets the RGB kernel averaged over the three colour channels and copied to each of the ``2L``
flow channels (:func:`cross_modality_init`).

Flow comes from :func:`flow_stack`, a pluggable function: OpenCV's DIS (default) or Farnebäck,
``"raft"`` (the companion's RAFT from 26.4, ``companion.flow.raft_small(pretrained=True)``), or
any callable ``f(frame0, frame1) -> (H, W, 2)`` taking float RGB frames (H, W, 3) in [0, 1].
"""

from __future__ import annotations

import copy
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from companion.models._checks import check_clip, check_image
from companion.models.frame_cnn import small_cnn2d

__all__ = ["TwoStream", "two_stream", "cross_modality_init", "flow_stack", "FLOW_METHODS",
           "TwoStreamClips", "pack_two_stream", "StreamLogits", "StreamInputs"]

FLOW_METHODS = ("dis", "farneback", "raft")


def cross_modality_init(rgb_weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """(C_out, 3, k, k) → (C_out, in_channels, k, k): mean over RGB, repeated per flow channel."""
    if not isinstance(rgb_weight, torch.Tensor) or rgb_weight.dim() != 4:
        raise ValueError("rgb_weight must be a 4-D conv weight (C_out, C_in, kH, kW)")
    if not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
    return rgb_weight.mean(dim=1, keepdim=True).repeat(1, in_channels, 1, 1).clone()


# --------------------------------------------------------------------------------------------
# Optical flow for the temporal stream
# --------------------------------------------------------------------------------------------


def _to_gray_u8(frame: np.ndarray) -> np.ndarray:
    g = frame[..., 0] * 0.299 + frame[..., 1] * 0.587 + frame[..., 2] * 0.114
    return np.clip(np.round(g * 255.0), 0, 255).astype(np.uint8)


def _cv2_flow(method: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    import cv2

    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

        def f(a, b):
            return dis.calc(_to_gray_u8(a), _to_gray_u8(b), None)
        return f

    def f(a, b):  # Farnebäck: pyramid 0.5, 3 levels, window 9, 3 iterations, poly 5 / 1.1
        return cv2.calcOpticalFlowFarneback(_to_gray_u8(a), _to_gray_u8(b), None, 0.5, 3, 9, 3, 5, 1.1, 0)
    return f


_RAFT_CACHE: dict = {}


def _raft_pairs(frames0: np.ndarray, frames1: np.ndarray, iters: int = 12) -> np.ndarray:
    """Flow for N frame pairs (N, H, W, 3) in [0, 1] with the companion's RAFT → (N, H, W, 2)."""
    try:
        from companion.flow import raft_small
    except ImportError as exc:  # pragma: no cover - 26.4 not available
        raise ValueError("flow method 'raft' needs companion.flow.raft_small (section 26.4)") from exc
    if "model" not in _RAFT_CACHE:
        _RAFT_CACHE["model"] = raft_small(pretrained=True).eval()
    model = _RAFT_CACHE["model"]
    a = torch.from_numpy(np.ascontiguousarray(frames0)).permute(0, 3, 1, 2).float() * 2 - 1
    b = torch.from_numpy(np.ascontiguousarray(frames1)).permute(0, 3, 1, 2).float() * 2 - 1
    h, w = a.shape[-2:]
    # RAFT wants sides divisible by 8 and at least 128 pixels: resize up, then scale the flow back
    H = max(128, -(-h // 8) * 8)
    W = max(128, -(-w // 8) * 8)
    if (H, W) != (h, w):
        a = F.interpolate(a, size=(H, W), mode="bilinear", align_corners=False)
        b = F.interpolate(b, size=(H, W), mode="bilinear", align_corners=False)
    with torch.no_grad():
        flow = model(a, b, num_flow_updates=iters)[-1]
    if (H, W) != (h, w):
        flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
        flow = flow * torch.tensor([w / W, h / H]).view(1, 2, 1, 1)
    return flow.permute(0, 2, 3, 1).numpy()


def flow_stack(clip, num_flows: int = 10, method: str | Callable = "dis", *, start: int | None = None,
               subtract_mean: bool = True) -> torch.Tensor:
    """Stacked optical flow for the temporal stream: (C, T, H, W) clip → (2L, H, W) tensor.

    Uses frames ``start … start+L`` (default: centred in the clip); channels are
    ``(u₁, v₁, …, u_L, v_L)`` in pixels (u = x, to the right; v = y, down). With
    ``subtract_mean`` each field's mean is removed (the paper's simple camera-motion compensation).
    A batch (B, C, T, H, W) gives (B, 2L, H, W).
    """
    if isinstance(clip, torch.Tensor) and clip.dim() == 5:
        return torch.stack([flow_stack(c, num_flows, method, start=start, subtract_mean=subtract_mean)
                            for c in clip])
    if not isinstance(clip, torch.Tensor) or clip.dim() != 4:
        raise ValueError("flow_stack expects a clip tensor (C, T, H, W) or a batch (B, C, T, H, W)")
    if clip.shape[0] != 3:
        raise ValueError(f"flow_stack expects RGB clips (3 channels on axis 0), got shape {tuple(clip.shape)}")
    if not isinstance(num_flows, int) or num_flows < 1:
        raise ValueError(f"num_flows must be a positive int, got {num_flows!r}")
    T = clip.shape[1]
    if T < num_flows + 1:
        raise ValueError(f"{num_flows} flow fields need at least {num_flows + 1} frames, the clip has {T}")
    if start is None:
        start = (T - num_flows - 1) // 2
    if not 0 <= start <= T - num_flows - 1:
        raise ValueError(f"start must be in 0..{T - num_flows - 1} for a {T}-frame clip, got {start}")
    frames = clip.detach().permute(1, 2, 3, 0).cpu().numpy().astype(np.float32)[start:start + num_flows + 1]
    if isinstance(method, str):
        if method not in FLOW_METHODS:
            raise ValueError(f"unknown flow method {method!r}; accepted: {FLOW_METHODS} or a callable")
        if method == "raft":
            flows = _raft_pairs(frames[:-1], frames[1:])
        else:
            f = _cv2_flow(method)
            flows = np.stack([f(frames[i], frames[i + 1]) for i in range(num_flows)])
    elif callable(method):
        flows = np.stack([np.asarray(method(frames[i], frames[i + 1]), dtype=np.float32)
                          for i in range(num_flows)])
    else:
        raise TypeError(f"method must be one of {FLOW_METHODS} or a callable, got {type(method).__name__}")
    H, W = frames.shape[1:3]
    if flows.shape != (num_flows, H, W, 2):
        raise ValueError(f"the flow function returned shape {flows.shape[1:]}, expected (H, W, 2) = ({H}, {W}, 2)")
    if subtract_mean:
        flows = flows - flows.mean(axis=(1, 2), keepdims=True)
    return torch.from_numpy(np.ascontiguousarray(flows.transpose(0, 3, 1, 2).reshape(2 * num_flows, H, W))).float()


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


def _first_conv(net: nn.Module) -> tuple[nn.Module, str, nn.Conv2d]:
    for name, m in net.named_modules():
        if isinstance(m, nn.Conv2d):
            parent = net
            *path, leaf = name.split(".")
            for p in path:
                parent = getattr(parent, p)
            return parent, leaf, m
    raise ValueError("the backbone has no Conv2d layer")


class TwoStream(nn.Module):
    """Spatial stream on the middle RGB frame + temporal stream on ``2L`` flow channels, fused late.

    ``forward`` takes ``(rgb, flow)`` — (B, 3, H, W) and (B, 2L, H, W) — or the two packed along
    channels in one tensor (B, 3 + 2L, H, W) (see :func:`pack_two_stream`), and returns the log
    of the weighted average of the two streams' softmax scores.
    """

    def __init__(self, rgb_net: nn.Module, num_flows: int = 10, *, fusion_weights: Sequence[float] = (0.5, 0.5),
                 cross_modality: bool = True):
        super().__init__()
        if not isinstance(num_flows, int) or num_flows < 1:
            raise ValueError(f"num_flows must be a positive int, got {num_flows!r}")
        if len(fusion_weights) != 2 or min(fusion_weights) < 0 or sum(fusion_weights) <= 0:
            raise ValueError(f"fusion_weights must be two non-negative numbers, got {fusion_weights!r}")
        self.num_flows = num_flows
        self.rgb = rgb_net
        flow_net = copy.deepcopy(rgb_net)
        parent, leaf, conv = _first_conv(flow_net)
        new = nn.Conv2d(2 * num_flows, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                        conv.dilation, conv.groups, conv.bias is not None)
        with torch.no_grad():
            if cross_modality:
                new.weight.copy_(cross_modality_init(conv.weight, 2 * num_flows))
            if conv.bias is not None:
                new.bias.copy_(conv.bias)
        setattr(parent, leaf, new)
        if hasattr(flow_net, "normalize"):  # an RGB normalisation (ImageNet mean / std) means nothing for flow
            flow_net.normalize = nn.Identity()
        if hasattr(flow_net, "in_channels"):
            flow_net.in_channels = 2 * num_flows
        self.flow = flow_net
        w = torch.tensor([float(v) for v in fusion_weights])
        self.register_buffer("fusion_weights", w / w.sum())

    def _split(self, x):
        if isinstance(x, (tuple, list)):
            if len(x) != 2:
                raise ValueError("TwoStream expects (rgb, flow) or one packed tensor")
            rgb, flow = x
        else:
            check_image(x, name="TwoStream (packed)", channels=3 + 2 * self.num_flows, like=self)
            rgb, flow = x[:, :3], x[:, 3:]
        check_image(rgb, name="TwoStream spatial stream", channels=3, like=self)
        check_image(flow, name=f"TwoStream temporal stream (L={self.num_flows} flows → 2L)", channels=2 * self.num_flows, like=self)
        if rgb.shape[0] != flow.shape[0]:
            raise ValueError(f"rgb and flow batches differ: {rgb.shape[0]} vs {flow.shape[0]}")
        return rgb, flow

    def stream_logits(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        rgb, flow = self._split(x)
        return self.rgb(rgb), self.flow(flow)

    def forward(self, x, flow: torch.Tensor | None = None) -> torch.Tensor:
        if flow is not None:
            x = (x, flow)
        a, b = self.stream_logits(x)
        w = self.fusion_weights
        fused = w[0] * F.softmax(a, dim=1) + w[1] * F.softmax(b, dim=1)
        return torch.log(fused.clamp_min(1e-12))


def two_stream(*, num_classes: int = 8, num_flows: int = 10, backbone: str | nn.Module = "small",
               widths: Sequence[int] = (16, 32, 64, 128), fusion_weights=(0.5, 0.5),
               cross_modality: bool = True) -> TwoStream:
    """A two-stream network; ``backbone`` ``"small"`` (:func:`small_cnn2d`), ``"resnet18"`` or a 2D module."""
    if isinstance(backbone, nn.Module):
        net = backbone
    elif backbone == "small":
        net = small_cnn2d(num_classes=num_classes, widths=widths)
    elif backbone == "resnet18":
        import torchvision

        net = torchvision.models.resnet18(num_classes=num_classes)
    else:
        raise ValueError(f"unknown backbone {backbone!r}; accepted: 'small', 'resnet18' or an nn.Module")
    return TwoStream(net, num_flows, fusion_weights=fusion_weights, cross_modality=cross_modality)


def pack_two_stream(clip: torch.Tensor, num_flows: int = 10, method: str | Callable = "dis") -> torch.Tensor:
    """(C, T, H, W) clip → (3 + 2L, H, W): the middle frame of the flow window, then the flow stack."""
    check_clip(clip.unsqueeze(0) if isinstance(clip, torch.Tensor) and clip.dim() == 4 else clip,
               name="pack_two_stream", channels=3, min_frames=num_flows + 1)
    T = clip.shape[1]
    start = (T - num_flows - 1) // 2
    mid = clip[:, start + (num_flows + 1) // 2]
    return torch.cat([mid, flow_stack(clip, num_flows, method, start=start)], dim=0)


class TwoStreamClips(torch.utils.data.Dataset):
    """Wrap a clip dataset (e.g. :class:`~companion.synthetic.actions.ActionClips`) into packed
    two-stream inputs ``(3 + 2L, H, W)``; flows are computed once and kept in memory."""

    def __init__(self, clips, num_flows: int = 10, method: str | Callable = "dis", progress: bool = False):
        self.clips, self.num_flows, self.method = clips, num_flows, method
        self._items: list = [None] * len(clips)
        if progress:
            from tqdm.auto import tqdm

            for i in tqdm(range(len(clips)), desc=f"flow ({method if isinstance(method, str) else 'custom'})"):
                self[i]

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i):
        if self._items[i] is None:
            clip, label = self.clips[i]
            self._items[i] = (pack_two_stream(clip, self.num_flows, self.method), label)
        return self._items[i]


class StreamLogits(nn.Module):
    """One stream of a :class:`TwoStream` as a model on the packed input: ``which`` 0 = spatial (RGB), 1 = temporal (flow)."""

    def __init__(self, model: TwoStream, which: int):
        super().__init__()
        if which not in (0, 1):
            raise ValueError(f"which must be 0 (spatial stream) or 1 (temporal stream), got {which!r}")
        self.model, self.which = model, which

    def forward(self, x):
        return self.model.stream_logits(x)[self.which]


class StreamInputs(torch.utils.data.Dataset):
    """The input of one stream from packed two-stream items: ``which`` 0 → the RGB frame (3, H, W),
    1 → the flow stack (2L, H, W). Used to train the two streams separately, as the paper did."""

    def __init__(self, packed, which: int):
        if which not in (0, 1):
            raise ValueError(f"which must be 0 (spatial stream) or 1 (temporal stream), got {which!r}")
        self.packed, self.which = packed, which
        self.num_classes = getattr(packed, "num_classes", None) or getattr(getattr(packed, "clips", None), "num_classes", None)

    def __len__(self) -> int:
        return len(self.packed)

    def __getitem__(self, i):
        x, y = self.packed[i]
        return (x[:3] if self.which == 0 else x[3:]), y
