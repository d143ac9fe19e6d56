#include "sim/tensors.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>

#include "scheduler/error.h"
#include "sim/lanes.h"
#include "sim/numerics.h"

namespace mlaps {

std::vector<uint8_t> code_buffer(size_t n, const uint8_t* src) {
  std::vector<uint8_t> v;
  v.reserve(n);  // allocated, not yet touched
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (n >= kHugePageAdviseBytes) {
    constexpr uintptr_t kHuge = kHugePageBytes;
    const uintptr_t begin = reinterpret_cast<uintptr_t>(v.data());
    const uintptr_t lo = (begin + kHuge - 1) & ~(kHuge - 1);
    const uintptr_t hi = (begin + n) & ~(kHuge - 1);
    // A hint: where it fails (no THP in the kernel) nothing but the speed differs.
    if (hi > lo) (void)madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
  }
#endif
  if (src != nullptr) {
    v.assign(src, src + n);  // within the capacity: the advised block is kept
  } else {
    v.resize(n);
  }
  return v;
}

Quantized per_tensor_quant(const std::vector<float>& x, num::Fp8Encoding enc) {
  // Upstream (aiter/ops/quant.py per_tensor_quant): scale = max|x| / finfo.max, y = (x / scale).to(fp8), all
  // in fp32. x / scale lies within +-max up to the rounding of the division, so saturating is the safe
  // reading of torch's cast. The lane encoder is bit-identical to num::fp8_encode (tested), just faster.
  float amax = 0.0f;
  for (float v : x) {
    const float a = std::fabs(v);
    if (a > amax) amax = a;  // NaN never wins
  }
  Quantized q;
  q.scale = amax > 0.0f ? amax / num::fp8_max(enc) : 1.0f;
  q.codes = code_buffer(x.size());
  const int64_t n = static_cast<int64_t>(x.size());
  const float scale = q.scale;
  uint8_t* codes = q.codes.data();
  const float* xs = x.data();
  if (enc == num::Fp8Encoding::kE4M3FN) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) codes[i] = lanes::fp8_encode_lane<true>(xs[i] / scale, true);
  } else {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) codes[i] = lanes::fp8_encode_lane<false>(xs[i] / scale, true);
  }
  return q;
}

namespace {

// A portable normal generator: std::normal_distribution differs between standard libraries, so the same
// seed would give other inputs elsewhere. Marsaglia's polar method over the raw 64-bit engine output.
class Randn {
 public:
  explicit Randn(uint64_t seed) : eng_(seed) {}
  float next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u, v, s;
    do {  // one 64-bit draw gives both coordinates (32 bits each: plenty for bf16 outputs)
      const uint64_t r = eng_();
      u = static_cast<double>(r >> 32) * 0x1.0p-31 - 1.0;  // [-1, 1)
      v = static_cast<double>(r & 0xFFFFFFFFu) * 0x1.0p-31 - 1.0;
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double f = std::sqrt(-2.0 * std::log(s) / s);
    spare_ = static_cast<float>(v * f);
    has_spare_ = true;
    return static_cast<float>(u * f);
  }

 private:
  std::mt19937_64 eng_;
  float spare_ = 0;
  bool has_spare_ = false;
};

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Values as upstream's test draws them: randn in bf16 (then quantized per tensor from bf16 values). Chunks
// of 2^16 values have engines of their own (seeded from seed, tensor and chunk), so the result does not
// depend on the thread count.
std::vector<float> randn_bf16(uint64_t seed, uint64_t tensor, size_t n, float sigma) {
  constexpr size_t kChunk = size_t{1} << 16;
  std::vector<float> v(n);
  const int64_t chunks = static_cast<int64_t>((n + kChunk - 1) / kChunk);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    Randn g(splitmix64(seed ^ splitmix64(tensor * 0x100000000ull + static_cast<uint64_t>(c))));
    const size_t end = std::min(n, static_cast<size_t>(c + 1) * kChunk);
    for (size_t i = static_cast<size_t>(c) * kChunk; i < end; ++i)
      v[i] = num::bf16_decode(num::bf16_encode(g.next() * sigma));
  }
  return v;
}

