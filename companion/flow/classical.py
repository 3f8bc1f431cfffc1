"""Classical optical flow baselines behind one convention.

Every function takes two RGB frames — uint8 NumPy (H, W, 3) or a (3, H, W) uint8 tensor — and
returns a float32 NumPy array (2, H, W): channel 0 = x (columns), channel 1 = y (rows), mapping
frame 1 to frame 2. scikit-image returns (row, col) order; it is swapped here.

* :func:`farneback` — OpenCV, polynomial expansion (Farnebäck 2003), coarse-to-fine;
* :func:`dis`       — OpenCV Dense Inverse Search (Kroeger et al. 2016), presets ultrafast/fast/medium;
* :func:`tvl1`      — scikit-image TV-L1 (total variation + L1 data term);
* :func:`ilk`       — scikit-image iterative Lucas–Kanade;
* :func:`zero`      — the do-nothing baseline.
"""

from __future__ import annotations

import cv2
import numpy as np


def _as_rgb_uint8(img, name: str) -> np.ndarray:
    if hasattr(img, "detach"):
        img = img.detach().cpu().numpy()
        if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
            img = np.moveaxis(img, 0, -1)
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 (0–255), got {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"{name} must be an RGB image (H, W, 3) or (3, H, W), got shape {img.shape}")
    return img


def _pair(img1, img2) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_rgb_uint8(img1, "img1"), _as_rgb_uint8(img2, "img2")
    if a.shape != b.shape:
        raise ValueError(f"the two frames differ in size: {a.shape} vs {b.shape}")
    return a, b


def _gray(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)


def farneback(img1, img2, *, pyr_scale: float = 0.5, levels: int = 5, winsize: int = 15,
              iterations: int = 3, poly_n: int = 5, poly_sigma: float = 1.2) -> np.ndarray:
    a, b = _pair(img1, img2)
    f = cv2.calcOpticalFlowFarneback(_gray(a), _gray(b), None, pyr_scale, levels, winsize, iterations,
                                     poly_n, poly_sigma, 0)
    return np.ascontiguousarray(f.transpose(2, 0, 1)).astype(np.float32)


_DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def dis(img1, img2, *, preset: str = "medium") -> np.ndarray:
    if preset not in _DIS_PRESETS:
        raise ValueError(f"preset must be one of {sorted(_DIS_PRESETS)}, got {preset!r}")
    a, b = _pair(img1, img2)
    f = cv2.DISOpticalFlow_create(_DIS_PRESETS[preset]).calc(_gray(a), _gray(b), None)
    return np.ascontiguousarray(f.transpose(2, 0, 1)).astype(np.float32)


def tvl1(img1, img2, **kwargs) -> np.ndarray:
    from skimage.registration import optical_flow_tvl1

    a, b = _pair(img1, img2)
    v, u = optical_flow_tvl1(_gray(a).astype(np.float32) / 255, _gray(b).astype(np.float32) / 255, **kwargs)
    return np.stack([u, v]).astype(np.float32)


def ilk(img1, img2, *, radius: int = 7, **kwargs) -> np.ndarray:
    from skimage.registration import optical_flow_ilk

    a, b = _pair(img1, img2)
    v, u = optical_flow_ilk(_gray(a).astype(np.float32) / 255, _gray(b).astype(np.float32) / 255,
                            radius=radius, **kwargs)
    return np.stack([u, v]).astype(np.float32)


def zero(img1, img2) -> np.ndarray:
    a, _ = _pair(img1, img2)
    return np.zeros((2,) + a.shape[:2], np.float32)


METHODS = {"Farneback": farneback, "DIS (medium)": dis, "TV-L1": tvl1, "ILK": ilk, "zero flow": zero}
