"""26.4 optical flow: RAFT from small readable pieces, classical baselines, metrics, pictures.

* :mod:`companion.flow.encoders`    — feature and context encoders
* :mod:`companion.flow.correlation` — all-pairs volume, pyramid, windowed lookup, on-demand variant
* :mod:`companion.flow.update`      — motion encoder, ConvGRU, flow head, mask head
* :mod:`companion.flow.upsample`    — bilinear ×8 and convex upsampling
* :mod:`companion.flow.raft`        — :func:`raft_small`, :func:`raft_large` (torchvision-compatible)
* :mod:`companion.flow.classical`   — Farneback, DIS, TV-L1, ILK with one (2, H, W) (x, y) convention
* :mod:`companion.flow.metrics`     — EPE and the share of pixels off by more than 3 px
* :mod:`companion.flow.viz`         — Middlebury colour wheel, quiver plots, backward warping
"""

from companion.flow.correlation import (CorrBlock, OnDemandCorrBlock, all_pairs_correlation,
                                        correlation_pyramid, lookup, window_offsets)
from companion.flow.raft import RAFT, check_image_pair, pad_to_multiple, predict_flow, raft_large, raft_small

__all__ = ["RAFT", "raft_small", "raft_large", "predict_flow", "pad_to_multiple", "check_image_pair",
           "CorrBlock", "OnDemandCorrBlock", "all_pairs_correlation", "correlation_pyramid", "lookup",
           "window_offsets"]
