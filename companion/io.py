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

One policy for real-world files, the same in :func:`video_info`, :func:`read_clip`,
:func:`iter_frames` and every backend (each backend is checked against it, or refuses the file
with a clear :class:`~companion.errors.VideoDecodeError` naming a backend that can read it):

* **Stream**: FFmpeg's "best" video stream (``av_find_best_stream``'s ranking: default flag,
  frames, bitrate), never an attached picture (cover art), nor a one-frame still when the file
  has a real video stream.
* **Frame k** is the k-th *displayable* frame in presentation-timestamp order: the **frame
  table** (one demux pass, no decoding, cached per file) lists every packet's pts, so variable
  frame rate files are indexed exactly, and the frames an edit list hides (a clip trimmed with
  ``ffmpeg -ss N -c copy`` keeps the keyframe before the cut) are not counted.
* **Rotation** metadata is applied, as players do: a phone video tagged "rotate 90" comes back
  upright, and ``width``/``height`` are the displayed ones.
* **Colour**: frames are converted to RGB exactly as FFmpeg's own ``-pix_fmt rgb24`` does, also
  for 10-bit video.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import numbers
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from companion.errors import BackendRefusedError, BackendUnavailableError, VideoDecodeError

BACKENDS = ("torchcodec", "decord", "pyav")  # preference order for backend=None (fastest first)


@dataclass(frozen=True)
class VideoInfo:
    """What a container says about the video stream the companion reads (see the module policy)."""

    path: str
    num_frames: int  # displayable frames
    fps: float  # average frame rate (variable frame rate files: use frame_times)
    width: int  # displayed size (after rotation)
    height: int
    duration: float  # seconds, first frame's start to last frame's end
    codec: str
    keyframes: tuple[int, ...]  # frame indices of the displayable keyframes (where a decoder can start)
    stream_index: int = 0  # which stream of the file
    rotation: int = 0  # degrees counter-clockwise applied to the decoded frames (0, 90, 180, 270)
    pix_fmt: str = ""  # the stream's pixel format, e.g. yuv420p, yuv420p10le

    def __getitem__(self, key):  # allow info["fps"] as well as info.fps
        return getattr(self, key)


@dataclass(frozen=True)
class _FrameTable:
    """Per-file index built from one demux pass (cached with the probe)."""

    pts: np.ndarray  # (num_frames,) int64 presentation timestamps, display order (None: no pts)
    key_pts: np.ndarray  # pts of every keyframe, sorted, including keyframes an edit list hides
    time_base: Fraction
    hidden: int  # packets an edit list hides (decoded only to reach the first displayable frame)
    declared: int  # the frame count the container's header declares (0: unknown)
    bits: int  # bits per colour component
    format: str = ""  # the container's format names, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "mpegts"
    open_gop: bool = False  # some frames are shown before the keyframe that precedes them in decoding


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
# Probing: stream choice, frame table, rotation
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
    return _probe_path(path)[0]


def frame_times(path) -> np.ndarray:
    """Presentation time (seconds from the first frame) of every displayable frame, ``float64``:
    the frame table behind the indices. Exact for variable frame rate files."""
    info, table = _probe_path(path)
    if table.pts.size != info.num_frames:  # no timestamps in the container: the nominal rate
        return np.arange(info.num_frames) / info.fps if info.fps > 0 else np.zeros(info.num_frames)
    return (table.pts - table.pts[0]).astype(np.float64) * float(table.time_base) if table.pts.size \
        else np.zeros(0)


def _probe_path(path) -> tuple[VideoInfo, _FrameTable]:
    p = _check_path(path)
    st = p.stat()
    return _probe(str(p.resolve()), st.st_size, st.st_mtime_ns)


