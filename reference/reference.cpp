#include "reference/reference.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "scheduler/error.h"
#include "sim/lanes.h"
#include "sim/model.h"
#include "sim/numerics.h"

namespace mlaps {
namespace {

using MatR = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatC = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

// Query rows per work item: bounds the score block to kRowBlock x kv_len doubles per thread, whatever the
// sequence length, and is tall enough for Eigen's DGEMM to run near its peak on both GEMMs.
constexpr int32_t kRowBlock = 512;
// Below this many rows in a block the GEMMs run transposed (see the item loop).
constexpr int32_t kFewRows = 64;
// Decoded keys per wave (one group always fits whatever its length): 8Ki keys x 320 doubles = 12 + 8 MiB,
// so that many short sequences do not fault in hundreds of MiB on every call, and each buffer stays under
// glibc's 32 MiB dynamic mmap threshold: after the first call it comes from the heap, not from fresh pages
// the kernel faults in and zeroes (16Ki keys, 24 + 16 MiB, paid that on every call: ~1.4x on the 8-row
// shapes).
constexpr int64_t kWaveKeys = int64_t{1} << 13;

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

// A row of fp8 codes to doubles: the vectorisable bit-arithmetic decoder (bit-identical to num::fp8_decode,
// sim/tests check it), then an exact float -> double conversion. A LUT lookup per code here cost as much as
// the GEMMs on short-row shapes, where each decoded key serves only a few query rows.
// (Two loops: GCC 12 vectorises each, not the fused uint8 -> float -> double one.)
template <bool kFn, int kN>
void decode_row(const uint8_t* __restrict c, double* __restrict out) {
  alignas(64) float f[kN];
  lanes::fp8_decode_row<kFn, kN>(c, f);
#pragma omp simd
  for (int d = 0; d < kN; ++d) out[d] = static_cast<double>(f[d]);
}

struct Group {
  int32_t b, kh;
  int32_t nk;    // keys any row of the sequence can see (the last row's count)
  int64_t koff;  // first row of this group's K/V in the wave's decoded buffers
};

struct Item {
  int32_t group, g, r0, r1;  // group (sequence, K head), q head within the GQA group, local rows [r0, r1)
  int32_t nk;                // keys the block's last row can see
};

// Keys row i of a sequence can see: j <= i + kv_len - qo_len (bottom-right causal), all kv_len otherwise.
int32_t visible_keys(bool causal, int32_t i, int32_t qo_len, int32_t kv_len) {
  const int64_t n = causal ? int64_t{i} + kv_len - qo_len + 1 : int64_t{kv_len};
  return static_cast<int32_t>(std::clamp<int64_t>(n, 0, kv_len));
}

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

  const double softmax_scale =  // sim/tensors.h: the one default
      resolve_softmax_scale(opt.softmax_scale != 0.0f ? opt.softmax_scale : in.softmax_scale);
  const double score_scale = softmax_scale * double{in.q_scale} * double{in.k_scale};
  const double v_scale = in.v_scale;
  // Q decoded with the score scale folded in: s_ij = (scale * q_i) . k_j, equal to scale * (q_i . k_j) to
  // rounding (~1e-16 relative), and one pass over the score block fewer.
  std::array<double, 256> qlut{};
  for (size_t c = 0; c < 256; ++c) qlut[c] = lut[c] * score_scale;

  // Groups (sequence, K head) with at least one visible key, packed into waves: a wave's K/V are decoded
  // once into contiguous double matrices shared by all its row blocks and q heads, then its items run.
  // A wave holds one group, or several small ones up to kWaveKeys decoded keys (many short sequences).
  std::vector<Group> groups;
  std::vector<size_t> wave_begin{0};  // groups[wave_begin[w], wave_begin[w + 1]) form wave w
  int64_t wave_keys = 0, max_wave_keys = 0;
  int32_t max_nk = 0;
  for (int32_t b = 0; b < p.batch(); ++b) {
    const int32_t qo_len = p.qo_len(b);
    if (qo_len == 0) continue;
    const int32_t nk = visible_keys(p.causal, qo_len - 1, qo_len, p.kv_len(b));
    if (nk == 0) continue;  // every row empty: O = 0, LSE = -inf, as initialised
    max_nk = std::max(max_nk, nk);
    for (int32_t kh = 0; kh < hk; ++kh) {
      if (wave_keys > 0 && wave_keys + nk > kWaveKeys) {
        wave_begin.push_back(groups.size());
        wave_keys = 0;
      }
      groups.push_back({b, kh, nk, wave_keys});
      wave_keys += nk;
      max_wave_keys = std::max(max_wave_keys, wave_keys);
    }
  }
  if (groups.empty()) return res;
  wave_begin.push_back(groups.size());

