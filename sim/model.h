#pragma once
// The numeric model: the one written-down definition that sim/ emulates bit for bit and gpu/ implements.
//
// Per work item w, per q head h in w.q_head_range (K head h / gqa), per query row r in [qo_start, qo_end)
// of sequence b (i = r - qo_indptr[b], qo_len, kv_len = kv_indptr[b+1] - kv_indptr[b] with block_size 1):
//   scale_log2 = ((softmax_scale * q_scale) * k_scale) * kLog2e          (fp32, this order)
//   m = -inf (log2 units), l = 0, acc[0..127] = 0
//   for each sub-tile [k0, k1) of [kv_start, kv_end), k0 = kv_start + 128 t, k1 = min(k0 + 128, kv_end):
//     for k in [k0, k1): j = k - kv_indptr[b]; visible(i, j) = !causal || j <= i + kv_len - qo_len
//        dot = 0; for d in 0..191: dot = fma(q[d], k[d], dot)   (decoded fp8 codes, sequential in d)
//        t_k = dot * scale_log2                                   (invisible: -inf)
//     m_new = m; for visible k ascending: m_new = running_max(m_new, t_k)
//     if m_new == -inf: next sub-tile                              (nothing visible yet)
//     alpha = exp2_model(m - m_new); l = l * alpha; acc[d] = acc[d] * alpha
//     for k in [k0, k1) ascending, visible only:
//        p = exp2_model(t_k - m_new); l = l + p
//        p_v = round_p_fp8 ? fp8_decode(fp8_encode(p, enc, saturate)) : p
//        acc[d] = fma(p_v, v[k][d], acc[d])  for each d
//     m = m_new
//   end: row_finish(): l == 0 -> empty row (O = 0, LSE = -inf); else O[d] = (acc[d] / l) * v_scale,
//        lse_ln = (m + log2_model(l)) * kLn2
//   partial_o_loc >= 0: PartialO[pol + r - qo_start][h][d] = O[d] (fp32), PartialLSE[...][h] = lse_ln
//   partial_o_loc == -1: Out[r][h][d] = bf16_encode(O[d]); no LSE anywhere.
//
// Reduce (mla_reduce_v1), per reduce entry t, head h, row r of reduce_final_map[t], n = #partials:
//   n == 0: nothing. n == 1: legacy skips; fixed processes it unless partial_map[start] == -1.
//   simple (n < 4), in partial-map order: acc = o_0, m = l_0, s = 1; for i >= 1:
//     m' = running_max(m, l_i),
//     a = exp_model(m - m'), b = exp_model(l_i - m'), acc = a*acc + b*o_i (two products, then the sum),
//     s = s*a + b, m = m'. out = bf16(acc / s); lse = (s == 0 || isnan(s)) ? +inf : log_model(s) + m.
//   massive (n >= 4): M = l_0, M = running_max(M, l_i) for i >= 1;
//     S = sum_i exp_model(l_i - M) (sequential, i ascending);
//     L = (S == 0 || isnan(S)) ? +inf : log_model(S) + M; out = bf16(sum_i exp_model(l_i - L) * o_i)
//     (sequential in i, product then sum). final_lse[r][h] = lse (natural log).
// NaN payloads are not part of the model (sim compares NaN as NaN). Sums start from +0.
// Upstream's vendor kernels sum in other orders and use their own exp: against them, compare by tolerance.
#include <cstdint>

#include "sim/hd.h"
#include "sim/numerics.h"

