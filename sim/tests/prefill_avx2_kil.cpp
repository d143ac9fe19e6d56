// The AVX2 unit with the <= 8-row tiles turned around as on AVX-512 (sim/prefill_fast.h's
// MLAPS_TEST_KEYS_IN_LANES), for sim_prefill_test only; flags: the AVX2 unit's (sim/tests/CMakeLists.txt).
#define MLAPS_TEST_KEYS_IN_LANES 1
#define MLAPS_ISA avx2_kil
#include "sim/tests/kil_unit.h"
// The unit's definition: kUnit_avx2_kil, declared extern above.
#include "sim/prefill_fast.h"
