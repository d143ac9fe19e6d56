#pragma once
// The plan: upstream's PS metadata, trimmed to used lengths.
#include <cstdint>
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
  int32_t num_blocks;      // may be negative for causal qo > kv (contract 2.5.3)
  int32_t effective_kv;    // tokens the tile's last row sees
};
std::vector<QTile> make_query_tiles(const Problem& p);

// The scheduler: upstream's get_ps_metadata_v1 host path, byte for byte. Validates the problem first.
Plan make_plan(const Problem& p, Policy policy);

// generate_reduce_info (contract 3) over the given works; exposed for tests and dump round trips.
void build_reduce_info(Policy policy, const std::vector<WorkInfo>& works, Plan& plan);

}  // namespace mlaps
