"""The update operator: what RAFT does at each of its iterations.

1. The **motion encoder** turns the looked-up correlation features and the current flow into
   motion features (convs on each, concatenated, one more conv, then the raw flow appended).
2. A **ConvGRU** updates the hidden state from [context, motion features]: gates z (update) and
   r (reset) and the candidate q are 2-D convolutions instead of matrix products.
   RAFT-small: one 3×3 GRU. RAFT-large: a (1×5) GRU followed by a (5×1) GRU (separable).
3. The **flow head** reads a residual flow Δf from the hidden state; the estimate moves by Δf.
4. RAFT-large also predicts an upsampling **mask** (8·8·9 weights per coarse pixel, ×0.25).
"""

from __future__ import annotations

import torch
from torch import nn

from companion.flow.encoders import ConvNormAct


class MotionEncoder(nn.Module):
    def __init__(self, *, in_channels_corr: int, corr_layers: tuple[int, ...] = (256, 192),
                 flow_layers: tuple[int, int] = (128, 64), out_channels: int = 128):
        super().__init__()
        self.convcorr1 = ConvNormAct(in_channels_corr, corr_layers[0], 1)
        self.convcorr2 = (ConvNormAct(corr_layers[0], corr_layers[1], 3) if len(corr_layers) == 2
                          else nn.Identity())
        self.convflow1 = ConvNormAct(2, flow_layers[0], 7)
        self.convflow2 = ConvNormAct(flow_layers[0], flow_layers[1], 3)
        self.conv = ConvNormAct(corr_layers[-1] + flow_layers[-1], out_channels - 2, 3)
        self.out_channels = out_channels

    def forward(self, flow: torch.Tensor, corr_features: torch.Tensor) -> torch.Tensor:
        c = self.convcorr2(self.convcorr1(corr_features))
        f = self.convflow2(self.convflow1(flow))
        return torch.cat([self.conv(torch.cat([c, f], dim=1)), flow], dim=1)


class ConvGRU(nn.Module):
    """h' = (1 − z)·h + z·tanh(conv_q([r·h, x])), z = σ(conv_z([h, x])), r = σ(conv_r([h, x]))."""

    def __init__(self, *, input_size: int, hidden_size: int, kernel_size, padding):
        super().__init__()
        c = hidden_size + input_size
        self.convz = nn.Conv2d(c, hidden_size, kernel_size, padding=padding)
        self.convr = nn.Conv2d(c, hidden_size, kernel_size, padding=padding)
        self.convq = nn.Conv2d(c, hidden_size, kernel_size, padding=padding)

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        hx = torch.cat([h, x], dim=1)
        z = torch.sigmoid(self.convz(hx))
        r = torch.sigmoid(self.convr(hx))
        q = torch.tanh(self.convq(torch.cat([r * h, x], dim=1)))
        return (1 - z) * h + z * q


class RecurrentBlock(nn.Module):
    """One GRU (RAFT-small, 3×3) or two in sequence (RAFT-large, 1×5 then 5×1)."""

    def __init__(self, *, input_size: int, hidden_size: int, kernel_size=((1, 5), (5, 1)),
                 padding=((0, 2), (2, 0))):
        super().__init__()
        if len(kernel_size) != len(padding) or len(kernel_size) not in (1, 2):
            raise ValueError("kernel_size and padding must both list 1 or 2 entries")
        self.convgru1 = ConvGRU(input_size=input_size, hidden_size=hidden_size,
                                kernel_size=kernel_size[0], padding=padding[0])
        self.convgru2 = (ConvGRU(input_size=input_size, hidden_size=hidden_size,
                                 kernel_size=kernel_size[1], padding=padding[1])
                         if len(kernel_size) == 2 else None)
        self.hidden_size = hidden_size

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        h = self.convgru1(h, x)
        return self.convgru2(h, x) if self.convgru2 is not None else h


class FlowHead(nn.Module):
    def __init__(self, *, in_channels: int, hidden_size: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden_size, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden_size, 2, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu(self.conv1(h)))


class UpdateBlock(nn.Module):
    def __init__(self, *, motion_encoder: MotionEncoder, recurrent_block: RecurrentBlock,
                 flow_head: FlowHead):
        super().__init__()
        self.motion_encoder = motion_encoder
        self.recurrent_block = recurrent_block
        self.flow_head = flow_head
        self.hidden_state_size = recurrent_block.hidden_size

    def forward(self, hidden: torch.Tensor, context: torch.Tensor, corr_features: torch.Tensor,
                flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        motion = self.motion_encoder(flow, corr_features)
        hidden = self.recurrent_block(hidden, torch.cat([context, motion], dim=1))
        return hidden, self.flow_head(hidden)


class MaskPredictor(nn.Module):
    """8·8·9 convex-combination logits per coarse pixel, scaled by 0.25 (RAFT-large only)."""

    def __init__(self, *, in_channels: int, hidden_size: int = 256, multiplier: float = 0.25):
        super().__init__()
        self.convrelu = ConvNormAct(in_channels, hidden_size, 3)
        self.conv = nn.Conv2d(hidden_size, 8 * 8 * 9, 1)
        self.multiplier = multiplier

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.multiplier * self.conv(self.convrelu(h))
