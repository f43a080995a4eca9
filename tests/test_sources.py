"""Model sources end to end: freqlens files, registry names, module:callable, state_dict + --arch, TorchScript,
torchvision/timm; the input-normalisation convention; one-line errors with exit code 2."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from freqlens.checkpoint import save_model
from freqlens.cli import main
from freqlens.errors import FreqlensError
from freqlens.models import Normalize, create_model
from freqlens.models.layers import STATS, NormalizedModel, parse_normalize
from freqlens.sources import ModelOptions, is_torchscript, load_model_source, parse_model_args

# A model that expects standardised input and reads brightness: class 1 when the standardised mean is positive.
# On [0, 1] pixels without standardisation every image looks bright, so it calls everything class 1.
NETS = textwrap.dedent(
    """
    import torch
    from torch import nn


    class Brightness(nn.Module):
        def __init__(self, scale=1.0):
            super().__init__()
            self.scale = nn.Parameter(torch.tensor(float(scale)))

        def forward(self, z):
            m = z.mean(dim=(1, 2, 3))
            return torch.stack([-m, m], dim=1) * self.scale


    class Conv(nn.Module):
        def __init__(self, classes=2, width=4):
            super().__init__()
            self.conv = nn.Conv2d(3, width, 3, padding=1)
            self.head = nn.Linear(width, classes)

        def forward(self, z):
            return self.head(torch.relu(self.conv(z)).mean(dim=(2, 3)))


    def brightness(scale=1.0):
        return Brightness(scale)


    def conv(classes=2, width=4):
        torch.manual_seed(0)
        return Conv(classes, width)


    def not_a_model():
        return 3
    """
)


@pytest.fixture
def nets(tmp_path, monkeypatch):
    """``usernets`` importable from PYTHONPATH, as a user's own module would be."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "usernets.py").write_text(NETS)
    (code / "broken_nets.py").write_text("import not_a_package_anywhere\n")
    monkeypatch.syspath_prepend(str(code))
    import importlib

    importlib.invalidate_caches()
    return code


