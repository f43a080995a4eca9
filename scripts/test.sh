#!/usr/bin/env bash
# Set up .venv, then lint, check formatting, type-check and run the tests.
#   bash scripts/test.sh          # default suite (fast tests and doctests, ~10 min on 2 cores)
#   bash scripts/test.sh slow     # only the slow tests (real training runs, cross-checks)
#   bash scripts/test.sh all      # both
#   bash scripts/test.sh slurm    # every test against a real SLURM cluster (they skip where none answers); start
#                                 # one with ../shared/tools/slurm_single_node.sh start (.ci/run runs the faults)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy
case "${1:-fast}" in
  fast) exec .venv/bin/python -m pytest --doctest-modules src/freqlens tests ;;
  slow) exec .venv/bin/python -m pytest -m slow tests ;;
  all) exec .venv/bin/python -m pytest -m "slow or not slow" --doctest-modules src/freqlens tests ;;
  slurm) exec .venv/bin/python -m pytest -m slurm tests/test_slurm.py ;;
  *) echo "usage: scripts/test.sh [fast|slow|all|slurm]" >&2; exit 2 ;;
esac
