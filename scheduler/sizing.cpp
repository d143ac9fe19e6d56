// get_ps_metadata_info_v1 (contract 1.3), pre-#3606 and PR #3606 forms.
#include "scheduler/sizing.h"

#include <algorithm>
#include <numeric>

#include "scheduler/error.h"
#include "scheduler/geometry.h"
#include "scheduler/policy.h"

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

int64_t sizing_query_tiles(const SizingInputs& in) {
  return int64_t{in.batch_size} * ((int64_t{in.max_qlen} + in.qlen_granularity - 1) / in.qlen_granularity);
}

std::optional<int64_t> sizing_kv_units(const SizingInputs& in) {
  if (!in.max_kvlen) return std::nullopt;
  return (int64_t{*in.max_kvlen} + in.kvlen_granularity - 1) / in.kvlen_granularity;
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
  const int64_t cpc = cluster_geometry(in.num_heads_k, in.num_cu).tgs_per_cluster;  // CUs (TGs) per cluster
  const int64_t mq = (int64_t{in.max_qlen} + in.qlen_granularity - 1) / in.qlen_granularity;
  const int64_t qtc = sizing_query_tiles(in);  // query tiles the buffers allow for

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
    rows = std::max(rows, int64_t{w.partial_o_loc} + w.qo_rows());
  }
  check("partial_rows", "rows", rows, cap.partial_rows(tile_q));
  return out;
}

void EngineLimits::validate() const {
  auto positive = [](const char* field, int64_t v) {
    if (v <= 0) throw InputError(field, "must be >= 1 (got " + std::to_string(v) + ")");
  };
  positive("max_num_batched_tokens", max_num_batched_tokens);
  positive("max_num_seqs", max_num_seqs);
  positive("num_heads_k", num_heads_k);
  positive("gqa_ratio", gqa_ratio);
  positive("num_cu", num_cu);
  positive("tile_q", tile_q);
  positive("tile_kv", tile_kv);
  if (max_kvlen) positive("max_kvlen", *max_kvlen);
  if (tile_q % gqa_ratio != 0) {
    throw InputError("tile_q", "must be a multiple of gqa_ratio (tile_q " + std::to_string(tile_q) +
                                   ", gqa_ratio " + std::to_string(gqa_ratio) + ")");
  }
  if ((tile_kv & (tile_kv - 1)) != 0) {
    throw InputError("tile_kv", "must be a power of two (got " + std::to_string(tile_kv) + ")");
  }
  if (int64_t{num_heads_k} * gqa_ratio > 0xFFFF) {
    throw InputError("num_heads_k", "num_heads_k * gqa_ratio must be <= 65535 (q_head_range packs 16 bits)");
  }
}

SizingInputs EngineLimits::upstream_inputs() const {
  SizingInputs in;
  in.batch_size = max_num_seqs;
  in.max_qlen = causal && max_kvlen ? std::min(max_num_batched_tokens, *max_kvlen) : max_num_batched_tokens;
  in.max_kvlen = max_kvlen;
  in.num_heads_k = num_heads_k;
  in.num_cu = num_cu;
  in.qlen_granularity = qlen_granularity();
  in.kvlen_granularity = tile_kv;  // block_size 1
  return in;
}

BufferCounts counts_of(const Plan& plan, int32_t qlen_granularity) {
  int64_t slots = 0;
  for (const WorkInfo& w : plan.work_info) {
    if (w.partial_o_loc >= 0) slots = std::max<int64_t>(slots, w.partial_o_loc / qlen_granularity + 1);
  }
  return BufferCounts{static_cast<int64_t>(plan.work_info.size()), slots,
                      static_cast<int64_t>(plan.reduce_final_map.size()),
                      static_cast<int64_t>(plan.reduce_partial_map.size())};
}

BufferCounts counts_of(const Capacity& cap) {
  return BufferCounts{cap.work_info, cap.reduce_partial_map, cap.reduce_final_map, cap.reduce_partial_map};
}

BufferBytes bytes_of(const BufferCounts& c, const EngineLimits& lim, int32_t v_head_dim) {
  using O = std::optional<int64_t>;
  auto times = [](const O& n, int64_t k, int64_t add = 0) -> O {
    return n ? O{(*n + add) * k} : std::nullopt;
  };
  const int64_t heads_q = int64_t{lim.num_heads_k} * lim.gqa_ratio;
  const int64_t row = lim.qlen_granularity();  // partial rows per slot
  BufferBytes b;
  b.work_indptr = c.works ? O{(int64_t{lim.num_cu} + 1) * 4} : std::nullopt;
  b.work_info = times(c.works, static_cast<int64_t>(sizeof(WorkInfo)));
  b.reduce_indptr = times(c.reduce_entries, 4, 1);
  b.reduce_final_map = times(c.reduce_entries, static_cast<int64_t>(sizeof(FinalLoc)));
  b.reduce_partial_map = times(c.reduce_partial_map, 4);
  b.partial_o = times(c.partial_slots, row * heads_q * v_head_dim * 4);
  b.partial_lse = times(c.partial_slots, row * heads_q * 4);
  int64_t total = 0;
  bool all = true;
  for (const O& v : {b.work_indptr, b.work_info, b.reduce_indptr, b.reduce_final_map, b.reduce_partial_map,
                     b.partial_o, b.partial_lse}) {
    if (v) {
      total += *v;
    } else {
      all = false;
    }
  }
  if (all) b.total = total;
  return b;
}

BufferCounts vllm_bound(const EngineLimits& lim) {
  constexpr int64_t kVllmTileQ = 256;  // _FP8_PREFILL_TILE_Q
  const int64_t tiles =
      (int64_t{lim.max_num_batched_tokens} + kVllmTileQ - 1) / kVllmTileQ + lim.max_num_seqs - 1;
  BufferCounts c;
  c.partial_slots = tiles + lim.num_cu;
  return c;
}

Problem problem_of(const EngineLimits& lim, const Batch& b) {
  Problem p =
      Problem::from_lengths(b.qo_lens, b.kv_lens, lim.num_heads_k, lim.causal, lim.num_cu, lim.gqa_ratio, 1);
  p.tile_q = lim.tile_q;
  p.tile_kv = lim.tile_kv;
  p.need_lse = lim.need_lse;
  return p;
}

bool every_piece_has_slot(Policy policy, bool need_lse) {
  return !writes_whole_tiles_direct(policy, need_lse);
}

}  // namespace mlaps
