#!/usr/bin/env python3
"""Accuracy column of the 26.2 card (notebook 26_2_6, full mode) for chosen families, one JSON line each.

    python scripts/measure_26_2_card.py r2plus1d slowfast      # any of the names below

Same settings as the notebook: 8-frame (C3D: 16-frame) 32×32 synthetic clips, 1536 training and 512
held-out clips, ``fit`` with AdamW lr 3e-3, wd 1e-4, batch 32, 6 epochs, seed 0.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from companion.config import seed_everything
from companion.models import (TwoStreamClips, c3d, frame_cnn, inflate, slowfast, small_cnn2d, two_stream,
                              video_resnet)
from companion.models.cost import count_params, gmacs
from companion.synthetic.actions import ActionClips
from companion.training import evaluate, fit

W, L = (8, 16, 32, 64), 6
BUILD = {
    "frame2d": lambda: frame_cnn(num_classes=8, widths=W),
    "c3d": lambda: c3d(num_classes=8, width=8, fc_width=128, num_frames=16, size=32),
    "r3d": lambda: video_resnet("r3d", num_classes=8, widths=W),
    "mc3": lambda: video_resnet("mc3", num_classes=8, widths=W),
    "r2plus1d": lambda: video_resnet("r2plus1d", num_classes=8, widths=W),
    "i3d": lambda: inflate(small_cnn2d(num_classes=8, widths=W), stem_time_kernel=3),
    "two_stream": lambda: two_stream(num_classes=8, num_flows=L, widths=W),
    "slowfast": lambda: slowfast(num_classes=8, alpha=4, beta=1 / 2, widths=W),
}


def main(names) -> None:
    torch.set_num_threads(1)  # single-threaded: much faster on an oversubscribed machine
    for name in names:
        T = 16 if name == "c3d" else 8
        train, test = ActionClips(1536, 0, T, 32, cache=True), ActionClips(512, 1, T, 32, cache=True)
        if name == "two_stream":
            train, test = TwoStreamClips(train, L, "dis"), TwoStreamClips(test, L, "dis")
            c0 = time.process_time()
            for i in range(len(train)):
                train[i]
            flow_cpu = time.process_time() - c0
        else:
            flow_cpu = 0.0
        seed_everything(0)
        model = BUILD[name]()
        c0, t0 = time.process_time(), time.perf_counter()
        fit(model, train, None, epochs=6, batch_size=32, lr=3e-3, weight_decay=1e-4, seed=0, progress=False)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        ev = evaluate(model, test)
        print(json.dumps({"family": name, "acc": round(ev["acc"], 4), "params": count_params(model),
                          "mmacs": round(gmacs(model, train[0][0][None]) * 1e3, 2), "train_cpu_s": round(cpu, 1),
                          "train_wall_s": round(wall, 1), "flow_cpu_s": round(flow_cpu, 1),
                          "per_class": [round(a, 3) for a in ev["per_class"]]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or list(BUILD))
