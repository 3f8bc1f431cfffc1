"""I3D inflation: the static-clip test on torchvision ResNets, and why replication padding matters."""

import pytest
import torch
import torchvision

from bn_stats import randomise_batchnorm
from companion.models import I3D, inflate, inflate_weight



def _with_stats(model):
    return randomise_batchnorm(model, torch.nn.BatchNorm2d, torch.Generator().manual_seed(0)).eval()


@pytest.mark.parametrize("arch,size", [("resnet18", 64), ("resnet50", 64)])
def test_static_clip_reproduces_2d_logits(arch, size):
    torch.manual_seed(0)
    net2d = _with_stats(getattr(torchvision.models, arch)(num_classes=10))
    net3d = inflate(net2d).eval()
    img = torch.randn(2, 3, size, size)
    clip = img.unsqueeze(2).expand(-1, -1, 6, -1, -1).contiguous()
    with torch.no_grad():  # scale the head so the logits are O(10): a realistic range
        scale = 10.0 / net2d(img).abs().max()
        for fc in (net2d.fc, net3d.net.fc):
            fc.weight.mul_(scale), fc.bias.mul_(scale)
        want, got = net2d(img), net3d(clip)
    assert want.abs().max() > 5
    print(f"{arch}: max |logit| {want.abs().max():.3g}, static-clip max diff {(got - want).abs().max():.3g}")
    assert (got - want).abs().max().item() <= 1e-4
    # the 2D network was not modified
    assert all(isinstance(m, torch.nn.Conv2d) for m in net2d.modules() if "Conv" in type(m).__name__)


def test_zero_temporal_padding_breaks_the_static_clip_test():
    torch.manual_seed(0)
    net2d = _with_stats(torchvision.models.resnet18(num_classes=10))
    net3d = inflate(net2d).eval()
    for m in net3d.modules():  # turn replication into zero padding
        if getattr(m, "time_pad", 0):
            m.padding = (m.time_pad,) + tuple(m.padding[1:])
            m.time_pad = 0
    img = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        diff = (net3d(img.unsqueeze(2).repeat(1, 1, 6, 1, 1)) - net2d(img)).abs().max().item()
    assert diff > 1e-2


def test_inflated_structure():
    net3d = inflate(torchvision.models.resnet18(), time_kernel=3, stem_time_kernel=5)
    assert isinstance(net3d, I3D)
    assert net3d.net.conv1.weight.shape == (64, 3, 5, 7, 7)
    assert net3d.net.layer1[0].conv1.weight.shape == (64, 64, 3, 3, 3)
    assert net3d.net.layer2[0].downsample[0].weight.shape == (128, 64, 1, 1, 1)
    assert net3d(torch.rand(1, 3, 4, 64, 64)).shape == (1, 1000)


def test_inflate_weight():
    w = torch.randn(8, 3, 3, 3)
    w3 = inflate_weight(w, 5)
    assert w3.shape == (8, 3, 5, 3, 3)
    torch.testing.assert_close(w3.sum(2), w)
    torch.testing.assert_close(w3[:, :, 0], w3[:, :, 4])


def test_bad_input():
    with pytest.raises(TypeError):
        inflate("resnet18")
    with pytest.raises(ValueError, match="odd"):
        inflate(torchvision.models.resnet18(), time_kernel=2)
    with pytest.raises(ValueError, match="already contains 3D"):
        inflate(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv3d(4, 4, 1)))
    net3d = inflate(torchvision.models.resnet18())
    with pytest.raises(ValueError, match="5-D"):
        net3d(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match="3 channels"):
        net3d(torch.rand(1, 2, 4, 64, 64))
    with pytest.raises(ValueError, match="at least 2 frames"):
        net3d(torch.rand(1, 3, 1, 64, 64))
    with pytest.raises(ValueError):
        inflate_weight(torch.randn(3, 3, 3), 3)


# --- I3D from a real ImageNet network: the pretrained MobileNetV2 -------------------------------

def test_static_clip_identity_on_imagenet_mobilenet_v2():
    """The ImageNet MobileNetV2 (all 19 feature blocks), inflated, gives on a clip of one repeated
    frame the 2D network's logits on that frame. Measured: max diff 1.9e-5 for logits up to 10."""
    from companion.models.mobilenet_video import mobilenet_v2_classifier

    torch.manual_seed(0)
    net2d = mobilenet_v2_classifier(10, depth=19, pretrained=True).eval()
    with torch.no_grad():
        net2d.fc.weight.normal_(0, 0.05)
    net3d = inflate(net2d, time_kernel=3, stem_time_kernel=3).eval()
    img = torch.rand(2, 3, 64, 64)  # RGB in [0, 1]; the network normalises it itself
    clip = img.unsqueeze(2).repeat(1, 1, 6, 1, 1)
    with torch.no_grad():
        scale = 10.0 / net2d(img).abs().max()
        for fc in (net2d.fc, net3d.net.fc):
            fc.weight.mul_(scale)
        want, got = net2d(img), net3d(clip)
    diff = (got - want).abs().max().item()
    print(f"MobileNetV2 (ImageNet): max |logit| {want.abs().max():.3g}, static-clip max diff {diff:.3g}")
    assert want.abs().max() > 5
    assert diff <= 1e-4
    # the clip's frames really differ from a zero-padded inflation: the identity is not trivial
    for m in net3d.modules():
        if getattr(m, "time_pad", 0):
            m.padding, m.time_pad = (m.time_pad,) + tuple(m.padding[1:]), 0
    with torch.no_grad():
        assert (net3d(clip) - want).abs().max().item() > 100 * max(diff, 1e-6)


def test_mobilenet_v2_inflation_structure():
    from companion.models.mobilenet_video import i3d_mobilenet_v2, mobilenet_v2_classifier

    net2d = mobilenet_v2_classifier(8, depth=14, pretrained=True)
    net3d = i3d_mobilenet_v2(8, depth=14, pretrained=True)
    convs2d = [m for m in net2d.modules() if isinstance(m, torch.nn.Conv2d)]
    convs3d = [m for m in net3d.modules() if isinstance(m, torch.nn.Conv3d)]
    assert len(convs2d) == len(convs3d) > 30
    depthwise = [(a, b) for a, b in zip(convs2d, convs3d) if a.groups > 1]
    assert len(depthwise) == 13
    for a, b in zip(convs2d, convs3d):
        assert b.groups == a.groups
        t = 3 if max(a.kernel_size) > 1 else 1  # depthwise 3×3 (and the stem) → 3×3×3; pointwise 1×1 → 1×1×1
        assert b.weight.shape == a.weight.shape[:2] + (t,) + a.weight.shape[2:]
        torch.testing.assert_close(b.weight.sum(2), a.weight)  # time slices W / t
    assert net3d(torch.rand(1, 3, 8, 32, 32)).shape == (1, 8)
    with pytest.raises(ValueError, match="depth"):
        mobilenet_v2_classifier(8, depth=25)
