// The fast prefill for the avx512 unit (sim/prefill_fast.h; flags in sim/CMakeLists.txt).
#define MLAPS_ISA avx512
#include "sim/prefill_fast.h"
