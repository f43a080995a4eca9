"""``package.module:callable`` references to the user's own code (a model builder, a dataset factory).

The module is imported from ``sys.path`` (``PYTHONPATH``, installed packages) and, last, the current directory, so
``mynets:build`` finds ``./mynets.py`` from the stock CLI. Importing runs the user's code, as running their script
would.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from freqlens.errors import FreqlensError

_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
RESERVED = ("torchvision", "timm", "synthetic")


def is_callable_spec(text: str) -> bool:
    """True for ``package.module:callable`` (but not ``torchvision:NAME``, ``timm:NAME``, ``synthetic:...``)."""
    return bool(_PATTERN.match(text)) and text.split(":", 1)[0] not in RESERVED


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_callable(spec: str, what: str) -> Callable[..., Any]:
    """Import ``module`` and look up the (dotted) attribute after the colon; one-line errors for each failure."""
    if not is_callable_spec(spec):
        raise FreqlensError(f"{what} {spec!r} is not package.module:callable")
    module_name, attr = spec.split(":", 1)
    here = os.getcwd()
    if here not in sys.path:
        sys.path.append(here)
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or any error raised while the user's module runs
        raise FreqlensError(
            f"{what} {spec}: cannot import {module_name} ({type(exc).__name__}: {_first_line(exc)}); "
            "put it on PYTHONPATH or in the current directory"
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise FreqlensError(f"{what} {spec}: {module_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise FreqlensError(f"{what} {spec}: {attr} is a {type(obj).__name__}, not a callable")
    return obj  # type: ignore[no-any-return]


def call(spec: str, fn: Callable[..., Any], kwargs: Mapping[str, Any], what: str) -> Any:
    """Call ``fn(**kwargs)``, turning a signature mismatch or an error inside it into a one-line error."""
    try:
        inspect.signature(fn).bind(**kwargs)
    except TypeError as exc:
        raise FreqlensError(f"{what} {spec} does not take {dict(kwargs)}: {exc}") from None
    except ValueError:  # no signature (builtins): let the call decide
        pass
    try:
        return fn(**kwargs)
    except FreqlensError:
        raise
    except Exception as exc:
        raise FreqlensError(f"{what} {spec} failed: {type(exc).__name__}: {_first_line(exc)}") from None
