#!/usr/bin/env bash
# Create (or update) ./.venv with freqlens installed in editable mode and its development tools.
# torch comes first and pinned, so pip never swaps in a multi-GB CUDA build on a CPU-only machine.
# GPU users: FREQLENS_TORCH="torch==2.13.0 --index-url <your CUDA wheel index>" bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
# shellcheck disable=SC2086
.venv/bin/python -m pip install --quiet --disable-pip-version-check ${FREQLENS_TORCH:-torch==2.13.0}
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
