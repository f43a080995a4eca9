"""Model registry tests, generated from the registry: every model gets the same contract checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from freqlens.errors import FreqlensError
from freqlens.models import Normalize, create_model, get_entry, list_models, model_spec, register_model
from freqlens.models.circular import CircularConv

# Small settings so the heavy models stay quick on a CPU; the architecture is the same.
FAST_KWARGS: dict[str, dict[str, object]] = {"circular_cnn": {"width": 8, "depth": 3}}
EXPECTED = {"small_cnn", "hfc_resnet32", "resnet18", "myrtle_cnn", "vgg11", "vgg13", "vgg16", "vgg19", "circular_cnn"}


def test_registry_lists_the_zoo() -> None:
    assert set(list_models()) >= EXPECTED


@pytest.fixture(params=sorted(n for n in list_models() if not n.startswith("_")))  # every registered model
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _build(name: str, **kwargs: object) -> nn.Module:
    torch.manual_seed(0)
    return create_model(name, num_classes=7, **{**FAST_KWARGS.get(name, {}), **kwargs})


def test_forward_shape_and_backward(name: str) -> None:
    model = _build(name)
    x = torch.rand(3, 3, 32, 32, requires_grad=True)
    logits = model(x)
    assert logits.shape == (3, 7)
    logits.logsumexp(dim=1).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


def test_normalisation_is_the_first_operation(name: str) -> None:
    """The model on [0, 1] images equals the same weights without normalisation on standardised images."""
    if "normalize" not in get_entry(name).options:
        pytest.skip("no normalize option")
    inside = _build(name, normalize="cifar10").eval()
    outside = _build(name, normalize="none").eval()
    outside.load_state_dict(
        {k: v for k, v in inside.state_dict().items() if not k.endswith(("mean", "std"))}, strict=False
    )
    first = next(m for m in inside.modules() if isinstance(m, Normalize))
    assert first is next(iter(m for m in inside.modules() if not isinstance(m, (nn.Sequential,)) and m is not inside))
    x = torch.rand(2, 3, 32, 32)
    mean, std = first.mean, first.std
    torch.testing.assert_close(inside(x), outside((x - mean) / std), rtol=1e-4, atol=1e-4)
    assert {"mean", "std"} <= {k.rsplit(".", 1)[-1] for k in inside.state_dict()}


def test_spec_is_recorded_and_rebuilds(name: str) -> None:
    model = _build(name)
    spec = model_spec(model)
    assert spec["name"] == name and spec["num_classes"] == 7
    again = create_model(spec["name"], spec["num_classes"], spec["in_channels"], spec["image_size"], **spec["kwargs"])
    assert again.state_dict().keys() == model.state_dict().keys()


def test_other_input_sizes() -> None:
    for name in ("small_cnn", "resnet18", "myrtle_cnn", "hfc_resnet32"):
        model = create_model(name, num_classes=3, in_channels=1, image_size=28)
        assert model(torch.rand(2, 1, 28, 28)).shape == (2, 3)
    with pytest.raises(FreqlensError, match="at least 32x32"):
        create_model("vgg11", image_size=28)
    model = create_model("circular_cnn", image_size=16, width=4, depth=2)
    assert model(torch.rand(2, 3, 16, 16)).shape == (2, 10)


def test_unknown_names_and_options_are_one_line_errors() -> None:
    with pytest.raises(FreqlensError, match="unknown model 'smal_cnn'; did you mean small_cnn"):
        create_model("smal_cnn")
    with pytest.raises(FreqlensError, match="has no option colour; it accepts: width, batchnorm"):
        create_model("small_cnn", colour=1)
    with pytest.raises(FreqlensError, match="dropout must lie"):
        create_model("small_cnn", dropout=1.5)
    with pytest.raises(FreqlensError, match="unknown normalize"):
        create_model("small_cnn", normalize="mnist")
    with pytest.raises(FreqlensError, match="num_classes must be a positive integer"):
        create_model("small_cnn", num_classes=0)


def test_external_resolvers_fail_clearly_or_build() -> None:
    with pytest.raises(FreqlensError, match="unknown model source"):
        create_model("keras:resnet")
    for source in ("torchvision", "timm"):
        try:
            __import__(source)
        except Exception:  # not installed (ImportError), or built for another torch (e.g. torchvision::nms missing)
            with pytest.raises(FreqlensError, match=rf"needs {source}, which does not import here"):
                create_model(f"{source}:resnet18")
        else:
            model = create_model(f"{source}:resnet18", num_classes=4).eval()  # eval: BatchNorm on a 1x1 map
            assert model(torch.rand(1, 3, 32, 32)).shape == (1, 4)


def test_register_model_decorator() -> None:
    @register_model(name="_test_linear")
    def _test_linear(num_classes: int = 10, in_channels: int = 3, image_size: int = 32, bias: bool = True) -> nn.Module:
        return nn.Sequential(
            Normalize([0.5] * in_channels, [0.5] * in_channels),
            nn.Flatten(),
            nn.Linear(in_channels * image_size**2, num_classes, bias=bias),
        )

    model = create_model("_test_linear", num_classes=2, image_size=4, bias=False)
    assert model(torch.rand(1, 3, 4, 4)).shape == (1, 2)
    with pytest.raises(ValueError, match="registered twice"):
        register_model(name="_test_linear")(_test_linear)


def test_batchnorm_switches() -> None:
    def bns(model: nn.Module) -> list[nn.BatchNorm2d]:
        return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]

    assert not bns(create_model("hfc_resnet32"))
    assert not bns(create_model("small_cnn", batchnorm=False))
    assert not bns(create_model("vgg11")) and bns(create_model("vgg11", batchnorm=True))
    hfc_bn = bns(create_model("hfc_resnet32", batchnorm=True))
    assert hfc_bn and all(not m.track_running_stats and m.eps == 1e-3 for m in hfc_bn)
    assert all(m.track_running_stats for m in bns(create_model("hfc_resnet32", batchnorm=True, batch_stats=False)))
    assert bns(create_model("small_cnn"))


def test_hfc_resnet32_architecture() -> None:
    """32 weight layers (31 convs + FC), option-A shortcuts without parameters, widths 16/32/64, ~0.46 M parameters."""
    model = create_model("hfc_resnet32")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) == 31 and len(linears) == 1
    assert convs[0].out_channels == 16 and convs[-1].out_channels == 64 and linears[0].in_features == 64
    assert sum(p.numel() for p in model.parameters()) == 461_882
    assert all(c.kernel_size == (3, 3) and c.bias is None for c in convs)


def test_hfc_resnet32_zero_pad_shortcut() -> None:
    """With the residual branches silenced, a downsampling block maps x to avgpool(x) zero-padded in channels."""
    model = create_model("hfc_resnet32")
    block = model.blocks[5]  # first block of the second stage: 16 -> 32 channels, stride 2
    nn.init.zeros_(block.conv2.weight)
    x = torch.rand(2, 16, 8, 8)
    y = block(x)
    assert y.shape == (2, 32, 4, 4)
    torch.testing.assert_close(y[:, 8:24], nn.functional.avg_pool2d(x, 2))
    assert y[:, :8].abs().max() == 0 and y[:, 24:].abs().max() == 0


def test_circular_conv_fft_equals_direct_conv() -> None:
    torch.manual_seed(0)
    for size in (8, 7):
        conv = CircularConv(3, 4, size)
        reference = nn.Conv2d(3, 4, size, padding="same", padding_mode="circular")
        reference.load_state_dict(conv.state_dict())
        x = torch.randn(5, 3, size, size)
        torch.testing.assert_close(conv(x), reference(x), rtol=1e-4, atol=1e-4)
        conv.fft = False
        torch.testing.assert_close(conv(x), reference(x), rtol=1e-5, atol=1e-5)


def test_circular_cnn_depth_and_linearity() -> None:
    torch.manual_seed(0)
    assert [type(m).__name__ for m in create_model("circular_cnn", depth=1)] == ["Normalize", "Flatten", "Linear"]
    model = create_model("circular_cnn", depth=3, width=4, linear=True, image_size=8).double()
    assert sum(isinstance(m, CircularConv) for m in model.modules()) == 2
    f = model
    x, y, zero = torch.rand(2, 3, 8, 8).double(), torch.rand(2, 3, 8, 8).double(), torch.zeros(2, 3, 8, 8).double()
    torch.testing.assert_close(f(x + y) - f(zero), (f(x) - f(zero)) + (f(y) - f(zero)))  # affine
    relu = create_model("circular_cnn", depth=3, width=4, image_size=8).double()
    assert not torch.allclose(relu(x + y) - relu(zero), (relu(x) - relu(zero)) + (relu(y) - relu(zero)))
    with pytest.raises(FreqlensError, match="built for 8x8 images"):
        model(torch.rand(1, 3, 16, 16).double())


def test_resnet18_imagenet_stem_matches_torchvision_layer_shapes():
    model = create_model("resnet18", num_classes=1000, stem="imagenet", normalize="imagenet")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert tuple(convs[0].weight.shape) == (64, 3, 7, 7) and convs[0].stride == (2, 2)
    assert sum(p.numel() for p in model.parameters()) == 11_689_512  # torchvision resnet18's parameter count
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 1000)
    with pytest.raises(FreqlensError, match="unknown ResNet stem"):
        create_model("resnet18", stem="tiny")
