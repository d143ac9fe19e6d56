#pragma once
// Internal to sim/: what emulate.cpp (compiled for the build's target) shares with the per-ISA units of the
// fast prefill (prefill_<isa>.cpp, each compiling sim/prefill_fast.h for one instruction set).
//
// The units' code must not leave out-of-line copies of shared inline functions: the linker keeps one copy of
// each for the whole program, and an AVX-512 unit's copy would then run on the AVX2 path too. So the units
// call the cold per-row helpers below (compiled once, here in emulate.cpp), the hot helpers of sim/lanes.h
// are always inlined, the units build at -O3 in every configuration (one-line helpers inline), and the test
// sim_isa_units_symbols checks their objects define no weak function.
#include <cstdint>

#include "sim/emulate.h"

namespace mlaps::detail {

struct SeqInfo {
  int32_t row0, qo_len, kv0, kv_len;
};
inline SeqInfo seq_info(const PrefillParams& p, int32_t b) {
  return {p.qo_indptr[b], p.qo_indptr[b + 1] - p.qo_indptr[b], p.kv_indptr[b],
          p.kv_indptr[b + 1] - p.kv_indptr[b]};
}

// lut[c] = fp8_decode(c, p.model.encoding) and the score scale (sim/model.h's score_scale_log2).
void prefill_constants(const PrefillParams& p, float lut[256], float* scale_log2);

// Writes one finished row, O[d] = o[d * stride] for d < 128 and LSE = row_lse_ln(m_log2, l): partial (fp32 O
// + LSE) or, for partial_o_loc == -1, bf16 O and no LSE.
void finish_row(const PrefillParams& p, const WorkInfo& w, int32_t r, int32_t h, const float* o, int stride,
                float m_log2, float l);

// One unit: its prefill (num_threads already resolved, >= 1) and its K/V row decoders.
struct PrefillUnit {
  void (*prefill)(const PrefillParams& p, int num_threads, ProgressFn progress, void* progress_ctx);
  KvRowDecodeFn decode_fn, decode_fnuz;
  KvRowFormFn form_fn, form_fnuz;  // nullptr where the <= 8-row blocks decode to fp32 (kv_row_f16_former)
};
extern const PrefillUnit kUnit_generic;
#if MLAPS_ISA_UNITS_X86
extern const PrefillUnit kUnit_avx2;
extern const PrefillUnit kUnit_avx512;
#endif

}  // namespace mlaps::detail