int64_t checked_size(int64_t a, int64_t b, int64_t c, const char* field) {
  if (a < 0 || b < 0 || c < 0) throw InputError(field, "dimensions must be >= 0");
  const int64_t n = a * b * c;
  if (n > (int64_t{1} << 36)) throw InputError(field, "tensor larger than 2^36 elements");
  return n;
}

}  // namespace

AttnInputs make_random_inputs(const Problem& p, const InputOptions& opt) {
  if (p.block_size != 1)
    throw InputError("block_size", "the prefill kernel takes block_size 1 (one token per page)");
  if (p.num_heads_k < 1 || p.gqa_ratio < 1)
    throw InputError("num_heads_k", "heads and gqa_ratio must be >= 1");
  if (!(opt.value_range > 0.0f) || !std::isfinite(opt.value_range))
    throw InputError("value_range", "must be finite and > 0");
  AttnInputs in;
  in.encoding = opt.encoding;
  in.num_tokens = p.num_tokens();
  in.num_heads_q = p.num_heads_q();
  in.num_heads_k = p.num_heads_k;
  in.num_pages = p.num_used_pages();
  in.softmax_scale = resolve_softmax_scale(opt.softmax_scale);

  const int64_t nq = checked_size(in.num_tokens, in.num_heads_q, kQkHeadDim, "num_tokens");
  const int64_t nk = checked_size(in.num_pages, in.num_heads_k, kQkHeadDim, "num_pages");
  const int64_t nv = checked_size(in.num_pages, in.num_heads_k, kVHeadDim, "num_pages");

  Quantized q =
      per_tensor_quant(randn_bf16(opt.seed, 0, static_cast<size_t>(nq), opt.value_range), opt.encoding);
  in.q = std::move(q.codes);
  in.q_scale = q.scale;

  std::vector<float> kf = randn_bf16(opt.seed, 1, static_cast<size_t>(nk), opt.value_range);
  std::vector<float> vf;
  if (opt.v_from_k) {
    // Upstream's test: V = K[..., :128], quantized with its own scale.
    vf.resize(static_cast<size_t>(nv));
    const int64_t rows = static_cast<int64_t>(in.num_pages) * in.num_heads_k;
    for (int64_t r = 0; r < rows; ++r)
      std::copy_n(kf.begin() + r * kQkHeadDim, kVHeadDim, vf.begin() + r * kVHeadDim);
  } else {
    vf = randn_bf16(opt.seed, 2, static_cast<size_t>(nv), opt.value_range);
  }
  Quantized k = per_tensor_quant(kf, opt.encoding);
  Quantized v = per_tensor_quant(vf, opt.encoding);
  in.k = std::move(k.codes);
  in.k_scale = k.scale;
  in.v = std::move(v.codes);
  in.v_scale = v.scale;

  in.kv_page_indices.resize(static_cast<size_t>(in.num_pages));
  std::mt19937_64 pages(splitmix64(opt.seed ^ 0x5041474553ull));
  for (int32_t i = 0; i < in.num_pages; ++i) {
    // Uniform with replacement (repeats allowed, as upstream's test); the modulo bias is < 2^-32.
    in.kv_page_indices[i] =
        opt.shuffle_pages ? static_cast<int32_t>(pages() % static_cast<uint64_t>(in.num_pages)) : i;
  }
  return in;
}

void RunBuffers::allocate(int32_t tokens, int32_t heads_q, int32_t rows) {
  if (tokens < 0 || heads_q < 0 || rows < 0) throw InputError("RunBuffers", "sizes must be >= 0");
  num_tokens = tokens;
  num_heads_q = heads_q;
  partial_rows = rows;
  const size_t th = static_cast<size_t>(tokens) * static_cast<size_t>(heads_q);
  const size_t ph = static_cast<size_t>(rows) * static_cast<size_t>(heads_q);
  out.assign(th * kVHeadDim, 0);
  final_lse.assign(th, 0.0f);
  partial_o.assign(ph * kVHeadDim, 0.0f);
  partial_lse.assign(ph, 0.0f);
  poison();
}

void RunBuffers::poison() {
  std::fill(out.begin(), out.end(), num::kPoisonBf16);
  const float pf = num::u2f(num::kPoisonF32);
  std::fill(final_lse.begin(), final_lse.end(), pf);
  std::fill(partial_o.begin(), partial_o.end(), pf);
  std::fill(partial_lse.begin(), partial_lse.end(), pf);
}