  // Decoded K and V of one wave (uninitialised: every row is decoded before it is read).
  const std::unique_ptr<double[]> kbuf(new double[to_size(max_wave_keys * kQkHeadDim)]),
      vbuf(new double[to_size(max_wave_keys * kVHeadDim)]);
  std::vector<Item> items;
  std::vector<int64_t> row_starts;  // per wave group: first decoded row, for the flattened decode loop
  const int num_threads = opt.num_threads > 0 ? opt.num_threads : omp_get_max_threads();
  const bool fn = in.encoding == num::Fp8Encoding::kE4M3FN;

  for (size_t w = 0; w + 1 < wave_begin.size(); ++w) {
    const size_t g0 = wave_begin[w], g1 = wave_begin[w + 1];
    const int64_t n_rows = groups[g1 - 1].koff + groups[g1 - 1].nk;
    row_starts.clear();
    items.clear();
    // Row blocks of up to kRowBlock rows, smaller when the wave has few rows in all, so that there are about
    // 4 items per thread (a 600-row problem on 2 threads would otherwise be one 512-row item and one 88-row
    // item); never below kFewRows, where the GEMMs would lose their efficiency.
    int64_t wave_rows = 0;
    for (size_t gi = g0; gi < g1; ++gi) wave_rows += int64_t{p.qo_len(groups[gi].b)} * gqa;
    const int32_t row_block = static_cast<int32_t>(
        std::clamp<int64_t>((wave_rows + 4 * num_threads - 1) / (4 * num_threads), kFewRows, kRowBlock));
    for (size_t gi = g0; gi < g1; ++gi) {
      const Group& gr = groups[gi];
      row_starts.push_back(gr.koff);
      const int32_t qo_len = p.qo_len(gr.b), kv_len = p.kv_len(gr.b);
      for (int32_t r0 = 0; r0 < qo_len; r0 += row_block) {
        const int32_t r1 = std::min(r0 + row_block, qo_len);
        const int32_t nk = visible_keys(p.causal, r1 - 1, qo_len, kv_len);
        if (nk == 0) continue;
        for (int32_t g = 0; g < gqa; ++g) items.push_back({static_cast<int32_t>(gi), g, r0, r1, nk});
      }
    }
    // Largest blocks first (causal blocks shrink towards the top rows): dynamic scheduling then balances.
    std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
      return int64_t{a.r1 - a.r0} * a.nk > int64_t{b.r1 - b.r0} * b.nk;
    });
    const int64_t n_items = static_cast<int64_t>(items.size());

#pragma omp parallel num_threads(num_threads)
    {
      // Decode and gather K and V (through kv_page_indices) once per wave.
#pragma omp for schedule(static)
      for (int64_t row = 0; row < n_rows; ++row) {
        const size_t gi = g0 + to_size(std::upper_bound(row_starts.begin(), row_starts.end(), row) -
                                       row_starts.begin() - 1);
        const Group& gr = groups[gi];
        const int64_t j = row - gr.koff;
        const int32_t* pages = in.kv_page_indices.data() + p.kv_indptr[gr.b];
        if (j + lanes::kKvPrefetchAhead < gr.nk) {  // as the emulator's decode (sim/lanes.h)
          const int64_t ahead = pages[j + lanes::kKvPrefetchAhead];
          lanes::prefetch_bytes<kQkHeadDim>(in.k.data() + (ahead * hk + gr.kh) * kQkHeadDim);
          lanes::prefetch_bytes<kVHeadDim>(in.v.data() + (ahead * hk + gr.kh) * kVHeadDim);
        }
        const int64_t page = pages[j];
        const uint8_t* kc = in.k.data() + (page * hk + gr.kh) * kQkHeadDim;
        const uint8_t* vc = in.v.data() + (page * hk + gr.kh) * kVHeadDim;
        double* kd = kbuf.get() + row * kQkHeadDim;
        double* vd = vbuf.get() + row * kVHeadDim;
        if (fn) {
          decode_row<true, kQkHeadDim>(kc, kd);
          decode_row<true, kVHeadDim>(vc, vd);
        } else {
          decode_row<false, kQkHeadDim>(kc, kd);
          decode_row<false, kVHeadDim>(vc, vd);
        }
      }
      // (implicit barrier: every item reads K/V rows decoded by other threads)

      // Per-thread workspace: one (row block x keys) score block, the only qo x kv sized storage.
      // (unique_ptr<double[]>: uninitialised, every entry read is written first)
      const std::unique_ptr<double[]> qbuf(new double[to_size(kRowBlock * kQkHeadDim)]),
          sbuf(new double[to_size(int64_t{kRowBlock} * max_nk)]),
          obuf(new double[to_size(kRowBlock * kVHeadDim)]);
      std::array<double, kRowBlock> l{}, m{};
#pragma omp for schedule(dynamic, 1)
      for (int64_t it = 0; it < n_items; ++it) {
        const Item& w_ = items[to_size(it)];
        const Group& gr = groups[to_size(w_.group)];
        const int32_t qo_len = p.qo_len(gr.b), kv_len = p.kv_len(gr.b);
        const int32_t rows = w_.r1 - w_.r0, nk = w_.nk;
        const int32_t h = gr.kh * gqa + w_.g;
        Eigen::Map<MatR> q(qbuf.get(), rows, kQkHeadDim), s(sbuf.get(), rows, nk),
            o(obuf.get(), rows, kVHeadDim);
        const Eigen::Map<const MatR> k(kbuf.get() + gr.koff * kQkHeadDim, nk, kQkHeadDim),
            v(vbuf.get() + gr.koff * kVHeadDim, nk, kVHeadDim);
        for (int32_t r = 0; r < rows; ++r) {
          const int64_t tok = p.qo_indptr[gr.b] + w_.r0 + r;
          const uint8_t* qc = in.q.data() + (tok * hq + h) * kQkHeadDim;
          double* qd = qbuf.get() + int64_t{r} * kQkHeadDim;
          for (int d = 0; d < kQkHeadDim; ++d) qd[d] = qlut[qc[d]];
        }
        // Few rows (8-token chunks): Eigen's DGEMM kernel blocks 24 result rows at a time, so with rows as
        // the result's rows most of each block would be wasted. The same products as S^T = K Q^T and O^T =
        // V^T S^T put the keys (then the 128 dims) there instead; the memory layout is unchanged (a row-major
        // rows x n matrix is a column-major n x rows one).
        const bool transposed = rows < kFewRows;
        Eigen::Map<MatC> st(sbuf.get(), nk, rows), ot(obuf.get(), kVHeadDim, rows);
        if (transposed) {
          st.noalias() = k * q.transpose();
        } else {
          s.noalias() = q * k.transpose();
        }
        for (int32_t r = 0; r < rows; ++r) {
          const int32_t nv = visible_keys(p.causal, w_.r0 + r, qo_len, kv_len);
          double* sr = sbuf.get() + int64_t{r} * nk;
          Eigen::Map<Eigen::ArrayXd> e(sr, nv);
          // A NaN score makes l NaN whatever the max, and the row is then left empty, as with a scalar max.
          const double mr = nv > 0 ? e.maxCoeff() : -kInf;
          // Eigen's vectorised exp (range reduction + rational approximation, ~1 ulp: far inside the
          // 1e-12 absolute the tests ask of values <= 1).
          e = (e - mr).exp();
          l[to_size(r)] = e.sum();  // l sums the unrounded P
          m[to_size(r)] = mr;
          if (opt.round_p_fp8)
            for (int32_t j = 0; j < nv; ++j)
              sr[j] =
                  num::fp8_decode(num::fp8_encode(static_cast<float>(sr[j]), in.encoding, true), in.encoding);
          std::fill(sr + nv, sr + nk, 0.0);  // masked keys
        }
        if (transposed) {
          ot.noalias() = v.transpose() * st;
        } else {
          o.noalias() = s * v;
        }
        for (int32_t r = 0; r < rows; ++r) {
          const double lr = l[to_size(r)];
          if (!(lr > 0.0)) continue;  // empty row: O = 0, LSE = -inf (initialised)
          const int64_t tok = p.qo_indptr[gr.b] + w_.r0 + r;
          const size_t th = to_size(tok * hq + h);
          res.lse_ln[th] = m[to_size(r)] + std::log(lr);
          double* out = res.out.data() + th * kVHeadDim;
          const double* od = obuf.get() + int64_t{r} * kVHeadDim;
          for (int d = 0; d < kVHeadDim; ++d) out[d] = od[d] / lr * v_scale;
        }
      }
    }
  }
  return res;
}

}  // namespace mlaps
