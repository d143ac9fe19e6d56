#!/usr/bin/env bash
# What a CI job with an NVIDIA GPU runs: configure + build the CUDA flavour, run the GPU conformance suite
# (GPU vs the emulator, bit for bit), compute-sanitizer memcheck, racecheck, synccheck and initcheck on a
# small subset, time the prefill kernel on the seed scenarios, and PyTorch SDPA on the same shapes when
# torch is importable.
# On one H100 the whole script takes about a minute.
#
# Results go to $OUT (when set) or build/gpu-conformance-out: conformance/junit.xml, conformance/summary.json,
# conformance.log, sanitizer.log, sdpa.json, build.log (and ncu.txt with NCU=1).
#
# Build: the project build (cmake -DMLAPS_GPU=ON) when its host dependencies are installed; otherwise the
# standalone build of gpu/standalone, which needs only a CUDA toolkit, cmake, ninja, g++ with OpenMP and the
# header-only nlohmann-json + fmt + CLI11 under $MLAPS_DEPS_INCLUDE (default build/gpu-carry/include: copy
# /usr/include/{nlohmann,fmt,CLI} there; also /usr/include/eigen3 for the float64 reference and the calibration).
#
# CALIBRATE=1 adds the cost model's calibration: calibration/{calibration_data.json, profile.json, holdout.md,
# timeline.svg} and calibration.log (the standalone build needs eigen3/ in $MLAPS_DEPS_INCLUDE for it).
# TIME_POLICIES=aiter,cost-balanced,... adds the policy timing (issue 15): policy_timing/{policy_timing.json,
# policy_timing.md} and policy_timing.log (TIME_SUITE, TIME_SETS, TIME_SET_BATCHES, TIME_REPS, TIME_PROFILE).
# Environment: SUITE (default|quick|seed|sanitizer|none; default "default"), CUDA_ARCH (default 90),
# SKIP_SANITIZER=1, SKIP_SDPA=1, NCU=1 (profile one prefill launch), PREFILL_VARIANTS (below), JOBS.
# Exit status: non-zero when the build fails, any conformance case mismatches, or a sanitizer reports errors.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=${OUT:-$ROOT/build/gpu-conformance-out}
BUILD=${MLAPS_GPU_BUILD_DIR:-$ROOT/build/gpu-ci}
DEPS=${MLAPS_DEPS_INCLUDE:-$ROOT/build/gpu-carry/include}
SUITE=${SUITE:-default}
CUDA_ARCH=${CUDA_ARCH:-90}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$RESULTS"
status=0
t_start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t_start ))s] $*"; }

stamp "environment"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader 2>&1 || true
nvcc --version | tail -1
cmake --version | head -1

# ---- configure + build --------------------------------------------------------------------------------
stamp "configure"
if cmake -S "$ROOT" -B "$BUILD/project" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMLAPS_GPU=ON -DMLAPS_BUILD_BENCH=OFF \
     -DMLAPS_BUILD_TESTS=OFF -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" >"$RESULTS/build.log" 2>&1; then
  BIN_DIR="$BUILD/project"
  stamp "project build configured"
else
  stamp "project configure failed (host dependencies missing?); using the standalone GPU build"
  cmake -S "$ROOT/gpu/standalone" -B "$BUILD/standalone" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DMLAPS_DEPS_INCLUDE="$DEPS" -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" >>"$RESULTS/build.log" 2>&1 ||
    { tail -30 "$RESULTS/build.log"; echo "configure failed"; exit 3; }
  BIN_DIR="$BUILD/standalone"
fi
stamp "build"
if ! cmake --build "$BIN_DIR" --target mlaps-gpu-conformance -j "$JOBS" >>"$RESULTS/build.log" 2>&1; then
  grep -E "error|Error" "$RESULTS/build.log" | head -40
  echo "build failed"
  exit 3
fi
CONF="$BIN_DIR/conformance/mlaps-gpu-conformance"
[ -x "$CONF" ] || CONF="$BIN_DIR/mlaps-gpu-conformance"
stamp "built $CONF"

# ---- conformance (with timing of the seed scenarios) ---------------------------------------------------
if [ "$SUITE" != none ]; then
  stamp "conformance suite '$SUITE'"
  "$CONF" --suite "$SUITE" --time --reps 20 --out "$RESULTS/conformance" 2>&1 | tee "$RESULTS/conformance.log"
  rc=${PIPESTATUS[0]}
  stamp "conformance exit $rc"
  [ "$rc" -eq 0 ] || status=1
fi

# ---- cost-model calibration (CALIBRATE=1): time every problem of the suite under every policy, fit the
# profile by least squares with one third held out (goal: median |error| <= 10%, max <= 25%) ----------------
if [ "${CALIBRATE:-0}" = 1 ]; then
  stamp "cost-model calibration (suite ${CALIBRATE_SUITE:-default})"
  "$CONF" --calibrate --suite "${CALIBRATE_SUITE:-default}" --reps "${CALIBRATE_REPS:-10}" \
    --out "$RESULTS/calibration" 2>&1 | tee "$RESULTS/calibration.log"
  rc=${PIPESTATUS[0]}
  stamp "calibration exit $rc (0: holdout goal met; 1: not met or fit failed; 2: no GPU / not built)"
  [ "$rc" -eq 0 ] || status=1
fi

