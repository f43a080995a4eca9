#!/usr/bin/env bash
# Benchmarks (README, "Speed"): each times a fast path against a baseline or floor in the same process.
#   bash scripts/bench.sh check [ARGS]   # the speed gate (benchmarks/check.py), < 3 min on 2 cores; exit 1 on a slow path
#   bash scripts/bench.sh all            # every benchmark at full size (~20 min idle); logs in out/bench/COMMIT-idle/
#   bash scripts/bench.sh busy all       # the same while two busy processes compete for the cores (out/bench/COMMIT-busy2/)
#   bash scripts/bench.sh busy check     # any mode under load; BUSY=N sets the number of busy processes (default 2)
# Data: $FREQLENS_DATA, else ../shared/data/cifar10 (random or synthetic images when neither holds CIFAR-10).
# The heat-map benchmark uses $HEATMAP_MODEL, else runs/small_cnn/model.pt when it exists, else an untrained small_cnn.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
data="$(realpath -m "${FREQLENS_DATA:-../shared/data/cifar10}")"
condition=idle
busy_pids=()
stop_busy() {
  for pid in "${busy_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
if [ "${1:-}" = busy ]; then
  shift
  condition="busy${BUSY:-2}"
  trap stop_busy EXIT
  for _ in $(seq "${BUSY:-2}"); do
    sh -c 'while :; do :; done' &
    busy_pids+=("$!")
  done
  echo "started ${BUSY:-2} busy processes: ${busy_pids[*]}"
fi
py=.venv/bin/python
case "${1:-check}" in
  check)
    shift || true
    (cd benchmarks && "../$py" check.py --data-dir "$data" "$@")
    ;;
  all)
    out="out/bench/$(git rev-parse --short HEAD 2>/dev/null || echo unknown)-$condition"
    mkdir -p "$out"
    model="${HEATMAP_MODEL:-runs/small_cnn/model.pt}"
    [ -f "$model" ] || model=small_cnn
    run() {
      local name=$1
      shift
      echo "== $name: $* ($(date -u +%FT%TZ), $(uptime | sed 's/.*load/load/'))" | tee "$out/$name.log"
      "$py" "$@" 2>&1 | tee -a "$out/$name.log"
    }
    run split benchmarks/bench_split.py --data-dir "$data"
    run sensitivity benchmarks/bench_sensitivity.py
    run train benchmarks/bench_train.py --data-dir "$data" --threads 2
    run heatmap benchmarks/bench_heatmap.py --model "$model" --data-dir "$data" --threads 2 --amp
    run attacks benchmarks/bench_attacks.py
    run audit benchmarks/bench_audit.py --threads 2
    echo "logs in $out"
    ;;
  *)
    echo "usage: scripts/bench.sh [busy] check|all [ARGS]" >&2
    exit 2
    ;;
esac
