"""26.1 Decoding: from a video file to a ``(T, C, H, W)`` uint8 tensor of the frames you asked for.

Three decoders can do the work:

* ``"torchcodec"`` — PyTorch's own decoder (needs the system FFmpeg libraries);
* ``"decord"``     — a fast C++ reader (wheels for x86-64 Linux/Windows only);
* ``"pyav"``       — Python bindings that bundle FFmpeg (always installed).

:func:`read_clip` validates everything first (the file exists, it is a video, the indices are
in range), then asks one backend for the *sorted, unique* frames and puts them back in the order
you gave, so duplicated or shuffled indices cost nothing extra. Sparse reads are sparse: each
backend seeks to the keyframe before a wanted frame instead of decoding the whole file.

Index convention (the same for every backend): ``0 .. num_frames-1``; negative indices count from
the end like Python (``-1`` is the last frame); anything else raises :class:`IndexError` naming
the valid range. An empty index list gives an empty ``(0, 3, H, W)`` tensor.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from companion.errors import BackendUnavailableError, VideoDecodeError

BACKENDS = ("torchcodec", "decord", "pyav")  # preference order for backend=None (fastest first)


@dataclass(frozen=True)
class VideoInfo:
    """What a container says about its (first) video stream."""

    path: str
    num_frames: int
    fps: float
    width: int
    height: int
    duration: float  # seconds
    codec: str
    keyframes: tuple[int, ...]  # frame indices of the keyframes (where a decoder can start)

    def __getitem__(self, key):  # allow info["fps"] as well as info.fps
        return getattr(self, key)


# ------------------------------------------------------------------------------------------
# Backends
# ------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _backend_usable(name: str) -> bool:
    try:
        if name == "pyav":
            return importlib.util.find_spec("av") is not None
        if name == "decord":
            if importlib.util.find_spec("decord") is None:
                return False
            import decord  # noqa: F401
            return True
        if name == "torchcodec":
            if importlib.util.find_spec("torchcodec") is None:
                return False
            from torchcodec.decoders import VideoDecoder  # noqa: F401  (loads FFmpeg libs)
            return True
    except Exception:  # a wheel that imports but cannot load its native libraries
        return False
    raise ValueError(f"unknown backend {name!r}; choose one of {BACKENDS}")


def available_backends() -> list[str]:
    """The decoders usable on this machine, fastest first."""
    return [b for b in BACKENDS if _backend_usable(b)]


def _choose_backend(backend: str | None) -> str:
    if backend is None:
        usable = available_backends()
        if not usable:  # pragma: no cover - PyAV is a hard dependency
            raise BackendUnavailableError("no video decoder is installed: pip install av")
        return usable[0]
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS} or None (best available)")
    if not _backend_usable(backend):
        hint = {"torchcodec": "pip install torchcodec, and install FFmpeg (apt-get install ffmpeg)",
                "decord": "pip install decord (x86-64 Linux/Windows only)",
                "pyav": "pip install av"}[backend]
        raise BackendUnavailableError(f"backend {backend!r} is not usable here ({hint}); "
                                      f"available: {available_backends()}")
    return backend


# ------------------------------------------------------------------------------------------
# Probing
# ------------------------------------------------------------------------------------------


def _check_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such video file: {p}")
    if p.is_dir():
        raise IsADirectoryError(f"{p} is a directory, not a video file")
    return p


def video_info(path) -> VideoInfo:
    """Frame count, fps, size, duration, codec and keyframe positions of a video file."""
    p = _check_path(path)
    st = p.stat()
    return _probe(str(p.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _probe(path: str, size: int, mtime_ns: int) -> VideoInfo:
    import av

    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoDecodeError(path, "pyav", "the file has no video stream")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            rate = stream.average_rate or stream.guessed_rate or Fraction(0)
            fps = float(rate)
            base = stream.time_base
            start = stream.start_time or 0
            keyframes, count = [], 0
            # Demuxing (no decoding) is cheap: it gives the true packet count and the keyframes.
            for packet in container.demux(stream):
                if packet.size == 0 and packet.pts is None:
                    continue
                if packet.is_keyframe:
                    keyframes.append(_pts_to_index(packet.pts, start, base, fps, default=count))
                count += 1
            width, height, codec = ctx.width, ctx.height, ctx.name
    except VideoDecodeError:
        raise
    except Exception as exc:  # av.error.InvalidDataError and friends
        raise VideoDecodeError(path, "pyav", f"not a readable video ({type(exc).__name__}: {exc})") from None
    if count and (width <= 0 or height <= 0):
        raise VideoDecodeError(path, "pyav", "the video stream has no frame size")
    duration = count / fps if fps > 0 else 0.0
    return VideoInfo(path, count, fps, width, height, duration, codec, tuple(sorted(set(keyframes))))


def _pts_to_index(pts, start, time_base, fps, default: int) -> int:
    if pts is None or not fps:
        return default
    return int(round(float((pts - start) * time_base) * fps))


# ------------------------------------------------------------------------------------------
# Reading frames
# ------------------------------------------------------------------------------------------


def normalize_indices(indices, num_frames: int) -> np.ndarray:
    """Validate frame indices against a video length: Python-style negatives, IndexError otherwise."""
    if isinstance(indices, torch.Tensor):
        indices = indices.tolist()
    arr = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"indices must be a 1-D sequence of frame numbers, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"frame indices must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if num_frames == 0:
        raise IndexError("the video has 0 frames: no index is valid")
    bad = (arr < -num_frames) | (arr >= num_frames)
    if bad.any():
        raise IndexError(f"frame index {int(arr[bad][0])} is out of range: this video has {num_frames} "
                         f"frames, valid indices are 0..{num_frames - 1} (or -{num_frames}..-1)")
    return np.where(arr < 0, arr + num_frames, arr)


def read_clip(path, indices: Sequence[int], backend: str | None = None) -> torch.Tensor:
    """Decode the frames ``indices`` of ``path`` into a ``torch.uint8`` tensor ``(T, 3, H, W)``, RGB.

    ``backend`` is ``"torchcodec"``, ``"decord"``, ``"pyav"`` or ``None`` for the best available.
    Frames come back in the order of ``indices`` (duplicates allowed).
    """
    name = _choose_backend(backend)
    try:
        info = video_info(path)  # probed with PyAV; the error names the backend you asked for
    except VideoDecodeError as exc:
        raise VideoDecodeError(exc.path, name, exc.reason) from None
    idx = normalize_indices(indices, info.num_frames)
    if idx.size == 0:
        return torch.empty((0, 3, info.height, info.width), dtype=torch.uint8)
    wanted, inverse = np.unique(idx, return_inverse=True)
    try:
        frames = _READERS[name](info, wanted)  # (len(wanted), 3, H, W) uint8 tensor, sorted order
    except (VideoDecodeError, IndexError):
        raise
    except Exception as exc:
        raise VideoDecodeError(info.path, name, f"{type(exc).__name__}: {exc}") from None
    if frames.shape[0] != wanted.size:
        raise VideoDecodeError(info.path, name, f"got {frames.shape[0]} of {wanted.size} frames "
                                                f"(is the file truncated?)")
    if wanted.size == idx.size and np.array_equal(wanted, idx):
        return frames  # already in the asked order: no extra copy
    return frames[torch.from_numpy(inverse.reshape(-1))]


def _read_torchcodec(info: VideoInfo, wanted: np.ndarray) -> np.ndarray:
    from torchcodec.decoders import VideoDecoder

    decoder = VideoDecoder(info.path, seek_mode="exact", num_ffmpeg_threads=0)
    n = decoder.metadata.num_frames
    if n is not None and wanted[-1] >= n:
        raise VideoDecodeError(info.path, "torchcodec", f"the decoder sees only {n} of "
                                                         f"{info.num_frames} frames (truncated file?)")
    return decoder.get_frames_at(wanted.tolist()).data


def _read_decord(info: VideoInfo, wanted: np.ndarray) -> np.ndarray:
    import decord

    reader = decord.VideoReader(info.path, ctx=decord.cpu(0), num_threads=1)
    if wanted[-1] >= len(reader):
        raise VideoDecodeError(info.path, "decord", f"the decoder sees only {len(reader)} of "
                                                     f"{info.num_frames} frames (truncated file?)")
    return torch.from_numpy(reader.get_batch(wanted.tolist()).asnumpy()).permute(0, 3, 1, 2)


def _read_pyav(info: VideoInfo, wanted: np.ndarray) -> np.ndarray:
    """Seek to the keyframe before each wanted frame only when that skips work; decode forward
    otherwise; convert to RGB only the frames that were asked for."""
    import av

    keyframes = np.asarray(info.keyframes or (0,))
    out = np.empty((wanted.size, info.height, info.width, 3), dtype=np.uint8)
    with av.open(info.path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        base, start, fps = stream.time_base, stream.start_time or 0, info.fps
        frames = None
        pos = -1  # index of the last decoded frame
        for k, target in enumerate(wanted):
            key = int(keyframes[np.searchsorted(keyframes, target, side="right") - 1])
            if frames is None or target <= pos or key > pos + 1:
                # Seek to the keyframe at or before the target (in stream time units).
                ts = int(round(key / fps / base)) + start if fps else 0
                container.seek(ts, stream=stream, backward=True, any_frame=False)
                frames = container.decode(stream)
                pos = -1
            for frame in frames:
                pos = _pts_to_index(frame.pts, start, base, fps, default=pos + 1)
                if pos == target:
                    out[k] = frame.to_ndarray(format="rgb24")
                    break
                if pos > target:
                    raise VideoDecodeError(info.path, "pyav", f"seeking skipped frame {target}")
            else:
                raise VideoDecodeError(info.path, "pyav", f"the stream ended before frame {target} "
                                                           f"(truncated file?)")
    return torch.from_numpy(out).permute(0, 3, 1, 2)


_READERS = {"torchcodec": _read_torchcodec, "decord": _read_decord, "pyav": _read_pyav}


def iter_frames(path, *, start: int = 0, stop: int | None = None, step: int = 1) -> Iterator[np.ndarray]:
    """Stream frames ``start:stop:step`` as ``(H, W, 3)`` uint8 RGB arrays, in order, decoding
    once (PyAV, threaded). For whole-video passes such as the lab's pipeline."""
    import av

    info = video_info(path)
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    stop = info.num_frames if stop is None else min(stop, info.num_frames)
    try:
        with av.open(info.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for i, frame in enumerate(container.decode(stream)):
                if i >= stop:
                    break
                if i >= start and (i - start) % step == 0:
                    yield frame.to_ndarray(format="rgb24")
    except av.FFmpegError as exc:
        raise VideoDecodeError(info.path, "pyav", f"{type(exc).__name__}: {exc}") from None


def write_video(path, frames, fps: float = 10.0, *, codec: str = "libx264", gop: int = 12,
                crf: int = 18, overwrite: bool = False) -> Path:
    """Write ``(T, H, W, 3)`` uint8 RGB frames (array or tensor; or ``(T, 3, H, W)`` tensor) as a video.

    Refuses to overwrite an existing file unless ``overwrite=True``.
    """
    import av

    p = Path(path)
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p} exists; pass overwrite=True to replace it")
    arr = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if arr.ndim == 4 and arr.shape[1] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(0, 2, 3, 1)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {arr.dtype} {arr.shape}")
    if arr.shape[1] % 2 or arr.shape[2] % 2:
        raise ValueError(f"H and W must be even for yuv420p video, got {arr.shape[1]}x{arr.shape[2]}")
    p.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(p), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = arr.shape[2], arr.shape[1]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "veryfast", "bf": "0",
                              "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}
        for img in arr:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return p