def bright_dark_folder(root, size=32, per_class=4):
    """Class 'bright' (pixels 0.55-0.75) and 'dark' (0.25-0.45); ImageNet's mean is about 0.45."""
    rng = np.random.default_rng(0)
    for name, lo, hi in (("a_dark", 64, 115), ("b_bright", 140, 191)):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(lo, hi, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def evaluate(tmp_path, model, folder, *extra):
    out = tmp_path / "ev"
    code = main(
        ["evaluate", model, "--data", str(folder), "--device", "cpu", "--examples", "0", "-o", str(out), *extra]
    )
    return code, (json.loads((out / "evaluate.json").read_text()) if code == 0 else None)


def test_standardised_model_scores_right_only_when_wrapped(tmp_path, nets, capsys):
    folder = bright_dark_folder(tmp_path / "img")
    code, wrapped = evaluate(tmp_path, "usernets:brightness", folder, "--normalize", "imagenet", "--radii", "4")
    assert code == 0 and wrapped["original"]["accuracy"] == 1.0
    assert wrapped["model"]["source"] == "callable" and wrapped["model"]["input"]["normalize"] == "imagenet"
    assert wrapped["model"]["input"]["mean"] == [0.485, 0.456, 0.406]
    assert "normalize: imagenet mean [0.485, 0.456, 0.406]" in capsys.readouterr().err
    code, raw = evaluate(tmp_path, "usernets:brightness", folder, "--normalize", "none", "--radii", "4")
    assert code == 0 and raw["original"]["accuracy"] == 0.5 and raw["model"]["input"]["normalize"] == "none"


def test_a_foreign_model_without_normalize_is_refused(tmp_path, nets, capsys):
    folder = bright_dark_folder(tmp_path / "img")
    code, _ = evaluate(tmp_path, "usernets:brightness", folder)
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "does not say what input it expects: pass --normalize" in err
    assert not (tmp_path / "ev").exists()


def test_wrapping_equals_manual_standardisation_exactly(nets):
    import usernets

    net = usernets.conv()
    x = torch.rand(5, 3, 32, 32)
    for spec, (mean, std) in (
        ("imagenet", STATS["imagenet"]),
        ("0.5/0.4/0.3,0.2/0.25/0.3", ((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))),
    ):
        wrapped, info = load_model_source("usernets:conv", (3, 32, 32), 2, ModelOptions(normalize=spec))
        manual = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
        assert isinstance(wrapped, NormalizedModel) and next(iter(wrapped.children())) is wrapped.normalize
        assert torch.equal(wrapped(x), net(manual)) and info["input"]["std"] == [round(s, 6) for s in std]
    same, info = load_model_source("usernets:conv", (3, 32, 32), 2, ModelOptions(normalize="none"))
    assert torch.equal(same(x), net(x)) and info["input"]["normalize"] == "none"
    assert parse_normalize("0.5,0.25", 1).mean.flatten().tolist() == [0.5]
    with pytest.raises(FreqlensError, match="is not imagenet, cifar10"):
        parse_normalize("0.5", 3)
    with pytest.raises(FreqlensError, match="gives 2 means and 3 stds for 3 channels"):
        parse_normalize("0.1/0.2,0.1/0.2/0.3", 3)


def test_freqlens_models_keep_their_own_normalisation(tmp_path):
    net = create_model("small_cnn", num_classes=3, width=4)
    path = save_model(net, tmp_path / "run" / "model.pt")
    model, info = load_model_source(str(path), (3, 32, 32), 3)
    assert info["source"] == "checkpoint" and info["input"]["normalize"] == "inside the model"
    assert info["input"]["mean"] == [round(v, 6) for v in STATS["cifar10"][0]]
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(model(x), net.eval()(x))
    model, _ = load_model_source(str(path), (3, 32, 32), 3, ModelOptions(normalize="none"))  # none: no second layer
    assert torch.equal(model(x), net(x))
    with pytest.raises(FreqlensError, match=r"standardises its input itself .* drop --normalize"):
        load_model_source(str(path), (3, 32, 32), 3, ModelOptions(normalize="imagenet"))


def test_state_dict_round_trip_with_arch(tmp_path, nets, capsys):
    import usernets

    folder = bright_dark_folder(tmp_path / "img", size=64)
    net = usernets.conv(width=6)
    torch.save(net.state_dict(), tmp_path / "weights.pt")
    code, result = evaluate(
        tmp_path, str(tmp_path / "weights.pt"), folder, "--arch", "usernets:conv", "--model-arg", "width=6",
        "--normalize", "cifar10", "--radii", "0.25n",
    )  # fmt: skip
    assert code == 0 and result["model"]["source"] == "state_dict" and result["radii"] == [8.0]
    assert result["model"]["arch"] == {"source": "callable", "callable": "usernets:conv", "kwargs": {"width": 6}}
    loaded, _ = load_model_source(
        str(tmp_path / "weights.pt"), (3, 64, 64), 2, ModelOptions("usernets:conv", {"width": 6}, normalize="cifar10")
    )
    x = torch.rand(3, 3, 64, 64)
    assert torch.equal(loaded(x), NormalizedModel(parse_normalize("cifar10", 3), net)(x))
    # without --arch: the message names the option the commands have
    code, _ = evaluate(tmp_path, str(tmp_path / "weights.pt"), folder, "--normalize", "none")
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "bare state_dict (4 tensors) with no architecture; name it with --arch" in err
    # the wrong architecture: missing and unexpected keys listed
    code, _ = evaluate(tmp_path, str(tmp_path / "weights.pt"), folder, "--arch", "small_cnn")
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "another architecture than small_cnn: missing: " in err and "unexpected: conv.weight" in err


def test_state_dict_of_a_registry_model_under_a_key_and_dataparallel_prefix(tmp_path):
    net = create_model("small_cnn", num_classes=2, width=4)
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "ckpt.pth")
    loaded, info = load_model_source(
        str(tmp_path / "ckpt.pth"), (3, 32, 32), 2, ModelOptions("small_cnn", {"width": 4})
    )
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(loaded(x), net.eval()(x)) and info["input"]["normalize"] == "inside the model"
    assert info["unwrapped"] == "weights under 'state_dict', 'module.' prefix removed"
    with pytest.raises(FreqlensError, match=r"other shape \(file vs model\)"):
        load_model_source(str(tmp_path / "ckpt.pth"), (3, 32, 32), 2, ModelOptions("small_cnn", {"width": 8}))


