"""26.1 sampling: property tests (hypothesis) plus known answers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion import sampling as S

frames = st.integers(1, 2000)
lens = st.integers(1, 64)
strides = st.integers(1, 8)
seeds = st.integers(0, 2**32 - 1)
overflows = st.sampled_from(S.OVERFLOW_MODES[:2])
FAST = settings(max_examples=150, deadline=None)


def _in_range(idx, n):
    return idx.dtype == np.int64 and (idx >= 0).all() and (idx < n).all()


def _sorted(idx):
    return (np.diff(idx) >= 0).all()


@FAST
@given(frames, lens, strides, overflows)
def test_dense_properties(n, clip_len, stride, overflow):
    idx = S.dense(n, clip_len, stride, overflow=overflow)
    assert idx.shape == (clip_len,) and _in_range(idx, n)
    if S.clip_span(clip_len, stride) <= n:  # fits: exactly stride apart, for both policies
        assert (np.diff(idx) == stride).all()
    elif overflow == "pad":
        assert _sorted(idx) and idx[-1] == n - 1
    else:
        assert (idx == (stride * np.arange(clip_len)) % n).all()


@FAST
@given(frames, lens, strides)
def test_dense_error_policy(n, clip_len, stride):
    if S.clip_span(clip_len, stride) <= n:
        assert S.dense(n, clip_len, stride, overflow="error").shape == (clip_len,)
    else:
        with pytest.raises(ValueError, match="only"):
            S.dense(n, clip_len, stride, overflow="error")


@FAST
@given(frames, st.integers(1, 300))
def test_uniform_properties(n, k):
    idx = S.uniform(n, k)
    assert idx.shape == (k,) and _in_range(idx, n) and _sorted(idx)
    if k <= n:
        assert len(np.unique(idx)) == k  # never repeats while there are enough frames
        # frame j overlaps the j-th equal part [j n/k, (j+1) n/k) of the video
        j = np.arange(k)
        assert ((idx + 1 > j * n / k) & (idx < (j + 1) * n / k)).all()


@FAST
@given(frames, st.integers(1, 64), seeds)
def test_segment_properties(n, k, seed):
    test = S.segment(n, k)
    train1 = S.segment(n, k, train=True, rng=np.random.default_rng(seed))
    train2 = S.segment(n, k, train=True, rng=seed)
    assert (train1 == train2).all()  # deterministic under a seed, Generator or int
    for idx in (test, train1):
        assert idx.shape == (k,) and _in_range(idx, n) and _sorted(idx)
    if k <= n:  # each training draw stays inside its own segment
        edges = np.arange(k + 1) * n / k
        assert ((train1 >= np.floor(edges[:-1])) & (train1 < np.ceil(edges[1:]))).all()


@FAST
@given(frames, lens, strides, seeds)
def test_random_clip_properties(n, clip_len, stride, seed):
    a = S.random_clip(n, clip_len, stride, rng=seed)
    b = S.random_clip(n, clip_len, stride, rng=np.random.default_rng(seed))
    assert (a == b).all() and a.shape == (clip_len,) and _in_range(a, n) and _sorted(a)


@FAST
@given(frames, lens, strides, st.integers(1, 12))
def test_multi_clip_properties(n, clip_len, stride, num_clips):
    clips = S.multi_clip(n, clip_len, stride, num_clips)
    assert clips.shape == (num_clips, clip_len) and _in_range(clips, n)
    assert _sorted(clips[:, 0])  # starts spread in order
    if S.clip_span(clip_len, stride) <= n and num_clips > 1:
        assert clips[0, 0] == 0 and clips[-1, -1] == n - 1  # together they cover the video


def test_random_clip_covers_all_starts():
    starts = {int(S.random_clip(10, 3, 2, rng=np.random.default_rng(s))[0]) for s in range(300)}
    assert starts == set(range(0, 10 - 5 + 1))


def test_known_answers():
    assert S.dense(10, 4, 2, start=1).tolist() == [1, 3, 5, 7]
    assert S.dense(5, 4, 2).tolist() == [0, 2, 4, 4]
    assert S.dense(5, 4, 2, overflow="loop").tolist() == [0, 2, 4, 1]
    assert S.uniform(100, 4).tolist() == [12, 37, 62, 87]
    assert S.uniform(3, 6).tolist() == [0, 0, 1, 1, 2, 2]
    assert S.segment(100, 4).tolist() == [12, 37, 62, 87]
    assert S.multi_clip(20, 4, 1, 3).tolist() == [[0, 1, 2, 3], [8, 9, 10, 11], [16, 17, 18, 19]]
    assert S.time_based(10.0, [0, 0.5, 1.04, 7.96], num_frames=80).tolist() == [0, 5, 10, 79]
    assert S.every_seconds(10.0, 35, 1.0).tolist() == [0, 10, 20, 30]


def test_bad_input_is_clear():
    with pytest.raises(TypeError, match="explicit generator"):
        S.random_clip(10, 2, rng=None)
    with pytest.raises(TypeError, match="explicit generator"):
        S.segment(10, 2, train=True)
    with pytest.raises(ValueError, match="num_frames must be >= 1"):
        S.uniform(0, 3)
    with pytest.raises(TypeError, match="clip_len must be an int"):
        S.dense(10, 2.5)
    with pytest.raises(ValueError, match="overflow"):
        S.dense(10, 20, overflow="wrap")
    with pytest.raises(ValueError, match="start=10"):
        S.dense(10, 2, start=10)
    with pytest.raises(ValueError, match="past the end"):
        S.time_based(10.0, [8.0], num_frames=80)
    with pytest.raises(ValueError, match="non-negative"):
        S.time_based(10.0, [-1.0])
