#pragma once
// The plan: upstream's PS metadata, trimmed to used lengths.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "scheduler/problem.h"
#include "scheduler/work_info.h"

namespace mlaps {

enum class Policy {
  kAiter,        // post-#3606: every piece gets a partial slot, every scheduled tile a reduce entry
  kAiterLegacy,  // pre-#3606 (upstream e4048607a5): a tile absorbed whole by one TG gets partial_o_loc = -1
};
std::string_view policy_name(Policy p);
Policy parse_policy(std::string_view name);  // "aiter" | "aiter-legacy"; throws InputError("policy", ...)

// Which reduce semantics pair with a plan (contract 5.2/5.3).
enum class ReduceVersion {
  kLegacy,  // n == 1 skipped
  kFixed,   // n == 1 processed unless reduce_partial_map[start] == -1 (merged #3606 guard)
};
inline ReduceVersion reduce_version_for(Policy p) {
  return p == Policy::kAiterLegacy ? ReduceVersion::kLegacy : ReduceVersion::kFixed;
}

struct Plan {
  Policy policy = Policy::kAiter;
  std::vector<int32_t> work_indptr;         // [num_cu + 1]
  std::vector<WorkInfo> work_info;          // [work_indptr.back()]
  std::vector<int32_t> reduce_indptr;       // [n_final + 1]
  std::vector<FinalLoc> reduce_final_map;   // [n_final]
  std::vector<int32_t> reduce_partial_map;  // [reduce_indptr.back()]

  int32_t num_tg() const { return static_cast<int32_t>(work_indptr.size()) - 1; }
  int32_t num_works() const { return static_cast<int32_t>(work_info.size()); }
  int32_t num_reduce_entries() const { return static_cast<int32_t>(reduce_final_map.size()); }
  friend bool operator==(const Plan&, const Plan&) = default;
};

// A query tile as the scheduler cuts it (contract 2.2), in ping-pong emission order.
struct QTile {
  int32_t batch;
  int32_t qo_start;  // [qo_start, qo_end), global rows
  int32_t qo_end;
  int32_t num_blocks;    // may be negative for causal qo > kv (contract 2.5.3)
  int32_t effective_kv;  // tokens the tile's last row sees
};
std::vector<QTile> make_query_tiles(const Problem& p);

// The scheduler: upstream's get_ps_metadata_v1 host path, byte for byte. Validates the problem first.
// Fast: every cluster and every head of a cluster repeat the same KV partition (contract 2.1), so one
// cluster's pieces are computed once and replicated with each head's q_head_range.
Plan make_plan(const Problem& p, Policy policy);

// The plain, literal transcription of the upstream loop (one pass per cluster and per head, std::map reduce).
// Baseline for benchmarks and the oracle make_plan is tested against, byte for byte.
Plan make_plan_plain(const Problem& p, Policy policy);

// Scratch reused across make_plan_into calls: after warm-up a call allocates nothing.
class PlanWorkspace {
 public:
  PlanWorkspace() = default;

 private:
  friend struct PlanCore;
  std::vector<QTile> tiles_;               // emission (ping-pong) order
  std::vector<WorkInfo> pieces_;           // one cluster, one head: pieces in schedule order (q_head_range 0)
  std::vector<int32_t> tg_end_;            // [tpc]: end of each TG's pieces in pieces_
  std::vector<int32_t> tile_first_piece_;  // [tiles]: first piece of each emitted tile, -1 if never emitted
};

// Caller-provided output buffers, as upstream's get_ps_metadata_v1 takes them (sized by
// get_ps_metadata_info_v1, see sizing.h, or exactly by a previous PlanSizes).
struct PlanSpans {
  std::span<int32_t> work_indptr;    // >= num_cu + 1
  std::span<WorkInfo> work_info;     // >= num_works
  std::span<int32_t> reduce_indptr;  // >= num_reduce_entries + 1; the tail is set to num_partials (upstream)
  std::span<FinalLoc> reduce_final_map;   // >= num_reduce_entries
  std::span<int32_t> reduce_partial_map;  // >= num_partials
};
struct PlanSizes {
  int32_t num_works = 0;
  int32_t num_reduce_entries = 0;
  int32_t num_partials = 0;
  friend bool operator==(const PlanSizes&, const PlanSizes&) = default;
};

struct PlanIntoOptions {
  // Zero every unused entry as upstream's zero-filled buffers read (false: skip that O(capacity) pass when
  // the consumer only reads the used prefix).
  bool zero_tails = true;
  // Threads that write work_info (OpenMP; clusters split into contiguous ranges, at most one thread per
  // cluster). Used only when the plan has at least parallel_min_bytes of work rows; the output is
  // byte-identical for any value. 1, the default, is upstream's single-threaded host path.
  int num_threads = 1;
  // Below ~512 KiB of work rows a parallel region costs more than the write it splits (bench/README.md);
  // tests set 0 to run the parallel path on small plans.
  int64_t parallel_min_bytes = int64_t{512} << 10;
};

// Fills caller buffers with the plan (used prefix) and sets reduce_indptr's tail to num_partials as upstream
// does. Throws InputError (naming the buffer) before writing anything if a buffer is too small, or naming
// num_threads if it is < 1. No allocation beyond `ws`'s first growth.
PlanSizes make_plan_into(const Problem& p, Policy policy, const PlanSpans& out, PlanWorkspace& ws,
                         const PlanIntoOptions& opt = {});

// generate_reduce_info (contract 3) over the given works; exposed for tests and dump round trips.
void build_reduce_info(Policy policy, const std::vector<WorkInfo>& works, Plan& plan);

}  // namespace mlaps
