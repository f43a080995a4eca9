"""Write src/freqlens/data/imagenet_classes.txt: ImageNet-1k's WordNet ids (timm's synset list) and readable names
(torchvision's weight metadata), one ``wnid name`` line per output index. Run in the vision environment:

    .venv-vision/bin/python scripts/imagenet_classes.py
"""

from pathlib import Path

from timm.data import ImageNetInfo
from torchvision.models import ResNet50_Weights

wnids = ImageNetInfo().label_names()
names = ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
assert len(wnids) == len(names) == 1000 and len(set(names)) == 1000
out = Path(__file__).resolve().parents[1] / "src" / "freqlens" / "data" / "imagenet_classes.txt"
out.write_text("".join(f"{w} {n}\n" for w, n in zip(wnids, names, strict=True)), encoding="utf-8")
print(f"{out}: {len(wnids)} classes")
