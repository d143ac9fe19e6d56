// The fast prefill for the generic unit (sim/prefill_fast.h; flags in sim/CMakeLists.txt).
#define MLAPS_ISA generic
#include "sim/prefill_fast.h"
