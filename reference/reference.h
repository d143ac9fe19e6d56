#pragma once
// The truth: float64 attention over the dequantized fp8 inputs (Eigen), natural-log LSE, the bottom-right
// causal mask and the empty-row rule (O = 0, LSE = -inf). It takes its own plain input type and decodes fp8
// with its own code (reference/fp8.h): it shares no code with the scheduler and executors it checks.
// bridge/ converts their types (Problem, AttnInputs, RunBuffers) to and from these, in one place.
#include <cstdint>
#include <span>
#include <vector>

#include "reference/fp8.h"

namespace mlaps {

// MLA's head dimensions: Q and K carry 192 (128 nope + 64 rope), V 128.
inline constexpr int kRefQkDim = 192;
inline constexpr int kRefVDim = 128;

// One attention problem with its inputs, block size 1 (one key per page). Views: the caller keeps the codes
// and page indices alive for the call.
struct RefInputs {
  std::vector<int32_t> qo_lens;  // [B] query rows of each sequence; its rows follow the previous sequence's
  std::vector<int32_t> kv_lens;  // [B] keys of each sequence
  int32_t num_heads_k = 1;
  int32_t gqa_ratio = 1;  // q heads per K head: q head h reads K head h / gqa_ratio
  bool causal = true;
  RefFp8 format = RefFp8::kE4M3FN;
  int32_t num_pages = 0;
  std::span<const uint8_t> q;  // [sum qo_lens, num_heads_k * gqa_ratio, 192] fp8 codes
  std::span<const uint8_t> k;  // [num_pages, num_heads_k, 192]
  std::span<const uint8_t> v;  // [num_pages, num_heads_k, 128]
  // [sum kv_lens]: sequence b's key j is page kv_page_indices[kv_lens[0] + ... + kv_lens[b-1] + j]
  std::span<const int32_t> kv_page_indices;
  double q_scale = 1, k_scale = 1, v_scale = 1;
  double softmax_scale = 1;  // the scale itself (no default here: callers resolve theirs)
};

struct RefOptions {
  // Round P = exp(s - rowmax) to fp8 (the inputs' format; ref_fp8_round of P held as fp32, as the kernel
  // holds it) before P.V, as upstream's reference can (its fp8-Q branch). l always sums the unrounded P. The
  // rowmax is the row's global max (upstream's reference), not the kernel's running max.
  bool round_p_fp8 = false;
  int num_threads = 0;  // 0: OpenMP default
  // The truth's softmax scale when it is not the inputs' (0: the inputs' RefInputs::softmax_scale). Shows
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
//   k_j = K[page(b, j)][h / gqa], likewise v_j.
//   s_ij = (softmax_scale * q_scale * k_scale) * (q_i . k_j) over the decoded fp8 codes, in double.
//   visible(i, j) = !causal || j <= i + kv_len - qo_len   (bottom-right, absolute positions)
//   lse_ln = log(sum_visible exp(s_ij)); O_i = v_scale * sum_j p_ij v_j / l_i with p_ij = exp(s_ij - max_j
//   s_ij). No visible key: O = 0, LSE = -inf.
// Throws InputError on inconsistent inputs (lengths, sizes, page indices).
RefResult reference_attention(const RefInputs& in, const RefOptions& opt = {});

// vLLM's merge_attn_states over [num_tokens, num_heads, dv] outputs and [num_tokens, num_heads] natural-log
// LSEs (token-major, as sim/ writes them; vLLM's own LSE is [heads, tokens]). Merges `suffix` into `prefix`
// in place. The per-(token, head) rule, including both-empty, is merge_state() in reference/merge.h.
void merge_attn_states(std::vector<double>& prefix_out, std::vector<double>& prefix_lse,
                       const std::vector<double>& suffix_out, const std::vector<double>& suffix_lse,
                       int32_t num_tokens, int32_t num_heads, int32_t dv);

}  // namespace mlaps