@pytest.mark.filterwarnings("ignore:`torch.jit")
def test_torchscript_round_trip(tmp_path, nets):
    import usernets

    folder = bright_dark_folder(tmp_path / "img", size=96, per_class=2)
    net = usernets.conv().eval()
    path = tmp_path / "net.ts"
    torch.jit.save(torch.jit.trace(net, torch.rand(1, 3, 96, 96)), str(path))
    torch.save(net.state_dict(), tmp_path / "plain.pt")
    assert is_torchscript(path) and not is_torchscript(tmp_path / "plain.pt")
    loaded, info = load_model_source(str(path), (3, 96, 96), 2, ModelOptions(normalize="imagenet"))
    x = torch.rand(2, 3, 96, 96)
    assert info["source"] == "torchscript" and torch.allclose(
        loaded(x), NormalizedModel(parse_normalize("imagenet", 3), net)(x)
    )
    code, result = evaluate(tmp_path, str(path), folder, "--normalize", "imagenet")
    assert (
        code == 0
        and result["radii"] == [12.0, 24.0, 36.0, 48.0]
        and result["model"]["input"]["normalize"] == "imagenet"
    )
    with pytest.raises(FreqlensError, match="does not say what input it expects"):
        load_model_source(str(path), (3, 96, 96), 2)


@pytest.mark.parametrize(
    ("model", "extra", "message"),
    [
        ("broken_nets:build", ["--normalize", "none"], "cannot import broken_nets (ModuleNotFoundError"),
        ("nowhere_at_all:build", ["--normalize", "none"], "cannot import nowhere_at_all"),
        ("usernets:missing", ["--normalize", "none"], "usernets has no attribute 'missing'"),
        ("usernets:not_a_model", ["--normalize", "none"], "returned a int, not a torch.nn.Module"),
        ("usernets:conv", ["--normalize", "none", "--model-arg", "depth=3"], "does not take {'depth': 3}"),
        ("usernets:conv", ["--normalize", "none", "--model-arg", "classes=5"], "has 5 outputs but the image set has 2"),
        ("usernets:conv", ["--normalize", "none", "--pretrained"], "--pretrained applies to torchvision:NAME"),
        ("no_such_model", [], "unknown model 'no_such_model'"),
        ("code", [], "is a folder; give the model file inside it"),
        ("small_cnn", ["--arch", "small_cnn"], "--arch applies to a state_dict file"),
        ("small_cnn", ["--model-arg", "width"], "is not key=value"),
        ("fixed:build", ["--normalize", "none", "--image-size", "16"], "cannot read images of shape (3, 16, 16)"),
    ],
)
def test_bad_model_sources_exit_2_with_one_line(tmp_path, nets, capsys, monkeypatch, model, extra, message):
    monkeypatch.chdir(tmp_path)
    folder = bright_dark_folder(tmp_path / "img")
    (nets / "fixed.py").write_text(  # built for 32x32 images only
        "from torch import nn\ndef build():\n    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 2))\n"
    )
    code, _ = evaluate(tmp_path, model, folder, *extra)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and err.startswith("error:") and message in err, err
    assert not (tmp_path / "ev").exists()


def test_a_model_that_does_not_return_logits_is_refused(nets):
    (nets / "odd.py").write_text("from torch import nn\ndef build():\n    return nn.Identity()\n")
    with pytest.raises(FreqlensError, match=r"returns \(2, 3, 8, 8\) for 2 images; an image classifier must return"):
        load_model_source("odd:build", (3, 8, 8), 2, ModelOptions(normalize="none"))


def test_model_args_parse_json_values():
    assert parse_model_args(["width=8", "batchnorm=false", "name=x", "rates=[1, 2]"]) == {
        "width": 8,
        "batchnorm": False,
        "name": "x",
        "rates": [1, 2],
    }


def test_attack_takes_any_source_and_one_normalize_per_model(tmp_path, nets, capsys):
    folder = bright_dark_folder(tmp_path / "img", per_class=2)
    path = save_model(create_model("small_cnn", num_classes=2, width=4), tmp_path / "fl" / "model.pt")
    out = tmp_path / "att"
    args = ["attack", "-m", str(path), "-m", "usernets:brightness", "--data", str(folder), "--eps", "0,0.01"]
    args += ["--attack", "fgsm", "--device", "cpu", "-o", str(out)]
    assert main([*args, "--normalize", "imagenet"]) == 2  # the freqlens model standardises itself
    assert "standardises its input itself" in capsys.readouterr().err
    assert main([*args, "--normalize", "none", "--normalize", "imagenet"]) == 0
    result = json.loads((out / "attack.json").read_text())
    inputs = {name: r["info"]["input"]["normalize"] for name, r in result["models"].items()}
    assert inputs == {"fl": "inside the model", "usernets:brightness": "imagenet"}
    assert result["models"]["usernets:brightness"]["accuracy"]["0.0"] == 1.0