namespace mlaps {

inline constexpr int kQkHeadDim = 192;  // 128 nope + 64 rope
inline constexpr int kVHeadDim = 128;
inline constexpr int kTileKv = 128;          // keys per sub-tile (n128x1)
inline constexpr int kMassiveThreshold = 4;  // reduce: n >= 4 takes the massive path

struct NumericModel {
  num::Fp8Encoding encoding = num::Fp8Encoding::kE4M3FN;
  bool round_p_fp8 = true;  // P rounded to fp8 before P.V (the kernel multiplies P.V on fp8 matrix cores)
  bool saturate_p = true;   // saturating encode for P (P <= 1, so only NaN handling differs)
};

// The empty-row rule, in one place: a row with no visible key (or an empty KV range) has l == 0 and
// yields O = 0, LSE = -inf. These are the only values that keep both reduce paths finite.
MLAPS_HD inline bool row_is_empty(float l) {
  return !(l > 0.0f);
}
MLAPS_HD inline float empty_row_lse() {
  return -num::inf_f();
}
MLAPS_HD inline float empty_row_o() {
  return 0.0f;
}

// Final per-row quantities (log2-domain running max m, sum l) -> natural-log LSE.
MLAPS_HD inline float row_lse_ln(float m_log2, float l) {
  return row_is_empty(l) ? empty_row_lse() : (m_log2 + num::log2_model(l)) * num::kLn2;
}
MLAPS_HD inline float row_out(float acc, float l, float v_scale) {
  return row_is_empty(l) ? empty_row_o() : (acc / l) * v_scale;
}
MLAPS_HD inline float score_scale_log2(float softmax_scale, float q_scale, float k_scale) {
  return ((softmax_scale * q_scale) * k_scale) * num::kLog2e;
}
// The model's max: the candidate wins only if strictly greater, so a NaN candidate never wins and, between
// +0 and -0, the earlier value stays. Running max of the online softmax and of the reduce both use it.
MLAPS_HD inline float running_max(float m, float candidate) {
  return candidate > m ? candidate : m;
}
// The reduce (mla_reduce_v1, model above), written once for sim/ and gpu/.
// Whether reduce entry with n partials, the first in slot first_slot, is left alone: n == 0 always; n == 1
// by the legacy reduce, and by the fixed one when the slot is the -1 sentinel (decode metadata).
MLAPS_HD inline bool reduce_entry_skipped(int32_t n, bool fixed_version, int32_t first_slot) {
  return n <= 0 || (n == 1 && (!fixed_version || first_slot == -1));
}
// The merged LSE from a sum of exponentials relative to m, with the degenerate rule: a zero or NaN sum gives
// +inf.
MLAPS_HD inline float reduce_lse(float sum, float m) {
  return (sum == 0.0f || num::is_nan(sum)) ? num::inf_f() : num::log_model(sum) + m;
}
// The merge of one (row, head) over its n >= 1 partials, for kDims of the output dims: lse_at(i) is partial
// i's LSE, o_at(i, k) its output at the k-th dim merged here (sim/ merges all 128 dims at once, a gpu/ thread
// one). Writes the merged fp32 values (before the bf16 cast) to out[0, kDims) and returns the final LSE.
// Simple path (n < kMassiveThreshold) or massive path, in the model's order; every element of out is
// computed by the same operations whatever kDims is.
template <int kDims, typename LseAt, typename OAt>
MLAPS_HD inline float reduce_merge(int32_t n, const LseAt& lse_at, const OAt& o_at, float* out) {
  if (n < kMassiveThreshold) {
    for (int k = 0; k < kDims; ++k) out[k] = o_at(0, k);
    float m = lse_at(0), s = 1.0f;
    for (int32_t i = 1; i < n; ++i) {
      const float li = lse_at(i);
      const float m2 = running_max(m, li);
      const float a = num::exp_model(m - m2);
      const float b = num::exp_model(li - m2);
      for (int k = 0; k < kDims; ++k) {
        const float x = a * out[k];
        const float y = b * o_at(i, k);
        out[k] = x + y;
      }
      s = s * a + b;
      m = m2;
    }
    for (int k = 0; k < kDims; ++k) out[k] = out[k] / s;
    return reduce_lse(s, m);
  }
  float mx = lse_at(0);
  for (int32_t i = 1; i < n; ++i) mx = running_max(mx, lse_at(i));
  float sum = 0.0f;
  for (int32_t i = 0; i < n; ++i) sum = sum + num::exp_model(lse_at(i) - mx);
  const float lse = reduce_lse(sum, mx);
  for (int k = 0; k < kDims; ++k) out[k] = 0.0f;
  for (int32_t i = 0; i < n; ++i) {
    const float w = num::exp_model(lse_at(i) - lse);
    for (int k = 0; k < kDims; ++k) {
      const float prod = w * o_at(i, k);
      out[k] = out[k] + prod;
    }
  }
  return lse;
}

MLAPS_HD inline bool causal_visible(bool causal, int32_t i, int32_t j, int32_t qo_len, int32_t kv_len) {
  return !causal || j <= i + kv_len - qo_len;
}
MLAPS_HD inline float round_p(float p, const NumericModel& m) {
  return m.round_p_fp8 ? num::fp8_decode(num::fp8_encode(p, m.encoding, m.saturate_p), m.encoding) : p;
}

}  // namespace mlaps
