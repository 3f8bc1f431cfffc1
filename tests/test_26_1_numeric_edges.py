"""26.1 numeric edges (issue 14): huge, non-finite and fractional numbers get a clear error (or the
documented meaning), never a wrapped index, a silent default or an empty result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from companion import io
from companion.sampling import every_seconds, time_based
from companion.synthetic.video import decode_frame_number, numbered_frames, write_numbered_video
from companion.transforms import center_crop, resize, to_model_input

N = 20


@pytest.fixture(scope="module")
def numbered(tmp_path_factory):
    return write_numbered_video(tmp_path_factory.mktemp("edges") / "n.mp4", N, fps=10, gop=5)


# ---- frame indices ------------------------------------------------------------------------------

@pytest.mark.parametrize("indices, shown", [
    (np.array([2 ** 64 - 1], np.uint64), "18446744073709551615"),
    (np.array([2 ** 63], np.uint64), "9223372036854775808"),
    ([1e300], "1e+300"),
    (np.array([-1e300]), "-1e+300"),
    ([2 ** 70], str(2 ** 70)),
    ([0, -(2 ** 80)], str(-(2 ** 80))),
])
def test_huge_indices_are_out_of_range_not_wrapped(numbered, indices, shown):
    """uint64 2**64-1 used to wrap to -1 (the last frame) and 1e300 to int64's minimum."""
    with pytest.raises(IndexError) as err:
        io.read_clip(numbered, indices)
    assert shown in str(err.value) and f"0..{N - 1}" in str(err.value)


@pytest.mark.parametrize("bad", [[float("nan")], [float("inf")], [1.5], [True], ["3"]])
def test_non_integer_indices_refused(numbered, bad):
    with pytest.raises(TypeError, match="integers"):
        io.read_clip(numbered, bad)


def test_integral_floats_and_unsigned_in_range_still_work(numbered):
    clip = io.read_clip(numbered, np.array([3, 19], np.uint64))
    assert [decode_frame_number(f) for f in clip] == [3, 19]
    assert [decode_frame_number(f) for f in io.read_clip(numbered, [4.0, -1.0])] == [4, 19]


# ---- samplers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fps", [float("nan"), float("inf"), 0, -10, True])
def test_time_based_refuses_bad_fps(fps):
    with pytest.raises((ValueError, TypeError), match="fps"):
        time_based(fps, [0.5], num_frames=N)


@pytest.mark.parametrize("t", [float("nan"), float("inf"), -0.1])
def test_time_based_refuses_bad_times(t):
    with pytest.raises(ValueError, match="finite, non-negative"):
        time_based(10.0, [0.0, t])


def test_time_based_known_answers():
    assert time_based(10.0, [0.0, 0.04, 0.05, 1.94], num_frames=N).tolist() == [0, 0, 1, 19]


@pytest.mark.parametrize("kw", [dict(fps=0), dict(fps=float("nan")), dict(step_s=0),
                                dict(step_s=float("inf")), dict(start_s=float("nan")), dict(start_s=-1)])
def test_every_seconds_refuses_bad_numbers(kw):
    args = dict(fps=10.0, num_frames=N, step_s=0.5, start_s=0.0) | kw
    with pytest.raises(ValueError, match=next(iter(kw))):
        every_seconds(**args)


def test_every_seconds_known_answer():
    assert every_seconds(10.0, N, 0.5).tolist() == [0, 5, 10, 15]


# ---- iter_frames slicing ------------------------------------------------------------------------

@pytest.mark.parametrize("kw, want", [
    (dict(start=-5), list(range(N - 5, N))),
    (dict(stop=-1), list(range(N - 1))),
    (dict(start=-5, stop=-2), [N - 5, N - 4, N - 3]),
    (dict(start=2, stop=100, step=6), [2, 8, 14]),
    (dict(start=N + 3), []),
    (dict(start=-100, stop=3), [0, 1, 2]),
])
def test_iter_frames_python_slicing(numbered, kw, want):
    """start/stop mean what they mean in frames[start:stop:step]."""
    assert [decode_frame_number(f) for f in io.iter_frames(numbered, **kw)] == want
    assert want == list(range(N))[slice(kw.get("start"), kw.get("stop"), kw.get("step"))]


@pytest.mark.parametrize("kw, err", [(dict(step=1.5), TypeError), (dict(step=0), ValueError),
                                     (dict(step=-1), ValueError), (dict(start=1.0), TypeError),
                                     (dict(stop=True), TypeError), (dict(start="0"), TypeError)])
def test_iter_frames_refuses_non_int_slices(numbered, kw, err):
    with pytest.raises(err, match=next(iter(kw))):
        io.iter_frames(numbered, **kw)  # refused at the call, not at the first frame


# ---- write_video ----------------------------------------------------------------------------------

def test_write_video_zero_frames_refused(tmp_path):
    out = tmp_path / "empty.mp4"
    with pytest.raises(ValueError, match="at least one frame"):
        io.write_video(out, np.zeros((0, 64, 64, 3), np.uint8))
    assert not out.exists()


@pytest.mark.parametrize("fps", [0, -5, float("nan"), float("inf"), 1e-9, "10", True])
def test_write_video_bad_fps_refused(tmp_path, fps):
    out = tmp_path / "x.mp4"
    with pytest.raises(ValueError, match="fps"):
        io.write_video(out, numbered_frames(2), fps=fps)
    assert not out.exists()


def test_write_video_keeps_the_rate(tmp_path):
    p = io.write_video(tmp_path / "r.mp4", numbered_frames(6), fps=25)
    info = io.video_info(p)
    assert (info.fps, info.num_frames) == (25.0, 6)


# ---- to_model_input ---------------------------------------------------------------------------------

def test_int64_clip_scaled_like_uint8():
    clip8 = torch.from_numpy(numbered_frames(4)).permute(0, 3, 1, 2)
    ref = to_model_input(clip8)
    for dtype in (torch.int64, torch.int32, torch.int16):
        torch.testing.assert_close(to_model_input(clip8.to(dtype)), ref)
    assert float(to_model_input(clip8.long(), resize_to=None, crop=None, mean=None, std=None).max()) <= 1.0


def test_integer_clip_outside_8_bit_refused():
    with pytest.raises(ValueError, match="0..255"):
        to_model_input(torch.full((2, 3, 16, 16), 1023, dtype=torch.int64))
    with pytest.raises(TypeError, match="bool"):
        to_model_input(torch.ones((2, 3, 16, 16), dtype=torch.bool))


@pytest.mark.parametrize("crop", [0, (0, 8), (8, -1), (8,)])
def test_crop_zero_refused(crop):
    clip = torch.zeros((2, 3, 32, 32), dtype=torch.uint8)
    with pytest.raises(ValueError, match="crop"):
        to_model_input(clip, resize_to=None, crop=crop)
    with pytest.raises(ValueError, match="crop"):
        center_crop(clip.float(), crop)


@pytest.mark.parametrize("size", [0, (0, 16), (-4, 4)])
def test_resize_zero_refused(size):
    with pytest.raises(ValueError, match="resize"):
        resize(torch.zeros((2, 3, 32, 32)), size)
