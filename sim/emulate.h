#pragma once
// The CPU executor: the tiled fp8 prefill and the reduce, bit-exact to sim/model.h.
#include <cstdint>

#include "scheduler/plan.h"
#include "scheduler/problem.h"
#include "sim/params.h"
#include "sim/tensors.h"

namespace mlaps {

// Runs every thread group's work list (TGs in parallel with OpenMP; num_threads 0 = OpenMP default) on the
// selected ISA path (selected_isa_path(): the best this CPU supports unless MLAPS_ISA_PATH names another).
// Results do not depend on the thread count, nor on the path. `progress` (may be null) is called with (works
// done, total).
using ProgressFn = void (*)(int64_t done, int64_t total, void* ctx);
void emulate_prefill(const PrefillParams& p, int num_threads = 0, ProgressFn progress = nullptr,
                     void* progress_ctx = nullptr);

// The fast prefill's instruction-set paths: one translation unit each (sim/prefill_fast.h, its register
// blocking per target), built into every x86-64 binary whatever -march says, and chosen at run time with
// __builtin_cpu_supports. kGeneric is the fallback (SSE2 on x86-64, the build's target elsewhere).
enum class IsaPath : uint8_t { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };
inline constexpr IsaPath kAllIsaPaths[] = {IsaPath::kGeneric, IsaPath::kAvx2, IsaPath::kAvx512};
const char* isa_path_name(IsaPath path);  // "generic", "avx2", "avx512"
// Built into this binary and supported by this CPU (AVX2 path: AVX2 + FMA + F16C; AVX-512 path: F, BW, DQ,
// VL, FMA, F16C).
bool isa_path_available(IsaPath path);
IsaPath best_isa_path();  // the most capable available path
// The environment variable that picks the path emulate_prefill runs, where a user wants a lower one than the
// best (an AVX2 CI runner's path on an AVX-512 laptop, the generic fallback): "generic", "avx2" or "avx512".
inline constexpr const char* kIsaPathEnv = "MLAPS_ISA_PATH";
// The path a setting names; nullptr or "" = best_isa_path(). Throws InputError(kIsaPathEnv, ...) for a name
// that is not a path, or for a path this binary or CPU does not have (the message lists those it has).
IsaPath isa_path_from_setting(const char* value);
// What emulate_prefill runs: isa_path_from_setting(getenv(kIsaPathEnv)), read once per process.
IsaPath selected_isa_path();
// emulate_prefill on a given path; throws std::invalid_argument if it is not available.
void emulate_prefill_on(IsaPath path, const PrefillParams& p, int num_threads = 0,
                        ProgressFn progress = nullptr, void* progress_ctx = nullptr);
// The path's decode of one key's K row (192 codes) and V row (128) to fp32, as its prefill decodes them (the
// benchmark floor); throws std::invalid_argument if the path is not available.
using KvRowDecodeFn = void (*)(const uint8_t* k, const uint8_t* v, float* kd, float* vd);
KvRowDecodeFn kv_row_decoder(IsaPath path, num::Fp8Encoding encoding);
// The path's decode of one key's K and V rows to the fp16 forms its blocks of <= 8 rows keep (the fp8 value
// times 2^-8 for fn, 2^-7 for fnuz, exact; NaN codes 0x7E00), widened to fp32 in the micro-kernels; nullptr
// where those blocks decode to fp32 rows (kv_row_decoder). Throws as kv_row_decoder.
using KvRowFormFn = void (*)(const uint8_t* k, const uint8_t* v, uint16_t* kh, uint16_t* vh);
inline constexpr int kF16FormMaxRows = 8;  // works of at most this many rows keep the forms (both K and V)
// Those works make K's forms per this many keys (one micro-tile, turned around, just before it is read) and
// V's for the whole sub-tile (kTileKv keys).
inline constexpr int kF16FormKeyTile = 32;
KvRowFormFn kv_row_f16_former(IsaPath path, num::Fp8Encoding encoding);

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
