"""Image sources: streamed folders equal the in-memory loader, resize + centre crop, class index files, torch Datasets,
seeded subsamples in index order, one-line errors naming the file; Nyquist-relative radii."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from freqlens.cli import main
from freqlens.contract import subsample_indices
from freqlens.data import (
    ImageSet,
    ImageStream,
    dataset_stream,
    folder_stream,
    load_image_folder,
    open_images,
    read_class_index,
)
from freqlens.data.folder import resize_and_crop, to_tensor
from freqlens.errors import FreqlensError
from freqlens.radii import default_radii, nyquist_radius, parse_radii, resolve_view, to_nyquist


def make_folder(root, sizes, classes=("n001", "n002", "n003"), per_class=3, jpeg=False):
    """Random images of the given (H, W) sizes, cycling through them."""
    rng = np.random.default_rng(1)
    k = 0
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            h, w = sizes[k % len(sizes)]
            k += 1
            suffix = ".jpg" if jpeg and i % 2 else ".png"
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / name / f"{i}{suffix}")
    return root


@pytest.mark.parametrize("size", [32, 64, 96, 224])
def test_streamed_folder_equals_in_memory_loader(tmp_path, size):
    root = make_folder(tmp_path / "img", [(size + 9, size + 30), (size + 30, size + 2), (size, size)], jpeg=True)
    memory = load_image_folder(root, image_size=size)
    stream = folder_stream(root, image_size=size, workers=3)
    assert len(stream) == 9 and stream.image_shape == (3, size, size) and stream.classes == ("n001", "n002", "n003")
    xs, ys = zip(*stream.batches(4), strict=True)
    assert [x.shape[0] for x in xs] == [4, 4, 1]
    assert torch.equal(torch.cat(xs), memory.images) and torch.equal(torch.cat(ys), memory.labels)
    assert torch.equal(stream.labels, memory.labels) and memory.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    picked = stream.sample(4, seed=3)
    index = subsample_indices(9, 4, seed=3)
    assert index.tolist() == sorted(index.tolist())
    assert torch.equal(picked.materialize().images, memory.images[index])
    assert torch.equal(memory.sample(4, seed=3).images, memory.images[index])


def test_resize_and_centre_crop_follow_torchvision(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)  # H 48, W 64
    Image.fromarray(pixels).save(tmp_path / "a.png")
    img = Image.open(tmp_path / "a.png").convert("RGB")
    # Resize(37): shorter side 37, longer int(37 * 64 / 48) = 49; CenterCrop(32): top round(2.5) = 2, left 8
    expected = to_tensor(img.resize((49, 37), Image.Resampling.BILINEAR).crop((8, 2, 40, 34)))
    assert torch.equal(to_tensor(resize_and_crop(img, 32, 37)), expected)
    (tmp_path / "c" / "x").mkdir(parents=True)
    Image.fromarray(pixels).save(tmp_path / "c" / "x" / "a.png")
    assert torch.equal(load_image_folder(tmp_path / "c", image_size=32).images[0], expected)  # 32 * 256 / 224 -> 37
    assert torch.equal(to_tensor(resize_and_crop(img, 48, 48)), to_tensor(img.crop((8, 0, 56, 48))))  # crop only
    with pytest.raises(FreqlensError, match="--resize 20 needs an --image-size no larger"):
        folder_stream(tmp_path / "c", image_size=32, resize=20)


def test_class_index_files_map_folders_to_model_indices(tmp_path):
    root = make_folder(tmp_path / "img", [(8, 8)], classes=("n02", "n07"), per_class=2)
    keras = tmp_path / "imagenet_class_index.json"
    keras.write_text(json.dumps({str(i): [f"n{i:02d}", f"name{i}"] for i in range(10)}))
    synsets = tmp_path / "LOC_synset_mapping.txt"
    synsets.write_text("".join(f"n{i:02d} name{i}, other\n" for i in range(10)))
    plain = tmp_path / "index.json"
    plain.write_text(json.dumps({"n02": 5, "n07": 1}))
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps(["n07", "n02"]))
    for index, labels, count in ((keras, [2, 2, 7, 7], 10), (synsets, [2, 2, 7, 7], 10), (plain, [5, 5, 1, 1], 6)):
        s = load_image_folder(root, class_index=index)
        assert s.labels.tolist() == labels and s.num_classes == count
    assert read_class_index(keras)[1][7] == "name7" and read_class_index(synsets)[1][3] == "name3, other"
    assert load_image_folder(root, class_index=listed).labels.tolist() == [1, 1, 0, 0]
    plain.write_text(json.dumps({"n02": 5}))
    with pytest.raises(FreqlensError, match=r"folders n07 of .* are not in the class index"):
        folder_stream(root, class_index=plain)


def test_unreadable_image_is_named_when_its_batch_is_decoded(tmp_path):
    root = make_folder(tmp_path / "img", [(8, 8)], classes=("a", "b"), per_class=2)
    (root / "b" / "9.png").write_bytes(b"\x89PNG broken")
    stream = folder_stream(root)  # listing succeeds: nothing is decoded yet
    first = next(stream.batches(2))[0]
    assert first.shape == (2, 3, 8, 8)
    with pytest.raises(FreqlensError, match=r"b/9.png could not be read as an image"):
        stream.materialize()


class Pairs(torch.utils.data.Dataset):
    """A torch Dataset of PIL images and int labels, read from a folder listing."""

    def __init__(self, paths, labels):
        self.paths, self.targets, self.classes = paths, labels, ["n001", "n002", "n003"]

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return Image.open(self.paths[i]), self.targets[i]


def test_a_torch_dataset_streams_like_the_folder(tmp_path):
    root = make_folder(tmp_path / "img", [(40, 50), (64, 36)])
    folder = load_image_folder(root, image_size=32)
    paths = sorted(root.glob("*/*.png"))
    labels = [["n001", "n002", "n003"].index(p.parent.name) for p in paths]
    stream = dataset_stream(Pairs(paths, labels), image_size=32, workers=2)
    assert stream.classes == folder.classes and torch.equal(stream.labels, folder.labels)
    assert torch.equal(stream.materialize().images, folder.images)
    tensors = torch.utils.data.TensorDataset((folder.images * 255).round().to(torch.uint8), folder.labels)
    from_tensors = dataset_stream(tensors).materialize()
    assert torch.equal(from_tensors.images, folder.images) and from_tensors.classes == ("0", "1", "2")
    bad = torch.utils.data.TensorDataset(folder.images * 2, folder.labels)
    with pytest.raises(FreqlensError, match=r"TensorDataset\[0\]: float images must lie in \[0, 1\]"):
        dataset_stream(bad).materialize()


def test_the_cli_reads_a_dataset_callable_and_a_folder_with_an_image_size(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "img", [(70, 90), (90, 64)], classes=("a", "b"), per_class=3)
    (tmp_path / "userdata.py").write_text(
        textwrap.dedent(
            f"""
            import torch
            from freqlens.data import folder_stream

            def make():
                return folder_stream({str(root)!r}, image_size=64)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    results = []
    for data, extra in (("userdata:make", []), (str(root), ["--image-size", "64"])):
        out = tmp_path / f"ev{len(results)}"
        args = ["evaluate", "small_cnn", "--model-arg", "width=4", "--data", data, *extra, "-n", "4", "--examples", "0"]
        with pytest.warns(UserWarning, match="untrained"):
            assert main([*args, "--device", "cpu", "-o", str(out)]) == 0
        results.append(json.loads((out / "evaluate.json").read_text()))
    assert results[0]["radii"] == [8.0, 16.0, 24.0, 32.0] == results[1]["radii"]  # 0.25n .. 1n of 64 px
    assert results[0]["lfc"] == results[1]["lfc"] and results[0]["images"] == 4
    assert results[0]["provenance"]["image_subsample"] == "4 drawn at random with seed 0, in index order"


