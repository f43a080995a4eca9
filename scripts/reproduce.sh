#!/usr/bin/env bash
# Set up .venv and run the quick reproduction of every experiment on CIFAR-10 (CPU; about 40 minutes on 2 cores, an
# estimate from measured per-model times, since the HFC recipes train two seeds: over the 25-minute goal, see README),
# in a local process pool (two workers on two cores).
# Data: $FREQLENS_DATA, else ../shared/data/cifar10 beside the project, else the cache or a verified download.
# The report lands in out/quick/report.html (and report.md); run folders and their index in out/runs.
# Re-running skips finished work. Extra arguments go to `freqlens reproduce` (e.g. --device cuda, --executor pool:4).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
data_args=()
if [ -z "${FREQLENS_DATA:-}" ] && [ -f ../shared/data/cifar10/test_batch ]; then
  data_args=(--data-dir ../shared/data/cifar10)
fi
.venv/bin/freqlens reproduce quick "${data_args[@]}" --executor pool --out out/quick "$@"
