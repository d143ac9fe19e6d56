#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build: every libFuzzer target of proptests/fuzz/ from $CC $CXX $CFLAGS $CXXFLAGS
# $LIB_FUZZING_ENGINE into $OUT, each with its seed corpus (<target>_seed_corpus.zip: the seeds make_seeds
# writes from the workload table and the ledger, plus the committed regressions) and dictionary
# (<target>.dict, picked up by name).
#
# In the container: $SRC/mlaps is the checkout. Elsewhere (CI runs it on its own machine, see .ci/run): the
# checkout is found from this script's path; set CC, CXX, CFLAGS, CXXFLAGS, LIB_FUZZING_ENGINE and OUT.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." 2>/dev/null && pwd)"
[[ -f "$root/proptests/fuzz/CMakeLists.txt" ]] || root="$SRC/mlaps"
build="${WORK:-/tmp}/mlaps-cflite-build"
targets=(fuzz_plan fuzz_inputs fuzz_dump)

cmake -S "$root/proptests/fuzz" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" -DMLAPS_FUZZ_ENGINE="$LIB_FUZZING_ENGINE"
cmake --build "$build" -j"$(nproc)"

seeds="$build/seeds"
rm -rf "$seeds"
"$build/make_seeds" "$seeds"
mkdir -p "$OUT"
for t in "${targets[@]}"; do
  case "$t" in
    fuzz_plan) s=plan; dict=plan.dict ;;
    fuzz_inputs) s=inputs; dict=inputs.dict ;;
    fuzz_dump) s=dump; dict=dump.dict ;;
  esac
  cp "$build/$t" "$OUT/$t"
  cp "$root/proptests/fuzz/$dict" "$OUT/$t.dict"
  corpus="$build/corpus-$t"
  rm -rf "$corpus" && mkdir -p "$corpus"
  cp "$seeds/$s"/* "$corpus/"
  if [[ -d "$root/proptests/fuzz/regressions/$t" ]]; then cp "$root/proptests/fuzz/regressions/$t"/* "$corpus/"; fi
  rm -f "$OUT/${t}_seed_corpus.zip"
  (cd "$corpus" && zip -q -j "$OUT/${t}_seed_corpus.zip" ./*)
done
echo "built ${targets[*]} into $OUT"
