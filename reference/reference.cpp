#include "reference/reference.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>

#include "scheduler/error.h"
#include "sim/model.h"
#include "sim/numerics.h"

namespace mlaps {
namespace {

using MatR = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Query rows per work item: bounds the score block to kRowBlock x kv_len doubles per thread, whatever the
// sequence length, while the K/V gather (kv_len x 320 decodes) stays small next to the GEMMs.
constexpr int32_t kRowBlock = 64;

size_t to_size(int64_t x) {
  return static_cast<size_t>(x);
}

void check_inputs(const Problem& p, const AttnInputs& in) {
  const int32_t batch = p.batch();
  if (p.qo_indptr.size() != to_size(batch) + 1)
    throw InputError("qo_indptr", "must have batch + 1 = " + std::to_string(batch + 1) + " entries");
  if (p.kv_indptr.size() != to_size(batch) + 1)
    throw InputError("kv_indptr", "must have batch + 1 = " + std::to_string(batch + 1) + " entries");
  if (p.block_size != 1)
    throw InputError("block_size", "the reference supports block_size 1 only (contract 2.5.5)");
  if (p.num_heads_k < 1 || p.gqa_ratio < 1) throw InputError("num_heads_k/gqa_ratio", "must be >= 1");
  if (p.qo_indptr[0] != 0 || p.kv_indptr[0] != 0) throw InputError("qo_indptr/kv_indptr", "must start at 0");
  for (int32_t b = 0; b < batch; ++b) {
    if (p.qo_len(b) < 0) throw InputError("qo_indptr", "must be non-decreasing");
    if (p.kv_indptr[b + 1] - p.kv_indptr[b] != p.context_lens[b])
      throw InputError("context_lens", "must equal kv_indptr[b+1] - kv_indptr[b] with block_size 1 (b = " +
                                           std::to_string(b) + ")");
    if (p.context_lens[b] < 0) throw InputError("context_lens", "must be >= 0");
  }
  if (in.num_tokens != p.num_tokens()) throw InputError("inputs.num_tokens", "must equal qo_indptr[batch]");
  if (in.num_heads_q != p.num_heads_q()) throw InputError("inputs.num_heads_q", "must equal heads_k * gqa");
  if (in.num_heads_k != p.num_heads_k)
    throw InputError("inputs.num_heads_k", "must equal problem.num_heads_k");
  if (in.q.size() != to_size(int64_t{in.num_tokens} * in.num_heads_q * kQkHeadDim))
    throw InputError("inputs.q", "must hold num_tokens * num_heads_q * 192 codes");
  if (in.k.size() != to_size(int64_t{in.num_pages} * in.num_heads_k * kQkHeadDim))
    throw InputError("inputs.k", "must hold num_pages * num_heads_k * 192 codes");
  if (in.v.size() != to_size(int64_t{in.num_pages} * in.num_heads_k * kVHeadDim))
    throw InputError("inputs.v", "must hold num_pages * num_heads_k * 128 codes");
  if (in.kv_page_indices.size() < to_size(p.num_used_pages()))
    throw InputError("inputs.kv_page_indices", "must hold kv_indptr[batch] entries");
  for (int32_t i = 0; i < p.num_used_pages(); ++i) {
    const int32_t page = in.kv_page_indices[to_size(i)];
    if (page < 0 || page >= in.num_pages)
      throw InputError("inputs.kv_page_indices", "entries must lie in [0, num_pages)");
  }
}

struct Item {
  int32_t b, kh, r0, r1;  // sequence, K head, local query rows [r0, r1)
};

}  // namespace

RefResult reference_attention(const Problem& p, const AttnInputs& in, const RefOptions& opt) {
  check_inputs(p, in);
  const int32_t hq = p.num_heads_q();
  const int32_t hk = p.num_heads_k;
  const int32_t gqa = p.gqa_ratio;
  constexpr double kInf = std::numeric_limits<double>::infinity();

  RefResult res;
  res.num_tokens = p.num_tokens();
  res.num_heads_q = hq;
  res.out.assign(to_size(int64_t{res.num_tokens} * hq * kVHeadDim), 0.0);
  res.lse_ln.assign(to_size(int64_t{res.num_tokens} * hq), -kInf);

  std::array<double, 256> lut{};
  for (int c = 0; c < 256; ++c) lut[to_size(c)] = num::fp8_decode(static_cast<uint8_t>(c), in.encoding);

  const double softmax_scale = in.softmax_scale != 0.0f ? double{in.softmax_scale} : 1.0 / std::sqrt(192.0);
  const double score_scale = softmax_scale * double{in.q_scale} * double{in.k_scale};
  const double v_scale = in.v_scale;

  std::vector<Item> items;
  for (int32_t b = 0; b < p.batch(); ++b)
    for (int32_t kh = 0; kh < hk; ++kh)
      for (int32_t r0 = 0; r0 < p.qo_len(b); r0 += kRowBlock)
        items.push_back({b, kh, r0, std::min(r0 + kRowBlock, p.qo_len(b))});

  const int num_threads = opt.num_threads > 0 ? opt.num_threads : omp_get_max_threads();
  const int64_t n_items = static_cast<int64_t>(items.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(num_threads)
  for (int64_t it = 0; it < n_items; ++it) {
    const Item& w = items[to_size(it)];
    const int32_t qo_len = p.qo_len(w.b);
    const int32_t kv_len = p.kv_len(w.b);
    // Keys any row of the block can see: row i sees j <= i + kv_len - qo_len (bottom-right causal).
    auto visible_keys = [&](int32_t i) {
      const int64_t n = p.causal ? int64_t{i} + kv_len - qo_len + 1 : int64_t{kv_len};
      return static_cast<int32_t>(std::clamp<int64_t>(n, 0, kv_len));
    };
    const int32_t nk = visible_keys(w.r1 - 1);
    if (nk == 0) continue;  // every row empty: O = 0, LSE = -inf, as initialised

    MatR k(nk, kQkHeadDim), v(nk, kVHeadDim);
    for (int32_t j = 0; j < nk; ++j) {
      const int64_t page = in.kv_page_indices[to_size(p.kv_indptr[w.b] + j)];
      const uint8_t* kc = in.k.data() + (page * hk + w.kh) * kQkHeadDim;
      const uint8_t* vc = in.v.data() + (page * hk + w.kh) * kVHeadDim;
      for (int d = 0; d < kQkHeadDim; ++d) k(j, d) = lut[kc[d]];
      for (int d = 0; d < kVHeadDim; ++d) v(j, d) = lut[vc[d]];
    }
    const int32_t rows = w.r1 - w.r0;
    MatR q(rows, kQkHeadDim), s(rows, nk), pm(rows, nk), o(rows, kVHeadDim);
    for (int32_t g = 0; g < gqa; ++g) {
      const int32_t h = w.kh * gqa + g;
      for (int32_t r = 0; r < rows; ++r) {
        const int64_t tok = p.qo_indptr[w.b] + w.r0 + r;
        const uint8_t* qc = in.q.data() + (tok * hq + h) * kQkHeadDim;
        for (int d = 0; d < kQkHeadDim; ++d) q(r, d) = lut[qc[d]];
      }
      s.noalias() = q * k.transpose();
      s *= score_scale;
      std::vector<double> l(to_size(rows), 0.0), m(to_size(rows), -kInf);
      for (int32_t r = 0; r < rows; ++r) {
        const int32_t nv = visible_keys(w.r0 + r);
        for (int32_t j = 0; j < nv; ++j) m[to_size(r)] = std::max(m[to_size(r)], s(r, j));
        for (int32_t j = 0; j < nk; ++j) {
          if (j >= nv) {
            pm(r, j) = 0.0;
            continue;
          }
          const double e = std::exp(s(r, j) - m[to_size(r)]);
          l[to_size(r)] += e;  // l sums the unrounded P
          pm(r, j) =
              opt.round_p_fp8
                  ? num::fp8_decode(num::fp8_encode(static_cast<float>(e), in.encoding, true), in.encoding)
                  : e;
        }
      }
      o.noalias() = pm * v;
      for (int32_t r = 0; r < rows; ++r) {
        const int64_t tok = p.qo_indptr[w.b] + w.r0 + r;
        const size_t th = to_size(tok * hq + h);
        if (!(l[to_size(r)] > 0.0)) continue;  // empty row: O = 0, LSE = -inf (initialised)
        res.lse_ln[th] = m[to_size(r)] + std::log(l[to_size(r)]);
        double* out = res.out.data() + th * kVHeadDim;
        for (int d = 0; d < kVHeadDim; ++d) out[d] = o(r, d) / l[to_size(r)] * v_scale;
      }
    }
  }
  return res;
}

}  // namespace mlaps
