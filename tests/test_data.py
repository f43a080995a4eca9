"""Data sources: CIFAR layout (restricted unpickling, checksums, verified download, safe extraction), image folders,
in-memory tensors."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import pickle
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from freqlens.data import ImageSet, load_cifar, load_image_folder, open_dataset
from freqlens.data.cifar import download_cifar, find_cifar
from freqlens.data.download import safe_extract
from freqlens.data.safe_pickle import load_restricted
from freqlens.errors import FreqlensError

CLASSES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


def write_fake_cifar(root: Path, per_file: int = 4) -> Path:
    """A miniature CIFAR-10 batch folder in the official pickle format (protocol 2, numpy arrays, bytes keys)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, per_file)],
            b"data": rng.integers(0, 256, (per_file, 3072), dtype=np.uint8),
            b"filenames": [f"{name}_{i}.png".encode() for i in range(per_file)],
        }
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    meta = {b"label_names": CLASSES, b"num_cases_per_batch": per_file, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/freqlens-pwned",))


def test_restricted_unpickler_refuses_code_execution(tmp_path):
    payload = pickle.dumps({b"data": Evil()}, protocol=2)
    with pytest.raises(FreqlensError, match="refusing global"):
        load_restricted(payload)
    folder = write_fake_cifar(tmp_path)
    (folder / "test_batch").write_bytes(payload)
    with pytest.raises(FreqlensError, match="not a valid CIFAR file"), pytest.warns(UserWarning):
        load_cifar("cifar10", "test", folder)


def test_restricted_unpickler_reads_numpy_arrays():
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = load_restricted(pickle.dumps({b"data": array, b"labels": [1, 2, 3]}, protocol=2))
    assert np.array_equal(out[b"data"], array) and out[b"labels"] == [1, 2, 3]


def test_load_fake_cifar_layout_and_values(tmp_path):
    folder = write_fake_cifar(tmp_path)
    raw = pickle.loads((folder / "test_batch").read_bytes())
    with pytest.warns(UserWarning, match="differ from the official"):
        test = load_cifar("cifar10", "test", tmp_path)  # the parent folder is found too
    assert test.images.shape == (4, 3, 32, 32) and test.classes[0] == "airplane"
    expected = torch.from_numpy(raw[b"data"]).view(4, 3, 32, 32).float() / 255
    assert torch.equal(test.images, expected) and test.labels.tolist() == raw[b"labels"]
    with pytest.warns(UserWarning):
        assert len(load_cifar("cifar10", "train", folder)) == 20


def test_truncated_cifar_file_is_a_clear_error(tmp_path):
    folder = write_fake_cifar(tmp_path)
    data = (folder / "data_batch_3").read_bytes()
    (folder / "data_batch_3").write_bytes(data[: len(data) // 2])
    with pytest.raises(FreqlensError, match="data_batch_3 is not a valid CIFAR file"), pytest.warns(UserWarning):
        load_cifar("cifar10", "train", folder)


def test_tampered_shape_is_a_clear_error(tmp_path):
    folder = write_fake_cifar(tmp_path)
    entry = {b"labels": [0, 1], b"data": np.zeros((2, 100), dtype=np.uint8)}
    (folder / "test_batch").write_bytes(pickle.dumps(entry, protocol=2))
    with pytest.raises(FreqlensError, match=r"uint8 of shape \(N, 3072\)"), pytest.warns(UserWarning):
        load_cifar("cifar10", "test", folder)


def test_cache_copy_must_match_official_checksums(tmp_path, monkeypatch):
    write_fake_cifar(tmp_path)
    monkeypatch.setenv("FREQLENS_DATA", str(tmp_path))
    with pytest.raises(FreqlensError, match="fail the official checksums"):
        find_cifar("cifar10")


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FreqlensError, match="no cifar10 batches"):
        find_cifar("cifar10", tmp_path)


def test_real_cifar_copy_loads_with_a_warning(cifar_dir):
    with pytest.warns(UserWarning, match="differ from the official"):
        test = open_dataset(str(cifar_dir), "test")
    assert len(test) == 10000 and test.labels[:20].tolist() == [
        3,
        8,
        8,
        0,
        6,
        6,
        1,
        6,
        3,
        1,
        0,
        9,
        5,
        7,
        9,
        8,
        5,
        7,
        8,
        6,
    ]


# --- verified download against a local HTTP server -----------------------------------------------------------------


@pytest.fixture
def http_root(tmp_path) -> Iterator[tuple[Path, str]]:
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def make_archive(source_root: Path, archive: Path) -> str:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source_root / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return hashlib.md5(archive.read_bytes()).hexdigest()


def test_download_verify_extract(tmp_path, http_root):
    served, url = http_root
    write_fake_cifar(tmp_path / "src")
    md5 = make_archive(tmp_path / "src", served / "cifar-10-python.tar.gz")
    dest = tmp_path / "cache"
    folder = download_cifar("cifar10", dest, url=f"{url}/cifar-10-python.tar.gz", archive_md5=md5)
    assert (folder / "test_batch").is_file() and not (dest / "cifar-10-python.tar.gz").exists()
    with pytest.warns(UserWarning):
        assert len(load_cifar("cifar10", "test", folder)) == 4


def test_download_with_wrong_checksum_leaves_nothing(tmp_path, http_root):
    served, url = http_root
    write_fake_cifar(tmp_path / "src")
    make_archive(tmp_path / "src", served / "cifar-10-python.tar.gz")
    dest = tmp_path / "cache"
    with pytest.raises(FreqlensError, match="MD5"):
        download_cifar("cifar10", dest, url=f"{url}/cifar-10-python.tar.gz", archive_md5="0" * 32)
    assert list(dest.iterdir()) == []


def test_download_failure_is_a_clear_error(tmp_path, http_root):
    _, url = http_root
    with pytest.raises(FreqlensError, match="could not download"):
        download_cifar("cifar10", tmp_path / "cache", url=f"{url}/missing.tar.gz", archive_md5="0" * 32)


def _tar_with(archive: Path, member: tarfile.TarInfo, data: bytes = b"") -> None:
    with tarfile.open(archive, "w:gz") as tar:
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data) if data else None)


