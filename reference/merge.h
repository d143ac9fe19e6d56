#pragma once
// vLLM's merge_attn_states (contract 7), in double: the LSE-weighted merge of two attention states.
// LSEs are natural log. Written once here; merge_attn_states() in reference.h applies it to whole buffers.
#include <cmath>
#include <cstdint>
#include <limits>

namespace mlaps {

// Mixing weights of one (token, head): out[d] = w_prefix * prefix_out[d] + w_suffix * suffix_out[d].
struct MergeWeights {
  double w_prefix = 0, w_suffix = 0;
  double lse_ln = 0;         // merged LSE
  bool keep_prefix = false;  // both sides empty: the prefix state is the result, untouched (rule 2)
};

// The rule, per (token, head):
//   1. +inf on either side means "no state" (FA2 convention; upstream's reduce writes +inf for a zero sum):
//      map it to -inf. (vLLM's CUDA kernel maps any inf to -inf, its Triton kernel only +inf: same result.)
//   2. Both -inf (neither side saw a key): the result is the prefix state unchanged, w_prefix = 1,
//      w_suffix = 0, lse = -inf. This is vLLM's CUDA guard ("emit prefix_output and prefix_lse"); without
//      it the formula below gives NaN. By the empty-row rule the prefix output is 0 there.
//   3. Otherwise M = max(p, s), e_p = exp(p - M), e_s = exp(s - M), se = e_p + e_s,
//      w_prefix = e_p / se, w_suffix = e_s / se, lse = log(se) + M.
//   NaN LSEs are not special-cased: a NaN side makes the weights and the merged LSE NaN, so the anomaly
//   propagates and is counted by the comparison.
inline MergeWeights merge_state(double prefix_lse, double suffix_lse) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const double p = prefix_lse == kInf ? -kInf : prefix_lse;
  const double s = suffix_lse == kInf ? -kInf : suffix_lse;
  MergeWeights w;
  if (p == -kInf && s == -kInf) {
    w.w_prefix = 1;
    w.w_suffix = 0;
    w.lse_ln = -kInf;
    w.keep_prefix = true;
    return w;
  }
  if (std::isnan(p) || std::isnan(s)) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    w.w_prefix = w.w_suffix = w.lse_ln = nan;
    return w;
  }
  const double m = p > s ? p : s;
  const double e_p = std::exp(p - m);
  const double e_s = std::exp(s - m);
  const double se = e_p + e_s;
  w.w_prefix = e_p / se;
  w.w_suffix = e_s / se;
  w.lse_ln = std::log(se) + m;
  return w;
}

}  // namespace mlaps
