// get_ps_metadata_info_v1 (contract 1.3), pre-#3606 and PR #3606 forms.
#include "scheduler/sizing.h"

#include <algorithm>
#include <numeric>

#include "scheduler/error.h"

namespace mlaps {

SizingInputs SizingInputs::from_problem(const Problem& p) {
  SizingInputs in;
  in.batch_size = p.batch();
  in.max_qlen = p.max_qo_len();
  in.max_kvlen = p.max_kv_len();
  in.num_heads_k = p.num_heads_k;
  in.num_cu = p.num_cu;
  in.qlen_granularity = p.qlen_granularity();
  in.kvlen_granularity = p.kvlen_granularity();
  return in;
}

Capacity compute_capacity(const SizingInputs& in, SizingFormula formula) {
  if (in.num_cu <= 0) throw InputError("num_cu", "must be > 0 (got " + std::to_string(in.num_cu) + ")");
  if (in.num_heads_k <= 0) {
    throw InputError("num_heads_k", "must be > 0 (got " + std::to_string(in.num_heads_k) + ")");
  }
  if (in.qlen_granularity <= 0) throw InputError("qlen_granularity", "must be > 0");
  if (in.kvlen_granularity <= 0) throw InputError("kvlen_granularity", "must be > 0");
  if (in.batch_size < 0) throw InputError("batch_size", "must be >= 0");
  if (in.max_qlen < 0) throw InputError("max_qlen", "must be >= 0");
  const int64_t cu = in.num_cu;
  const int64_t nhk = in.num_heads_k;
  const int64_t B = in.batch_size;
  const int64_t nc = std::gcd(nhk, cu);
  const int64_t cpc = cu / nc;  // CUs (thread groups) per cluster
  const int64_t mq = (int64_t{in.max_qlen} + in.qlen_granularity - 1) / in.qlen_granularity;
  const int64_t qtc = B * mq;  // query tiles the buffers allow for

  Capacity c;
  c.work_indptr = cu + 1;
  c.reduce_indptr = qtc + 1;
  c.reduce_final_map = qtc;
  if (formula == SizingFormula::kLegacy) {
    c.work_info = (B + cpc - 1) * mq * nhk;
    c.reduce_partial_map = std::min(B + cpc - 1, 2 * (cpc - 1)) * mq;
  } else {
    const int64_t kvlen = in.max_kvlen.value_or(in.max_qlen);
    const int64_t mks = std::max<int64_t>(1, (kvlen + in.kvlen_granularity - 1) / in.kvlen_granularity);
    const int64_t wpc = qtc * (mks + cpc);  // one closed piece per kv split plus one partial piece per TG
    c.work_info = nhk * wpc;
    c.reduce_partial_map = wpc;
  }
  return c;
}

std::vector<std::string> capacity_overflows(const Plan& plan, const Capacity& cap, int32_t tile_q) {
  std::vector<std::string> out;
  auto check = [&](const char* name, const char* unit, int64_t need, int64_t have) {
    if (need > have) {
      out.push_back(std::string(name) + ": needs " + std::to_string(need) + " " + unit + ", capacity " +
                    std::to_string(have));
    }
  };
  check("work_indptr", "entries", static_cast<int64_t>(plan.work_indptr.size()), cap.work_indptr);
  check("work_info", "rows", static_cast<int64_t>(plan.work_info.size()), cap.work_info);
  check("reduce_indptr", "entries", static_cast<int64_t>(plan.reduce_indptr.size()), cap.reduce_indptr);
  check("reduce_final_map", "rows", static_cast<int64_t>(plan.reduce_final_map.size()), cap.reduce_final_map);
  check("reduce_partial_map", "entries", static_cast<int64_t>(plan.reduce_partial_map.size()),
        cap.reduce_partial_map);
  // Rows of the partial O / LSE buffers ("logits", reduce_partial_map capacity * tile_q rows) that the works
  // write.
  int64_t rows = 0;
  for (const WorkInfo& w : plan.work_info) {
    if (w.partial_o_loc < 0) continue;
    rows = std::max(rows, int64_t{w.partial_o_loc} + std::max<int64_t>(0, int64_t{w.qo_end} - w.qo_start));
  }
  check("partial_rows", "rows", rows, cap.partial_rows(tile_q));
  return out;
}

}  // namespace mlaps
