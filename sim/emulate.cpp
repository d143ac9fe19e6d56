// The CPU executor of the numeric model in sim/model.h.
//
// Two prefill implementations of the same model:
//  - emulate_prefill_reference_order: the model's comment transcribed, one (work, head, row) at a time.
//  - emulate_prefill: the same arithmetic, reorganised for speed. Query rows sit in SIMD lanes (blocks of
//    32 rows, 16 for a short last block), so every per-row quantity (dot products, running max, running
//    sum, accumulator) is computed by a lane of its own with exactly the reference's sequence of operations:
//    vectorisation is across rows (and, for P.V, across the independent output dims d), never across a
//    reduction. QK and P.V are blocked like GEMM micro-kernels (accumulators in registers, K/V values
//    broadcast); memory is a per-thread workspace of one work item's rows and one decoded KV sub-tile, never
//    a score matrix. Masked keys never touch a lane's state (blends, not multiplications by zero), so signed
//    zeros and NaN inputs behave as in the reference. Thread groups run in parallel (OpenMP); each writes
//    its own rows, so results do not depend on the thread count.
// The two agree bit for bit (NaN payloads aside: the model does not fix them); sim/tests check it.
#include "sim/emulate.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <vector>

#include "scheduler/error.h"
#include "sim/lanes.h"
#include "sim/model.h"
#include "sim/numerics.h"