@pytest.mark.parametrize("kind", ["traversal", "absolute", "symlink"])
def test_safe_extract_refuses_unsafe_members(tmp_path, kind):
    archive = tmp_path / "bad.tar.gz"
    if kind == "symlink":
        member = tarfile.TarInfo("cifar-10-batches-py/link")
        member.type = tarfile.SYMTYPE
        member.linkname = "/etc/passwd"
        _tar_with(archive, member)
    else:
        name = "../escaped.txt" if kind == "traversal" else "/tmp/freqlens-absolute.txt"
        _tar_with(archive, tarfile.TarInfo(name), b"x")
    dest = tmp_path / "out"
    with pytest.raises(FreqlensError, match="refusing"):
        safe_extract(archive, dest)
    assert not (tmp_path / "escaped.txt").exists()
    assert not dest.exists() or list(dest.iterdir()) == []


# --- image folders and tensors --------------------------------------------------------------------------------------


def write_folder(root: Path, size=(6, 5)) -> None:
    rng = np.random.default_rng(1)
    for cls in ("cats", "dogs"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (size[0], size[1], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i}.png")


def test_image_folder_reads_classes_and_pixels(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "cats" / ".DS_Store").write_bytes(b"junk")  # hidden files are ignored
    s = load_image_folder(tmp_path)
    assert s.classes == ("cats", "dogs") and s.images.shape == (6, 3, 6, 5) and s.labels.tolist() == [0] * 3 + [1] * 3
    first = np.array(Image.open(tmp_path / "cats" / "0.png"))
    assert torch.equal(s.images[0], torch.from_numpy(first).permute(2, 0, 1).float() / 255)


def test_image_folder_rejects_non_images(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "dogs" / "notes.txt").write_text("hello")
    with pytest.raises(FreqlensError, match=r"notes.txt is not an image file"):
        load_image_folder(tmp_path)


def test_image_folder_rejects_corrupt_image(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "dogs" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(FreqlensError, match="could not be read"):
        load_image_folder(tmp_path)


def test_image_folder_mixed_sizes_need_resize(tmp_path):
    write_folder(tmp_path)
    Image.fromarray(np.zeros((9, 9, 3), dtype=np.uint8)).save(tmp_path / "dogs" / "big.png")
    with pytest.raises(FreqlensError, match=r"big.png has shape \(3, 9, 9\).*--image-size"):
        load_image_folder(tmp_path)
    assert load_image_folder(tmp_path, image_size=4).images.shape == (7, 3, 4, 4)


def test_imageset_validation():
    with pytest.raises(FreqlensError, match="lie in"):
        ImageSet.from_tensors(torch.full((2, 1, 4, 4), 2.0), torch.tensor([0, 1]))
    with pytest.raises(FreqlensError, match="labels must have shape"):
        ImageSet.from_tensors(torch.rand(2, 1, 4, 4), torch.tensor([0, 1, 1]))
    with pytest.raises(FreqlensError, match="empty"):
        ImageSet.from_tensors(torch.rand(0, 1, 4, 4), torch.zeros(0, dtype=torch.long), classes=("a",))
    s = ImageSet.from_tensors(torch.rand(10, 1, 4, 4), torch.arange(10) % 2)
    assert len(s.subset(3)) == 3 and torch.equal(s.subset(3).images, s.images[:3])
    assert torch.equal(s.subset(4, seed=1).images, s.subset(4, seed=1).images)


def test_open_dataset_rejects_unknown_names():
    with pytest.raises(FreqlensError, match="unknown dataset"):
        open_dataset("imagenet-21k")