def _is_cover(stream) -> bool:
    import av

    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def best_video_stream(container):
    """The stream every backend reads (module policy): FFmpeg's best video stream, ranked as
    ``av_find_best_stream`` does (default flag, then frames, then bitrate), skipping attached
    pictures, and skipping one-frame stills when a real video stream exists. ``None`` if none."""
    candidates = [s for s in container.streams.video if not _is_cover(s)]
    moving = [s for s in candidates if s.frames != 1]
    candidates = moving or candidates
    if not candidates:
        return None
    try:
        best = container.streams.best("video")
    except Exception:  # pragma: no cover - older PyAV
        best = None
    if best is not None and any(best is s or best.index == s.index for s in candidates):
        return best
    import av

    def rank(s):
        d = s.disposition
        impaired = d & (av.stream.Disposition.hearing_impaired | av.stream.Disposition.visual_impaired)
        score = int(not impaired) + int(bool(d & av.stream.Disposition.default))
        frames = s.frames or 0
        return score, min(5, frames), s.codec_context.bit_rate or 0, frames

    top = max(rank(s) for s in candidates)
    return next(s for s in candidates if rank(s) == top)  # the first of equals, like FFmpeg


def _keyframe_is_idr(data: bytes, codec: str) -> bool | None:
    """Whether a length-prefixed (MP4/Matroska) H.264/HEVC keyframe packet holds an IDR picture;
    None when the packet is not length-prefixed (Annex B streams)."""
    i, types = 0, []
    while i + 5 <= len(data):
        n = int.from_bytes(data[i:i + 4], "big")
        i += 4
        if n <= 0 or i + n > len(data):
            return None
        types.append(data[i] & 0x1F if codec == "h264" else (data[i] >> 1) & 0x3F)
        i += n
    if not types:
        return None
    return 5 in types if codec == "h264" else any(t in (19, 20) for t in types)


def _first_frame_rotation(path: str, index: int) -> int:
    import av

    try:
        with av.open(path) as container:
            for frame in container.decode(container.streams[index]):
                return _rotation_of(frame)
    except av.FFmpegError:  # a damaged first frame: reading it later reports the error
        pass
    return 0


def _rotation_of(frame) -> int:
    """Degrees counter-clockwise to turn a decoded frame upright (0, 90, 180 or 270)."""
    r = getattr(frame, "rotation", 0) or 0
    return int(round(r / 90.0)) % 4 * 90


@functools.lru_cache(maxsize=64)
def _probe(path: str, size: int, mtime_ns: int) -> tuple[VideoInfo, _FrameTable]:
    import av

    try:
        with av.open(path) as container:
            stream = best_video_stream(container)
            if stream is None:
                what = "only a cover picture" if container.streams.video else "no video stream"
                raise VideoDecodeError(path, "pyav", f"the file has {what}")
            ctx = stream.codec_context
            rate = stream.average_rate or stream.guessed_rate or Fraction(0)
            fps = float(rate)
            pts, keys, durations, missing_pts, hidden = [], [], [], False, 0
            cur_key, open_gop = None, False
            codec_name = ctx.name
            # Demuxing (no decoding) is cheap: it gives every packet's timestamp and the keyframes.
            for packet in container.demux(stream):
                if packet.size == 0 and packet.pts is None:
                    continue  # the flush packet
                p = packet.pts if packet.pts is not None else packet.dts
                if packet.is_keyframe and p is not None:
                    keys.append(p)
                    cur_key = p
                    if codec_name in ("h264", "hevc") and _keyframe_is_idr(bytes(packet), codec_name) is False:
                        open_gop = True  # a recovery-point keyframe (open GOP), not an IDR picture
                elif p is not None and cur_key is not None and p < cur_key:
                    open_gop = True  # shown before the keyframe that precedes it in decode order
                if packet.is_discard:  # before the edit list's start: decoded, never shown
                    hidden += 1
                    continue
                if p is None:
                    missing_pts = True
                    p = -1
                pts.append(p)
                durations.append(packet.duration or 0)
            width, height, codec = ctx.width, ctx.height, ctx.name
            pix_fmt = ctx.pix_fmt or ""
            bits = max((c.bits for c in av.VideoFormat(pix_fmt).components), default=8) if pix_fmt else 8
            declared = stream.frames or 0
            fmt = container.format.name or ""
            time_base = stream.time_base or Fraction(1, 1)
            index = stream.index
        # The display matrix travels with the frames: read the rotation from the first one.
        rotation = _first_frame_rotation(path, index) if pts else 0
    except VideoDecodeError:
        raise
    except Exception as exc:  # av.error.InvalidDataError and friends
        raise VideoDecodeError(path, "pyav", f"not a readable video ({type(exc).__name__}: {exc})") from None
    count = len(pts)
    if count and (width <= 0 or height <= 0):
        raise VideoDecodeError(path, "pyav", "the video stream has no frame size")
    if missing_pts:  # no timestamps: decode order is display order (no B-frames in such files)
        order = np.arange(count)
        table_pts = np.zeros(0, dtype=np.int64)
        key_idx = []
        duration = count / fps if fps > 0 else 0.0
    else:
        arr = np.asarray(pts, dtype=np.int64)
        order = np.argsort(arr, kind="stable")
        table_pts = arr[order]
        key_idx = np.searchsorted(table_pts, np.asarray(keys, dtype=np.int64)).tolist()
        key_idx = [int(k) for k, kp in zip(key_idx, keys) if k < count and table_pts[k] == kp]
        last = durations[int(order[-1])] if count else 0
        if count and last <= 0 and fps > 0:
            last = 1.0 / fps / float(time_base)
        duration = float((table_pts[-1] - table_pts[0] + last) * time_base) if count else 0.0
    if rotation in (90, 270):
        width, height = height, width
    info = VideoInfo(path, count, fps, width, height, duration, codec, tuple(sorted(set(key_idx))),
                     index, rotation, pix_fmt)
    table = _FrameTable(table_pts, np.asarray(sorted(keys), dtype=np.int64), time_base, hidden, declared,
                        int(bits), fmt, open_gop)
    return info, table


