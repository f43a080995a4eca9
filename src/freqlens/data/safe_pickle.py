"""Read the CIFAR python pickles without letting a crafted file run code.

The CIFAR ``*_batch`` files are Python 2 pickles of a dict holding a numpy ``uint8`` array and lists. The only globals
that format needs are numpy's array reconstructor, ``ndarray`` and ``dtype`` (plus a latin-1 ``_codecs.encode`` when
the file was re-written by Python 3); every other global is refused, so a pickle that names ``os.system`` (or
anything else) fails before anything runs.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

from freqlens.errors import FreqlensError

try:  # numpy >= 2 keeps the reconstructor in numpy._core
    from numpy._core.multiarray import _reconstruct  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef,attr-defined]


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """What ``_codecs.encode`` does in a protocol-2 pickle written by Python 3 (how it stores bytes), and no more."""
    if encoding != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}: not part of the CIFAR format") from None


def load_restricted(data: bytes, source: str = "pickle") -> Any:
    """Unpickle ``data`` admitting only numpy arrays, dicts, lists, strings and numbers.

    Example:
        >>> import os, pickle
        >>> class Evil:
        ...     def __reduce__(self):
        ...         return (os.system, ("echo pwned",))
        >>> load_restricted(pickle.dumps(Evil()))
        Traceback (most recent call last):
        ...
        freqlens.errors.FreqlensError: pickle is not a valid CIFAR file: refusing global ...system: ...
    """
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise FreqlensError(f"{source} is not a valid CIFAR file: {exc}") from None
