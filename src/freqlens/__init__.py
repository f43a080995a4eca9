"""freqlens: how convolutional networks use the frequencies of their input images."""

from importlib.metadata import PackageNotFoundError, version

from freqlens.errors import FreqlensError

try:
    __version__ = version("freqlens")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

__all__ = ["FreqlensError", "__version__"]
