#!/usr/bin/env bash
# AMD compile check, no GPU needed: compiles the HIP-dialect GPU sources (gpu/*.hip and the vendor
# code-object loader) for gfx942 and gfx950 with Debian's clang-22 against Debian's HIP 5.2 headers and
# ROCm device libraries (DESIGN.md, "Toolchain facts"), and prints each kernel's resource usage.
#
# What it proves: the kernels are valid HIP for the target ISAs (wave64 paths of gpu_vendor.h included),
# they link against the device libraries, and their LDS / register / scratch use fits the targets.
# What it does not prove: that they run or give the right bits on AMD hardware (nothing here executes
# them), nor that they build with a deployment ROCm (>= 6.4 hipcc, CMake's HIP language), whose headers
# differ from HIP 5.2.
#
# Needs (Debian bookworm): apt-get install clang-22 lld-22 clang-tools-22 libamdhip64-dev rocm-device-libs
# (clang-tools-22 carries clang-offload-bundler, which clang-22 runs for every HIP object)
# (MLAPS_AMD_INSTALL=1 installs them). Exit 0: all compiled; 1: a compile failed; 2: tools missing.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${MLAPS_AMD_BUILD_DIR:-$ROOT/build/gpu-amd-check}
CLANG=${CLANG:-clang-22}
HIP_INCLUDE=${HIP_INCLUDE:-/usr/include}
DEVICE_LIBS=${DEVICE_LIBS:-/usr/lib/x86_64-linux-gnu/amdgcn/bitcode}
ARCHS=${ARCHS:-"gfx942 gfx950"}

if [ "${MLAPS_AMD_INSTALL:-0}" = 1 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang-22 lld-22 clang-tools-22 libamdhip64-dev \
    rocm-device-libs >/dev/null || exit 2
fi
missing=0
command -v "$CLANG" >/dev/null || { echo "missing: $CLANG (apt-get install clang-22 lld-22)"; missing=1; }
[ -x "$(dirname "$(readlink -f "$(command -v "$CLANG" || echo /nonexistent)")")/clang-offload-bundler" ] ||
  { echo "missing: clang-offload-bundler beside $CLANG (apt-get install clang-tools-22)"; missing=1; }
[ -f "$HIP_INCLUDE/hip/hip_runtime.h" ] || { echo "missing: HIP headers (apt-get install libamdhip64-dev)"; missing=1; }
[ -f "$DEVICE_LIBS/ocml.bc" ] || { echo "missing: ROCm device libraries (apt-get install rocm-device-libs)"; missing=1; }
[ "$missing" = 0 ] || exit 2

mkdir -p "$WORK/bitcode"
t0=$(date +%s)

# Debian's device libraries stop at gfx940: generate the one-variable ISA-version libraries for the targets.
isa_value() {
  case "$1" in
    gfx942) echo 9402 ;;
    gfx950) echo 9500 ;;
    *) echo "unknown arch $1" >&2; return 1 ;;
  esac
}
for arch in $ARCHS; do
  num=${arch#gfx}
  v=$(isa_value "$arch") || exit 2
  cat >"$WORK/bitcode/isa_$num.ll" <<EOF
target triple = "amdgcn-amd-amdhsa"
@__oclc_ISA_version = linkonce_odr hidden local_unnamed_addr addrspace(4) constant i32 $v, align 4
EOF
  "$CLANG" --target=amdgcn-amd-amdhsa -nogpulib -c -emit-llvm "$WORK/bitcode/isa_$num.ll" \
    -o "$WORK/bitcode/oclc_isa_version_$num.bc" || exit 1
done

# Names the HIP 5.2 headers expect from their own clang-15 that clang-22 no longer predefines.
cat >"$WORK/prelude.h" <<'EOF'
#pragma once
#ifndef __AMDGCN_WAVEFRONT_SIZE
#define __AMDGCN_WAVEFRONT_SIZE 64
#endif
EOF

# /usr/include is a default system directory: naming it again would break libstdc++'s #include_next.
hip_inc=()
[ "$HIP_INCLUDE" = /usr/include ] || hip_inc=(-isystem "$HIP_INCLUDE")

status=0
for arch in $ARCHS; do
  num=${arch#gfx}
  libs=()
  for l in hip.bc ocml.bc ockl.bc oclc_daz_opt_off.bc oclc_unsafe_math_off.bc oclc_finite_only_off.bc \
           oclc_correctly_rounded_sqrt_on.bc oclc_wavefrontsize64_on.bc oclc_abi_version_500.bc \
           "oclc_isa_version_$num.bc"; do
    libs+=("--hip-device-lib=$l")
  done
  for src in gpu/prefill.hip gpu/reduce.hip gpu/launcher.hip gpu/vendor_loader/vendor_loader.hip; do
    [ -f "$ROOT/$src" ] || continue
    obj="$WORK/$arch-$(basename "$src" .hip).o"
    log="$WORK/$arch-$(basename "$src" .hip).log"
    if "$CLANG" -x hip -std=c++20 -O3 --offload-arch="$arch" -mcode-object-version=5 \
        -ffp-contract=off -fno-fast-math -Wall -Wextra -Wno-unused-parameter \
        --hip-device-lib-path="$DEVICE_LIBS" --hip-device-lib-path="$WORK/bitcode" "${libs[@]}" \
        -include "$WORK/prelude.h" "${hip_inc[@]}" -I"$ROOT" \
        -Rpass-analysis=kernel-resource-usage -c "$ROOT/$src" -o "$obj" >"$log" 2>&1; then
      usage=$(grep -E "Function Name|VGPRs:|AGPRs|ScratchSize|LDS Size|Occupancy" "$log" |
              sed -E 's/.*remark: //; s/ \[-Rpass-analysis=kernel-resource-usage\]//' | paste -sd' ' -)
      echo "ok   $arch $src${usage:+  ($usage)}"
      if grep -q "warning:" "$log"; then grep "warning:" "$log" | head -5; fi
    else
      echo "FAIL $arch $src"
      grep -E "error" "$log" | head -20
      status=1
    fi
  done
done
echo "AMD compile check: $([ $status = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - t0 )) s"
exit $status
