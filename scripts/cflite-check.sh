#!/usr/bin/env bash
# Runs the ClusterFuzzLite / OSS-Fuzz build (.clusterfuzzlite/build.sh) on this machine the way the platform
# does (clang-14, libFuzzer, the AddressSanitizer flags of OSS-Fuzz's base-builder), then runs every built
# target over its own seed corpus for a bounded number of executions, with its dictionary, so that the
# integration cannot rot. No container needed. CI runs it (.ci/run).
#
#   scripts/cflite-check.sh            # 2000 executions per target
#   scripts/cflite-check.sh -r 20000   # more
#
# Exit status: 0 when every target built and ran without a finding, 1 on a finding, 2 on usage/build errors.
# Requires: clang-14, libclang-rt-14-dev, zip, unzip.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=2000
while [[ $# -gt 0 ]]; do
  case "$1" in
    -r|--runs) runs="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "cflite-check.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "cflite-check.sh: --runs must be a positive integer" >&2; exit 2; }
for tool in clang++-14 zip unzip; do
  command -v "$tool" >/dev/null || { echo "cflite-check.sh: $tool not found (apt-get install clang-14 libclang-rt-14-dev zip unzip)" >&2; exit 2; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The platform's environment (OSS-Fuzz base-builder, sanitizer "address" + UBSan's default checks).
export CC=clang-14 CXX=clang++-14
export CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only -fsanitize=address,undefined -fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link"
export CXXFLAGS="$CFLAGS"
export LIB_FUZZING_ENGINE="-fsanitize=fuzzer"
export OUT="$work/out" WORK="$work/work"
mkdir -p "$OUT" "$WORK"

echo "== ClusterFuzzLite build (.clusterfuzzlite/build.sh) into a temporary \$OUT"
if ! bash "$root/.clusterfuzzlite/build.sh" >"$work/build.log" 2>&1; then
  tail -40 "$work/build.log"
  echo "cflite-check.sh: build.sh failed" >&2
  exit 2
fi
tail -1 "$work/build.log"

status=0
ran=0
for bin in "$OUT"/fuzz_*; do
  t="$(basename "$bin")"
  [[ -x "$bin" && "$t" != *.* ]] || continue  # the targets, not their .dict / _seed_corpus.zip
  for f in "$OUT/$t.dict" "$OUT/${t}_seed_corpus.zip"; do
    [[ -s "$f" ]] || { echo "cflite-check.sh: $t: $(basename "$f") missing or empty" >&2; exit 2; }
  done
  corpus="$work/corpus-$t"
  mkdir -p "$corpus"
  unzip -q "$OUT/${t}_seed_corpus.zip" -d "$corpus"
  n_seeds="$(find "$corpus" -type f | wc -l)"
  if "$bin" -runs="$runs" -dict="$OUT/$t.dict" -max_len=16384 -artifact_prefix="$work/" "$corpus" \
       >"$work/$t.log" 2>&1; then
    echo "   $t: $n_seeds seeds, $runs executions, $(grep -o 'cov: [0-9]*' "$work/$t.log" | tail -1), no finding"
  else
    echo "   $t: FINDING (exit $?); last lines of its log:"
    tail -30 "$work/$t.log"
    status=1
  fi
  ran=$((ran + 1))
done
# Every target of the fuzz build (proptests/fuzz/CMakeLists.txt) must have been built and run.
expected="$(sed -n 's/^foreach(t \(fuzz_[a-z_ ]*\))$/\1/p' "$root/proptests/fuzz/CMakeLists.txt" | wc -w)"
if [[ "$ran" -eq 0 || "$ran" -ne "$expected" ]]; then
  echo "cflite-check.sh: ran $ran targets, the fuzz build defines $expected" >&2
  exit 2
fi
exit "$status"
