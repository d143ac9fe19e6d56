#include "reference/reference.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "scheduler/error.h"  // InputError only: the project's error type (header only, no scheduler code)

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

constexpr int kQkHeadDim = kRefQkDim;
constexpr int kVHeadDim = kRefVDim;

// Where each sequence's rows and keys start: the prefix sums of the lengths (the rows of sequence b are
// tokens [qo_start[b], qo_start[b + 1]), its keys kv_page_indices[kv_start[b], kv_start[b + 1])).
struct Layout {
  std::vector<int64_t> qo_start, kv_start;
  int32_t batch() const { return static_cast<int32_t>(qo_start.size()) - 1; }
  int32_t qo_len(int32_t b) const { return static_cast<int32_t>(qo_start[b + 1] - qo_start[b]); }
  int32_t kv_len(int32_t b) const { return static_cast<int32_t>(kv_start[b + 1] - kv_start[b]); }
  int64_t num_tokens() const { return qo_start.back(); }
};

Layout check_inputs(const RefInputs& in) {
  if (in.kv_lens.size() != in.qo_lens.size()) throw InputError("kv_lens", "must have one entry per sequence");
  if (in.num_heads_k < 1 || in.gqa_ratio < 1) throw InputError("num_heads_k/gqa_ratio", "must be >= 1");
  if (int64_t{in.num_heads_k} * in.gqa_ratio > std::numeric_limits<int32_t>::max())
    throw InputError("num_heads_k/gqa_ratio", "q heads overflow int32");
  if (in.num_pages < 0) throw InputError("num_pages", "must be >= 0");
  Layout lay;
  const size_t batch = in.qo_lens.size();
  lay.qo_start.assign(batch + 1, 0);
  lay.kv_start.assign(batch + 1, 0);
  for (size_t b = 0; b < batch; ++b) {
    if (in.qo_lens[b] < 0) throw InputError("qo_lens", "must be >= 0 (b = " + std::to_string(b) + ")");
    if (in.kv_lens[b] < 0) throw InputError("kv_lens", "must be >= 0 (b = " + std::to_string(b) + ")");
    lay.qo_start[b + 1] = lay.qo_start[b] + in.qo_lens[b];
    lay.kv_start[b + 1] = lay.kv_start[b] + in.kv_lens[b];
  }
  if (lay.qo_start[batch] > std::numeric_limits<int32_t>::max())
    throw InputError("qo_lens", "total query rows overflow int32");
  const int64_t hq = int64_t{in.num_heads_k} * in.gqa_ratio;
  if (in.q.size() != to_size(lay.num_tokens() * hq * kQkHeadDim))
    throw InputError("inputs.q", "must hold num_tokens * num_heads_q * 192 codes");
  if (in.k.size() != to_size(int64_t{in.num_pages} * in.num_heads_k * kQkHeadDim))
    throw InputError("inputs.k", "must hold num_pages * num_heads_k * 192 codes");
  if (in.v.size() != to_size(int64_t{in.num_pages} * in.num_heads_k * kVHeadDim))
    throw InputError("inputs.v", "must hold num_pages * num_heads_k * 128 codes");
  if (in.kv_page_indices.size() < to_size(lay.kv_start[batch]))
    throw InputError("inputs.kv_page_indices", "must hold sum(kv_lens) entries");
  for (int64_t i = 0; i < lay.kv_start[batch]; ++i) {
    const int32_t page = in.kv_page_indices[to_size(i)];
    if (page < 0 || page >= in.num_pages)
      throw InputError("inputs.kv_page_indices", "entries must lie in [0, num_pages)");
  }
  return lay;
}

// A row of fp8 codes to doubles through the call's table of the format's values (ref_fp8_value).
template <int kN>
void decode_row(const uint8_t* __restrict c, const double* __restrict table, double* __restrict out) {
  for (int d = 0; d < kN; ++d) out[d] = table[c[d]];
}

// How many keys ahead of a K/V row decode its rows are prefetched: the page table scatters keys (block size
// 1), so the hardware prefetchers cannot follow.
constexpr int kPrefetchAhead = 8;
template <int kBytes>
void prefetch_row(const uint8_t* row) {
  for (int c = 0; c < kBytes; c += 64) __builtin_prefetch(row + c, 0, 3);
  __builtin_prefetch(row + kBytes - 1, 0, 3);
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

RefResult reference_attention(const RefInputs& in, const RefOptions& opt) {
  const Layout p = check_inputs(in);
  const int32_t hk = in.num_heads_k;
  const int32_t gqa = in.gqa_ratio;
  const int32_t hq = hk * gqa;
  const bool causal = in.causal;
  constexpr double kInf = std::numeric_limits<double>::infinity();

  RefResult res;
  res.num_tokens = static_cast<int32_t>(p.num_tokens());
  res.num_heads_q = hq;
  res.out.assign(to_size(int64_t{res.num_tokens} * hq * kVHeadDim), 0.0);
  res.lse_ln.assign(to_size(int64_t{res.num_tokens} * hq), -kInf);

  std::array<double, 256> lut{};  // every code's value
  for (int c = 0; c < 256; ++c) lut[to_size(c)] = ref_fp8_value(static_cast<uint8_t>(c), in.format);

  const double softmax_scale = opt.softmax_scale != 0.0f ? double{opt.softmax_scale} : in.softmax_scale;
  const double score_scale = softmax_scale * in.q_scale * in.k_scale;
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
    const int32_t nk = visible_keys(causal, qo_len - 1, qo_len, p.kv_len(b));
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
        const int32_t nk = visible_keys(causal, r1 - 1, qo_len, kv_len);
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
        const int32_t* pages = in.kv_page_indices.data() + p.kv_start[gr.b];
        if (j + kPrefetchAhead < gr.nk) {
          const int64_t ahead = pages[j + kPrefetchAhead];
          prefetch_row<kQkHeadDim>(in.k.data() + (ahead * hk + gr.kh) * kQkHeadDim);
          prefetch_row<kVHeadDim>(in.v.data() + (ahead * hk + gr.kh) * kVHeadDim);
        }
        const int64_t page = pages[j];
        const uint8_t* kc = in.k.data() + (page * hk + gr.kh) * kQkHeadDim;
        const uint8_t* vc = in.v.data() + (page * hk + gr.kh) * kVHeadDim;
        double* kd = kbuf.get() + row * kQkHeadDim;
        double* vd = vbuf.get() + row * kVHeadDim;
        decode_row<kQkHeadDim>(kc, lut.data(), kd);
        decode_row<kVHeadDim>(vc, lut.data(), vd);
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
          const int64_t tok = p.qo_start[gr.b] + w_.r0 + r;
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
          const int32_t nv = visible_keys(causal, w_.r0 + r, qo_len, kv_len);
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
              sr[j] = ref_fp8_round(static_cast<float>(sr[j]), in.format);  // P held as fp32, then fp8
          std::fill(sr + nv, sr + nk, 0.0);                                 // masked keys
        }
        if (transposed) {
          ot.noalias() = v.transpose() * st;
        } else {
          o.noalias() = s * v;
        }
        for (int32_t r = 0; r < rows; ++r) {
          const double lr = l[to_size(r)];
          if (!(lr > 0.0)) continue;  // empty row: O = 0, LSE = -inf (initialised)
          const int64_t tok = p.qo_start[gr.b] + w_.r0 + r;
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
