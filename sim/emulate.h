#pragma once
// The CPU executor: the tiled fp8 prefill and the reduce, bit-exact to sim/model.h.
#include <cstdint>

#include "scheduler/plan.h"
#include "scheduler/problem.h"
#include "sim/params.h"
#include "sim/tensors.h"

namespace mlaps {

// Runs every thread group's work list (TGs in parallel with OpenMP; num_threads 0 = OpenMP default).
// Results do not depend on the thread count. `progress` (may be null) is called with (works done, total).
using ProgressFn = void (*)(int64_t done, int64_t total, void* ctx);
void emulate_prefill(const PrefillParams& p, int num_threads = 0, ProgressFn progress = nullptr,
                     void* progress_ctx = nullptr);

// mla_reduce_v1: simple (n < 4) and massive (n >= 4) paths, version rule for n == 1.
void emulate_reduce(const ReduceParams& p, int num_threads = 0);

// The plain, obviously-correct per-row prefill (one row, one head, one work item), kept as the oracle the
// fast path is compared with bit for bit.
void emulate_prefill_reference_order(const PrefillParams& p);

// Counts of (row, head) pairs never written (still poison) after a full run.
struct UnwrittenCounts {
  int64_t output = 0;  // final output rows with any poisoned element
  int64_t lse = 0;     // final LSE entries still poisoned
};
UnwrittenCounts count_unwritten(const RunBuffers& buf);

// Plan -> prefill -> reduce on poisoned buffers.
struct SimRun {
  RunBuffers buffers;
  UnwrittenCounts unwritten;
};
SimRun simulate(const Problem& p, const Plan& plan, const AttnInputs& in, const NumericModel& model,
                int num_threads = 0);

}  // namespace mlaps
