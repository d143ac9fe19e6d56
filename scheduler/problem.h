#pragma once
// A scheduling problem: what get_ps_metadata_v1 receives, plus the CU count (the planner makes no device
// calls; the caller says how many thread groups the device has).
#include <cstdint>
#include <string>
#include <vector>

namespace mlaps {

struct Problem {
  std::vector<int32_t> qo_indptr;     // [B+1], cumulative query lengths (rows)
  std::vector<int32_t> kv_indptr;     // [B+1], cumulative page counts: indices into kv_page_indices
  std::vector<int32_t> context_lens;  // [B], KV length of each sequence in tokens
  int32_t num_heads_k = 1;
  int32_t gqa_ratio = 1;   // q heads per K head
  int32_t block_size = 1;  // tokens per page
  bool causal = true;
  int32_t num_cu = 256;   // thread groups = CUs (MI355X: 256)
  int32_t tile_q = 256;   // query rows per tile of the kernel (m32x8)
  int32_t tile_kv = 128;  // keys per KV sub-tile of the kernel (n128)
  // Causal with qo_len > kv_len is no valid prefill; upstream misbehaves on it (contract 2.5.3).
  // Rejected by validate_problem() unless this is set, to study upstream's behaviour.
  bool allow_causal_qo_gt_kv = false;
  // Whether the caller needs the final LSE of every row (upstream's merged #3606 get_ps_metadata_v1(...,
  // need_lse); contract 10). true: every piece gets a partial slot, so the reduce writes every row's LSE.
  // false: a policy that honours it (PolicyTraits::need_lse) writes a tile taken whole by one TG straight to
  // the output (partial_o_loc -1), and no LSE is promised for its rows; every output is still promised.
  // vLLM's chunked prefill merges context states by LSE, so it plans those calls with need_lse = true.
  bool need_lse = true;

  int32_t batch() const { return static_cast<int32_t>(context_lens.size()); }
  int32_t num_heads_q() const { return num_heads_k * gqa_ratio; }
  int32_t qo_len(int32_t b) const { return qo_indptr[b + 1] - qo_indptr[b]; }
  int32_t kv_len(int32_t b) const { return context_lens[b]; }
  int32_t num_tokens() const { return qo_indptr.empty() ? 0 : qo_indptr.back(); }
  int32_t num_used_pages() const { return kv_indptr.empty() ? 0 : kv_indptr.back(); }
  int32_t max_qo_len() const;
  int32_t max_kv_len() const;

  // Granularities derived as upstream's callers do (contract 1.2).
  int32_t qhead_granularity() const { return gqa_ratio; }
  int32_t qlen_granularity() const { return tile_q / gqa_ratio; }
  int32_t kvlen_granularity() const { return tile_kv > block_size ? tile_kv : block_size; }

  // Builds a problem from per-sequence lengths with block_size-1 pages laid out back to back
  // (kv_indptr[b+1] - kv_indptr[b] = ceil(kv_len / block_size)).
  static Problem from_lengths(const std::vector<int32_t>& qo_lens, const std::vector<int32_t>& kv_lens,
                              int32_t num_heads_k, bool causal, int32_t num_cu = 256, int32_t gqa_ratio = 1,
                              int32_t block_size = 1);
};

// What the validation pass computes anyway, handed to the scheduler so it need not walk the sequences twice.
struct ProblemTotals {
  int32_t num_tiles = 0;    // query tiles (contract 2.2) over all sequences
  int32_t total_units = 0;  // sum of the tiles' KV units (int32 truncating division, as upstream; 2.5.3)
};

// Throws InputError naming the field and the constraint for any input upstream cannot take.
ProblemTotals validate_problem(const Problem& p);

// JSON form (keys: qo_lens | qo_indptr, kv_lens | context_lens, kv_indptr, heads, gqa, block_size, causal,
// num_cu, tile_q, tile_kv, allow_causal_qo_gt_kv, need_lse). Throws InputError on bad input.
Problem problem_from_json_text(const std::string& text);
std::string problem_to_json_text(const Problem& p);

}  // namespace mlaps
