#include <string>

#include "reference/merge.h"
#include "reference/reference.h"
#include "scheduler/error.h"  // InputError only: the project's error type (header only, no scheduler code)

namespace mlaps {

void merge_attn_states(std::vector<double>& prefix_out, std::vector<double>& prefix_lse,
                       const std::vector<double>& suffix_out, const std::vector<double>& suffix_lse,
                       int32_t num_tokens, int32_t num_heads, int32_t dv) {
  if (num_tokens < 0 || num_heads < 0 || dv < 0) throw InputError("merge_attn_states", "negative shape");
  const size_t n_lse = static_cast<size_t>(num_tokens) * static_cast<size_t>(num_heads);
  const size_t n_out = n_lse * static_cast<size_t>(dv);
  if (prefix_out.size() != n_out || suffix_out.size() != n_out)
    throw InputError("merge_attn_states.out",
                     "size must be num_tokens * num_heads * dv = " + std::to_string(n_out));
  if (prefix_lse.size() != n_lse || suffix_lse.size() != n_lse)
    throw InputError("merge_attn_states.lse",
                     "size must be num_tokens * num_heads = " + std::to_string(n_lse));
  for (size_t th = 0; th < n_lse; ++th) {
    const MergeWeights w = merge_state(prefix_lse[th], suffix_lse[th]);
    double* po = prefix_out.data() + th * static_cast<size_t>(dv);
    const double* so = suffix_out.data() + th * static_cast<size_t>(dv);
    if (!w.keep_prefix) {
      for (int32_t d = 0; d < dv; ++d) po[d] = w.w_prefix * po[d] + w.w_suffix * so[d];
    }
    prefix_lse[th] = w.lse_ln;
  }
}

}  // namespace mlaps
