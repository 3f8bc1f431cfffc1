"""Small plotting helpers shared by the notebooks: frame strips, widgets with a static fallback,
and animations that embed in a notebook."""

from __future__ import annotations

import functools
import os
from typing import Callable, Sequence

import numpy as np


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
    """True when no live Jupyter front end can show widgets: no IPython kernel (a script, the unit
    tests) or ``COMPANION_HEADLESS=1`` (set by ``tasks.py test`` for nbmake and by the book build,
    whose executors run a kernel with no front end). Fast mode does not make widgets static."""
    if os.environ.get("COMPANION_HEADLESS", "").strip().lower() in {"1", "true", "yes", "on"}:
        return True
    try:
        from IPython import get_ipython

        ip = get_ipython()
        return ip is None or "IPKernelApp" not in ip.config
    except Exception:
        return True


def explorer(draw: Callable[..., object], static: dict | None = None, **controls) -> None:
    """Interactive explorer: ``draw(**values)`` redraws when a control is *released*.

    ``controls`` maps a keyword of ``draw`` to an ipywidgets widget or to an abbreviation that
    :func:`ipywidgets.interact` understands (a (min, max, step) tuple, a list of options ...).
    ``static`` gives the values drawn first (defaults: each control's initial value); headless
    (see :func:`headless`) that one figure is all that is drawn, so a rendered page still shows it.

    Live, sliders send their value on release only (``continuous_update=False``) and every redraw
    reads *all* controls at that moment, so there is no queue of stale intermediate redraws and the
    plot always matches what the controls show. Returns ``None`` (no stray ``Out[]``).
    """
    values = {k: _initial(v) for k, v in controls.items()}
    unknown = set(static or {}) - set(controls)
    if unknown:
        raise ValueError(f"static values {sorted(unknown)} have no control; controls are {sorted(controls)}")
    values.update(static or {})
    if headless():
        draw(**values)
        return None
    import ipywidgets as widgets
    from IPython.display import display

    boxes = {}
    for name, control in controls.items():
        w = control if isinstance(control, widgets.ValueWidget) else \
            widgets.interactive.widget_from_abbrev(control, values[name])
        w.description = w.description or name
        if hasattr(w, "continuous_update"):
            w.continuous_update = False
        boxes[name] = w
    out = widgets.Output()

    def redraw(_change=None):
        with out:
            out.clear_output(wait=True)
            draw(**{name: w.value for name, w in boxes.items()})

    for w in boxes.values():
        w.observe(redraw, names="value")
    display(widgets.VBox([widgets.HBox(list(boxes.values()), layout={"flex_flow": "row wrap"}), out]))
    redraw()
    return None


def _initial(control):
    if hasattr(control, "value"):
        return control.value
    if isinstance(control, tuple):
        return control[0]
    if isinstance(control, (list, dict)):
        return next(iter(control.values())) if isinstance(control, dict) else control[0]
    return control


@functools.lru_cache(maxsize=4)
def _preview(path: str, mtime_ns: int, height: int) -> np.ndarray:
    import cv2

    from companion.io import iter_frames

    frames = []
    for f in iter_frames(path):
        h, w = f.shape[:2]
        frames.append(cv2.resize(f, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA))
    out = np.stack(frames)
    out.setflags(write=False)
    return out


def preview_frames(path, height: int = 144) -> np.ndarray:
    """Every frame of a video, decoded once and shrunk to ``height`` pixels: ``(N, h, w, 3)`` uint8,
    read-only, cached per (file, modification time, height) so explorers index it instead of
    decoding again on every redraw."""
    from pathlib import Path

    if int(height) < 8:
        raise ValueError(f"height must be >= 8 pixels, got {height}")
    p = Path(path).resolve()
    return _preview(str(p), p.stat().st_mtime_ns, int(height))


#: The most frames :func:`animate` embeds; longer inputs are evenly subsampled (same duration).
MAX_ANIMATION_FRAMES = 150


