"""Small plotting helpers shared by the notebooks: frame strips, widgets with a static fallback,
and animations that embed in a notebook."""

from __future__ import annotations

import os
from typing import Callable, Sequence

import numpy as np

from companion.config import FAST


def _to_hwc_uint8(frame) -> np.ndarray:
    """Accept (C,H,W) or (H,W,C) tensors/arrays, float in [0,1] or uint8; return (H,W,C) uint8."""
    a = frame.detach().cpu().numpy() if hasattr(frame, "detach") else np.asarray(frame)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.moveaxis(a, 0, -1)
    if a.dtype != np.uint8:
        a = np.clip(a * (255.0 if a.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    return a


def show_strip(frames: Sequence, titles: Sequence[str] | None = None, *, ax_width: float = 1.8,
               suptitle: str | None = None):
    """Draw frames side by side in one row; returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    n = len(frames)
    fig, axes = plt.subplots(1, n, figsize=(ax_width * n, ax_width * 0.9), squeeze=False)
    for i, (ax, f) in enumerate(zip(axes[0], frames)):
        ax.imshow(_to_hwc_uint8(f), cmap="gray")
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def headless() -> bool:
    """True when no live Jupyter front end will render widgets (tests, scripts, fast mode)."""
    if FAST or os.environ.get("COMPANION_HEADLESS"):
        return True
    try:
        from IPython import get_ipython

        ip = get_ipython()
        return ip is None or "IPKernelApp" not in ip.config
    except Exception:
        return True


def explorer(draw: Callable[..., object], static: dict | None = None, **controls):
    """Interactive explorer: ``draw(**values)`` re-runs as ipywidgets controls change.

    ``controls`` maps a keyword of ``draw`` to an ipywidgets widget or to an abbreviation that
    :func:`ipywidgets.interact` understands (a (min, max, step) tuple, a list of options ...).
    Headless, it calls ``draw(**static)`` once instead (``static`` defaults to each control's
    initial value) so the notebook still shows a figure.
    """
    if headless():
        values = static if static is not None else {k: _initial(v) for k, v in controls.items()}
        return draw(**values)
    import ipywidgets as widgets

    return widgets.interact(draw, **controls)


def _initial(control):
    if hasattr(control, "value"):
        return control.value
    if isinstance(control, tuple):
        return control[0]
    if isinstance(control, (list, dict)):
        return next(iter(control.values())) if isinstance(control, dict) else control[0]
    return control


def animate(frames: Sequence, *, fps: float = 10.0, title: str | None = None, width: float = 5.0):
    """An HTML/JS animation of frames that embeds in the notebook (no FFmpeg needed)."""
    import matplotlib.pyplot as plt
    from matplotlib import animation
    from IPython.display import HTML

    first = _to_hwc_uint8(frames[0])
    h, w = first.shape[:2]
    fig, ax = plt.subplots(figsize=(width, width * h / w))
    im = ax.imshow(first, cmap="gray")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    fig.tight_layout()

    def update(i):
        im.set_data(_to_hwc_uint8(frames[i]))
        return (im,)

    anim = animation.FuncAnimation(fig, update, frames=len(frames), interval=1000.0 / fps, blit=True)
    out = HTML(anim.to_jshtml(default_mode="loop"))
    plt.close(fig)
    return out