# ---- policy timing (TIME_POLICIES=aiter,cost-balanced,...): measured prefill + reduce of each policy against
# the first, on the suite's problems (TIME_SUITE, default "default"; "none": skip) and TIME_SET_BATCHES (20)
# batches of each of TIME_SETS (the front end's default list when unset), beside the cost model's prediction
# (TIME_PROFILE, default h200-mlaps) -----------------------------------------------------------------------
if [ -n "${TIME_POLICIES:-}" ]; then
  stamp "policy timing: $TIME_POLICIES"
  "$CONF" --time-policies "$TIME_POLICIES" --suite "${TIME_SUITE:-default}" --profile "${TIME_PROFILE:-h200-mlaps}" \
    --set-batches "${TIME_SET_BATCHES:-20}" --reps "${TIME_REPS:-5}" ${TIME_SETS+--sets "$TIME_SETS"} \
    --out "$RESULTS/policy_timing" 2>&1 | tee "$RESULTS/policy_timing.log"
  rc=${PIPESTATUS[0]}
  stamp "policy timing exit $rc (0: every case ran; 1: a GPU error; 2: no GPU / not built)"
  [ "$rc" -eq 0 ] || status=1
fi

# ---- compute-sanitizer on a small subset ----------------------------------------------------------------
if [ "${SKIP_SANITIZER:-0}" != 1 ] && command -v compute-sanitizer >/dev/null; then
  : >"$RESULTS/sanitizer.log"
  for tool in memcheck racecheck synccheck initcheck; do
    stamp "compute-sanitizer --tool $tool"
    timeout 300 compute-sanitizer --tool "$tool" --error-exitcode 99 --print-limit 20 \
      "$CONF" --suite sanitizer >>"$RESULTS/sanitizer.log" 2>&1
    src=$?
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY|conformance:" "$RESULTS/sanitizer.log" | tail -2
    echo "sanitizer $tool exit $src" | tee -a "$RESULTS/sanitizer.log"
    [ "$src" -eq 0 ] || status=1
  done
fi

# ---- PyTorch SDPA on the same shapes (ratio only) -------------------------------------------------------
if [ "${SKIP_SDPA:-0}" != 1 ]; then
  if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    stamp "torch SDPA"
    timeout 300 python3 "$ROOT/scripts/gpu-sdpa-bench.py" >"$RESULTS/sdpa.json" 2>"$BUILD/sdpa.err" ||
      { echo "SDPA benchmark failed"; tail -5 "$BUILD/sdpa.err"; }
    cat "$RESULTS/sdpa.json"
  else
    echo "torch with CUDA not importable: SDPA comparison skipped (blocked)" | tee "$RESULTS/sdpa.json"
  fi
fi

# ---- optional: kernel-shape variants (PREFILL_VARIANTS="name:nvcc-flags;name2:flags2") ----------------------
# Each is built as its own standalone build and runs the seed suite with timing (bit-exactness checked too),
# so variants are compared with the default on the same card in the same run. Results: variants.log.
if [ -n "${PREFILL_VARIANTS:-}" ]; then
  : >"$RESULTS/variants.log"
  IFS=';' read -ra variants <<<"$PREFILL_VARIANTS"
  for v in "${variants[@]}"; do
    vname=${v%%:*}
    vflags=${v#*:}
    stamp "variant $vname ($vflags)"
    vdir="$BUILD/variant-$vname"
    if cmake -S "$ROOT/gpu/standalone" -B "$vdir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMLAPS_DEPS_INCLUDE="$DEPS" \
         -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" -DCMAKE_CUDA_FLAGS="$vflags" >>"$RESULTS/build.log" 2>&1 &&
       cmake --build "$vdir" --target mlaps-gpu-conformance -j "$JOBS" >>"$RESULTS/build.log" 2>&1; then
      echo "== variant $vname: $vflags" >>"$RESULTS/variants.log"
      "$vdir/mlaps-gpu-conformance" --suite seed --time --reps 20 --reference-max-flops 0 >>"$RESULTS/variants.log" 2>&1 ||
        status=1
      grep -E "TFLOP/s|^conformance:" "$RESULTS/variants.log" | tail -5
    else
      echo "variant $vname failed to build" | tee -a "$RESULTS/variants.log"
      status=1
    fi
  done
fi

# ---- optional: Nsight Compute on one prefill launch (NCU=1) --------------------------------------------
if [ "${NCU:-0}" = 1 ] && command -v ncu >/dev/null; then
  stamp "ncu on the causal 8192 prefill"
  timeout 300 ncu --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats \
    --section Occupancy --section InstructionStats -k regex:prefill_kernel -c 1 \
    "$CONF" --suite seed --filter causal_1x8192_h1/aiter/cu132 --reference-max-flops 0 >"$RESULTS/ncu.txt" 2>&1 ||
    echo "ncu failed (see ncu.txt)"
  grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput|Executed Ipc|Issue Slots Busy|Stall|Achieved Occupancy" \
    "$RESULTS/ncu.txt" | head -30
fi

# ---- short table: timed cases ----------------------------------------------------------------------------
stamp "summary"
if [ -f "$RESULTS/conformance.log" ]; then
  grep -E "TFLOP/s" "$RESULTS/conformance.log" || true
  tail -1 "$RESULTS/conformance.log"
fi
exit $status