def animate(frames: Sequence, *, fps: float = 10.0, title: str | None = None, width: float = 5.0,
            max_frames: int = MAX_ANIMATION_FRAMES):
    """An HTML/JS animation of frames that embeds in the notebook (no FFmpeg needed).

    Frames are embedded as JPEG, and at most ``max_frames`` of them (longer inputs are evenly
    subsampled and played proportionally slower, so the clip keeps its duration): a full-mode clip
    of hundreds of full-size frames stays far below matplotlib's 20 MB embed limit
    (``animation.embed_limit``), which otherwise silently drops frames.
    """
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib import animation
    from IPython.display import HTML

    if len(frames) == 0:
        raise ValueError("animate() needs at least one frame, got an empty sequence")
    if max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    step = -(-len(frames) // max_frames)  # ceil
    frames = [frames[i] for i in range(0, len(frames), step)]
    first = _to_hwc_uint8(frames[0])
    h, w = first.shape[:2]
    with matplotlib.rc_context({"animation.frame_format": "jpeg", "savefig.dpi": 100}):
        fig, ax = plt.subplots(figsize=(width, width * h / w))
        im = ax.imshow(first, cmap="gray")
        ax.set_axis_off()
        if title:
            ax.set_title(title)
        fig.tight_layout()

        def update(i):
            im.set_data(_to_hwc_uint8(frames[i]))
            return (im,)

        anim = animation.FuncAnimation(fig, update, frames=len(frames), interval=1000.0 * step / fps,
                                       blit=True)
        html = anim.to_jshtml(default_mode="loop")
        plt.close(fig)
    return HTML(_offline_controls(html))


# matplotlib's player links Font Awesome 4 from a CDN for its button icons: offline (the book,
# a laptop on a train) the buttons went blank. The same icon classes, drawn with text glyphs.
_ICONS = {"minus": "\u2212", "plus": "+", "fast-backward": "|\u25c0\u25c0", "step-backward": "|\u25c0",
          "play": "\u25b6", "pause": "\u275a\u275a", "step-forward": "\u25b6|", "fast-forward": "\u25b6\u25b6|"}
_ICON_CSS = "<style>\n" + "".join(
    f'.animation i.fa-{name}::before {{content: "{glyph}"; font-style: normal;}}\n' for name, glyph in _ICONS.items()
) + ".animation i.fa-flip-horizontal {display: inline-block; transform: scaleX(-1);}\n</style>"


def _offline_controls(html: str) -> str:
    import re

    return re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">', lambda _m: _ICON_CSS, html)


def plot_live_training(hist: dict, title: str, *, n_curve: int, num_classes: int = 8) -> None:
    """Loss (with chance, ln K) and held-out accuracy of a short live training run, side by side.

    ``hist`` holds the lists ``step``, ``train_loss`` and ``val_acc`` that the 26.3 training
    recipes return; ``n_curve`` is how many held-out clips each accuracy point was measured on."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3))
    ax[0].plot(hist["step"], hist["train_loss"], "o-")
    ax[0].axhline(np.log(num_classes), color="gray", ls=":", label=f"chance (ln {num_classes})")
    ax[0].set_xlabel("step"), ax[0].set_ylabel("training loss"), ax[0].legend()
    ax[1].plot(hist["step"], hist["val_acc"], "o-")
    ax[1].set_xlabel("step"), ax[1].set_ylabel(f"held-out accuracy (first {n_curve})")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    plt.show()


def plot_videomae_curve(curve: dict, finetune: dict | None = None, *, chance: float = 1 / 8):
    """The VideoMAE pretraining curve (26.3.4) as three panels: held-out masked-tubelet MSE
    against the two no-learning guesses (all masked tubelets, and those at moving positions),
    linear-probe accuracy per pooling and label count (mean and min-max over the label draws) vs
    pretraining step, and the fine-tuning accuracies of the last snapshot vs step 0.

    ``curve``: ``{step (str): {'reconstruction': ..., 'probe': ...}}`` as written by
    ``scripts/train_videomae_tiny.py``; ``finetune``: ``{'pretrained'|'scratch': {k: [acc, ...]}}``.
    Returns the figure (not shown)."""
    import matplotlib.pyplot as plt

    if not curve:
        raise ValueError("curve is empty: expected {step: {'reconstruction': ..., 'probe': ...}}")
    steps = sorted(curve, key=int)
    x = [int(s) for s in steps]
    n = 3 if finetune else 2
    fig, ax = plt.subplots(1, n, figsize=(4.3 * n, 3.4))
    rec = [curve[s]["reconstruction"] for s in steps]
    for part, ls in (("all", "-"), ("moving", "--")):
        get = (lambda r, key: r[key]) if part == "all" else (lambda r, key: r["moving"][key])
        ax[0].plot(x, [get(r, "model_mse") for r in rec], "o" + ls, color="C0", label=f"VideoMAE ({part})")
        ax[0].plot(x, [get(r, "visible_mean_mse") for r in rec], ls, color="C1", label=f"mean colour ({part})")
        ax[0].plot(x, [get(r, "copy_mse") for r in rec], ls, color="C2", label=f"copy nearest ({part})")
    ax[0].set_yscale("log"), ax[0].set_xlabel("pretraining step"), ax[0].set_ylabel("held-out masked MSE")
    ax[0].legend(fontsize=6.5), ax[0].set_title("reconstruction", fontsize=9)
    for i, pooling in enumerate(("tokens", "slots")):
        for j, k in enumerate(sorted(curve[steps[0]]["probe"][pooling], key=int)):
            accs = [curve[s]["probe"][pooling][k] for s in steps]
            m = [sum(a) / len(a) for a in accs]
            c = f"C{2 * i + j + 3}"
            ax[1].plot(x, m, "o-" if pooling == "slots" else "s--", color=c, label=f"{pooling}, k={k}")
            ax[1].fill_between(x, [min(a) for a in accs], [max(a) for a in accs], color=c, alpha=0.15)
    ax[1].axhline(chance, color="gray", ls=":", label="chance")
    ax[1].set_xlabel("pretraining step"), ax[1].set_ylabel("held-out accuracy")
    ax[1].legend(fontsize=6.5), ax[1].set_title("linear probe on frozen features", fontsize=9)
    if finetune:
        ks = sorted(finetune["pretrained"], key=int)
        for off, name in ((-0.15, "scratch"), (0.15, "pretrained")):
            for j, k in enumerate(ks):
                accs = finetune[name][k]
                ax[2].scatter([j + off] * len(accs), accs, color="C0" if name == "pretrained" else "C1",
                              label=name if j == 0 else None, s=18)
        ax[2].axhline(chance, color="gray", ls=":", label="chance")
        ax[2].set_xticks(range(len(ks)), [f"k={k}" for k in ks])
        ax[2].set_ylabel("held-out accuracy"), ax[2].legend(fontsize=6.5)
        ax[2].set_title("fine-tuning, labels per class", fontsize=9)
    fig.tight_layout()
    return fig
