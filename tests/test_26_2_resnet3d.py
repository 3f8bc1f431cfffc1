"""R3D / MC3 / R(2+1)D: torchvision's state dicts load strictly, counts and outputs match; C3D's plan."""

import pytest
import torch
from torchvision.models import video as tv

from bn_stats import randomise_batchnorm
from companion.models import c3d, mc3_18, r2plus1d_18, r2plus1d_mid_channels, r3d_18, video_resnet
from companion.models.cost import gmacs

BUILDERS = {"r3d_18": (r3d_18, tv.r3d_18, 33_371_472, tv.R3D_18_Weights),
            "mc3_18": (mc3_18, tv.mc3_18, 11_695_440, tv.MC3_18_Weights),
            "r2plus1d_18": (r2plus1d_18, tv.r2plus1d_18, 31_505_325, tv.R2Plus1D_18_Weights)}



def _randomise(model):
    """Non-trivial BatchNorm statistics and a larger head, so parity is a real check."""
    g = torch.Generator().manual_seed(1)
    randomise_batchnorm(model, torch.nn.BatchNorm3d, g, weight_low=0.5, weight_span=1.0)
    with torch.no_grad():
        model.fc.weight.normal_(0, 0.5, generator=g)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_param_count_state_dict_and_outputs(name):
    ours_fn, ref_fn, n_params, _ = BUILDERS[name]
    torch.manual_seed(0)
    ref = ref_fn()
    _randomise(ref)
    ours = ours_fn()
    assert sum(p.numel() for p in ours.parameters()) == n_params
    assert sum(p.numel() for p in ref.parameters()) == n_params
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.eval(), ours.eval()
    x = torch.randn(2, 3, 4, 48, 48)
    with torch.no_grad():
        a, b = ours(x), ref(x)
    assert a.shape == (2, 400)
    assert a.abs().max() > 0.1
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_num_classes_keyword_and_train_mode_parity():
    torch.manual_seed(0)
    ref = tv.r2plus1d_18(num_classes=7)
    ours = r2plus1d_18(num_classes=7)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, 4, 32, 32)
    torch.testing.assert_close(ours.train()(x), ref.train()(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_flops_match_torchvision_metadata(name):
    ours_fn, _, _, weights = BUILDERS[name]
    expected = weights.KINETICS400_V1.meta["_ops"]
    got = gmacs(ours_fn(), torch.zeros(1, 3, 16, 112, 112))
    assert abs(got - expected) < 1e-3, (got, expected)


def test_mid_channels_formula():
    assert r2plus1d_mid_channels(64, 64) == 144
    assert r2plus1d_mid_channels(64, 128) == 230
    assert r2plus1d_mid_channels(128, 128) == 288
    model = r2plus1d_18()
    # block 1 of layer2 (64 -> 128): both of its factorised convs use the block's single mid
    blk = model.layer2[0]
    assert blk.conv1[0][0].out_channels == 230 and blk.conv2[0][0].out_channels == 230
    assert model.stem[0].out_channels == 45


@pytest.mark.parametrize("family", ["r3d", "mc3", "r2plus1d", "r2d"])
def test_small_variants(family):
    m = video_resnet(family, num_classes=5)
    assert m(torch.rand(2, 3, 8, 32, 32)).shape == (2, 5)


@pytest.mark.parametrize("bad,msg", [
    (torch.rand(3, 8, 32, 32), "5-D"),
    (torch.rand(1, 1, 8, 32, 32), "3 channels"),
    (torch.rand(1, 8, 32, 32, 3), "channels-last"),
    (torch.rand(1, 3, 1, 32, 32), "at least 2 frames"),
    (torch.zeros(1, 3, 8, 32, 32, dtype=torch.uint8), "floating-point")])
def test_rejects_bad_clips(bad, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        video_resnet("r3d")(bad)


def test_c3d_layer_plan():
    m = c3d()
    assert m.feature_shape == (512, 1, 4, 4)
    assert m.fc6.in_features == 8192 and m.fc8.out_features == 487
    convs = [n for n, mod in m.features.named_children() if isinstance(mod, torch.nn.Conv3d)]
    assert convs == ["conv1a", "conv2a", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a", "conv5b"]
    assert all(mod.kernel_size == (3, 3, 3) for mod in m.features if isinstance(mod, torch.nn.Conv3d))
    assert m.features.pool1.kernel_size == (1, 2, 2)
    # the convolutions' parameters: 3·3·3·(Cin·Cout) + Cout summed over the plan
    widths = [(3, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512), (512, 512), (512, 512)]
    conv_params = sum(27 * a * b + b for a, b in widths)
    fc_params = 8192 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 487 + 487
    assert sum(p.numel() for p in m.parameters()) == conv_params + fc_params
    small = c3d(num_classes=8, width=8, fc_width=32, size=32).eval()
    assert small(torch.rand(2, 3, 16, 32, 32)).shape == (2, 8)
    with pytest.raises(ValueError, match="at least 16 frames"):
        small(torch.rand(1, 3, 8, 32, 32))
    with pytest.raises(ValueError, match="built for clips"):
        small(torch.rand(1, 3, 16, 48, 48))


def test_c3d_batchnorm_variant():
    """The card's C3D: a BatchNorm3d after each of the eight convolutions (which lose their bias)."""
    plain = c3d(num_classes=8, width=8, fc_width=32, size=32)
    bn = c3d(num_classes=8, width=8, fc_width=32, size=32, batch_norm=True)
    convs = [m for m in bn.features if isinstance(m, torch.nn.Conv3d)]
    bns = [m for m in bn.features if isinstance(m, torch.nn.BatchNorm3d)]
    assert len(convs) == len(bns) == 8 and all(c.bias is None for c in convs)
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in plain.modules())
    names = [n for n, _ in bn.features.named_children()]
    assert names[:3] == ["conv1a", "bn1a", "relu1a"]
    assert bn(torch.rand(2, 3, 16, 32, 32)).shape == (2, 8)