# ------------------------------------------------------------------------------------------
# Reading frames
# ------------------------------------------------------------------------------------------

_INT64_MAX = np.iinfo(np.int64).max


def _out_of_range(value, num_frames: int) -> IndexError:
    return IndexError(f"frame index {value} is out of range: this video has {num_frames} frames, "
                      f"valid indices are 0..{num_frames - 1} (or -{num_frames}..-1)")


def normalize_indices(indices, num_frames: int) -> np.ndarray:
    """Validate frame indices against a video length: Python-style negatives, IndexError otherwise.

    Integers of any width (``numpy.uint64``, Python ints beyond 64 bits) and integral floats are
    checked *before* any conversion, so ``2**64 - 1`` or ``1e300`` is out of range, never wrapped.
    """
    if isinstance(indices, torch.Tensor):
        indices = indices.tolist()
    if isinstance(indices, (str, bytes)):
        raise TypeError(f"indices must be a sequence of integers, got {type(indices).__name__}")
    try:
        arr = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices)
    except TypeError:
        raise TypeError(f"indices must be a sequence of integers, got {type(indices).__name__}") from None
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"indices must be a 1-D sequence of frame numbers, got shape {arr.shape}")
    if arr.dtype == bool:
        raise TypeError("frame indices must be integers, got booleans (a mask? use np.flatnonzero(mask))")
    if arr.dtype == object:  # Python ints too large for int64 (or a mix of types)
        values = arr.tolist()
        for v in values:
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"frame indices must be integers, got {v!r} ({type(v).__name__})")
            if not -num_frames <= v < num_frames:
                raise _out_of_range(v, num_frames) if num_frames else \
                    IndexError("the video has 0 frames: no index is valid")
        arr = np.asarray(values, dtype=np.int64)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise TypeError(f"frame indices must be integers, got {arr[~np.isfinite(arr)][0]!r}")
        if not np.all(np.mod(arr, 1) == 0):
            raise TypeError(f"frame indices must be integers, got dtype {arr.dtype} with a fractional "
                            f"value ({arr[np.mod(arr, 1) != 0][0]!r})")
        big = np.abs(arr) > 2.0 ** 62
        if big.any():
            raise _out_of_range(repr(float(arr[big][0])), max(num_frames, 0)) if num_frames else \
                IndexError("the video has 0 frames: no index is valid")
        arr = arr.astype(np.int64)
    elif np.issubdtype(arr.dtype, np.unsignedinteger):
        big = arr > _INT64_MAX
        if big.any():
            raise _out_of_range(int(arr[big][0]), num_frames) if num_frames else \
                IndexError("the video has 0 frames: no index is valid")
        arr = arr.astype(np.int64)
    elif not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"frame indices must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if num_frames == 0:
        raise IndexError("the video has 0 frames: no index is valid")
    bad = (arr < -num_frames) | (arr >= num_frames)
    if bad.any():
        raise _out_of_range(int(arr[bad][0]), num_frames)
    return np.where(arr < 0, arr + num_frames, arr)