@pytest.mark.parametrize("package", ["torchvision", "timm"])
def test_package_models_with_random_weights(tmp_path, package):
    try:
        __import__(package)
    except Exception as exc:  # not installed, or built for another torch
        pytest.skip(f"{package} does not import beside torch {torch.__version__}: {type(exc).__name__}: {exc}")
    folder = bright_dark_folder(tmp_path / "img", per_class=2)
    code, result = evaluate(tmp_path, f"{package}:resnet18", folder, "--radii", "4")
    assert code == 0 and result["model"]["source"] == package and result["model"]["pretrained"] is False
    assert result["model"]["input"]["mean"] == [0.485, 0.456, 0.406]
    model, info = load_model_source(f"{package}:resnet18", (3, 32, 32), 2, ModelOptions(normalize="0.5,0.5"))
    assert isinstance(model.normalize, Normalize) and info["input"]["std"] == [0.5, 0.5, 0.5]


class _FakeTimmNet(nn.Module):
    """Mimics the parts of a timm model freqlens uses: num_classes, reset_classifier, pretrained_cfg."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3) -> None:
        super().__init__()
        self.num_classes, self.pretrained_cfg = num_classes, {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
        self.head = nn.Linear(in_chans, num_classes)

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes, self.head = num_classes, nn.Linear(self.head.in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.mean(dim=(2, 3)))


def test_package_model_wrapping_with_stand_in_packages(monkeypatch):
    """The torchvision/timm code paths against stand-ins with the packages' call signatures (the real packages do not
    import beside torch 2.13 here; test_package_models_with_random_weights runs them where they do)."""
    import types

    calls = []

    def get_model(name, weights=None, num_classes=1000):
        calls.append((name, weights, num_classes))
        return _FakeTimmNet(num_classes)

    def create_model(name, pretrained, in_chans):
        calls.append((name, pretrained, in_chans))
        net = _FakeTimmNet(1000, in_chans)
        net.pretrained_cfg["tag"] = name.partition(".")[2] or "default_tag"
        return net

    timm = types.SimpleNamespace(create_model=create_model)
    monkeypatch.setitem(
        sys.modules, "torchvision", types.SimpleNamespace(models=types.SimpleNamespace(get_model=get_model))
    )
    monkeypatch.setitem(sys.modules, "timm", timm)
    x = torch.rand(2, 3, 16, 16)
    model, info = load_model_source("torchvision:tiny", (3, 16, 16), 3)
    assert calls == [("tiny", None, 3)] and info["pretrained"] is False and info["weights"] == {"tag": None}
    assert info["input"]["mean"] == [0.485, 0.456, 0.406] and info["input"]["normalize"].startswith("auto")
    assert torch.equal(model(x), model.net((x - model.normalize.mean) / model.normalize.std))
    model, info = load_model_source("timm:tiny", (3, 16, 16), 3)  # random weights: the head is reset to 3 classes
    assert info["input"]["std"] == [0.5, 0.5, 0.5] and model.net.num_classes == 3
    model, info = load_model_source("timm:tiny", (3, 16, 16), 3, ModelOptions(normalize="none"))
    assert torch.equal(model(x), model.net(x)) and info["input"]["normalize"] == "none"
    with pytest.raises(FreqlensError, match="has 1000 outputs but the image set has 3 classes"):
        load_model_source("timm:tiny", (3, 16, 16), 3, ModelOptions(weights="pretrained"))
    model, info = load_model_source("timm:tiny", (3, 16, 16), 1000, ModelOptions(weights="a1_in1k"))
    assert calls[-1] == ("tiny.a1_in1k", True, 3) and info["weights"] == {"tag": "a1_in1k"} and info["pretrained"]


def test_every_registry_model_is_recognised_as_standardising_itself():
    from freqlens.models import list_models
    from freqlens.models.layers import leading_normalize

    for name in list_models():
        if name.startswith("_"):  # registered by other tests
            continue
        assert isinstance(leading_normalize(create_model(name)), Normalize), name
    assert leading_normalize(nn.Sequential(nn.Conv2d(3, 3, 1), Normalize([0.0] * 3, [1.0] * 3))) is None
