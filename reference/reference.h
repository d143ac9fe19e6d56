#pragma once
// The truth: float64 attention over the dequantized fp8 inputs (Eigen), natural-log LSE, the same
// bottom-right causal mask and empty-row rule (O = 0, LSE = -inf) as sim/model.h.
#include <cstdint>
#include <vector>

#include "scheduler/problem.h"
#include "sim/tensors.h"

namespace mlaps {

struct RefOptions {
  // Round P = exp(s - rowmax) to fp8 (the inputs' encoding, RNE, saturating) before P.V, as upstream's
  // reference can (its fp8-Q branch). l always sums the unrounded P. The rowmax is the row's global max
  // (upstream's reference), not the kernel's running max.
  bool round_p_fp8 = false;
  int num_threads = 0;  // 0: OpenMP default
  // The truth's softmax scale when it is not the inputs' (0: the inputs' AttnInputs::softmax_scale). Shows
  // a kernel run at one scale against the truth at another (`mlaps run --ref-softmax-scale`; the ledger's
  // softmax_scale_default: upstream's 1/sqrt(v_head_dim) default against 1/sqrt(qk_head_dim)).
  float softmax_scale = 0;
};

struct RefResult {
  int32_t num_tokens = 0, num_heads_q = 0;
  std::vector<double> out;     // [num_tokens, num_heads_q, 128], includes v_scale
  std::vector<double> lse_ln;  // [num_tokens, num_heads_q], natural log; -inf for empty rows
};

// Per sequence b, q head h (K head h / gqa_ratio), query row i in [0, qo_len), key j in [0, kv_len):
//   k_j = K[kv_page_indices[kv_indptr[b] + j]][h / gqa], likewise v_j (block_size 1).
//   s_ij = (softmax_scale * q_scale * k_scale) * (q_i . k_j) over the decoded fp8 codes, in double.
//   visible(i, j) = !causal || j <= i + kv_len - qo_len   (bottom-right, absolute positions)
//   lse_ln = log(sum_visible exp(s_ij)); O_i = v_scale * sum_j p_ij v_j / l_i with p_ij = exp(s_ij - max_j
//   s_ij). No visible key: O = 0, LSE = -inf (the empty-row rule of sim/model.h).
// Throws InputError on inconsistent inputs (sizes, page indices, block_size != 1).
RefResult reference_attention(const Problem& p, const AttnInputs& in, const RefOptions& opt = {});

// vLLM's merge_attn_states over [num_tokens, num_heads, dv] outputs and [num_tokens, num_heads] natural-log
// LSEs (token-major, as sim/ writes them; vLLM's own LSE is [heads, tokens]). Merges `suffix` into `prefix`
// in place. The per-(token, head) rule, including both-empty, is merge_state() in reference/merge.h.
void merge_attn_states(std::vector<double>& prefix_out, std::vector<double>& prefix_lse,
                       const std::vector<double>& suffix_out, const std::vector<double>& suffix_lse,
                       int32_t num_tokens, int32_t num_heads, int32_t dv);

}  // namespace mlaps