def test_fixed_size_sets_refuse_folder_options():
    with pytest.raises(FreqlensError, match="apply to image folders and datasets, not synthetic"):
        open_images("synthetic:powerlaw?n=4&size=8", image_size=8)


def test_imageset_and_stream_share_the_batch_protocol():
    s = ImageSet.from_tensors(torch.rand(5, 1, 4, 4), torch.tensor([0, 1, 0, 1, 0]))
    stream = ImageStream(lambda i: (s.images[i], int(s.labels[i])), 5, s.classes, workers=2)
    for (a, b), (c, d) in zip(s.batches(2), stream.batches(2), strict=True):
        assert torch.equal(a, c) and torch.equal(b, d)
    assert s.materialize() is s and s.sample(None) is s and len(s.sample(3, seed=1)) == 3
    with pytest.raises(FreqlensError, match="batch size must be positive"):
        next(stream.batches(0))


def test_radii_in_cycles_or_fractions_of_nyquist():
    assert nyquist_radius(32, 32) == 16 and nyquist_radius(224, 160) == 80
    assert default_radii(32, 32) == [4, 8, 12, 16] and default_radii(224, 224) == [28, 56, 84, 112]
    assert parse_radii("3, 0.5n, .25n", 64, 64) == [3.0, 16.0, 8.0]
    assert to_nyquist(56, 224, 224) == 0.5 and resolve_view("hpsquare:0.5n:sym", 32, 32) == "hpsquare:8:sym"
    assert resolve_view("band:2:0.5n", 96, 96) == "band:2:24"
    for bad in ("n", "0.5x", "", "1/2n"):
        with pytest.raises(FreqlensError):
            parse_radii(bad, 32, 32)


def test_imagenet_folders_map_onto_the_1000_outputs_without_a_class_index(tmp_path):
    from freqlens.data.imagenet import imagenet_classes

    wnids, names = imagenet_classes()
    assert len(set(wnids)) == len(set(names)) == 1000 and all(w[0] == "n" and len(w) == 9 for w in wnids)
    subset = make_folder(tmp_path / "wnid", [(8, 8)], classes=("n02123045", "n01440764"), per_class=1)
    images = open_images(str(subset)).materialize()
    assert images.num_classes == 1000 and images.labels.tolist() == [0, 281]  # tench, tabby: sorted folders
    assert images.meta["files"] == ["n01440764/0.png", "n02123045/0.png"]
    readable = make_folder(tmp_path / "names", [(8, 8)], classes=("Golden_Retriever", "tabby"), per_class=1)
    assert open_images(str(readable), class_index="imagenet").materialize().labels.tolist() == [207, 281]
    with pytest.raises(FreqlensError, match=r"folders unicorn are not ImageNet classes; name them by WordNet id"):
        open_images(
            str(make_folder(tmp_path / "odd", [(8, 8)], classes=("unicorn",), per_class=1)), class_index="imagenet"
        )


def test_a_flat_folder_of_photos_opens_only_unlabelled(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(flat / f"p{i}.png")
    with pytest.raises(FreqlensError, match=r"no class sub-folders.*--labels predicted"):
        open_images(str(flat))
    images = open_images(str(flat), labelled=False).materialize()
    assert images.num_classes == 1000 and images.meta["files"] == ["p0.png", "p1.png", "p2.png"]
    assert images.sample(2, seed=0).meta["files"] == [images.meta["files"][i] for i in subsample_indices(3, 2, 0)]
