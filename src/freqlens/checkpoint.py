"""Saved models: write a model with the registry name and options that rebuild it, and load it back safely.

Files are read with ``torch.load(weights_only=True)``, so loading never runs code from the file. A file holds
``{"format", "model": {name, num_classes, in_channels, image_size, kwargs}, "state_dict", ...}``; the training loop's
``model.pt`` and resumable ``checkpoint.pt`` both load here.

Example:
    >>> import tempfile, torch
    >>> from freqlens.models import create_model
    >>> net = create_model("small_cnn", width=8)
    >>> path = save_model(net, tempfile.mkdtemp() + "/model.pt", note="demo")
    >>> again, info = load_model(path)
    >>> info["name"], info["kwargs"], info["note"]
    ('small_cnn', {'width': 8}, 'demo')
    >>> bool(torch.equal(again(torch.ones(1, 3, 32, 32)), net.eval()(torch.ones(1, 3, 32, 32))))
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from freqlens import provenance
from freqlens.errors import FreqlensError
from freqlens.models import create_model, model_spec
from freqlens.weights import read_file

MODEL_FORMAT = "freqlens-model/1"
CHECKPOINT_FORMAT = "freqlens-train-checkpoint/1"
FORMATS = (MODEL_FORMAT, CHECKPOINT_FORMAT)


def save_model(model: nn.Module, path: str | Path, **info: Any) -> Path:
    """Save a :func:`~freqlens.models.create_model` model with its spec and extra ``info`` (plain values only)."""
    payload = {"format": MODEL_FORMAT, "model": model_spec(model), "state_dict": model.state_dict(), **info}
    return provenance.save_torch(path, payload)


def _describe(spec: Mapping[str, Any]) -> str:
    kwargs = ", ".join(f"{k}={v!r}" for k, v in spec.get("kwargs", {}).items())
    return f"{spec['name']}({kwargs})" if kwargs else str(spec["name"])


def _names(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > limit else shown


def check_fit(path: Path, model: nn.Module, state: Mapping[str, Any], arch: str) -> None:
    """A one-line error naming missing, unexpected and mis-shaped tensors when ``state`` does not fit ``model``."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and isinstance(state[k], Tensor) and state[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        problems = []
        if missing:
            problems.append(f"missing: {_names(missing)}")
        if unexpected:
            problems.append(f"unexpected: {_names(unexpected)}")
        if shapes:
            problems.append(f"other shape (file vs model): {_names(shapes, 2)}")
        raise FreqlensError(
            f"{path} holds weights of another architecture than {arch}: {'; '.join(problems)}; "
            "load it with the model it was trained as"
        )


def load_model(
    path: str | Path,
    device: torch.device | str = "cpu",
    *,
    model: str | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    num_classes: int = 10,
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a saved model in eval mode on ``device``; returns ``(model, info)``.

    ``info`` holds the registry ``name``, ``num_classes``, ``in_channels``, ``image_size``, ``kwargs`` and whatever
    else the file stores (``config``, ``metrics``, ``epoch``, ``provenance``). ``model`` names the architecture you
    expect: for a freqlens file it must match the stored one; for a bare ``state_dict`` file it (with
    ``model_kwargs`` and ``num_classes``) says what to build. Weights that do not fit are a one-line error.
    """
    path = Path(path)
    payload = read_file(path, device)
    if payload.get("format") in FORMATS:
        spec = dict(payload["model"])
        if model is not None and model != spec["name"]:
            raise FreqlensError(f"{path} holds a {_describe(spec)} model, not the {model!r} you asked for")
        state = payload["state_dict"]
        info = {k: v for k, v in payload.items() if k not in ("format", "model", "state_dict", "optimizer")}
    elif payload and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in payload.items()):
        if model is None:
            raise FreqlensError(
                f"{path} holds a bare state_dict; say which model it belongs to (model=NAME here, --arch on the CLI)"
            )
        spec = {"name": model, "num_classes": num_classes, "in_channels": 3, "image_size": 32}
        spec["kwargs"] = dict(model_kwargs or {})
        state, info = payload, {}
    else:
        raise FreqlensError(f"{path} is not a freqlens model file (no 'format' key) nor a state_dict")
    net = create_model(spec["name"], spec["num_classes"], spec["in_channels"], spec["image_size"], **spec["kwargs"])
    check_fit(path, net, state, _describe(spec))
    net.load_state_dict(state)
    net.to(device).eval()
    return net, {**spec, **{k: v for k, v in info.items() if k not in ("optimizer", "scheduler", "scaler", "rng")}}
