"""26.1 batching decoded clips for models, and the verified street-clip cache."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from companion import data
from companion.errors import AssetUnavailableError
from companion.transforms import (KINETICS_MEAN, KINETICS_STD, center_crop, resize,
                                  to_model_input)


def _clip(t=8, h=120, w=160, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (t, 3, h, w), dtype=torch.uint8, generator=g)


def test_model_input_layout_and_values():
    a, b = _clip(seed=1), _clip(seed=2)
    x = to_model_input([a, b], resize_to=None, crop=None, mean=None, std=None)
    assert x.shape == (2, 3, 8, 120, 160) and x.dtype == torch.float32
    # (B, C, T, H, W): channel c of time t of clip 1 is frame t, channel c of the input / 255
    torch.testing.assert_close(x[1, 2, 5], b[5, 2].float() / 255)


def test_kinetics_pipeline_matches_manual_computation():
    clip = _clip()
    x = to_model_input(clip)  # resize (128,171) -> centre crop 112 -> normalise
    assert x.shape == (1, 3, 8, 112, 112)
    ref = F.interpolate(clip.float() / 255, size=(128, 171), mode="bilinear", align_corners=False,
                        antialias=True)[..., 8:120, 29:141]
    ref = (ref - torch.tensor(KINETICS_MEAN).view(1, 3, 1, 1)) / torch.tensor(KINETICS_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(x[0], ref.permute(1, 0, 2, 3))


def test_short_side_resize_and_crop():
    assert resize(_clip(h=120, w=160), 60).shape[-2:] == (60, 80)
    assert center_crop(_clip(), (100, 50)).shape[-2:] == (100, 50)
    with pytest.raises(ValueError, match="larger than the frames"):
        center_crop(_clip(), 200)


def test_bad_clips_rejected():
    with pytest.raises(ValueError, match=r"\(T, C, H, W\)"):
        to_model_input(torch.zeros(8, 120, 160, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="4-D"):
        to_model_input(torch.zeros(3, 120, 160))
    with pytest.raises(TypeError, match="torch.Tensor"):
        to_model_input([np.zeros((8, 3, 4, 4))])
    with pytest.raises(ValueError, match="same"):
        to_model_input([_clip(t=8), _clip(t=4)])
    with pytest.raises(ValueError, match="empty"):
        to_model_input([])


@pytest.mark.needs_clip
def test_street_clip_is_verified(street_clip_path):
    assert data.sha256sum(street_clip_path) == data.STREET_CLIP_SHA256


@pytest.mark.needs_clip
def test_bad_cached_file_is_never_overwritten(tmp_path, monkeypatch, street_clip_path):
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path))
    bogus = tmp_path / "vtest.avi"
    bogus.write_bytes(b"my own file, keep it")
    monkeypatch.setenv("COMPANION_STREET_CLIP", str(street_clip_path))
    got = data.street_clip(verbose=False)
    assert bogus.read_bytes() == b"my own file, keep it"
    assert got != bogus and data.sha256sum(got) == data.STREET_CLIP_SHA256
    assert data.street_clip(verbose=False) == got  # cached now


def test_all_routes_failing_gives_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path))
    monkeypatch.delenv("COMPANION_STREET_CLIP", raising=False)
    monkeypatch.setattr(data, "_from_debian", lambda workdir, log: log.append("no apt") or None)
    monkeypatch.setattr(data, "_from_web", lambda workdir, log: log.append("offline") or None)
    with pytest.raises(AssetUnavailableError) as err:
        data.street_clip(verbose=False)
    msg = str(err.value)
    assert "no apt" in msg and "offline" in msg and data.STREET_CLIP_SHA256 in msg
    assert "COMPANION_STREET_CLIP" in msg
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


def test_wrong_checksum_source_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path / "cache"))
    fake = tmp_path / "fake.avi"
    fake.write_bytes(b"not the clip")
    monkeypatch.setenv("COMPANION_STREET_CLIP", str(fake))
    monkeypatch.setattr(data, "_from_debian", lambda workdir, log: None)
    monkeypatch.setattr(data, "_from_web", lambda workdir, log: None)
    with pytest.raises(AssetUnavailableError, match="wrong checksum"):
        data.street_clip(verbose=False)


def test_exercise_clip_to_input_written_out_equals_to_model_input():
    """ex26_1.q7's solution spells the steps out; the pipeline (no resize, no crop) must agree."""
    from companion.exercises.ex26_1 import clip_to_input
    from companion.transforms import KINETICS_MEAN, KINETICS_STD, to_model_input

    g = torch.Generator().manual_seed(0)
    clip = torch.randint(0, 256, (5, 3, 9, 11), generator=g, dtype=torch.uint8)
    for mean, std in [(KINETICS_MEAN, KINETICS_STD), ((0.5, 0.5, 0.5), (0.25, 0.5, 1.0))]:
        ref = to_model_input(clip, resize_to=None, crop=None, mean=mean, std=std)
        torch.testing.assert_close(clip_to_input(clip, mean, std), ref, rtol=1e-6, atol=1e-6)


def test_two_fetches_of_one_asset_at_once_each_write_their_own_copy(tmp_path):
    """Two test workers on a fresh clone fetch the same weights at the same moment: while one is
    half-way through writing, the other writes and installs its copy; each has its own temporary
    file, so both end with the verified file in place (a shared ``.part`` name made one see a
    wrong checksum and the other a vanished file). A copy that fails its check leaves the cached
    file as it was and nothing beside it."""
    dest = tmp_path / "asset.bin"
    good = bytes(range(256)) * 40
    ok = lambda p: p.read_bytes() == good  # noqa: E731

    def other(f):
        f.write(good)

    def first(f):
        f.write(good[:5000])
        assert data._place_verified(dest, other, ok)  # the other worker finishes meanwhile
        f.write(good[5000:])

    assert data._place_verified(dest, first, ok)
    assert dest.read_bytes() == good and [p.name for p in tmp_path.iterdir()] == ["asset.bin"]
    assert not data._place_verified(dest, lambda f: f.write(b"truncated"), ok)
    assert dest.read_bytes() == good and [p.name for p in tmp_path.iterdir()] == ["asset.bin"]
