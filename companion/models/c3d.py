"""C3D (Tran et al., ICCV 2015): the plain VGG-style 3D network with 3×3×3 kernels everywhere.

The paper's layer plan, for 16-frame 112×112 clips:

=========  ==========================  ==============================
 stage      layers                      pooling after the stage
=========  ==========================  ==============================
 1          conv1a 64                   1×2×2 (keep time early)
 2          conv2a 128                  2×2×2
 3          conv3a 256, conv3b 256      2×2×2
 4          conv4a 512, conv4b 512      2×2×2
 5          conv5a 512, conv5b 512      2×2×2 (spatial padding 1)
 head       fc6 4096, fc7 4096, fc8     dropout 0.5 before fc7 and fc8
=========  ==========================  ==============================

All convolutions are 3×3×3, stride 1, padding 1, with bias and ReLU. The head flattens the
512×1×4×4 map, so the network accepts exactly the clip size it was built for.
:func:`c3d` builds it; ``width`` / ``fc_width`` / ``num_frames`` / ``size`` shrink it for the
synthetic clips.

**Making the small one train** (the 26.2 card: width 8, fc 128, 16×32×32 clips, AdamW, batch 32).
The plain network — He initialisation, no normalisation, as in the paper — stays at chance on the
synthetic actions: training loss flat at ln 8 = 2.08 and validation accuracy 0.125 (validation
clips of seed 2) for 3 epochs over 768 clips at lr 3e-3 *and* at lr 3e-4; its activations are
healthy at initialisation (standard deviation 0.1–0.3 through all eight convolutions, about half
of the ReLUs active), so the signal does not vanish — the optimisation does not find its way out
of the constant prediction within a CPU-sized budget. The card's variant, chosen on validation
clips of seed 2 (256 clips; the card's held-out figure is on seed 1, never used to choose):
``batch_norm=True`` puts a BatchNorm3d after every convolution (convolutions then have no bias), as
every other family of the card has, and the 128-wide head runs **without dropout** (the paper's
0.5 was for a 4096-wide head on Sports-1M): validation accuracy 0.281 with dropout 0.5, 0.422
without, after the card's recipe (6 epochs, 1,536 clips, lr 3e-3). Its held-out figure is in the
card (``companion/weights/card26_2_c3d.pt``); it trains, but stays far below the residual 3D
networks on this task.
"""

from __future__ import annotations

import torch
from torch import nn

from companion.models._checks import check_clip
from companion.models.conv3d import conv3d_output_shape

__all__ = ["C3D", "c3d"]


class C3D(nn.Module):
    def __init__(self, num_classes: int = 487, *, width: int = 64, fc_width: int = 4096,
                 num_frames: int = 16, size: int = 112, dropout: float = 0.5, in_channels: int = 3,
                 batch_norm: bool = False):
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if num_frames < 16:
            raise ValueError(f"C3D pools time by 2 four times; num_frames must be ≥ 16, got {num_frames}")
        self.num_frames, self.size, self.in_channels = num_frames, size, in_channels
        w = width
        plan = [("conv1a", in_channels, w), ("pool1", (1, 2, 2), (0, 0, 0)),
                ("conv2a", w, 2 * w), ("pool2", (2, 2, 2), (0, 0, 0)),
                ("conv3a", 2 * w, 4 * w), ("conv3b", 4 * w, 4 * w), ("pool3", (2, 2, 2), (0, 0, 0)),
                ("conv4a", 4 * w, 8 * w), ("conv4b", 8 * w, 8 * w), ("pool4", (2, 2, 2), (0, 0, 0)),
                ("conv5a", 8 * w, 8 * w), ("conv5b", 8 * w, 8 * w), ("pool5", (2, 2, 2), (0, 1, 1))]
        layers: dict[str, nn.Module] = {}
        shape = (num_frames, size, size)
        for name, a, b in plan:
            if name.startswith("conv"):
                layers[name] = nn.Conv3d(a, b, 3, padding=1, bias=not batch_norm)
                if batch_norm:
                    layers["bn" + name[4:]] = nn.BatchNorm3d(b)
                layers["relu" + name[4:]] = nn.ReLU(inplace=True)
            else:
                layers[name] = nn.MaxPool3d(a, stride=a, padding=b)
                shape = conv3d_output_shape(shape, a, a, b)
        self.features = nn.Sequential()
        for k, m in layers.items():
            self.features.add_module(k, m)
        self.feature_shape = (8 * w,) + tuple(shape)
        flat = 8 * w * shape[0] * shape[1] * shape[2]
        self.fc6 = nn.Linear(flat, fc_width)
        self.fc7 = nn.Linear(fc_width, fc_width)
        self.fc8 = nn.Linear(fc_width, num_classes)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        # He initialisation: a plain 8-conv ReLU stack without BatchNorm does not train from
        # PyTorch's default (smaller) init at small widths — the signal fades layer by layer
        for m in self.modules():
            if isinstance(m, (nn.Conv3d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.fc8.weight, 0, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_clip(x, name="C3D", channels=self.in_channels, min_frames=16, like=self)
        if tuple(x.shape[2:]) != (self.num_frames, self.size, self.size):
            raise ValueError(f"this C3D was built for clips of {self.num_frames}×{self.size}×{self.size} "
                             f"(T×H×W) because its fc6 flattens a fixed map; got {tuple(x.shape[2:])}. "
                             "Resize/crop the clip or build c3d(num_frames=..., size=...)")
        x = self.features(x).flatten(1)
        x = self.dropout(self.relu(self.fc6(x)))
        x = self.dropout(self.relu(self.fc7(x)))
        return self.fc8(x)


def c3d(*, num_classes: int = 487, width: int = 64, fc_width: int = 4096, num_frames: int = 16,
        size: int = 112, dropout: float = 0.5, batch_norm: bool = False) -> C3D:
    """C3D as in the paper (defaults: Sports-1M's 487 classes, 16×112×112 clips);
    ``batch_norm=True``: the BatchNorm variant (see the module docstring)."""
    return C3D(num_classes, width=width, fc_width=fc_width, num_frames=num_frames, size=size,
               dropout=dropout, batch_norm=batch_norm)