namespace mlaps {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

int resolve_threads(int n) {
  return n > 0 ? n : omp_get_max_threads();
}

struct DecodeLut {
  float v[256];
  explicit DecodeLut(num::Fp8Encoding enc) {
    for (int c = 0; c < 256; ++c) v[c] = num::fp8_decode(static_cast<uint8_t>(c), enc);
  }
};

struct SeqInfo {
  int32_t row0, qo_len, kv0, kv_len;
};
SeqInfo seq_info(const PrefillParams& p, int32_t b) {
  return {p.qo_indptr[b], p.qo_indptr[b + 1] - p.qo_indptr[b], p.kv_indptr[b],
          p.kv_indptr[b + 1] - p.kv_indptr[b]};
}

// Writes one finished row: partial (fp32 O + LSE) or, for partial_o_loc == -1, bf16 O and no LSE.
void write_row(const PrefillParams& p, const WorkInfo& w, int32_t r, int32_t h, const float* o,
               float lse_ln) {
  if (w.partial_o_loc >= 0) {
    const int64_t prow = int64_t{w.partial_o_loc} + (r - w.qo_start);
    float* dst = p.partial_o + (prow * p.num_heads_q + h) * kVHeadDim;
    for (int d = 0; d < kVHeadDim; ++d) dst[d] = o[d];
    p.partial_lse[prow * p.num_heads_q + h] = lse_ln;
  } else {
    uint16_t* dst = p.out + (int64_t{r} * p.num_heads_q + h) * kVHeadDim;
    for (int d = 0; d < kVHeadDim; ++d) dst[d] = num::bf16_encode(o[d]);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// The oracle: sim/model.h's comment, line by line.
void emulate_prefill_reference_order(const PrefillParams& p) {
  const DecodeLut lut(p.model.encoding);  // lut.v[c] == fp8_decode(c, encoding)
  const float scale_log2 = score_scale_log2(p.softmax_scale, p.q_scale, p.k_scale);
  const int32_t gqa = p.num_heads_q / p.num_heads_k;
  float t[kTileKv];
  float acc[kVHeadDim];
  float o[kVHeadDim];
  for (int32_t wi = 0; wi < p.work_indptr[p.num_tg]; ++wi) {
    const WorkInfo& w = p.work_info[wi];
    const SeqInfo s = seq_info(p, w.batch_idx);
    for (int32_t h = w.q_head_lo(); h < w.q_head_hi(); ++h) {
      const int32_t hk = h / gqa;
      for (int32_t r = w.qo_start; r < w.qo_end; ++r) {
        const int32_t i = r - s.row0;
        const uint8_t* q = p.q + (int64_t{r} * p.num_heads_q + h) * kQkHeadDim;
        float m = kNegInf, l = 0.0f;
        for (float& a : acc) a = 0.0f;
        for (int32_t k0 = w.kv_start; k0 < w.kv_end; k0 += kTileKv) {
          const int32_t k1 = std::min(k0 + kTileKv, w.kv_end);
          float m_new = m;
          for (int32_t k = k0; k < k1; ++k) {
            if (!causal_visible(p.causal, i, k - s.kv0, s.qo_len, s.kv_len)) {
              t[k - k0] = kNegInf;
              continue;
            }
            const int64_t page = p.kv_page_indices[k];
            const uint8_t* kc = p.k + (page * p.num_heads_k + hk) * kQkHeadDim;
            float dot = 0.0f;
            for (int d = 0; d < kQkHeadDim; ++d) dot = num::fma_f(lut.v[q[d]], lut.v[kc[d]], dot);
            t[k - k0] = dot * scale_log2;
            m_new = running_max(m_new, t[k - k0]);
          }
          if (m_new == kNegInf) continue;  // nothing visible yet
          const float alpha = num::exp2_model(m - m_new);
          l = l * alpha;
          for (float& a : acc) a = a * alpha;
          for (int32_t k = k0; k < k1; ++k) {
            if (!causal_visible(p.causal, i, k - s.kv0, s.qo_len, s.kv_len)) continue;
            const float pk = num::exp2_model(t[k - k0] - m_new);
            l = l + pk;
            const float pv = round_p(pk, p.model);
            const int64_t page = p.kv_page_indices[k];
            const uint8_t* vc = p.v + (page * p.num_heads_k + hk) * kVHeadDim;
            for (int d = 0; d < kVHeadDim; ++d) acc[d] = num::fma_f(pv, lut.v[vc[d]], acc[d]);
          }
          m = m_new;
        }
        for (int d = 0; d < kVHeadDim; ++d) o[d] = row_out(acc[d], l, p.v_scale);
        write_row(p, w, r, h, o, row_lse_ln(m, l));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The fast prefill.
namespace {

constexpr int kLanes = 32;       // query rows per block: one lane each
constexpr int kShortLanes = 16;  // a last block of <= 16 rows (e.g. 8-token chunks) runs at half width
// Lanes of block bi of a work item with `rows` rows: state arrays keep a kLanes stride per block.
inline int block_lanes(int32_t rows, int32_t bi) {
  return rows - bi * kLanes <= kShortLanes ? kShortLanes : kLanes;
}
constexpr int kNk = 8;  // keys per QK micro-tile (kLanes x kNk accumulators)
constexpr int kDb = 8;  // output dims per P.V micro-tile (kLanes x kDb accumulators)
static_assert(kTileKv % kNk == 0 && kVHeadDim % kDb == 0);

template <typename T>
struct AlignedFree {
  void operator()(T* ptr) const { std::free(ptr); }
};
template <typename T>
using AlignedArray = std::unique_ptr<T[], AlignedFree<T>>;
template <typename T>
AlignedArray<T> aligned_array(size_t n) {
  const size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
  T* ptr = static_cast<T*>(std::aligned_alloc(64, bytes == 0 ? 64 : bytes));
  if (!ptr) throw std::bad_alloc();
  std::memset(static_cast<void*>(ptr), 0, bytes == 0 ? 64 : bytes);
  return AlignedArray<T>(ptr);
}

// Per-thread workspace: one work item's rows (Q^T, state) and one KV sub-tile. O(rows x dims), no score
// matrix.
struct Workspace {
  int32_t cap_blocks = 0;
  AlignedArray<float> qt;     // [blocks][192][kLanes]  decoded Q, transposed
  AlignedArray<float> acc;    // [blocks][128][kLanes]  P.V accumulators
  AlignedArray<float> m;      // [blocks][kLanes]       running max (log2 units)
  AlignedArray<float> l;      // [blocks][kLanes]       running sum
  AlignedArray<int64_t> lim;  // [blocks][kLanes]     last visible key index (into kv_page_indices), inclusive
  AlignedArray<float> kd = aligned_array<float>(size_t{kTileKv} * kQkHeadDim);  // [128][192] K sub-tile
  AlignedArray<float> vd = aligned_array<float>(size_t{kTileKv} * kVHeadDim);   // [128][128] V sub-tile
  AlignedArray<float> t = aligned_array<float>(size_t{kTileKv} * kLanes);       // [128][kLanes] scores
  AlignedArray<float> pv = aligned_array<float>(size_t{kTileKv} * kLanes);      // [128][kLanes] rounded P

  void reserve(int32_t blocks) {
    if (blocks <= cap_blocks) return;
    cap_blocks = blocks;
    const size_t b = static_cast<size_t>(blocks);
    qt = aligned_array<float>(b * kQkHeadDim * kLanes);
    acc = aligned_array<float>(b * kVHeadDim * kLanes);
    m = aligned_array<float>(b * kLanes);
    l = aligned_array<float>(b * kLanes);
    lim = aligned_array<int64_t>(b * kLanes);
  }
};

// S[kb + j][lane] = (sum_d fma over d ascending of Q[lane][d] * K[kb + j][d]) * scale_log2, for j < kNk.
// L x kNk accumulators stay in registers; K values are broadcast from the row-major sub-tile.
template <int L>
inline void qk_micro(const float* __restrict qt, const float* __restrict kd, int kb, float scale_log2,
                     float* __restrict t) {
  float acc[kNk][L];
  for (int j = 0; j < kNk; ++j)
#pragma omp simd
    for (int x = 0; x < L; ++x) acc[j][x] = 0.0f;
  const float* k0 = kd + kb * kQkHeadDim;
  for (int d = 0; d < kQkHeadDim; ++d) {
    const float* q = qt + d * L;
#pragma GCC unroll 8
    for (int j = 0; j < kNk; ++j) {
      const float kv = k0[j * kQkHeadDim + d];
#pragma omp simd
      for (int x = 0; x < L; ++x) acc[j][x] = std::fma(q[x], kv, acc[j][x]);
    }
  }
  for (int j = 0; j < kNk; ++j)
#pragma omp simd
    for (int x = 0; x < L; ++x) t[(kb + j) * L + x] = acc[j][x] * scale_log2;
}

// acc[d][lane] = fma(pv[k][lane], V[k][d], acc[d][lane]) for k in [0, n_full) ascending, then for k in
// [n_full, n_any) only where key k is visible to the lane (k <= rel[lane]) and the lane is active.
template <int L>
inline void pv_micro(const float* __restrict pv, const float* __restrict vd, int d0, int n_full, int n_any,
                     const int32_t* __restrict rel, const int32_t* __restrict active, float* __restrict acc) {
  float a[kDb][L];
  for (int j = 0; j < kDb; ++j)
#pragma omp simd
    for (int x = 0; x < L; ++x) a[j][x] = acc[(d0 + j) * L + x];
  for (int k = 0; k < n_full; ++k) {
    const float* pk = pv + k * L;
    const float* vk = vd + k * kVHeadDim + d0;
#pragma GCC unroll 8
    for (int j = 0; j < kDb; ++j) {
      const float vv = vk[j];
#pragma omp simd
      for (int x = 0; x < L; ++x) a[j][x] = std::fma(pk[x], vv, a[j][x]);
    }
  }
  for (int k = n_full; k < n_any; ++k) {
    const float* pk = pv + k * L;
    const float* vk = vd + k * kVHeadDim + d0;
    for (int j = 0; j < kDb; ++j) {
      const float vv = vk[j];
#pragma omp simd
      for (int x = 0; x < L; ++x) {
        const float f = std::fma(pk[x], vv, a[j][x]);
        a[j][x] = ((k <= rel[x]) & (active[x] != 0)) ? f : a[j][x];
      }
    }
  }
  for (int j = 0; j < kDb; ++j)
#pragma omp simd
    for (int x = 0; x < L; ++x) acc[(d0 + j) * L + x] = a[j][x];
}

class FastPrefill {
 public:
  explicit FastPrefill(const PrefillParams& p)
      : p_(p), lut_(p.model.encoding), scale_log2_(score_scale_log2(p.softmax_scale, p.q_scale, p.k_scale)) {}

  void run_work(const WorkInfo& w, Workspace& ws) const {
    if (w.qo_end <= w.qo_start) return;
    for (int32_t h = w.q_head_lo(); h < w.q_head_hi(); ++h) run_work_head(w, h, ws);
  }

 private:
  // K and V rows of key k (head hk) into L1, ahead of their decode.
  [[gnu::always_inline]] inline void prefetch_key(int32_t k, int32_t hk) const {
    const int64_t page = p_.kv_page_indices[k];
    lanes::prefetch_bytes<kQkHeadDim>(p_.k + (page * p_.num_heads_k + hk) * kQkHeadDim);
    lanes::prefetch_bytes<kVHeadDim>(p_.v + (page * p_.num_heads_k + hk) * kVHeadDim);
  }

  void run_work_head(const WorkInfo& w, int32_t h, Workspace& ws) const {
    const SeqInfo s = seq_info(p_, w.batch_idx);
    const int32_t hk = h / (p_.num_heads_q / p_.num_heads_k);
    const int32_t rows = w.qo_end - w.qo_start;
    const int32_t nb = (rows + kLanes - 1) / kLanes;
    ws.reserve(nb);

    // Q^T, state, and each lane's last visible key. Pad lanes repeat the last row, so they never force the
    // masked path; their results are discarded.
    int64_t lim_max = std::numeric_limits<int64_t>::min();
    for (int32_t bi = 0; bi < nb; ++bi) {
      const int lb = block_lanes(rows, bi);
      float* qt = ws.qt.get() + size_t(bi) * kQkHeadDim * kLanes;
      for (int x = 0; x < lb; ++x) {
        const int32_t r = w.qo_start + std::min(bi * kLanes + x, rows - 1);
        const uint8_t* q = p_.q + (int64_t{r} * p_.num_heads_q + h) * kQkHeadDim;
        for (int d = 0; d < kQkHeadDim; ++d) qt[d * lb + x] = lut_.v[q[d]];
        const int64_t i = r - s.row0;
        // visible(k) iff !causal || (k - kv0) <= i + kv_len - qo_len
        const int64_t lim =
            p_.causal ? int64_t{s.kv0} + i + s.kv_len - s.qo_len : std::numeric_limits<int32_t>::max();
        ws.lim[size_t(bi) * kLanes + x] = lim;
        lim_max = std::max(lim_max, lim);
        ws.m[size_t(bi) * kLanes + x] = kNegInf;
        ws.l[size_t(bi) * kLanes + x] = 0.0f;
      }
      float* acc = ws.acc.get() + size_t(bi) * kVHeadDim * kLanes;
      std::fill(acc, acc + kVHeadDim * kLanes, 0.0f);
    }

    for (int32_t k0 = w.kv_start; k0 < w.kv_end; k0 += kTileKv) {
      const int32_t nk = std::min(kTileKv, w.kv_end - k0);
      // Keys visible to some row of the work: [k0, k0 + n_dec).
      const int32_t n_dec = static_cast<int32_t>(std::clamp<int64_t>(lim_max - k0 + 1, 0, nk));
      decode_kv(k0, n_dec, hk, ws);
      for (int32_t bi = 0; bi < nb; ++bi) {
        if (block_lanes(rows, bi) == kLanes) {
          block_subtile<kLanes>(bi, k0, nk, ws);
        } else {
          block_subtile<kShortLanes>(bi, k0, nk, ws);
        }
      }
    }

    float o[kVHeadDim];
    for (int32_t bi = 0; bi < nb; ++bi) {
      const int lb = block_lanes(rows, bi);
      float* acc = ws.acc.get() + size_t(bi) * kVHeadDim * kLanes;
      const float* l = ws.l.get() + size_t(bi) * kLanes;
      // row_out per lane, in place, vectorised across lanes: (acc / l) * v_scale, or the empty-row O where
      // row_is_empty(l) (the quotient is computed unconditionally so that the select vectorises).
      const float v_scale = p_.v_scale;
      for (int d = 0; d < kVHeadDim; ++d) {
        float* a = acc + d * lb;
#pragma omp simd
        for (int x = 0; x < lb; ++x) {
          const float q = (a[x] / l[x]) * v_scale;
          a[x] = row_is_empty(l[x]) ? empty_row_o() : q;
        }
      }
      for (int x = 0; x < lb && bi * kLanes + x < rows; ++x) {
        for (int d = 0; d < kVHeadDim; ++d) o[d] = acc[d * lb + x];
        write_row(p_, w, w.qo_start + bi * kLanes + x, h, o, row_lse_ln(ws.m[size_t(bi) * kLanes + x], l[x]));
      }
    }
  }

  void decode_kv(int32_t k0, int32_t n, int32_t hk, Workspace& ws) const {
    if (p_.model.encoding == num::Fp8Encoding::kE4M3FN) {
      decode_kv_enc<true>(k0, n, hk, ws);
    } else {
      decode_kv_enc<false>(k0, n, hk, ws);
    }
  }
  template <bool kFn>
  void decode_kv_enc(int32_t k0, int32_t n, int32_t hk, Workspace& ws) const {
    float* kd = ws.kd.get();
    float* vd = ws.vd.get();
    // Without the prefetch the decode waits on every scattered row (2x on the 8-row shapes, bench/README).
    for (int32_t j = 0; j < n; ++j) {
      if (j + lanes::kKvPrefetchAhead < n) prefetch_key(k0 + j + lanes::kKvPrefetchAhead, hk);
      const int64_t page = p_.kv_page_indices[k0 + j];
      const uint8_t* __restrict kc = p_.k + (page * p_.num_heads_k + hk) * kQkHeadDim;
      const uint8_t* __restrict vc = p_.v + (page * p_.num_heads_k + hk) * kVHeadDim;
      float* __restrict kr = kd + j * kQkHeadDim;
      float* __restrict vr = vd + j * kVHeadDim;
      lanes::fp8_decode_row<kFn, kQkHeadDim>(kc, kr);
      lanes::fp8_decode_row<kFn, kVHeadDim>(vc, vr);
    }
  }

  // One block of L rows (L = kLanes, or 16 for a short last block) against one KV sub-tile [k0, k0 + nk): the
  // model's sub-tile step, per lane.
  template <int L>
  void block_subtile(int32_t bi, int32_t k0, int32_t nk, Workspace& ws) const {
    float* m = ws.m.get() + size_t(bi) * kLanes;
    float* l = ws.l.get() + size_t(bi) * kLanes;
    float* acc = ws.acc.get() + size_t(bi) * kVHeadDim * kLanes;
    const int64_t* lim = ws.lim.get() + size_t(bi) * kLanes;
    // rel[x]: the lane's last visible key relative to k0 (clamped); keys [0, n_all) are visible to every
    // lane, [0, n_any) to some lane.
    alignas(64) int32_t rel[L];
    int64_t rmin = std::numeric_limits<int64_t>::max(), rmax = std::numeric_limits<int64_t>::min();
    for (int x = 0; x < L; ++x) {
      const int64_t rr = std::clamp<int64_t>(lim[x] - k0, -1, kTileKv);
      rel[x] = static_cast<int32_t>(rr);
      rmin = std::min(rmin, rr);
      rmax = std::max(rmax, rr);
    }
    const int32_t n_all = static_cast<int32_t>(std::clamp<int64_t>(rmin + 1, 0, nk));
    const int32_t n_any = static_cast<int32_t>(std::clamp<int64_t>(rmax + 1, 0, nk));

    // Scores for keys [0, n_any), micro-tiles of kNk keys (a partial last micro-tile computes ignored keys
    // from stale but finite workspace data).
    float* t = ws.t.get();
    const float* qt = ws.qt.get() + size_t(bi) * kQkHeadDim * kLanes;
    for (int kb = 0; kb < n_any; kb += kNk) qk_micro<L>(qt, ws.kd.get(), kb, scale_log2_, t);
    for (int k = n_all; k < n_any; ++k)
#pragma omp simd
      for (int x = 0; x < L; ++x) {
        const float tv = t[k * L + x];
        t[k * L + x] = k <= rel[x] ? tv : kNegInf;
      }

    // Running max, key order per lane (invisible keys are -inf and never win; NaN never wins).
    alignas(64) float m_new[L];
#pragma omp simd
    for (int x = 0; x < L; ++x) m_new[x] = m[x];
    for (int k = 0; k < n_any; ++k)
#pragma omp simd
      for (int x = 0; x < L; ++x) m_new[x] = running_max(m_new[x], t[k * L + x]);

    // A lane whose m_new is -inf saw nothing yet: the reference skips the sub-tile for it (alpha 1, no keys).
    alignas(64) int32_t active[L];
    alignas(64) float alpha[L];
    int32_t n_active = 0, n_rescale = 0;
#pragma omp simd reduction(+ : n_active, n_rescale)
    for (int x = 0; x < L; ++x) {
      active[x] = m_new[x] != kNegInf ? 1 : 0;
      const float e = lanes::exp2_lane(m[x] - m_new[x]);
      alpha[x] = std::bit_cast<float>(active[x] != 0 ? std::bit_cast<uint32_t>(e) : 0x3F800000u);
      n_active += active[x];
      n_rescale += std::bit_cast<uint32_t>(alpha[x]) != 0x3F800000u ? 1 : 0;
    }
    const bool all_active = n_active == L, any_rescale = n_rescale > 0;
    if (any_rescale) {
#pragma omp simd
      for (int x = 0; x < L; ++x) l[x] = l[x] * alpha[x];
      for (int d = 0; d < kVHeadDim; ++d)
#pragma omp simd
        for (int x = 0; x < L; ++x) acc[d * L + x] = acc[d * L + x] * alpha[x];
    }

    // P, the running sum (unrounded P, key order per lane) and the rounded P for P.V.
    const int32_t n_full = all_active ? n_all : 0;
    float* pv = ws.pv.get();
    alignas(64) float lsum[L];
#pragma omp simd
    for (int x = 0; x < L; ++x) lsum[x] = l[x];
    const bool fn = p_.model.encoding == num::Fp8Encoding::kE4M3FN;
    for (int k = 0; k < n_any; ++k) {
      float* pk = pv + k * L;
      const float* tk = t + k * L;
      if (k < n_full) {
#pragma omp simd
        for (int x = 0; x < L; ++x) {
          const float e = lanes::exp2_lane(tk[x] - m_new[x]);
          lsum[x] = lsum[x] + e;
          pk[x] = e;
        }
      } else {
#pragma omp simd
        for (int x = 0; x < L; ++x) {
          const float e = lanes::exp2_lane(tk[x] - m_new[x]);
          const bool c = (k <= rel[x]) & (active[x] != 0);
          const float added = lsum[x] + e;  // computed unconditionally, so the select if-converts
          lsum[x] = c ? added : lsum[x];
          pk[x] = e;
        }
      }
      if (p_.model.round_p_fp8) {
        if (fn) {
#pragma omp simd
          for (int x = 0; x < L; ++x) pk[x] = lanes::round_p_lane<true>(pk[x]);
        } else {
#pragma omp simd
          for (int x = 0; x < L; ++x) pk[x] = lanes::round_p_lane<false>(pk[x]);
        }
      }
    }
#pragma omp simd
    for (int x = 0; x < L; ++x) l[x] = lsum[x];

    for (int d0 = 0; d0 < kVHeadDim; d0 += kDb)
      pv_micro<L>(pv, ws.vd.get(), d0, n_full, n_any, rel, active, acc);

#pragma omp simd
    for (int x = 0; x < L; ++x) m[x] = active[x] != 0 ? m_new[x] : m[x];
  }

  const PrefillParams& p_;
  DecodeLut lut_;
  float scale_log2_;
};

}  // namespace

void emulate_prefill(const PrefillParams& p, int num_threads, ProgressFn progress, void* progress_ctx) {
  const FastPrefill fp(p);
  const int64_t total = p.work_indptr[p.num_tg];
  std::atomic<int64_t> done{0};
  const int nt = resolve_threads(num_threads);
#pragma omp parallel num_threads(nt)
  {
    Workspace ws;
#pragma omp for schedule(dynamic, 1)
    for (int32_t tg = 0; tg < p.num_tg; ++tg) {
      for (int32_t wi = p.work_indptr[tg]; wi < p.work_indptr[tg + 1]; ++wi) fp.run_work(p.work_info[wi], ws);
      const int64_t n = done.fetch_add(p.work_indptr[tg + 1] - p.work_indptr[tg]) +
                        (p.work_indptr[tg + 1] - p.work_indptr[tg]);
      if (progress && omp_get_thread_num() == 0) progress(n, total, progress_ctx);
    }
  }
  if (progress) progress(total, total, progress_ctx);
}

// ---------------------------------------------------------------------------------------------------
// mla_reduce_v1.
namespace {

void reduce_row(const ReduceParams& p, const int32_t* pmap, int32_t n, int32_t local, int32_t r, int32_t h) {
  const int64_t H = p.num_heads;
  auto row = [&](int32_t i) { return (int64_t{pmap[i]} + local) * H + h; };
  auto lse_at = [&](int32_t i) { return p.partial_lse[row(i)]; };
  auto o_at = [&](int32_t i, int d) { return p.partial_o[row(i) * kVHeadDim + d]; };
  float merged[kVHeadDim];
  const float lse = reduce_merge<kVHeadDim>(n, lse_at, o_at, merged);
  uint16_t* out = p.final_out + (int64_t{r} * H + h) * kVHeadDim;
  for (int d = 0; d < kVHeadDim; ++d) out[d] = num::bf16_encode(merged[d]);
  p.final_lse[int64_t{r} * H + h] = lse;
}

}  // namespace

void emulate_reduce(const ReduceParams& p, int num_threads) {
  const int nt = resolve_threads(num_threads);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
  for (int32_t t = 0; t < p.num_reduce_tiles; ++t) {
    const int32_t start = p.reduce_indptr[t];
    const int32_t n = p.reduce_indptr[t + 1] - start;
    // Padding (n == 0); n == 1 under the legacy reduce, or on the -1 sentinel slot (model.h).
    if (reduce_entry_skipped(n, p.fixed_version, n > 0 ? p.reduce_partial_map[start] : 0)) continue;
    const FinalLoc f = p.reduce_final_map[t];
    for (int32_t r = f.qo_start; r < f.qo_end; ++r)
      for (int32_t h = 0; h < p.num_heads; ++h)
        reduce_row(p, p.reduce_partial_map + start, n, r - f.qo_start, r, h);
  }
}

UnwrittenCounts count_unwritten(const RunBuffers& buf) {
  UnwrittenCounts c;
  const int64_t pairs = int64_t{buf.num_tokens} * buf.num_heads_q;
  for (int64_t i = 0; i < pairs; ++i) {
    const uint16_t* o = buf.out.data() + i * kVHeadDim;
    bool any = false;
    for (int d = 0; d < kVHeadDim; ++d) any = any || num::is_poison_bf16(o[d]);
    c.output += any ? 1 : 0;
    c.lse += num::is_poison_f32(buf.final_lse[i]) ? 1 : 0;
  }
  return c;
}

SimRun simulate(const Problem& p, const Plan& plan, const AttnInputs& in, const NumericModel& model,
                int num_threads) {
  SimRun run;
  run.buffers.allocate(p.num_tokens(), p.num_heads_q(), partial_rows_for(plan, p.tile_q));
  const PrefillParams pp = make_prefill_params(p, plan, in, run.buffers, model);
  const ReduceParams rp = make_reduce_params(plan, run.buffers);
  emulate_prefill(pp, num_threads);
  emulate_reduce(rp, num_threads);
  run.unwritten = count_unwritten(run.buffers);
  return run;
}

}  // namespace mlaps
