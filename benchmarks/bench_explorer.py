#!/usr/bin/env python3
"""The 26.1.4 sampling explorer: one redraw, before and after issue 15 (street clip).

A redraw draws the sampling timeline and a strip of the first 8 sampled frames. Before, every
redraw decoded those frames from the video at full size (``read_clip``), which is what made the
plot lag the sliders; now the clip is decoded once at preview size (``companion.viz.
preview_frames``, cached) and a redraw only indexes that array. Both redraws draw the same
figures (matplotlib Agg, figures closed), alternating, median; the target is a ratio measured in
this process. The one-time preview decode is printed for information.

    python benchmarks/bench_explorer.py            # 7 repeats
    python benchmarks/bench_explorer.py --quick    # 3 repeats

Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from companion import sampling  # noqa: E402
from companion.bench import compare_speed  # noqa: E402
from companion.data import street_clip  # noqa: E402
from companion.io import read_clip, video_info  # noqa: E402
from companion.viz import _preview, preview_frames, show_strip  # noqa: E402

REDRAW_MAX_RATIO = 0.5  # a cached redraw takes at most half the time of one that decodes


def redraw(idx, frames_of):
    fig, ax = plt.subplots(figsize=(9, 1.5))
    ax.scatter(idx, [0] * len(idx))
    strip = show_strip(frames_of(idx[:8]), titles=[str(i) for i in idx[:8]], ax_width=1.6)
    for f in (fig, strip):
        f.canvas.draw()
        plt.close(f)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    path = street_clip()
    n = video_info(path).num_frames
    _preview.cache_clear()
    t0 = time.perf_counter()
    preview = preview_frames(path)
    first = time.perf_counter() - t0
    idx = sampling.segment(n, 8, train=True, rng=3)
    res = compare_speed(lambda: redraw(idx, lambda i: read_clip(path, i)),
                        lambda: redraw(idx, lambda i: preview_frames(path)[i]),
                        repeats=3 if args.quick else 7, names=("decode per redraw", "cached preview"))
    ratio = res.median_b_s / res.median_a_s
    print(f"| explorer redraw | decode per redraw {res.median_a_s * 1e3:.0f} ms | cached preview "
          f"{res.median_b_s * 1e3:.0f} ms | ratio {ratio:.2f} (target <= {REDRAW_MAX_RATIO}) |")
    print(f"one-time preview decode: {first:.1f} s for {preview.shape[0]} frames at "
          f"{preview.shape[1]}x{preview.shape[2]} ({preview.nbytes / 1e6:.0f} MB)")
    return 0 if ratio <= REDRAW_MAX_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