def read_clip(path, indices: Sequence[int], backend: str | None = None) -> torch.Tensor:
    """Decode the frames ``indices`` of ``path`` into a ``torch.uint8`` tensor ``(T, 3, H, W)``, RGB.

    ``backend`` is ``"torchcodec"``, ``"decord"``, ``"pyav"`` or ``None`` for the best available
    (falling back to the next one when a backend refuses the file). Frames come back in the order
    of ``indices`` (duplicates allowed).
    """
    name = _choose_backend(backend)
    try:
        info, table = _probe_path(path)  # probed with PyAV; the error names the backend you asked for
    except VideoDecodeError as exc:
        raise VideoDecodeError(exc.path, name, exc.reason) from None
    idx = normalize_indices(indices, info.num_frames)
    if idx.size == 0:
        return torch.empty((0, 3, info.height, info.width), dtype=torch.uint8)
    wanted, inverse = np.unique(idx, return_inverse=True)
    order = [name] if backend is not None else [name] + [b for b in available_backends() if b != name]
    for k, name in enumerate(order):
        try:
            frames = _READERS[name](info, table, wanted)  # (len(wanted), 3, H, W) uint8, sorted order
            break
        except BackendRefusedError:
            if k == len(order) - 1:
                raise
        except (VideoDecodeError, IndexError):
            raise
        except Exception as exc:
            raise VideoDecodeError(info.path, name, _short_reason(exc, wanted)
                                   + _truncation_note(info, table)) from None
    if frames.shape[0] != wanted.size:
        raise VideoDecodeError(info.path, name, f"got {frames.shape[0]} of {wanted.size} frames "
                                                f"(is the file truncated?)")
    if tuple(frames.shape[1:]) != (3, info.height, info.width):
        raise VideoDecodeError(info.path, name, f"decoded frames of shape {tuple(frames.shape[1:])}, "
                                                f"expected (3, {info.height}, {info.width})")
    if wanted.size == idx.size and np.array_equal(wanted, idx):
        return frames  # already in the asked order: no extra copy
    return frames[torch.from_numpy(inverse.reshape(-1))]


