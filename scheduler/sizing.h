#pragma once
// Upstream's get_ps_metadata_info_v1 buffer capacities (contract 1.3), in both forms.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/plan.h"
#include "scheduler/problem.h"

namespace mlaps {

enum class SizingFormula {
  kLegacy,  // pre-#3606: max_works = (B + cpc - 1) * mq * nhk, max_partials = min(B + cpc - 1, 2*(cpc-1)) *
            // mq
  kPr3606,  // PR #3606: wpc = qtc * (mks + cpc), max_works = nhk * wpc, max_partials = wpc
};

struct SizingInputs {
  int32_t batch_size = 0;  // B (vLLM passes max_num_seqs)
  int32_t max_qlen = 0;
  std::optional<int32_t> max_kvlen;  // PR form only; defaults to max_qlen as upstream does
  int32_t num_heads_k = 1;
  int32_t num_cu = 256;
  int32_t qlen_granularity = 256;
  int32_t kvlen_granularity = 128;
  static SizingInputs from_problem(const Problem& p);  // B, max qo len, max kv len of the problem
};

// Element counts of each buffer (rows for work_info / reduce_final_map).
struct Capacity {
  int64_t work_indptr = 0;
  int64_t work_info = 0;  // rows of 8 dwords
  int64_t reduce_indptr = 0;
  int64_t reduce_final_map = 0;  // rows of 2 dwords
  int64_t reduce_partial_map = 0;
  int64_t partial_rows(int32_t tile_q) const { return reduce_partial_map * tile_q; }  // logits rows
  friend bool operator==(const Capacity&, const Capacity&) = default;
};

Capacity compute_capacity(const SizingInputs& in, SizingFormula formula);

// Capacity formula the policy is deployed with: legacy <-> kLegacy, aiter <-> kPr3606.
inline SizingFormula formula_for(Policy p) {
  return p == Policy::kAiterLegacy ? SizingFormula::kLegacy : SizingFormula::kPr3606;
}

// One message per buffer the plan overflows (empty when it fits), e.g.
// "reduce_partial_map: needs 64 entries, capacity 8".
std::vector<std::string> capacity_overflows(const Plan& plan, const Capacity& cap, int32_t tile_q);

}  // namespace mlaps
