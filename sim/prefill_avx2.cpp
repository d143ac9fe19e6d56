// The fast prefill for the avx2 unit (sim/prefill_fast.h; flags in sim/CMakeLists.txt).
#define MLAPS_ISA avx2
#include "sim/prefill_fast.h"