def _short_reason(exc: BaseException, wanted: np.ndarray) -> str:
    """One line instead of a native library's trace (C++ file names, timestamps, error codes)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "Error:" in text:
        text = text.split("Error:", 1)[1].strip()
    text = text[:160]
    return (f"decoding frames {int(wanted[0])}..{int(wanted[-1])} failed ({type(exc).__name__}: {text}); "
            f"the file is damaged or truncated")


def _truncation_note(info: VideoInfo, table: _FrameTable) -> str:
    if table.declared > info.num_frames + table.hidden:
        return (f" (its header declares {table.declared} frames, its data holds {info.num_frames}: "
                f"the file is truncated)")
    return ""


# Containers with a frame index (sample tables, cues, idx1): torchcodec and decord seek exactly in
# these. In others (MPEG-TS/PS, raw streams, ...) a seek is a guess and both land on later frames.
INDEXED_FORMATS = ("mov", "mp4", "matroska", "webm", "avi")


def _check_indexed(info: VideoInfo, table: _FrameTable, backend: str) -> None:
    if not any(f in INDEXED_FORMATS for f in table.format.split(",")):
        raise _refuse(info, backend, f"the container ({table.format}) has no frame index, and {backend} "
                                     f"seeks in it by guessing (measured: frame 0 comes back as frame 9 "
                                     f"of an MPEG-TS file)", only_pyav=True)


def _refuse(info: VideoInfo, backend: str, why: str, only_pyav: bool = False) -> BackendRefusedError:
    others = ["pyav"] if only_pyav else [b for b in available_backends() if b not in (backend, "decord")]
    return BackendRefusedError(info.path, backend, f"{why}; use backend {' or '.join(map(repr, others))}")


def _read_torchcodec(info: VideoInfo, table: _FrameTable, wanted: np.ndarray) -> torch.Tensor:
    from torchcodec.decoders import VideoDecoder

    _check_indexed(info, table, "torchcodec")
    decoder = VideoDecoder(info.path, stream_index=info.stream_index, seek_mode="exact", num_ffmpeg_threads=0)
    n = decoder.metadata.num_frames
    if n is not None and n != info.num_frames:
        raise _refuse(info, "torchcodec", f"it counts {n} frames where the frame table has "
                                          f"{info.num_frames} displayable ones")
    try:
        batch = decoder.get_frames_at(wanted.tolist())
    except RuntimeError as exc:
        if _truncation_note(info, table):
            raise
        # The frame table is complete, so the file is fine: a torchcodec seeking limit (measured on
        # open-GOP H.264 in MP4: the last frames after the last keyframe raise "no more frames").
        first_line = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise _refuse(info, "torchcodec", f"torchcodec failed on frames {int(wanted[0])}..{int(wanted[-1])} of "
                                          f"a complete file ({first_line})") from None
    if table.pts.size:  # every frame is the one the frame table names (same timestamp)
        want_s = (table.pts[wanted] - table.pts[0]).astype(np.float64) * float(table.time_base)
        raw = batch.pts_seconds.numpy().astype(np.float64)
        tol = 0.5 * float(table.time_base) + 1e-6
        # torchcodec's seconds may count from the stream's zero or from its first frame: either is fine
        got_s = raw - float(table.pts[0] * table.time_base)
        if not (np.abs(got_s - want_s) <= tol).all() and (np.abs(raw - want_s) <= tol).all():
            got_s = raw
        off = np.abs(got_s - want_s) > tol
        if off.any():
            k = int(np.flatnonzero(off)[0])
            raise _refuse(info, "torchcodec", f"it returned the frame at {got_s[k]:.4f} s for frame "
                                              f"{int(wanted[k])} (at {want_s[k]:.4f} s)")
    return batch.data


def _read_decord(info: VideoInfo, table: _FrameTable, wanted: np.ndarray) -> torch.Tensor:
    if table.hidden:
        raise _refuse(info, "decord", f"the file has an edit list hiding {table.hidden} frames "
                                      f"(a trimmed clip) and decord ignores it, returning shifted frames")
    _check_indexed(info, table, "decord")
    if table.open_gop:
        raise _refuse(info, "decord", "the file has open GOPs (keyframes that are recovery points, not IDR pictures) and decord "
                                      "returns neighbouring frames there (measured: frame 39 of an open-GOP "
                                      "H.264 clip came back as frame 36)", only_pyav=False)
    if table.bits > 8:
        raise _refuse(info, "decord", f"the video is {table.bits}-bit ({info.pix_fmt}) and decord's "
                                      f"RGB conversion differs from FFmpeg's by tens of grey levels")
    import decord

    try:
        reader = decord.VideoReader(info.path, ctx=decord.cpu(0), num_threads=1)
    except decord.DECORDError as exc:
        why = str(exc).strip().splitlines()[0].split("Error:", 1)[-1].strip()[:120] if str(exc).strip() else ""
        raise _refuse(info, "decord", f"decord cannot open the file (DECORDError: {why}): it is damaged or "
                                      f"truncated{_truncation_note(info, table)}") from None
    if len(reader) != info.num_frames:
        raise _refuse(info, "decord", f"decord reads {len(reader)} frames, the frame table of stream "
                                      f"{info.stream_index} has {info.num_frames} (decord picks its own "
                                      f"stream and cannot be told which, or the file is truncated)")
    if table.pts.size:
        ts = reader.get_frame_timestamp(wanted.tolist())[:, 0]
        want_s = (table.pts[wanted] - table.pts[0]).astype(np.float64) * float(table.time_base)
        off = np.abs(ts - ts[0] + want_s[0] - want_s) > 0.5 * float(table.time_base) + 1e-3
        if off.any():
            raise _refuse(info, "decord", f"decord's timestamps disagree with the frame table at frame "
                                          f"{int(wanted[np.flatnonzero(off)[0]])}")
    return torch.from_numpy(reader.get_batch(wanted.tolist()).asnumpy()).permute(0, 3, 1, 2)


class _ToRGB:
    """Decoded frame → upright ``(H, W, 3)`` uint8 RGB, converted as FFmpeg's ``-pix_fmt rgb24``
    does: 8-bit formats through swscale's direct path; deeper ones through a ``format=rgb24``
    filter graph, which is what the ffmpeg tool runs (PyAV's own reformat is off by up to ~40
    levels on 10-bit edges)."""

    def __init__(self, stream, rotation: int, bits: int):
        self.stream, self.k, self.bits, self.graph = stream, rotation // 90, bits, None

    def __call__(self, frame) -> np.ndarray:
        if self.bits > 8:
            if self.graph is None:
                import av

                g = av.filter.Graph()
                src = g.add_buffer(template=self.stream)
                fmt = g.add("format", "pix_fmts=rgb24")
                sink = g.add("buffersink")
                src.link_to(fmt)
                fmt.link_to(sink)
                g.configure()
                self.graph = g
            self.graph.push(frame)
            img = self.graph.pull().to_ndarray()
        else:
            img = frame.to_ndarray(format="rgb24")
        return np.ascontiguousarray(np.rot90(img, self.k)) if self.k else img


def _read_pyav(info: VideoInfo, table: _FrameTable, wanted: np.ndarray) -> torch.Tensor:
    """Seek to the keyframe before each wanted frame only when that skips work; decode forward
    otherwise; match frames by their presentation timestamp (the frame table); convert to RGB
    only the frames that were asked for. Where a seek lands *after* the wanted frame (containers
    without a frame index, e.g. MPEG-TS, seek by guessing), decode from the start instead."""
    import av

    out = np.empty((wanted.size, info.height, info.width, 3), dtype=np.uint8)
    container = None

    def open_stream():
        nonlocal container
        if container is not None:
            container.close()
        container = av.open(info.path)
        stream = container.streams[info.stream_index]
        stream.thread_type = "AUTO"
        return stream, _ToRGB(stream, info.rotation, table.bits)

    try:
        stream, rgb = open_stream()
        if not table.pts.size:  # no timestamps: count decoded frames from the start
            it = enumerate(container.decode(stream))
            i = -1
            for k, target in enumerate(wanted):
                for i, frame in it:
                    if i == target:
                        out[k] = rgb(frame)
                        break
                else:
                    raise VideoDecodeError(info.path, "pyav", f"the stream ended at frame {i + 1} "
                                                               f"before frame {target} (truncated file?)")
            return torch.from_numpy(out).permute(0, 3, 1, 2)
        keys, pts = table.key_pts, table.pts
        frames, last = None, None  # the decoding generator and the pts of its last frame
        linear = False  # a seek overshot once: from then on decode forward from the start only
        for k, target in enumerate(wanted):
            tp = int(pts[target])
            while True:
                if linear:
                    if frames is None or (last is not None and tp <= last):
                        stream, rgb = open_stream()
                        frames, last = container.decode(stream), None
                else:
                    j = np.searchsorted(keys, tp, side="right") - 1
                    key = int(keys[j]) if j >= 0 else None
                    if frames is None or last is None or tp <= last or (key is not None and key > last):
                        container.seek(key if key is not None else tp, stream=stream, backward=True,
                                       any_frame=False)
                        frames, last = container.decode(stream), None
                found = None
                for frame in frames:
                    if frame.pts is None:
                        continue
                    last = frame.pts
                    if last >= tp:
                        found = frame if last == tp else False
                        break
                if found is None:
                    raise VideoDecodeError(info.path, "pyav", f"the stream ended before frame {target} "
                                                               f"(truncated file?){_truncation_note(info, table)}")
                if found is not False:
                    out[k] = rgb(found)
                    break
                if linear:
                    raise VideoDecodeError(info.path, "pyav", f"frame {target} (pts {tp}) never came out of "
                                                               f"the decoder (damaged file?)")
                linear, frames = True, None  # the seek landed after the frame: start over from the top
    except av.FFmpegError as exc:
        raise VideoDecodeError(info.path, "pyav", f"decoding failed near frame {target} "
                                                   f"({exc.strerror}; truncated or damaged file?)") from None
    finally:
        if container is not None:
            container.close()
    return torch.from_numpy(out).permute(0, 3, 1, 2)


_READERS = {"torchcodec": _read_torchcodec, "decord": _read_decord, "pyav": _read_pyav}


def _check_int(name: str, value, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int{' or None' if allow_none else ''}, got {value!r}")
    return int(value)


def iter_frames(path, *, start: int = 0, stop: int | None = None, step: int = 1) -> Iterator[np.ndarray]:
    """Stream frames ``start:stop:step`` as ``(H, W, 3)`` uint8 RGB arrays, in order, decoding
    once (PyAV, threaded). For whole-video passes such as the lab's pipeline.

    ``start``/``stop`` follow Python slicing (negative counts from the end); ``step`` is an int
    >= 1. A file that ends before the frame table's last frame raises :class:`VideoDecodeError`
    naming the frame reached, never a silent early stop.
    """
    start, stop, step = _check_int("start", start), _check_int("stop", stop, True), _check_int("step", step)
    if step < 1:
        raise ValueError(f"step must be an int >= 1 (frames stream forward), got {step}")
    info, table = _probe_path(path)  # checked now, not at the first next()
    return _stream(info, table, range(info.num_frames)[start:stop:step])


def _stream(info: VideoInfo, table: _FrameTable, wanted: range) -> Iterator[np.ndarray]:
    import av

    if len(wanted) == 0:
        return
    first, last, step = wanted[0], wanted[-1], wanted.step
    i = 0
    try:
        with av.open(info.path) as container:
            stream = container.streams[info.stream_index]
            stream.thread_type = "AUTO"
            rgb = _ToRGB(stream, info.rotation, table.bits)
            for frame in container.decode(stream):
                if i > last:
                    break
                if i >= first and (i - first) % step == 0:
                    yield rgb(frame)
                i += 1
    except av.FFmpegError as exc:
        raise VideoDecodeError(info.path, "pyav", f"decoding stopped at frame {i} of {info.num_frames} "
                                                   f"({exc.strerror}): the file is truncated or damaged"
                               ) from None
    if i <= last:
        raise VideoDecodeError(info.path, "pyav", f"the stream ended at frame {i} of {info.num_frames} "
                                                   f"(frame {last} was asked for): the file is truncated"
                                                   f"{_truncation_note(info, table)}")


def write_video(path, frames, fps: float = 10.0, *, codec: str = "libx264", gop: int = 12,
                crf: int = 18, overwrite: bool = False) -> Path:
    """Write ``(T, H, W, 3)`` uint8 RGB frames (array or tensor; or ``(T, 3, H, W)`` tensor) as a video.

    Needs at least one frame and a finite ``fps`` > 0. Refuses to overwrite an existing file
    unless ``overwrite=True``.
    """
    import av

    p = Path(path)
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p} exists; pass overwrite=True to replace it")
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a finite number > 0, got {fps!r}")
    arr = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if arr.ndim == 4 and arr.shape[1] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(0, 2, 3, 1)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {arr.dtype} {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError("frames is empty: a video needs at least one frame")
    if arr.shape[1] % 2 or arr.shape[2] % 2:
        raise ValueError(f"H and W must be even for yuv420p video, got {arr.shape[1]}x{arr.shape[2]}")
    rate = Fraction(fps).limit_denominator(1000)
    if rate <= 0:
        raise ValueError(f"fps={fps!r} is too small (the rate is stored as a fraction with denominator "
                         f"<= 1000)")
    p.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(p), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
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
