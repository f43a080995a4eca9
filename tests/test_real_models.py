"""Real torchvision / timm and real pretrained weights on real photos (tests/real_photos.py), offline.

They run where ``bash scripts/setup.sh vision`` made ``.venv-vision``; elsewhere they skip, unless
``FREQLENS_REQUIRE_REAL=1`` (CI's vision step) turns a missing package, photo or weights file into a failure.
"""

from __future__ import annotations

import json
import os
import urllib.error

import pytest
import torch

import real_photos
from freqlens.cli import main
from freqlens.data import open_images
from freqlens.errors import FreqlensError
from freqlens.sources import ModelOptions, load_model_source
from freqlens.weights import file_sha256

_lacking = real_photos.missing()
if _lacking and os.environ.get("FREQLENS_REQUIRE_REAL") == "1":
    raise RuntimeError(f"FREQLENS_REQUIRE_REAL=1 but this environment lacks: {', '.join(_lacking)}")
pytestmark = pytest.mark.skipif(bool(_lacking), reason=f"needs `bash scripts/setup.sh vision`: {_lacking[:3]}")

MOBILENET = "torchvision:mobilenet_v2"
V1 = ModelOptions(weights="IMAGENET1K_V1")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """$TORCH_HOME with the MobileNetV2 file in hub/checkpoints, as a user places it."""
    return real_photos.torch_home(tmp_path_factory.mktemp("torch_home"))


@pytest.fixture
def cached(hub, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(hub))
    return hub


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return real_photos.photo_folder(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def images(photos):
    return open_images(str(photos), image_size=224).materialize()


def _top1(model, x):
    with torch.no_grad():
        return model(x).argmax(dim=1)


def test_the_weights_file_is_torchvisions_mobilenet_v2_v1():
    assert file_sha256(real_photos.weights_file()).startswith("b0353104")


def test_imagenet_folder_maps_onto_the_model_outputs_without_a_class_index(images):
    from torchvision.models import MobileNet_V2_Weights

    categories = MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]
    assert images.num_classes == 1000 and images.classes == tuple(categories)
    labelled = {f.split("/")[0]: int(y) for f, y in zip(images.meta["files"], images.labels, strict=True)}
    assert categories[labelled["n02123045"]] == "tabby" and categories[labelled["n09193705"]] == "alp"


def test_pretrained_top1_on_labelled_photos_and_what_breaks_it(cached, images):
    """MobileNetV2 V1 gets 71.9 % top-1 on ImageNet; on these 14 photos at least 10 right. A wrong normalisation,
    swapped channels or a class index off by one fall below that."""
    model, info = load_model_source(MOBILENET, images.image_shape, 1000, V1)
    pred = _top1(model, images.images)
    right = int((pred == images.labels).sum())
    assert right >= 10, f"{right} of {len(images)}"
    assert info["weights"]["tag"] == "IMAGENET1K_V1" and info["weights"]["sha256"].startswith("b0353104")
    raw, _ = load_model_source(
        MOBILENET, images.image_shape, 1000, ModelOptions(weights="IMAGENET1K_V1", normalize="none")
    )
    assert int((_top1(raw, images.images) == images.labels).sum()) < 10  # unstandardised input
    assert int((_top1(model, images.images.flip(1)) == images.labels).sum()) < 10  # BGR instead of RGB
    assert int((pred == (images.labels + 1) % 1000).sum()) < 10  # class index shifted by one


def test_preprocessing_matches_torchvisions_own_transforms(cached, photos, images):
    """freqlens' resize, centre crop and [0, 1] + inside standardisation give torchvision's logits on every photo."""
    from PIL import Image
    from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

    weights = MobileNet_V2_Weights.IMAGENET1K_V1
    reference = mobilenet_v2(weights=weights).eval()
    transform = weights.transforms()
    x = torch.stack([transform(Image.open(photos / f).convert("RGB")) for f in images.meta["files"]])
    ours, _ = load_model_source(MOBILENET, images.image_shape, 1000, V1)
    with torch.no_grad():
        theirs, mine = reference(x), ours(images.images)
    assert torch.equal(theirs.argmax(1), mine.argmax(1))
    assert (theirs - mine).abs().max() < 0.05 * theirs.abs().max()


def test_every_weights_route_gives_the_same_model(cached, tmp_path, images):
    """Tag, torchvision's own file, a freqlens-wrapped state_dict and --arch with the file: identical logits; the
    record names the tag or the file with its SHA-256."""
    x = images.images[:4]
    model, _ = load_model_source(MOBILENET, images.image_shape, 1000, V1)
    expected = model(x)
    own_file = cached / "hub" / "checkpoints" / real_photos.MOBILENET_V2_FILE
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, wrapped)
    for spec, options in (
        (MOBILENET, ModelOptions(weights=str(own_file))),
        (MOBILENET, ModelOptions(weights=str(wrapped))),
        (str(own_file), ModelOptions(arch=MOBILENET)),
    ):
        net, record = load_model_source(spec, images.image_shape, 1000, options)
        assert torch.allclose(net(x), expected, atol=1e-5), spec
        assert record["weights"]["sha256"] == file_sha256(options.weights or spec)
    assert (
        load_model_source(MOBILENET, images.image_shape, 1000, ModelOptions(weights="pretrained"))[1]["weights"]["tag"]
        == "IMAGENET1K_V1"
    )  # DEFAULT (V2) is not cached, V1 is: --pretrained takes V1 offline


