"""Which weights a model starts from: none (fresh), a package's published tag, or a file.

A model's ``weights`` option (``torchvision:mobilenet_v2,weights=IMAGENET1K_V1`` on the command line) is one of:

* ``none`` (or absent): fresh weights under the model's seed;
* ``pretrained``: the package's pretrained weights. For torchvision: its ``DEFAULT`` tag when that file is in the
  torch hub cache or can be downloaded, but a tag whose file *is* cached wins over a ``DEFAULT`` that is not (so a
  machine holding only ``mobilenet_v2-b0353104.pth`` audits ``IMAGENET1K_V1`` offline); the chosen tag is recorded.
  For timm: the model's default pretrained tag;
* a tag: torchvision's weights enum name (``IMAGENET1K_V1``, ``DEFAULT``), timm's pretrained tag (``a1_in1k``, as in
  ``resnet50.a1_in1k``); a ``package.module:callable`` receives it as its ``weights`` argument;
* a file (a path, or a name ending in ``.pt``, ``.pth``, ``.bin``, ``.ckpt`` or ``.safetensors``): a state_dict of the
  architecture, torchvision's and timm's own files included; freqlens' wrapper prefixes (``net.``, the input
  standardisation ``normalize.*``) and DataParallel's ``module.`` are matched to the architecture.

torchvision's tags are fetched only into the torch hub cache (``$TORCH_HOME/hub/checkpoints``), checksum-verified
against the hash in the file name; a file that is not there and cannot be downloaded is a one-line error naming the
file to place and where. Every loaded file's SHA-256 is recorded (:func:`weights_record`).

Example:
    >>> weights_kind(None), weights_kind("none"), weights_kind("pretrained"), weights_kind("IMAGENET1K_V1")
    ('none', 'none', 'pretrained', 'tag')
    >>> weights_kind("runs/best.pth")
    'file'
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

from freqlens.errors import FreqlensError

FILE_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt", ".safetensors"}
_HASH_IN_NAME = re.compile(r"-([a-f0-9]+)\.")  # torch.hub's convention: name-<sha256 prefix>.ext


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_kind(weights: str | None) -> str:
    """``none``, ``pretrained``, ``file`` or ``tag``."""
    if weights is None or weights.lower() == "none":
        return "none"
    if weights == "pretrained":
        return "pretrained"
    path = Path(weights)
    if path.is_file() or path.suffix.lower() in FILE_SUFFIXES or "/" in weights or "\\" in weights:
        return "file"
    return "tag"


def hub_file(url: str) -> Path:
    """Where torch.hub keeps the file of ``url``: ``$TORCH_HOME/hub/checkpoints/<file name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def torchvision_tag(lib: Any, model_name: str, weights: str) -> Any:
    """The torchvision weights enum member for ``weights`` (a tag, or ``pretrained``: see the module docstring)."""
    try:
        enum = lib.models.get_model_weights(model_name)
    except (ValueError, KeyError):
        raise FreqlensError(f"torchvision has no published weights for {model_name!r}") from None
    if weights != "pretrained":
        try:
            return enum.verify(weights)
        except (ValueError, KeyError):
            known = ", ".join(["DEFAULT", *(m.name for m in enum)])
            raise FreqlensError(f"torchvision:{model_name} has no weights {weights!r}; known: {known}") from None
    default = enum.DEFAULT
    cached = [m for m in enum if hub_file(m.url).is_file()]
    return default if hub_file(default.url).is_file() or not cached else cached[0]


def fetch_hub_file(url: str, what: str) -> Path:
    """The cached file of ``url`` (``what``: e.g. "the IMAGENET1K_V1 weights of torchvision:mobilenet_v2"),
    downloaded (hash-checked) if absent; verified against the hash in its name."""
    path = hub_file(url)
    match = _HASH_IN_NAME.search(path.name)
    prefix = match.group(1) if match else None
    if not path.is_file():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(path), hash_prefix=prefix, progress=True)
        except Exception as exc:  # offline: URLError; a bad download: RuntimeError; no disk: OSError
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FreqlensError(
                f"{what} are not on this machine and could not be downloaded ({first}); place {path.name} "
                f"(from {url}) in {path.parent}/ ($TORCH_HOME/hub/checkpoints)"
            ) from None
    if prefix and not file_sha256(path).startswith(prefix):
        raise FreqlensError(
            f"{path} does not match the SHA-256 prefix {prefix} in its name; delete it and place it again"
        )
    return path


def read_file(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a freqlens file's dict (weights only), with one-line errors for a missing or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise FreqlensError(f"no model file at {path}")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch.load fails on foreign bytes with many error types (KeyError, EOFError, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FreqlensError(f"cannot read {path} as a weights-only torch file: {first}") from None
    if not isinstance(payload, dict):
        raise FreqlensError(f"{path} holds a {type(payload).__name__}, not a model's weights")
    return payload


def read_state_dict(path: Path) -> dict[str, Any]:
    """A weights file's dict: ``.safetensors`` through safetensors, anything else through ``torch.load`` with
    ``weights_only=True``."""
    if path.suffix.lower() == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise FreqlensError(f"{path} is a safetensors file; pip install safetensors to read it") from None
        return dict(load_file(str(path)))
    return read_file(path)


def match_prefixes(state: dict[str, Tensor], target: nn.Module) -> tuple[dict[str, Tensor], str]:
    """``state`` with its keys matched to ``target``'s: a freqlens-wrapped file (``net.*`` and ``normalize.*``) loses
    its wrapper for a bare architecture; a note says what changed ("" when nothing did)."""
    own = set(target.state_dict())
    if set(state) == own or not all(k.startswith(("net.", "normalize.")) for k in state):
        return state, ""
    inner = {k[len("net.") :]: v for k, v in state.items() if k.startswith("net.")}
    if set(inner) != own:
        return state, ""
    return inner, "freqlens wrapper prefixes 'net.'/'normalize.' removed"


def weights_record(tag: str | None, path: Path | None) -> dict[str, Any]:
    """What the result files record about the weights: the tag and the file with its SHA-256."""
    record: dict[str, Any] = {"tag": tag}
    if path is not None:
        record.update(file=str(path.resolve()), sha256=file_sha256(path))
    return record
