// The CPU executor of the numeric model in sim/model.h.
//
// Two prefill implementations of the same model:
//  - emulate_prefill_reference_order: the model's comment transcribed, one (work, head, row) at a time.
//  - emulate_prefill: the same arithmetic, reorganised for speed (sim/prefill_fast.h), compiled once per
//    instruction set (ISA path) and dispatched here on what the CPU supports.
// The two agree bit for bit (NaN payloads aside: the model does not fix them), on every path; sim/tests check
// it.
#include "sim/emulate.h"

#include <omp.h>

#if MLAPS_ISA_UNITS_X86
#include <cpuid.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "scheduler/error.h"
#include "sim/model.h"
#include "sim/numerics.h"
#include "sim/prefill_units.h"

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
    const detail::SeqInfo s = detail::seq_info(p, w.batch_idx);
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
// The fast prefill: one unit per ISA path (sim/prefill_fast.h), chosen here.
namespace detail {

void prefill_constants(const PrefillParams& p, float lut[256], float* scale_log2) {
  const DecodeLut d(p.model.encoding);
  std::copy(d.v, d.v + 256, lut);
  *scale_log2 = score_scale_log2(p.softmax_scale, p.q_scale, p.k_scale);
}

void finish_row(const PrefillParams& p, const WorkInfo& w, int32_t r, int32_t h, const float* o, int stride,
                float m_log2, float l) {
  float row[kVHeadDim];
  for (int d = 0; d < kVHeadDim; ++d) row[d] = o[d * stride];
  write_row(p, w, r, h, row, row_lse_ln(m_log2, l));
}

}  // namespace detail

namespace {

#if MLAPS_ISA_UNITS_X86
// F16C from CPUID leaf 1, ECX bit 29: clang before 15 does not know "f16c" in __builtin_cpu_supports (the
// fuzz build uses clang-14); the AVX state the units need is checked by __builtin_cpu_supports("avx2").
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
}
#endif

const detail::PrefillUnit* unit_of(IsaPath path) {
  switch (path) {
    case IsaPath::kGeneric:
      return &detail::kUnit_generic;
#if MLAPS_ISA_UNITS_X86
    case IsaPath::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c()
                 ? &detail::kUnit_avx2
                 : nullptr;
    case IsaPath::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                     __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                     __builtin_cpu_supports("fma") && cpu_has_f16c()
                 ? &detail::kUnit_avx512
                 : nullptr;
#endif
    default:
      return nullptr;
  }
}

const detail::PrefillUnit& unit_or_throw(IsaPath path) {
  const detail::PrefillUnit* u = unit_of(path);
  if (!u) {
    throw std::invalid_argument(std::string("ISA path '") + isa_path_name(path) +
                                "' is not available (not built into this binary, or this CPU lacks it)");
  }
  return *u;
}

}  // namespace

const char* isa_path_name(IsaPath path) {
  switch (path) {
    case IsaPath::kGeneric:
      return "generic";
    case IsaPath::kAvx2:
      return "avx2";
    case IsaPath::kAvx512:
      return "avx512";
  }
  return "?";
}

bool isa_path_available(IsaPath path) {
  return unit_of(path) != nullptr;
}

IsaPath best_isa_path() {
  static const IsaPath best = [] {
    IsaPath b = IsaPath::kGeneric;
    for (IsaPath path : kAllIsaPaths)
      if (isa_path_available(path)) b = path;
    return b;
  }();
  return best;
}

IsaPath isa_path_from_setting(const char* value) {
  if (value == nullptr || *value == '\0') return best_isa_path();
  std::string have;
  for (IsaPath path : kAllIsaPaths) {
    if (isa_path_available(path)) have += std::string(have.empty() ? "" : ", ") + isa_path_name(path);
  }
  for (IsaPath path : kAllIsaPaths) {
    if (std::strcmp(value, isa_path_name(path)) != 0) continue;
    if (!isa_path_available(path)) {
      throw InputError(kIsaPathEnv, std::string("'") + value +
                                        "' is not available here (not built into this binary, or this CPU "
                                        "lacks it); this one has " +
                                        have);
    }
    return path;
  }
  throw InputError(kIsaPathEnv,
                   std::string("'") + value + "' is not an ISA path: use one of generic, avx2, " +
                       "avx512 (this binary and CPU have " + have + "), or unset it for the best");
}

IsaPath selected_isa_path() {
  static const IsaPath selected = isa_path_from_setting(std::getenv(kIsaPathEnv));
  return selected;
}

void emulate_prefill_on(IsaPath path, const PrefillParams& p, int num_threads, ProgressFn progress,
                        void* progress_ctx) {
  unit_or_throw(path).prefill(p, resolve_threads(num_threads), progress, progress_ctx);
}

void emulate_prefill(const PrefillParams& p, int num_threads, ProgressFn progress, void* progress_ctx) {
  emulate_prefill_on(selected_isa_path(), p, num_threads, progress, progress_ctx);
}

KvRowDecodeFn kv_row_decoder(IsaPath path, num::Fp8Encoding encoding) {
  const detail::PrefillUnit& u = unit_or_throw(path);
  return encoding == num::Fp8Encoding::kE4M3FN ? u.decode_fn : u.decode_fnuz;
}
KvRowFormFn kv_row_f16_former(IsaPath path, num::Fp8Encoding encoding) {
  const detail::PrefillUnit& u = unit_or_throw(path);
  return encoding == num::Fp8Encoding::kE4M3FN ? u.form_fn : u.form_fnuz;
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
