"""Every way to name a model, resolved to a module that takes [0, 1] images and returns logits.

One resolver (:func:`load_model_source`) serves every analysis command. A spec is, in this order:

* ``torchvision:NAME`` / ``timm:NAME``: built by the package;
* a file: a freqlens model file (``freqlens train``'s ``model.pt``), a TorchScript archive (``torch.jit.save``), or
  a bare ``state_dict`` (``torch.save(model.state_dict())``) whose architecture ``arch`` names (a registry name,
  ``torchvision:NAME``, ``timm:NAME`` or ``package.module:callable``); weights are read with ``weights_only=True``;
* ``package.module:callable``: the user's code builds the model, called with ``kwargs``;
* a registry name: built with fresh (untrained) weights under ``seed``.

Every built model (package, callable, registry) starts from the weights ``weights`` names (:mod:`freqlens.weights`:
none, ``pretrained``, a package tag, or a state_dict file); ``info["weights"]`` records the tag and the file's
SHA-256. A bare state_dict file with ``arch`` is the same as ``arch`` with ``weights=FILE``.

Input convention: the returned model takes images in [0, 1], so filters and perturbations act in pixel space. Models
that standardise their input themselves (freqlens models: a :class:`~freqlens.models.layers.Normalize` first) are
used as they are; any other model needs ``normalize`` (``imagenet``, ``cifar10``, ``cifar100``, ``MEAN,STD``, or
``none`` for a model that takes [0, 1] pixels), which puts the standardisation inside, as the first submodule;
torchvision/timm default to the statistics their package states. ``info["input"]`` records what was done.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from freqlens.callables import call, is_callable_spec, load_callable
from freqlens.errors import FreqlensError
from freqlens.models.layers import Normalize, NormalizedModel, leading_normalize, parse_normalize
from freqlens.weights import match_prefixes, read_state_dict, torchvision_tag, weights_kind, weights_record

NORMALIZE_CHOICES = "imagenet, cifar10, cifar100, MEAN,STD or none"
_STATE_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")


@dataclass(frozen=True)
class ModelOptions:
    """How to build or wrap a model: ``arch`` of a bare state_dict, builder ``kwargs``, the ``weights`` it starts from
    (:mod:`freqlens.weights`; None: fresh), and the input standardisation ``normalize`` (None: not given)."""

    arch: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    weights: str | None = None
    normalize: str | None = None


def parse_model_args(pairs: list[str] | None) -> dict[str, Any]:
    """``["width=8", "batchnorm=false", "name=x"]`` -> ``{"width": 8, "batchnorm": False, "name": "x"}`` (JSON values,
    else strings)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise FreqlensError(f"--model-arg {pair!r} is not key=value")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def is_torchscript(path: Path) -> bool:
    """A ``torch.jit.save`` archive (a zip holding ``code/`` and ``constants.pkl``), not a ``torch.save`` file."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") or "/code/" in name for name in archive.namelist())


def _state_dict(path: Path, payload: dict[str, Any]) -> tuple[dict[str, Tensor], str]:
    """The tensors of a bare state_dict, also under a common key (``state_dict``, ``model``, ...) and without a
    ``module.`` prefix (DataParallel); with a note of what was unwrapped."""
    notes = []
    for key in _STATE_KEYS:
        inner = payload.get(key)
        if isinstance(inner, dict) and inner and all(isinstance(v, Tensor) for v in inner.values()):
            payload, notes = inner, [f"weights under {key!r}"]
            break
    if not payload or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in payload.items()):
        raise FreqlensError(f"{path} is neither a freqlens model file nor a state_dict of tensors")
    if all(k.startswith("module.") for k in payload):
        payload = {k[len("module.") :]: v for k, v in payload.items()}
        notes.append("'module.' prefix removed")
    return payload, ", ".join(notes)


def _build(
    spec: str, opts: ModelOptions, num_classes: int, in_channels: int, image_size: int
) -> tuple[nn.Module, dict[str, Any]]:
    """A package, registry or ``module:callable`` model with the weights ``opts.weights`` names."""
    from freqlens.models import create_model

    kind = weights_kind(opts.weights)
    package = spec.split(":", 1)[0] in ("torchvision", "timm")
    kwargs = dict(opts.kwargs)
    if package:
        tag = opts.weights if kind in ("tag", "pretrained") else None
        net = create_model(
            spec, num_classes, in_channels, image_size, normalize=opts.normalize or "auto", weights=tag, **kwargs
        )
        info: dict[str, Any] = {"source": spec.split(":", 1)[0], "name": spec, "kwargs": kwargs}
        record = dict(getattr(net, "freqlens_weights", {"tag": None}))
    elif is_callable_spec(spec):
        if kind == "pretrained":
            raise FreqlensError(f"--pretrained applies to torchvision:NAME and timm:NAME models, not to {spec}")
        if kind == "tag":
            kwargs["weights"] = opts.weights  # torchvision-style builders take their tag as `weights`
        net = call(spec, load_callable(spec, "model"), kwargs, "model")
        if not isinstance(net, nn.Module):
            raise FreqlensError(f"model {spec} returned a {type(net).__name__}, not a torch.nn.Module")
        info = {"source": "callable", "callable": spec, "kwargs": kwargs}
        record = {"tag": opts.weights if kind == "tag" else None}
    else:
        if kind in ("tag", "pretrained"):
            raise FreqlensError(
                f"registry model {spec} has no published weights ({opts.weights!r}); give a weights file: "
                f"{spec},weights=FILE"
            )
        net = create_model(spec, num_classes=num_classes, in_channels=in_channels, image_size=image_size, **kwargs)
        info = {"source": "registry", "name": spec, "kwargs": kwargs}
        record = {"tag": None}
    if kind == "file":
        assert opts.weights is not None
        path = Path(opts.weights)
        if not path.is_file():
            raise FreqlensError(f"weights file {path} of model {spec} does not exist")
        note = _load_weights_file(net, path, spec)
        record = {**weights_record(None, path), **({"unwrapped": note} if note else {})}
    info["weights"] = record
    info["pretrained"] = record.get("tag") is not None or kind == "file"
    return net, info


def _load_weights_file(net: nn.Module, path: Path, arch: str) -> str:
    """Load a state_dict file into ``net`` (into the network a freqlens wrapper holds, when it is one); returns a
    note of what was unwrapped."""
    from freqlens.checkpoint import check_fit

    target = net.net if isinstance(net, NormalizedModel) else net
    state, note = _state_dict(path, read_state_dict(path))
    state, prefixes = match_prefixes(state, target)
    check_fit(path, target, state, arch)
    target.load_state_dict(state)
    return ", ".join(n for n in (note, prefixes) if n)


def _from_file(path: Path, opts: ModelOptions, shape: tuple[int, int, int], num_classes: int) -> tuple[nn.Module, Any]:
    from freqlens.checkpoint import FORMATS, load_model

    where = {"path": str(path.resolve())}
    if is_torchscript(path):
        if opts.arch:
            raise FreqlensError(f"{path} is a TorchScript file, which holds its architecture; drop --arch")
        try:
            net = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # a damaged archive fails in torch's C++ loader
            raise FreqlensError(f"cannot load {path} as TorchScript: {str(exc).strip().splitlines()[0]}") from None
        return net, {"source": "torchscript", **where}
    payload = read_state_dict(path)
    if payload.get("format") in FORMATS:
        if opts.arch:
            raise FreqlensError(f"{path} is a freqlens model file that names its architecture; drop --arch")
        net, info = load_model(path)
        return net, {"source": "checkpoint", **where, "info": json.loads(json.dumps(info, default=str))}
    if not opts.arch:
        state, _ = _state_dict(path, payload)
        raise FreqlensError(
            f"{path} holds a bare state_dict ({len(state)} tensors) with no architecture; name it with --arch "
            "(a registry name such as small_cnn, torchvision:NAME, timm:NAME or package.module:callable) and "
            "--model-arg key=value"
        )
    net, info = _build(opts.arch, replace(opts, weights=str(path)), num_classes, shape[0], shape[1])
    weights = info.pop("weights")
    info.pop("pretrained")
    unwrapped = {"unwrapped": weights.pop("unwrapped")} if "unwrapped" in weights else {}
    return net, {"source": "state_dict", **where, "arch": info, "weights": weights, **unwrapped}


def _stats(norm: Normalize) -> dict[str, list[float]]:
    return {
        "mean": [round(v, 6) for v in norm.mean.flatten().tolist()],
        "std": [round(v, 6) for v in norm.std.flatten().tolist()],
    }


def _input_convention(
    spec: str, net: nn.Module, source: str, normalize: str | None, channels: int
) -> tuple[nn.Module, dict[str, Any]]:
    """Wrap ``net`` as ``normalize`` says, or keep its own standardisation; the record for the result files."""
    record: dict[str, Any] = {
        "pixels": "[0, 1]",
        "filters_and_perturbations": "act on [0, 1] pixels, before any standardisation",
    }
    own = leading_normalize(net) if source != "torchscript" else None
    if source in ("torchvision", "timm"):
        norm = leading_normalize(net)
        assert norm is not None  # create_external always wraps
        return net, {
            **record,
            "normalize": normalize or f"auto ({source}'s stated statistics)",
            "where": "first submodule (added by freqlens)",
            **_stats(norm),
        }
    if own is not None:
        if normalize not in (None, "none"):
            raise FreqlensError(
                f"model {spec} standardises its input itself ({own.extra_repr()}, its first layer); drop --normalize "
                "for it or pass --normalize none"
            )
        return net, {
            **record,
            "normalize": "inside the model",
            "where": "first submodule (the model's own)",
            **_stats(own),
        }
    if normalize is None:
        raise FreqlensError(
            f"model {spec} ({source}) does not say what input it expects: pass --normalize imagenet|cifar10|cifar100|"
            "MEAN,STD if it was trained on standardised images (freqlens then standardises inside, before the "
            "network), or --normalize none if it takes [0, 1] pixels"
        )
    norm = parse_normalize(normalize, channels)
    if norm is None:
        return net, {**record, "normalize": "none", "where": "the model receives [0, 1] pixels unchanged"}
    return NormalizedModel(norm, net), {
        **record,
        "normalize": normalize,
        "where": "first submodule (added by freqlens)",
        **_stats(norm),
    }


def check_output(
    model: nn.Module, spec: str, image_shape: tuple[int, int, int], num_classes: int, device: str | torch.device
) -> None:
    """One forward pass on two blank images: the model must read ``image_shape`` and return ``(2, num_classes)``."""
    probe = torch.zeros(2, *image_shape, device=device)
    try:
        with torch.no_grad():
            out = model(probe)
    except Exception as exc:  # shape errors surface as RuntimeError, ValueError, AssertionError, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FreqlensError(
            f"model {spec} cannot read images of shape {image_shape}: {first}; resize the images (--image-size) to "
            "what the model was built for"
        ) from None
    if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != 2:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise FreqlensError(
            f"model {spec} returns {got} for 2 images; an image classifier must return (N, classes) logits"
        )
    if out.shape[1] != num_classes:
        raise FreqlensError(
            f"model {spec} has {out.shape[1]} outputs but the image set has {num_classes} classes; map the image "
            "folders to the model's class indices with --class-index FILE, or use a model built for these classes"
        )


def load_model_source(
    spec: str,
    image_shape: tuple[int, int, int],
    num_classes: int,
    options: ModelOptions | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> tuple[nn.Module, dict[str, Any]]:
    """Resolve ``spec`` (see the module docstring) to ``(model in eval mode on device, info)``.

    ``image_shape`` ``(C, H, W)`` and ``num_classes`` describe the images: registry and package models are built
    for them, and every model is checked to read them and return ``(N, num_classes)``. ``info`` records the source
    and ``info["input"]`` the input convention.
    """
    opts = options or ModelOptions()
    channels = image_shape[0]
    torch.manual_seed(seed)  # fresh weights (registry, callable, package without pretrained) are reproducible
    path = Path(spec)
    package = spec.split(":", 1)[0] in ("torchvision", "timm") and not path.exists()
    if opts.arch and not path.is_file():
        raise FreqlensError(f"--arch applies to a state_dict file, not to {spec}; give weights as {spec},weights=FILE")
    if package:
        net, info = _build(spec, opts, num_classes, channels, image_shape[1])
    elif path.is_file():
        if opts.weights is not None:
            raise FreqlensError(f"{spec} is a file holding weights itself; drop weights= (or give it as weights=)")
        net, info = _from_file(path, opts, image_shape, num_classes)
    elif path.is_dir():
        raise FreqlensError(f"model {spec} is a folder; give the model file inside it (e.g. {path / 'model.pt'})")
    elif path.suffix in {".pt", ".pth", ".ts", ".bin"} or "/" in spec or "\\" in spec:
        raise FreqlensError(f"model file {spec} does not exist")
    else:
        net, info = _build(spec, opts, num_classes, channels, image_shape[1])
        if info["source"] == "registry" and info["weights"].get("file") is None:
            info.update(trained=False, init_seed=seed)
    source = info["arch"]["source"] if info["source"] == "state_dict" else info["source"]
    net, info["input"] = _input_convention(spec, net, source, opts.normalize, channels)
    net = net.to(device).eval()
    check_output(net, spec, image_shape, num_classes, device)
    return net, info


def resolve_weights(spec: str, weights: str | None) -> str | None:
    """``weights`` as a cell records it: ``none`` -> None, a file -> its absolute path, torchvision's ``pretrained``
    -> the tag it picks on this machine (:func:`freqlens.weights.torchvision_tag`)."""
    kind = weights_kind(weights)
    if kind == "none":
        return None
    assert weights is not None
    if kind == "file":
        return str(Path(weights).resolve())
    source, _, name = spec.partition(":")
    if kind == "pretrained" and source == "torchvision" and not Path(spec).exists():
        from freqlens.models.external import import_package

        return str(torchvision_tag(import_package(source, spec), name, weights).name)
    return weights


def default_label(spec: str) -> str:
    """A short name for a model in tables: the run folder of ``.../model.pt``, a file's stem, else the spec."""
    path = Path(spec)
    if path.is_file():
        return path.parent.name if path.suffix == ".pt" and path.parent.name else path.stem
    return spec