def test_weights_not_cached_offline_name_the_file_and_where(tmp_path, monkeypatch, capsys, photos):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))

    def offline(url, dst, hash_prefix=None, progress=True):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(FreqlensError, match=r"place mobilenet_v2-b0353104\.pth .* in .*empty/hub/checkpoints/"):
        load_model_source(MOBILENET, (3, 224, 224), 1000, V1)
    code = main(["audit", f"{MOBILENET},weights=IMAGENET1K_V1", "--data", str(photos), "--image-size", "224"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Traceback" not in err[0] and "hub/checkpoints" in err[0]


def test_timm_model_builds_loads_its_own_file_and_names_missing_pretrained_weights(images, monkeypatch, tmp_path):
    import timm

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fresh, info = load_model_source("timm:resnet18", images.image_shape, 1000, seed=1)
    assert info["weights"] == {"tag": None} and info["input"]["mean"] == [0.485, 0.456, 0.406]
    torch.manual_seed(7)
    own = timm.create_model("resnet18").eval()  # timm's own state_dict file: no freqlens prefixes
    torch.save(own.state_dict(), tmp_path / "resnet18.pth")
    loaded, info = load_model_source(
        "timm:resnet18", images.image_shape, 1000, ModelOptions(weights=str(tmp_path / "resnet18.pth"))
    )
    x = images.images[:2]
    with torch.no_grad():
        assert torch.allclose(loaded(x), own((x - loaded.normalize.mean) / loaded.normalize.std), atol=1e-5)
        assert not torch.allclose(loaded(x), fresh(x))
    assert info["weights"]["sha256"] == file_sha256(tmp_path / "resnet18.pth")
    with pytest.raises(FreqlensError, match=r"timm:resnet18,weights=FILE"):
        load_model_source("timm:resnet18", images.image_shape, 1000, ModelOptions(weights="a1_in1k"))


def test_audit_of_a_pretrained_and_an_untrained_model(cached, tmp_path, photos):
    """End to end from the CLI: LFC accuracy reaches the clean accuracy at the largest radius for the pretrained
    model, and its gradient sensitivity follows the data's spectrum more than the untrained copy's."""
    out = tmp_path / "audit"
    args = ["audit", f"{MOBILENET},weights=IMAGENET1K_V1,label=pretrained", f"{MOBILENET},label=untrained"]
    args += ["--data", str(photos), "--image-size", "224", "--analyses", "hfc,sensitivity,kernels", "-o", str(out)]
    assert main([*args, "--no-progress"]) == 0
    summary = json.loads((out / "audit" / "summary.json").read_text())
    tables = {t["title"].split(":")[0]: t for t in summary["tables"]}
    hfc = {row[0]: row[1:] for row in tables["hfc"]["rows"]}
    pretrained = [float(v.split()[0]) for v in (hfc["accuracy_original"][0], hfc["accuracy_lfc_r112"][0])]
    assert pretrained[0] >= 10 / 14 and abs(pretrained[1] - pretrained[0]) <= 1 / 14 + 1e-9
    assert float(hfc["accuracy_lfc_r28"][0].split()[0]) < pretrained[0]  # a blurred photo is harder
    sens = {row[0]: row[1:] for row in tables["sensitivity"]["rows"]}
    rho = [float(v.split()[0]) for v in sens["spearman"]]
    assert rho[0] > rho[1], rho
    images = tables[next(k for k in tables if k.startswith("images"))]
    assert images["rows"][0][0].endswith(".jpg") or images["rows"][0][0].endswith(".png")
    for run in (out / "runs").rglob("summary.json"):  # every run folder records the weights it used
        weights = json.loads(run.read_text())["model"]["weights"]
        if run.parent.name.startswith("pretrained"):
            assert weights["tag"] == "IMAGENET1K_V1" and weights["sha256"].startswith("b0353104")
        else:
            assert weights == {"tag": None}


def test_label_free_audit_of_an_unlabelled_photo_folder(cached, tmp_path):
    folder = real_photos.photo_folder(tmp_path / "flat", labelled=False)
    out = tmp_path / "audit"
    args = ["audit", f"{MOBILENET},weights=IMAGENET1K_V1", "--data", str(folder), "--image-size", "224"]
    assert main([*args, "-o", str(out)]) == 2  # no class folders: labels must be predicted
    assert main([*args, "--labels", "predicted", "--analyses", "hfc", "-o", str(out), "--no-progress"]) == 0
    page = (out / "report.html").read_text()
    assert "agreement with clean prediction" in page and "accuracy" not in page.lower()
    rows = {row[0]: row[1] for row in json.loads((out / "audit" / "summary.json").read_text())["tables"][0]["rows"]}
    assert rows["agreement_original"].split()[0] == "1"  # every image agrees with its own clean prediction
