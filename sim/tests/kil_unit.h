#pragma once
// The test-only unit sim/tests/prefill_avx2_kil.cpp: the AVX2 unit built with MLAPS_TEST_KEYS_IN_LANES, so
// that the turned-around <= 8-row tiles, AVX-512's in production, run and are compared on AVX2-only hosts
// too.
#include "sim/prefill_units.h"

namespace mlaps::detail {
extern const PrefillUnit kUnit_avx2_kil;  // needs what IsaPath::kAvx2 needs (AVX2, FMA, F16C)
}  // namespace mlaps::detail
