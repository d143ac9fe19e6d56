#!/usr/bin/env bash
# Builds mlaps_bench (Release), runs every suite once, and prints markdown tables of ratios measured in that
# same run (bench/report.py). Writes bench.json, bench.md and bench.log into the output directory.
#
#   scripts/bench.sh                     # full run (~10 min on a 2-core box)
#   scripts/bench.sh --quick             # CI smoke: small sizes, ~10 ms per benchmark, well under 60 s
#   scripts/bench.sh --filter 'plan/'    # a subset (Google Benchmark regex)
#   scripts/bench.sh --isa avx2          # the emulator on a lower ISA path than the host's best
#
# Options: --quick, --filter REGEX, --repetitions N (fastest reported), --out DIR (default build/bench-results),
#          --build DIR (default build/bench), --no-build, --jobs N (default 2), --isa PATH (generic, avx2 or
#          avx512: sets MLAPS_ISA_PATH, sim/emulate.h; the report names the path that ran).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build/bench"
out="$root/build/bench-results"
quick=0
filter=""
reps=1
jobs=2
do_build=1

while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --filter) filter="$2"; shift ;;
    --repetitions) reps="$2"; shift ;;
    --out) out="$2"; shift ;;
    --build) build="$2"; shift ;;
    --no-build) do_build=0 ;;
    --jobs) jobs="$2"; shift ;;
    --isa)
      case "$2" in
        generic|avx2|avx512) export MLAPS_ISA_PATH="$2" ;;
        *) echo "bench.sh: --isa must be generic, avx2 or avx512, not '$2'" >&2; exit 2 ;;
      esac
      shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [[ $do_build == 1 ]]; then
  # Host libraries only: no tests, no GPU toolkit.
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMLAPS_BUILD_BENCH=ON -DMLAPS_BUILD_TESTS=OFF \
    -DMLAPS_GPU=OFF >/dev/null
  cmake --build "$build" --target mlaps_bench -j "$jobs"
fi

mkdir -p "$out"
args=(--benchmark_out="$out/bench.json" --benchmark_out_format=json)
[[ -n "$filter" ]] && args+=(--benchmark_filter="$filter")
if [[ $reps -gt 1 ]]; then
  args+=(--benchmark_repetitions="$reps")  # the report takes the fastest repetition
fi
if [[ $quick == 1 ]]; then
  args+=(--quick --benchmark_min_time=0.01)
else
  args+=(--benchmark_min_time=0.2)
fi

# Console output goes to the log (and the terminal); the JSON file is what the report reads.
load_before="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
"$build/bench/mlaps_bench" "${args[@]}" 2>&1 | tee "$out/bench.log"
load_after="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
{
  python3 "$root/bench/report.py" "$out/bench.json"
  echo
  echo "Load average (1, 5, 15 min) before the run: $load_before; after: $load_after" \
       "(on $(nproc) CPUs; above ~1 other work shared the box and timings are noisier)."
} | tee "$out/bench.md"
echo
echo "wrote $out/bench.json, $out/bench.md, $out/bench.log"
