#!/usr/bin/env bash
# Builds mlaps_bench (Release), runs every suite once, and prints markdown tables of ratios measured in that
# same run (bench/report.py). Writes bench.json, bench.md and bench.log into the output directory.
#
#   scripts/bench.sh                     # full run (~10 min on a 2-core box)
#   scripts/bench.sh --quick             # CI smoke: small sizes, ~10 ms per benchmark, well under 60 s
#   scripts/bench.sh --filter 'plan/'    # a subset (Google Benchmark regex)
#   scripts/bench.sh --isa avx2          # the emulator on a lower ISA path than the host's best
#   scripts/bench.sh --march znver3 --isa avx2   # what an AVX2-only Zen 3 builds and runs, SGEMM included
#
# Options: --quick, --filter REGEX, --repetitions N (fastest reported), --out DIR (default build/bench-results),
#          --build DIR (default build/bench), --no-build, --jobs N (default 2), --isa PATH (generic, avx2 or
#          avx512: sets MLAPS_ISA_PATH, sim/emulate.h; the report names the path that ran), --march CPU (builds
#          for that CPU instead of -march=native, in build/bench-CPU unless --build says: -DMLAPS_NATIVE=OFF
#          -DCMAKE_CXX_FLAGS=-march=CPU; Eigen's SGEMM then has that CPU's width too; CPU must be one the
#          compiler knows and whose instruction sets this CPU has).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build/bench"
out="$root/build/bench-results"
quick=0
filter=""
reps=1
jobs=2
do_build=1
build_given=0
march=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --filter|--repetitions|--out|--build|--march|--jobs|--isa)
      [[ $# -ge 2 ]] || { echo "bench.sh: $1 needs a value" >&2; exit 2; } ;;
  esac
  case "$1" in
    --quick) quick=1 ;;
    --filter) filter="$2"; shift ;;
    --repetitions) reps="$2"; shift ;;
    --out) out="$2"; shift ;;
    --build) build="$2"; build_given=1; shift ;;
    --march) march="$2"; shift ;;
    --no-build) do_build=0 ;;
    --jobs) jobs="$2"; shift ;;
    --isa)
      case "$2" in
        generic|avx2|avx512) export MLAPS_ISA_PATH="$2" ;;
        *) echo "bench.sh: --isa must be generic, avx2 or avx512, not '$2'" >&2; exit 2 ;;
      esac
      shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

for v in "--repetitions:$reps" "--jobs:$jobs"; do
  [[ ${v#*:} =~ ^[1-9][0-9]{0,5}$ ]] || { echo "bench.sh: ${v%%:*} must be a whole number from 1 to 999999, not '${v#*:}'" >&2; exit 2; }
done

# --out: a new folder, or one holding only this script's own three files (regular files, replaced at the end).
# Anything else there is a user's, and is refused before anything is built or written.
results=(bench.json bench.md bench.log)
if [[ -e $out || -L $out ]]; then
  if [[ ! -d $out || -L $out ]]; then
    echo "bench.sh: --out $out exists and is not a folder: refused, nothing written" >&2
    exit 2
  fi
  shopt -s dotglob nullglob
  for e in "$out"/*; do
    name="${e##*/}"
    [[ $name == .bench-run.* ]] && continue  # a killed run's staging folder: this script's, left alone
    if [[ " ${results[*]} " != *" $name "* ]]; then
      echo "bench.sh: --out $out holds '$name', which this script did not write: refused, nothing written" \
           "(name a new or an empty folder)" >&2
      exit 2
    fi
    if [[ ! -f $e || -L $e ]]; then
      echo "bench.sh: --out $out holds '$name' that is not a regular file: refused, nothing written" >&2
      exit 2
    fi
  done
  shopt -u dotglob nullglob
fi

march_args=()
if [[ -n $march ]]; then
  cxx="${CXX:-c++}"
  if [[ ! $march =~ ^[A-Za-z0-9._-]+$ ]] || ! "$cxx" -march="$march" -x c++ -E - </dev/null >/dev/null 2>&1; then
    echo "bench.sh: --march must be a CPU that $cxx takes as -march= (znver3, skylake, x86-64-v3, ...), not '$march'" >&2
    exit 2
  fi
  # The instruction sets a build for that CPU may use, from the compiler's macros, each one this CPU must have.
  isa_macros() { "$cxx" "$1" -dM -E -x c++ - </dev/null | awk '$2 ~ /^__(SSE|AVX|FMA|F16C|BMI|AMX)/ {print $2}' | sort -u; }
  lacks="$(comm -23 <(isa_macros -march="$march") <(isa_macros -march=native) | tr '\n' ' ')"
  if [[ -n $lacks ]]; then
    echo "bench.sh: --march $march uses what this CPU lacks (${lacks% }): its binary could not run here" >&2
    exit 2
  fi
  [[ $build_given == 1 ]] || build="$root/build/bench-$march"
  march_args=(-DMLAPS_NATIVE=OFF "-DCMAKE_CXX_FLAGS=-march=$march")
fi

# --build: configured here only where it is new, empty or already a CMake build folder (it has a
# CMakeCache.txt); cmake would otherwise write its files among a user's.
if [[ $do_build == 1 && ( -e $build || -L $build ) ]]; then
  if [[ ! -d $build ]] || { [[ ! -f $build/CMakeCache.txt ]] && [[ -n "$(ls -A "$build")" ]]; }; then
    echo "bench.sh: --build $build is neither a new or empty folder nor a CMake build folder: refused, nothing written" >&2
    exit 2
  fi
fi

if [[ $do_build == 1 ]]; then
  # Host libraries only: no tests, no GPU toolkit.
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMLAPS_BUILD_BENCH=ON -DMLAPS_BUILD_TESTS=OFF \
    -DMLAPS_GPU=OFF "${march_args[@]}" >/dev/null
  cmake --build "$build" --target mlaps_bench -j "$jobs"
fi

if [[ ! -x "$build/bench/mlaps_bench" ]]; then
  echo "bench.sh: no $build/bench/mlaps_bench to run: build it (leave out --no-build) or name its folder with --build" >&2
  exit 2
fi
if ! mkdir -p "$out" 2>/dev/null; then
  echo "bench.sh: --out $out could not be made (a file in its path?): nothing written" >&2
  exit 2
fi
# The run writes into a staging folder inside --out; its three files are renamed into place once all are
# complete, so a failed or interrupted run leaves the earlier results as they were.
stage="$(mktemp -d "$out/.bench-run.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
args=(--benchmark_out="$stage/bench.json" --benchmark_out_format=json)
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
"$build/bench/mlaps_bench" "${args[@]}" 2>&1 | tee "$stage/bench.log"
load_after="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
{
  python3 "$root/bench/report.py" "$stage/bench.json"
  echo
  echo "Load average (1, 5, 15 min) before the run: $load_before; after: $load_after" \
       "(on $(nproc) CPUs; above ~1 other work shared the box and timings are noisier)."
} | tee "$stage/bench.md"
for f in "${results[@]}"; do mv -f "$stage/$f" "$out/$f"; done
echo
echo "wrote $out/bench.json, $out/bench.md, $out/bench.log"
