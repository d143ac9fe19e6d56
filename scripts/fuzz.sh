#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan + libFuzzer) in their own build tree and runs a
# bounded campaign per target, printing execs/s, coverage and new findings.
#
#   scripts/fuzz.sh                  # 60 s per target (the CI campaign)
#   scripts/fuzz.sh -t 600           # 10 min per target
#   scripts/fuzz.sh --long           # on-demand: 1 h per target, all cores (-fork)
#   scripts/fuzz.sh -T fuzz_plan     # one target only
#   scripts/fuzz.sh --build-only
#
# Environment: CC/CXX (default clang-14 / clang++-14), MLAPS_FUZZ_BUILD (default build/fuzz),
# MLAPS_FUZZ_OUT (default fuzz-out: corpora, crash artifacts, logs).
# Exit status: 0 when no target reported a finding, 1 otherwise, 2 on usage/build errors.
# Requires: clang-14 and libclang-rt-14-dev (Debian: apt-get install clang-14 libclang-rt-14-dev).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds=60
jobs=1
targets=(fuzz_plan fuzz_inputs fuzz_dump)
build_only=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -t|--seconds) seconds="$2"; shift 2 ;;
    -T|--target) targets=("$2"); shift 2 ;;
    -j|--jobs) jobs="$2"; shift 2 ;;
    --long) seconds=3600; jobs="$(nproc)"; shift ;;
    --build-only) build_only=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

export CC="${CC:-clang-14}" CXX="${CXX:-clang++-14}"
build="${MLAPS_FUZZ_BUILD:-$root/build/fuzz}"
out="${MLAPS_FUZZ_OUT:-$root/fuzz-out}"
if ! command -v "$CXX" >/dev/null; then
  echo "fuzz.sh: $CXX not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 2
fi

echo "== building fuzz targets with $CXX in $build"
cmake -S "$root/proptests/fuzz" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 >/dev/null || { cmake --build "$build" -j1 2>&1 | tail -40; exit 2; }

mkdir -p "$out"
"$build/make_seeds" "$out/seeds" >/dev/null
[[ $build_only -eq 1 ]] && { echo "built: $build/fuzz_plan $build/fuzz_inputs $build/fuzz_dump"; exit 0; }

status=0
for t in "${targets[@]}"; do
  max_len=4096
  case "$t" in
    fuzz_plan) seeds="$out/seeds/plan"; dict="$root/proptests/fuzz/plan.dict" ;;
    fuzz_inputs) seeds="$out/seeds/inputs"; dict="$root/proptests/fuzz/inputs.dict" ;;
    fuzz_dump) seeds="$out/seeds/dump"; dict="$root/proptests/fuzz/dump.dict"; max_len=16384 ;;
    *) echo "fuzz.sh: unknown target $t" >&2; exit 2 ;;
  esac
  corpus="$out/corpus/$t"
  regressions="$root/proptests/fuzz/regressions/$t"  # inputs of past findings, replayed every run
  [[ -d $regressions ]] || regressions=""
  artifacts="$out/artifacts/$t/"
  log="$out/$t.log"
  mkdir -p "$corpus" "$artifacts"
  find "$artifacts" -type f | sort >"$out/$t.before"
  before=$(wc -l <"$out/$t.before")
  echo "== $t: ${seconds}s, $jobs job(s); corpus $corpus; log $log"
  # Fork mode even for one job: a crash is recorded as an artifact and the campaign goes on, so one run
  # reports every distinct finding.
  args=(-max_total_time="$seconds" -dict="$dict" -artifact_prefix="$artifacts" -fork="$jobs" -ignore_crashes=1
        -ignore_ooms=1 -ignore_timeouts=1 -rss_limit_mb=2048 -timeout=10 -max_len="$max_len")
  set +e
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
    "$build/$t" "${args[@]}" "$corpus" "$seeds" ${regressions:+"$regressions"} >"$log" 2>&1
  rc=$?
  set -e
  after=$(find "$artifacts" -type f | wc -l)
  last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true)
  execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
  rate=$(( ${execs:-0} / (seconds > 0 ? seconds : 1) ))
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' <<<"$last" || true)
  crashes=$(grep -oE 'oom/timeout/crash: [0-9/]+' <<<"$last" || true)
  units=$(find "$corpus" -type f | wc -l)
  echo "   execs ${execs:-?}  execs/s ~${rate}  ${cov:-cov ?}  ${crashes}  corpus ${units} files  exit $rc"
  if [[ $rc -ne 0 || $after -gt $before ]]; then
    status=1
    echo "   NEW FINDINGS: $((after - before)) artifact(s) in $artifacts"
    # Replay each new artifact once for a one-line diagnosis.
    find "$artifacts" -type f | sort | comm -13 "$out/$t.before" - | head -10 | while read -r a; do
      why=$("$build/$t" "$a" 2>&1 | grep -E "==== mlaps fuzz finding|^SUMMARY:|runtime error" | head -2 | cut -c1-240 || true)
      echo "     $(basename "$a"): ${why:-see log}"
    done
    echo "   reproduce: $build/$t <artifact>"
  else
    echo "   no new findings"
  fi
done
exit $status