int32_t partial_rows_for(const Plan& plan, int32_t tile_q) {
  int64_t rows = tile_q;
  for (const WorkInfo& w : plan.work_info) {
    if (w.partial_o_loc >= 0) rows = std::max<int64_t>(rows, int64_t{w.partial_o_loc} + tile_q);
  }
  if (rows > INT32_MAX) throw InputError("partial_o_loc", "partial rows exceed int32");
  return static_cast<int32_t>(rows);
}

namespace {

// Bounds of every work item against the buffers, so a malformed plan is an InputError, never a wild write.
void check_works(const Problem& p, const Plan& plan, const AttnInputs& in, const RunBuffers& buf) {
  const int32_t nw = plan.num_works();
  if (plan.work_indptr.empty() || plan.work_indptr.front() != 0 || plan.work_indptr.back() != nw)
    throw InputError("work_indptr", "must start at 0 and end at the number of works");
  for (size_t t = 1; t < plan.work_indptr.size(); ++t)
    if (plan.work_indptr[t] < plan.work_indptr[t - 1])
      throw InputError("work_indptr", "must be non-decreasing");
  for (int32_t wi = 0; wi < nw; ++wi) {
    const WorkInfo& w = plan.work_info[wi];
    const std::string f = "work_info[" + std::to_string(wi) + "]";
    if (w.batch_idx < 0 || w.batch_idx >= p.batch()) throw InputError(f, "batch_idx out of range");
    const int32_t b = w.batch_idx;
    if (w.qo_start < p.qo_indptr[b] || w.qo_end > p.qo_indptr[b + 1] || w.qo_start > w.qo_end)
      throw InputError(f, "qo range must lie inside its sequence's rows");
    if (w.kv_start < w.kv_end && (w.kv_start < 0 || w.kv_end > p.num_used_pages()))
      throw InputError(f, "kv range must lie inside kv_page_indices");
    if (w.q_head_lo() < 0 || w.q_head_hi() > in.num_heads_q || w.q_head_lo() > w.q_head_hi())
      throw InputError(f, "q_head_range must lie inside [0, num_heads_q)");
    if (w.partial_o_loc < -1) throw InputError(f, "partial_o_loc must be -1 or >= 0");
    if (w.partial_o_loc >= 0 && w.partial_o_loc + w.qo_rows() > buf.partial_rows)
      throw InputError(f, "partial rows beyond the partial buffers");
  }
}

}  // namespace

