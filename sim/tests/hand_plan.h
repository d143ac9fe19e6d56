#pragma once
// Hand-made plans for the sim tests (independent of the scheduler): query tiles of tile_q rows, each tile's
// KV range [kv_indptr[b], kv_indptr[b] + visible) cut into pieces of `piece` keys, one work per piece and
// head range, thread groups assigned round-robin; reduce info as generate_reduce_info builds it.
#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "scheduler/policy.h"
#include "scheduler/problem.h"

namespace mlaps::testing {

struct HandPlanOptions {
  int32_t num_tg = 8;
  int32_t piece = 512;  // keys per work item (multiple of 128 keeps sub-tiles aligned, but any works)
  bool whole_is_direct = false;  // legacy-style: a tile with one piece gets partial_o_loc = -1
  bool causal_trim = true;  // causal: a tile's KV ends at its last row's visible limit (rounded up to 128)
};

inline Plan make_hand_plan(const Problem& p, const HandPlanOptions& o) {
  Plan plan;
  plan.reduce = o.whole_is_direct ? ReduceVersion::kLegacy : ReduceVersion::kFixed;
  std::vector<std::vector<WorkInfo>> per_tg(static_cast<size_t>(o.num_tg));
  int32_t slot = 0, next_tg = 0;
  const int32_t g = p.tile_q;
  for (int32_t b = 0; b < p.batch(); ++b) {
    const int32_t qo_len = p.qo_len(b), kv_len = p.kv_indptr[b + 1] - p.kv_indptr[b];
    for (int32_t o0 = 0; o0 < qo_len; o0 += g) {
      const int32_t o1 = std::min(o0 + g, qo_len);
      int32_t eff = kv_len;
      if (p.causal && o.causal_trim) {
        eff = std::min(kv_len - qo_len + o1, kv_len);
        eff = std::min(kv_len, std::max(0, (eff + 127) / 128 * 128));
      }
      std::vector<std::pair<int32_t, int32_t>> pieces;
      for (int32_t k = 0; k < eff; k += o.piece) pieces.push_back({k, std::min(k + o.piece, eff)});
      if (pieces.empty()) pieces.push_back({0, 0});
      for (const auto& pc : pieces) {
        const int32_t pol = (o.whole_is_direct && pieces.size() == 1) ? -1 : g * slot++;
        const int32_t tg = next_tg;
        next_tg = (next_tg + 1) % o.num_tg;
        for (int32_t h = 0; h < p.num_heads_k; ++h) {
          WorkInfo w{};
          w.batch_idx = b;
          w.partial_o_loc = pol;
          w.qo_start = p.qo_indptr[b] + o0;
          w.qo_end = p.qo_indptr[b] + o1;
          w.kv_start = p.kv_indptr[b] + pc.first;
          w.kv_end = p.kv_indptr[b] + pc.second;
          w.kv_offset = 0;
          w.q_head_range = WorkInfo::pack_heads(h * p.gqa_ratio, (h + 1) * p.gqa_ratio);
          per_tg[static_cast<size_t>(tg)].push_back(w);
        }
      }
    }
  }
  plan.work_indptr.push_back(0);
  for (const auto& v : per_tg) {
    plan.work_info.insert(plan.work_info.end(), v.begin(), v.end());
    plan.work_indptr.push_back(static_cast<int32_t>(plan.work_info.size()));
  }
  std::map<std::pair<int32_t, int32_t>, std::set<int32_t>> rm;
  for (const WorkInfo& w : plan.work_info)
    if (w.partial_o_loc != -1 || !o.whole_is_direct) rm[{w.qo_start, w.qo_end}].insert(w.partial_o_loc);
  plan.reduce_indptr.push_back(0);
  for (const auto& [k, s] : rm) {
    if (o.whole_is_direct && s.size() < 2) continue;
    plan.reduce_final_map.push_back({k.first, k.second});
    for (int32_t v : s) plan.reduce_partial_map.push_back(v);
    plan.reduce_indptr.push_back(static_cast<int32_t>(plan.reduce_partial_map.size()));
  }
  return plan;
}

// A problem with back-to-back block_size-1 pages.
inline Problem make_problem(const std::vector<int32_t>& qo, const std::vector<int32_t>& kv, int32_t heads_k,
                            bool causal, int32_t gqa = 1) {
  return Problem::from_lengths(qo, kv, heads_k, causal, /*num_cu=*/256, gqa);
}

}  // namespace mlaps::testing
