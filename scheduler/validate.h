#pragma once
// validate(problem, plan): every broken invariant, named. Never throws on a malformed plan.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scheduler/plan.h"
#include "scheduler/policy.h"
#include "scheduler/problem.h"
#include "scheduler/sizing.h"

namespace mlaps {

// Two contracts. The execution contract holds for every policy: what mla_prefill_ps_asm_fwd and
// mla_reduce_v1 need to write a correct output and final LSE for every row. The upstream shape is how
// upstream's get_ps_metadata_v1 balances (ping-pong order, TG quota, cuts, head invariance, cluster heads):
// checked only for policies whose traits claim it, or when ValidateOptions::contract names such a policy.
enum class Contract { kExecution, kUpstreamShape };
const char* contract_name(Contract c);  // "execution" | "upstream-shape"

// Stable invariant names (property tests, the ledger and `mlaps check` key on them).
namespace inv {
// Execution contract.
inline constexpr const char* kWorkIndptrShape = "work_indptr.shape";  // size num_cu+1, [0] = 0, end = #works
inline constexpr const char* kWorkIndptrMonotone = "work_indptr.monotone";
inline constexpr const char* kWorkFields = "work.fields";        // batch, rows, kv pages, kv_offset in bounds
inline constexpr const char* kHeadRange = "work.head_range";     // q_head_range = one K head's q heads
inline constexpr const char* kTgRowsOnce = "work.tg_rows_once";  // a TG holds one work per (tile, head)
inline constexpr const char* kTileCoverage = "coverage.tile";    // every query tile scheduled per head
inline constexpr const char* kKvCoverage = "coverage.kv";        // pieces contiguous, cover visible keys
inline constexpr const char* kKvVisible = "coverage.kv_visible";  // no piece starts past the visible keys
inline constexpr const char* kKvOffset = "coverage.kv_offset";    // upstream's kv_offset rule
inline constexpr const char* kSlotAlignment = "slot.alignment";   // pol = -1 or multiple of qlen_gran
inline constexpr const char* kSlotUnique = "slot.unique";         // unique within a head
inline constexpr const char* kSlotBounds = "slot.bounds";         // rows fit the partial buffers
// #3606: all >= 0; pre-fix contract: -1 iff whole; need_lse = false: -1 only on a whole tile.
inline constexpr const char* kSlotPolicy = "slot.policy";
// #3606: every scheduled tile has one; pre-fix contract / need_lse = false: exactly the tiles with slots.
inline constexpr const char* kReduceEntry = "reduce.entry";
inline constexpr const char* kReducePartials = "reduce.partials";  // == each head's slots, in KV order
inline constexpr const char* kReduceSplits = "reduce.splits";      // <= num_cu partials (the reduce's LDS)
inline constexpr const char* kReduceIndptr =
    "reduce_indptr.monotone";                             // [0]=0, non-decreasing, end = #partials
inline constexpr const char* kBufferFit = "buffers.fit";  // plan fits the capacity
// Upstream shape.
inline constexpr const char* kClusterHeads = "work.cluster_heads";  // works of cluster c carry c's heads
inline constexpr const char* kTgLoad = "capacity.tg_load";          // per TG/head load <= cap
inline constexpr const char* kCuts = "capacity.cuts";               // <= tpc-1 cut tiles per cluster
inline constexpr const char* kHeadInvariance = "head_invariance";   // same partition for every head
inline constexpr const char* kTileOrder = "order.tiles";            // ping-pong order, batches in order
inline constexpr const char* kReduceOrder = "reduce.order";  // ascending qo_start, slots ascend in KV order
}  // namespace inv

// The contract an invariant belongs to.
Contract contract_of(std::string_view invariant);

struct Violation {
  std::string invariant;  // one of inv::*
  std::string detail;     // human-readable, with values
  int32_t tg = -1;        // thread group, -1 if not about one
  int32_t head = -1;      // q head (lo of the range), -1 if not about one
  int32_t qo_start = -1;  // the tile's global rows [qo_start, qo_end), -1 if not about a tile
  int32_t qo_end = -1;
  int32_t work = -1;                         // index into work_info, -1 if none
  Contract contract = Contract::kExecution;  // contract_of(invariant)
};

struct ValidateOptions {
  // The problem's need_lse sets the promise: with need_lse = false a tile's only piece (per head) may be
  // written directly (partial_o_loc -1, no reduce entry, no LSE for its rows); every other rule holds.
  // Unset: the execution contract, with the #3606 property (every scheduled tile has a reduce entry, so the
  // final LSE of every row is written), plus the upstream shape when the plan's policy (Plan::policy, looked
  // up in the table) claims it. Set: that policy's contract: the execution contract, the upstream shape
  // when it claims it, and for a legacy-reduce policy (aiter-legacy) the pre-#3606 rules in place of the
  // #3606 property (-1 iff a tile is one piece; reduce entries only for tiles with partial slots).
  std::optional<Policy> contract;
  // Buffers the plan must fit; default: the contract's policy's (policy_capacity), or when no contract is
  // given the plan's policy's, from the problem.
  std::optional<Capacity> capacity;
};

std::vector<Violation> validate(const Problem& p, const Plan& plan, const ValidateOptions& opt = {});

// "[execution] reduce.entry rows=[0,256): ..." (the contract, the invariant, where, what).
std::string format_violation(const Violation& v);

// The (row, q head) pairs whose final LSE the execution contract does not promise, row-major
// [num_tokens * num_heads_q]: with need_lse = false, those of the works written directly (partial_o_loc -1);
// with need_lse, none (every row's LSE is promised). Their output is promised like every other row's.
std::vector<uint8_t> lse_not_promised(const Problem& p, const Plan& plan);

// (row, q head) pairs of the query tiles `v` reports unscheduled (coverage.tile): rows no executor writes.
int64_t unscheduled_row_heads(const Problem& p, const std::vector<Violation>& v);

}  // namespace mlaps