PrefillParams make_prefill_params(const Problem& p, const Plan& plan, const AttnInputs& in, RunBuffers& buf,
                                  const NumericModel& model) {
  if (p.block_size != 1) throw InputError("block_size", "the prefill kernel takes block_size 1");
  if (in.num_tokens != p.num_tokens()) throw InputError("num_tokens", "inputs and problem disagree");
  if (in.num_heads_q != p.num_heads_q() || in.num_heads_k != p.num_heads_k)
    throw InputError("num_heads", "inputs and problem disagree");
  if (in.num_heads_k < 1 || in.num_heads_q % in.num_heads_k != 0)
    throw InputError("num_heads_q", "must be a multiple of num_heads_k >= 1");
  if (static_cast<int64_t>(in.kv_page_indices.size()) != p.num_used_pages())
    throw InputError("kv_page_indices", "size must equal kv_indptr.back()");
  const size_t tq = static_cast<size_t>(in.num_tokens) * static_cast<size_t>(in.num_heads_q);
  const size_t pk = static_cast<size_t>(in.num_pages) * static_cast<size_t>(in.num_heads_k);
  if (in.q.size() != tq * kQkHeadDim || in.k.size() != pk * kQkHeadDim || in.v.size() != pk * kVHeadDim)
    throw InputError("q/k/v", "tensor sizes disagree with tokens, pages and heads");
  for (int32_t page : in.kv_page_indices)
    if (page < 0 || page >= in.num_pages)
      throw InputError("kv_page_indices", "values must be in [0, num_pages)");
  if (buf.num_tokens != in.num_tokens || buf.num_heads_q != in.num_heads_q ||
      buf.out.size() != tq * kVHeadDim || buf.final_lse.size() != tq ||
      buf.partial_o.size() != static_cast<size_t>(buf.partial_rows) * in.num_heads_q * kVHeadDim ||
      buf.partial_lse.size() != static_cast<size_t>(buf.partial_rows) * in.num_heads_q)
    throw InputError("RunBuffers", "not allocated for this problem");
  if (p.qo_indptr.size() != p.context_lens.size() + 1 || p.kv_indptr.size() != p.context_lens.size() + 1)
    throw InputError("qo_indptr/kv_indptr", "must have batch + 1 entries");
  check_works(p, plan, in, buf);

  PrefillParams pp{};
  pp.q = in.q.data();
  pp.k = in.k.data();
  pp.v = in.v.data();
  pp.kv_page_indices = in.kv_page_indices.data();
  pp.qo_indptr = p.qo_indptr.data();
  pp.kv_indptr = p.kv_indptr.data();
  pp.work_indptr = plan.work_indptr.data();
  pp.work_info = plan.work_info.data();
  pp.out = buf.out.data();
  pp.partial_o = buf.partial_o.data();
  pp.partial_lse = buf.partial_lse.data();
  pp.batch = p.batch();
  pp.num_tg = plan.num_tg();
  pp.num_tokens = in.num_tokens;
  pp.num_heads_q = in.num_heads_q;
  pp.num_heads_k = in.num_heads_k;
  pp.num_pages = in.num_pages;
  pp.num_used_pages = p.num_used_pages();
  pp.partial_rows = buf.partial_rows;
  pp.q_scale = in.q_scale;
  pp.k_scale = in.k_scale;
  pp.v_scale = in.v_scale;
  pp.softmax_scale = resolve_softmax_scale(in.softmax_scale);
  pp.causal = p.causal;
  pp.model = model;
  pp.model.encoding = in.encoding;  // the inputs' codes decide the encoding
  return pp;
}

ReduceParams make_reduce_params(const Plan& plan, RunBuffers& buf) {
  const int32_t n = plan.num_reduce_entries();
  if (plan.reduce_indptr.size() != static_cast<size_t>(n) + 1 || plan.reduce_indptr.front() != 0)
    throw InputError("reduce_indptr", "must have n_final + 1 entries starting at 0");
  if (static_cast<int64_t>(plan.reduce_partial_map.size()) < plan.reduce_indptr.back())
    throw InputError("reduce_partial_map", "shorter than reduce_indptr's total");
  for (int32_t t = 0; t < n; ++t)
    if (plan.reduce_indptr[t + 1] < plan.reduce_indptr[t])
      throw InputError("reduce_indptr", "must be non-decreasing");
  for (int32_t t = 0; t < n; ++t) {
    const FinalLoc& f = plan.reduce_final_map[t];
    if (f.qo_start < 0 || f.qo_end > buf.num_tokens || f.qo_start > f.qo_end)
      throw InputError("reduce_final_map", "rows must lie inside [0, num_tokens)");
    for (int32_t i = plan.reduce_indptr[t]; i < plan.reduce_indptr[t + 1]; ++i) {
      const int32_t loc = plan.reduce_partial_map[i];
      const int32_t n_i = plan.reduce_indptr[t + 1] - plan.reduce_indptr[t];
      if (loc == -1 && n_i == 1) continue;  // the n == 1 sentinel: skipped by both reduce versions
      if (loc < 0 || loc + f.rows() > buf.partial_rows)
        throw InputError("reduce_partial_map", "partial rows beyond the partial buffers");
    }
  }
  ReduceParams rp{};
  rp.partial_o = buf.partial_o.data();
  rp.partial_lse = buf.partial_lse.data();
  rp.reduce_indptr = plan.reduce_indptr.data();
  rp.reduce_final_map = plan.reduce_final_map.data();
  rp.reduce_partial_map = plan.reduce_partial_map.data();
  rp.final_out = buf.out.data();
  rp.final_lse = buf.final_lse.data();
  rp.num_reduce_tiles = n;
  rp.num_heads = buf.num_heads_q;
  rp.num_tokens = buf.num_tokens;
  rp.partial_rows = buf.partial_rows;
  rp.fixed_version = plan.reduce == ReduceVersion::kFixed;
  return rp;
}

}  // namespace mlaps
