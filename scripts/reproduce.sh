#!/usr/bin/env bash
# Set up .venv and run the quick reproduction on CIFAR-10.
# Data: $FREQLENS_DATA, else ../shared/data/cifar10 beside the project, else the cache or a verified download.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
data_args=()
if [ -z "${FREQLENS_DATA:-}" ] && [ -f ../shared/data/cifar10/test_batch ]; then
  data_args=(--data-dir ../shared/data/cifar10)
fi
.venv/bin/freqlens spectrum "${data_args[@]}" -n 5000 -o out/spectrum
.venv/bin/freqlens decompose "${data_args[@]}" --radii 4,8,12,16 -o out/decompose
