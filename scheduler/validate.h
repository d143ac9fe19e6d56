#pragma once
// validate(problem, plan): every broken invariant, named. Never throws on a malformed plan.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/plan.h"
#include "scheduler/problem.h"
#include "scheduler/sizing.h"

namespace mlaps {

// Stable invariant names (property tests, the ledger and `mlaps check` key on them).
namespace inv {
inline constexpr const char* kWorkIndptrShape = "work_indptr.shape";  // size num_cu+1, [0] = 0, end = #works
inline constexpr const char* kWorkIndptrMonotone = "work_indptr.monotone";
inline constexpr const char* kWorkFields = "work.fields";           // batch/qo/kv/head ranges in bounds
inline constexpr const char* kClusterHeads = "work.cluster_heads";  // works of cluster c carry c's heads
inline constexpr const char* kTileCoverage = "coverage.tile";       // every query tile scheduled per head
inline constexpr const char* kKvCoverage = "coverage.kv";           // pieces contiguous, cover visible keys
inline constexpr const char* kKvOffset = "coverage.kv_offset";      // upstream's kv_offset rule
inline constexpr const char* kTgLoad = "capacity.tg_load";          // per TG/head load <= cap
inline constexpr const char* kCuts = "capacity.cuts";               // <= tpc-1 cut tiles per cluster
inline constexpr const char* kHeadInvariance = "head_invariance";   // same partition for every head
inline constexpr const char* kTileOrder = "order.tiles";            // ping-pong order, batches in order
inline constexpr const char* kSlotAlignment = "slot.alignment";     // pol = -1 or multiple of qlen_gran
inline constexpr const char* kSlotUnique = "slot.unique";           // unique within a head
inline constexpr const char* kSlotBounds = "slot.bounds";           // rows fit the partial buffers
inline constexpr const char* kSlotPolicy = "slot.policy";           // aiter: all >= 0; legacy: -1 iff whole
inline constexpr const char* kReduceEntry = "reduce.entry";         // #3606: every scheduled tile has one
inline constexpr const char* kReducePartials = "reduce.partials";   // entry's partials == its pieces' slots
inline constexpr const char* kReduceOrder = "reduce.order";         // ascending qo_start, ascending slots
inline constexpr const char* kReduceIndptr =
    "reduce_indptr.monotone";                             // [0]=0, non-decreasing, end = #partials
inline constexpr const char* kBufferFit = "buffers.fit";  // plan fits the capacity
}  // namespace inv

struct Violation {
  std::string invariant;  // one of inv::*
  std::string detail;     // human-readable, with values
  int32_t tg = -1;        // thread group, -1 if not about one
  int32_t head = -1;      // q head (lo of the range), -1 if not about one
  int32_t qo_start = -1;  // the tile's global rows [qo_start, qo_end), -1 if not about a tile
  int32_t qo_end = -1;
  int32_t work = -1;  // index into work_info, -1 if none
};

struct ValidateOptions {
  // The contract to hold the plan to. kAiter demands the #3606 property (a reduce entry for every scheduled
  // tile); kAiterLegacy holds a plan to the pre-fix contract (-1 iff a tile is whole).
  Policy contract = Policy::kAiter;
  // Buffers the plan must fit; default: upstream's formula for the contract, from the problem.
  std::optional<Capacity> capacity;
};

std::vector<Violation> validate(const Problem& p, const Plan& plan, const ValidateOptions& opt = {});

std::string format_violation(const Violation& v);

}  // namespace mlaps
