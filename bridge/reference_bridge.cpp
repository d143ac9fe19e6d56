#include "bridge/reference_bridge.h"

#include <string>

#include "scheduler/error.h"
#include "sim/model.h"

namespace mlaps {

static_assert(kRefQkDim == kQkHeadDim && kRefVDim == kVHeadDim, "the reference's MLA head dims are sim's");

RefFp8 ref_format(num::Fp8Encoding e) {
  return e == num::Fp8Encoding::kE4M3FN ? RefFp8::kE4M3FN : RefFp8::kE4M3FNUZ;
}

RefInputs reference_inputs(const Problem& p, const AttnInputs& in) {
  const int32_t batch = p.batch();
  const size_t entries = static_cast<size_t>(batch) + 1;
  if (p.qo_indptr.size() != entries)
    throw InputError("qo_indptr", "must have batch + 1 = " + std::to_string(batch + 1) + " entries");
  if (p.kv_indptr.size() != entries)
    throw InputError("kv_indptr", "must have batch + 1 = " + std::to_string(batch + 1) + " entries");
  if (p.block_size != 1)
    throw InputError("block_size", "the reference supports block_size 1 only (contract 2.5.5)");
  if (p.qo_indptr[0] != 0 || p.kv_indptr[0] != 0) throw InputError("qo_indptr/kv_indptr", "must start at 0");
  if (in.num_tokens != p.num_tokens()) throw InputError("inputs.num_tokens", "must equal qo_indptr[batch]");
  if (in.num_heads_q != p.num_heads_q()) throw InputError("inputs.num_heads_q", "must equal heads_k * gqa");
  if (in.num_heads_k != p.num_heads_k)
    throw InputError("inputs.num_heads_k", "must equal problem.num_heads_k");
  RefInputs r;
  r.qo_lens.resize(static_cast<size_t>(batch));
  r.kv_lens.resize(static_cast<size_t>(batch));
  for (int32_t b = 0; b < batch; ++b) {
    if (p.qo_len(b) < 0) throw InputError("qo_indptr", "must be non-decreasing");
    if (p.kv_indptr[b + 1] - p.kv_indptr[b] != p.context_lens[b])
      throw InputError("context_lens", "must equal kv_indptr[b+1] - kv_indptr[b] with block_size 1 (b = " +
                                           std::to_string(b) + ")");
    r.qo_lens[static_cast<size_t>(b)] = p.qo_len(b);
    r.kv_lens[static_cast<size_t>(b)] = p.context_lens[b];
  }
  r.num_heads_k = p.num_heads_k;
  r.gqa_ratio = p.gqa_ratio;
  r.causal = p.causal;
  r.format = ref_format(in.encoding);
  r.num_pages = in.num_pages;
  r.q = in.q;
  r.k = in.k;
  r.v = in.v;
  r.kv_page_indices = in.kv_page_indices;
  r.q_scale = in.q_scale;
  r.k_scale = in.k_scale;
  r.v_scale = in.v_scale;
  r.softmax_scale = resolve_softmax_scale(in.softmax_scale);
  return r;
}

FinalState final_state_from_buffers(const RunBuffers& buf) {
  FinalState st;
  st.num_tokens = buf.num_tokens;
  st.num_heads = buf.num_heads_q;
  const size_t n_lse = static_cast<size_t>(buf.num_tokens) * static_cast<size_t>(buf.num_heads_q);
  if (buf.out.size() != n_lse * kVHeadDim || buf.final_lse.size() != n_lse)
    throw InputError("RunBuffers", "out / final_lse sizes disagree with num_tokens and num_heads_q");
  st.out.resize(buf.out.size());
  st.out_unwritten.resize(buf.out.size());
  for (size_t i = 0; i < buf.out.size(); ++i) {
    st.out_unwritten[i] = num::is_poison_bf16(buf.out[i]) ? 1 : 0;
    st.out[i] = num::bf16_decode(buf.out[i]);
  }
  st.lse_ln.resize(n_lse);
  st.lse_unwritten.resize(n_lse);
  for (size_t i = 0; i < n_lse; ++i) {
    st.lse_unwritten[i] = num::is_poison_f32(buf.final_lse[i]) ? 1 : 0;
    st.lse_ln[i] = buf.final_lse[i];
  }
  return st;
}

CompareResult compare_run(const RefResult& ref, const RunBuffers& buf, const CompareOptions& opt,
                          std::span<const uint8_t> lse_not_promised) {
  return compare_final(ref, final_state_from_buffers(buf), opt, lse_not_promised);
}

}  // namespace mlaps
