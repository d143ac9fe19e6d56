#pragma once
// Lane forms of the model's scalar functions, written for GCC's vectoriser (no libm calls, no branches the
// optimiser could thread arithmetic into): each is bit-identical to its num:: counterpart on the stated
// domain (sim/tests/lanes_test.cpp checks it). Host-only; needs the default FP environment (no FTZ/DAZ).
// Every function is always inlined: the emulator compiles them into its per-ISA units (sim/prefill_fast.h),
// and an out-of-line copy from one unit (say, AVX-512 code) could be the one the linker keeps for all.
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>
#endif

#include "sim/numerics.h"

namespace mlaps::lanes {

// Pulls the kBytes at p (any alignment) toward L1 (kLocality 3: prefetcht0; 1: prefetcht2, toward L2) ahead
// of a read: a hint, no effect on results. Always inlined: as an out-of-line call, GCC 12 finds it free of
// side effects and deletes the call.
template <int kBytes, int kLocality = 3>
[[gnu::always_inline]] inline void prefetch_bytes(const uint8_t* p) {
  for (int c = 0; c < kBytes; c += 64) __builtin_prefetch(p + c, 0, kLocality);
  __builtin_prefetch(p + kBytes - 1, 0, kLocality);
}
// How many keys ahead of a K/V row decode its rows are prefetched (the emulator, the reference and the
// benchmark floors alike): the page table scatters keys (block size 1), so the hardware prefetchers cannot
// follow, and 4-16 measured alike on the 8-row shapes while 32 and more got slower.
inline constexpr int kKvPrefetchAhead = 8;

// fp8_decode for every code, by bit arithmetic: the 7 magnitude bits placed at fp32 bits 26..20 read as
// 2^(E-127) * 1.M (or the subnormal M * 2^-129 for E = 0); the exact product with 2^(127 - bias) gives the
// fp8 value. NaN codes give the canonical quiet NaN, as fp8_decode does.
template <bool kFn>
[[gnu::always_inline]] inline float fp8_decode_lane(uint8_t c) {
  const uint32_t mag = c & 0x7Fu;
  const float v = std::bit_cast<float>(mag << 20) * (kFn ? 0x1.0p120f : 0x1.0p119f);
  const uint32_t bits = std::bit_cast<uint32_t>(v) | (static_cast<uint32_t>(c & 0x80u) << 24);
  const bool nan = kFn ? mag == 0x7Fu : c == 0x80u;
  return std::bit_cast<float>(nan ? 0x7FC00000u : bits);
}

// A row of kN fp8 codes decoded to fp32, one lane per code (bit-identical to num::fp8_decode per code).
template <bool kFn, int kN>
[[gnu::always_inline]] inline void fp8_decode_row(const uint8_t* __restrict c, float* __restrict out) {
#pragma omp simd
  for (int d = 0; d < kN; ++d) out[d] = fp8_decode_lane<kFn>(c[d]);
}

// The fp16 form of an fp8 code, the one home of its bit placement (the F16C and AVX-512 row decoders below,
// and the <= 8-row blocks' K^T and V in sim/prefill_fast.h). The code's 7 magnitude bits, placed at fp16 bits
// 13..7, read as an fp16 with the code's 4-bit exponent in the 5-bit field and its 3 mantissa bits on top:
// the same significand (subnormals too) with bias 15 instead of 7 (fn) or 8 (fnuz), i.e. the fp8 value
// divided by kF16FormScale, exactly. Sign extension of the byte to 16 bits, then the shift, puts the sign at
// bit 15 and a copy at bit 14, which kF16FormKeep clears. The NaN codes would read as finite fp16 (+-1.875
// for fn's S.1111.111, -0 for fnuz's 0x80): they become the fp16 quiet NaN kF16QuietNan, which vcvtph2ps
// turns into 0x7FC00000 (fp8_decode's NaN) and which stays it after the product with the scale. vcvtph2ps
// is exact and the product with the scale is exact (the result is a normal float or zero).
inline constexpr int kF16FormShift = 7;
inline constexpr uint16_t kF16FormKeep = 0xBF80;
inline constexpr uint16_t kF16QuietNan = 0x7E00;
template <bool kFn>
inline constexpr float kF16FormScale = kFn ? 0x1.0p8f : 0x1.0p7f;
// A code is a NaN when (fn) c | 0x80 == 0xFF or (fnuz) c == 0x80: the byte compared with kNanByte.
template <bool kFn>
inline constexpr uint8_t kNanByte = kFn ? 0xFF : 0x80;

#if defined(__AVX2__) && defined(__F16C__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
// GCC 12's avx512fintrin.h reads an uninitialised __Y in _mm512_cvtepi8_epi16 / _mm512_cvtph_ps (GCC bug
// 105593, fixed in 13): a false positive of the header, not of this code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// The fp16 forms of the 16 codes at c, the NaN codes not yet replaced.
[[gnu::always_inline]] inline __m256i f16_forms16(const uint8_t* c) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c));
  return _mm256_and_si256(_mm256_slli_epi16(_mm256_cvtepi8_epi16(b), kF16FormShift),
                          _mm256_set1_epi16(static_cast<int16_t>(kF16FormKeep)));
}
// Those forms with the NaN codes replaced, found on the forms: fn's S.1111.111 is 0x7F << 7 without its
// sign, fnuz's 0x80 is 0x8000.
template <bool kFn>
[[gnu::always_inline]] inline __m256i f16_forms16_nan(__m256i h) {
  const __m256i nan_at = _mm256_set1_epi16(static_cast<int16_t>(kFn ? 0x7F << kF16FormShift : 0x8000));
  const __m256i nan_mask = _mm256_set1_epi16(static_cast<int16_t>(kFn ? 0x7FFF : 0xFFFF));
  return _mm256_blendv_epi8(h, _mm256_set1_epi16(static_cast<int16_t>(kF16QuietNan)),
                            _mm256_cmpeq_epi16(_mm256_and_si256(h, nan_mask), nan_at));
}

#if defined(__AVX512F__) && defined(__AVX512BW__)
// The fp16 forms of 32 codes, the NaN codes not yet replaced.
[[gnu::always_inline]] inline __m512i f16_forms32(__m256i b) {
  return _mm512_and_si512(_mm512_slli_epi16(_mm512_cvtepi8_epi16(b), kF16FormShift),
                          _mm512_set1_epi16(static_cast<int16_t>(kF16FormKeep)));
}
// kF16QuietNan in every lane, kept in a register: GCC 12 otherwise merges it into a masked broadcast from a
// general register (two operations instead of one masked move). Made once per row, outside the loops.
[[gnu::always_inline]] inline __m512i f16_quiet_nan512() {
  __m512i q = _mm512_set1_epi16(static_cast<int16_t>(kF16QuietNan));
  __asm__("" : "+v"(q));
  return q;
}
// The fp16 forms of the 64 codes at c as two vectors of 32, with (kNan) the NaN codes replaced. The NaN codes
// are found on the bytes, with one compare into a mask register whose halves replace them (two fewer
// operations per 64 codes than comparing the 16-bit forms; a branch around the replacement made GCC 12
// rematerialise every constant). Rows without a NaN code (no_nan_codes512) take kNan = false.
template <bool kFn, bool kNan = true>
[[gnu::always_inline]] inline void f16_forms64(const uint8_t* c, __m512i qnan, __m512i& lo, __m512i& hi) {
  lo = f16_forms32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c)));
  hi = f16_forms32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + 32)));
  if constexpr (kNan) {
    const __m512i all = _mm512_loadu_si512(c);
    const __m512i nan_byte = _mm512_set1_epi8(static_cast<char>(kNanByte<kFn>));
    const __mmask64 nan = _mm512_cmpeq_epi8_mask(
        kFn ? _mm512_or_si512(all, _mm512_set1_epi8(static_cast<char>(0x80))) : all, nan_byte);
    lo = _mm512_mask_mov_epi16(lo, static_cast<__mmask32>(nan), qnan);
    hi = _mm512_mask_mov_epi16(hi, static_cast<__mmask32>(nan >> 32), qnan);
  } else {
    (void)qnan;
  }
}
// True when none of the kN codes at c (kN % 64 == 0) is a NaN code: the byte compares of f16_forms64, once
// per row, chained through two mask registers (a row without one, every real K/V row, then skips the three
// replacement operations of each 64 codes: 9.0 against 10.6 ns per key row pair, in L1 and L2, on a Xeon).
template <bool kFn, int kN>
[[gnu::always_inline]] inline bool no_nan_codes512(const uint8_t* c) {
  static_assert(kN % 64 == 0);
  const __m512i nan_byte = _mm512_set1_epi8(static_cast<char>(kNanByte<kFn>));
  const __m512i sign_byte = _mm512_set1_epi8(static_cast<char>(0x80));
  __mmask64 clean[2] = {~__mmask64{0}, ~__mmask64{0}};
  for (int d = 0; d < kN; d += 64) {
    const __m512i b = _mm512_loadu_si512(c + d);
    clean[(d / 64) & 1] =
        _mm512_mask_cmpneq_epi8_mask(clean[(d / 64) & 1], kFn ? _mm512_or_si512(b, sign_byte) : b, nan_byte);
  }
  return (clean[0] & clean[1]) == ~__mmask64{0};
}
#endif

// A row of kN fp8 codes decoded to fp32 through the F16C converter, 16 codes per step (kN % 32 == 0): the
// fp16 forms widened and times kF16FormScale. The emulator's AVX2 path uses it (8-10x the lane form on AVX2;
// bench/README has the candidates measured).
template <bool kFn, int kN, bool kNan>
[[gnu::always_inline]] inline void fp8_decode_row_f16c_steps(const uint8_t* __restrict c,
                                                             float* __restrict out) {
  const __m256 scale = _mm256_set1_ps(kF16FormScale<kFn>);
  for (int d = 0; d < kN; d += 16) {
    __m256i h = f16_forms16(c + d);
    if constexpr (kNan) h = f16_forms16_nan<kFn>(h);
    _mm256_storeu_ps(out + d, _mm256_mul_ps(_mm256_cvtph_ps(_mm256_castsi256_si128(h)), scale));
    _mm256_storeu_ps(out + d + 8, _mm256_mul_ps(_mm256_cvtph_ps(_mm256_extracti128_si256(h, 1)), scale));
  }
}
// True when none of the kN codes at c (kN % 32 == 0) is a NaN code, on the bytes, 32 per compare.
template <bool kFn, int kN>
[[gnu::always_inline]] inline bool no_nan_codes256(const uint8_t* c) {
  static_assert(kN % 32 == 0);
  const __m256i sign_byte = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i nan_byte = _mm256_set1_epi8(static_cast<char>(kNanByte<kFn>));
  __m256i any = _mm256_setzero_si256();
  for (int d = 0; d < kN; d += 32) {
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + d));
    any = _mm256_or_si256(any, _mm256_cmpeq_epi8(kFn ? _mm256_or_si256(b, sign_byte) : b, nan_byte));
  }
  return _mm256_testz_si256(any, any) != 0;
}
// The NaN codes are looked for once per row, on the bytes: a row without one (every real K/V row) skips the
// three replacement operations of each 16-code step.
template <bool kFn, int kN>
[[gnu::always_inline]] inline void fp8_decode_row_f16c(const uint8_t* __restrict c, float* __restrict out) {
  if (no_nan_codes256<kFn, kN>(c)) [[likely]] {
    fp8_decode_row_f16c_steps<kFn, kN, false>(c, out);
  } else {
    fp8_decode_row_f16c_steps<kFn, kN, true>(c, out);
  }
}

#if defined(__AVX512F__) && defined(__AVX512BW__)
// fp8_decode_row_f16c at 512 bits, 64 codes per step (kN % 64 == 0), the emulator's AVX-512 path: two
// vcvtph2ps of 16 lanes per 32 forms. Same bits as fp8_decode for every code (sim/tests/isa_paths_test.cpp).
template <bool kFn, int kN, bool kNan>
[[gnu::always_inline]] inline void fp8_decode_row_avx512_steps(const uint8_t* __restrict c,
                                                               float* __restrict out) {
  const __m512i qnan = f16_quiet_nan512();
  const __m512 scale = _mm512_set1_ps(kF16FormScale<kFn>);
  for (int d = 0; d < kN; d += 64) {
    __m512i h[2];
    f16_forms64<kFn, kNan>(c + d, qnan, h[0], h[1]);
    for (int half = 0; half < 2; ++half) {
      float* o = out + d + 32 * half;
      _mm512_storeu_ps(o, _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(h[half])), scale));
      _mm512_storeu_ps(o + 16, _mm512_mul_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(h[half], 1)), scale));
    }
  }
}
template <bool kFn, int kN>
[[gnu::always_inline]] inline void fp8_decode_row_avx512(const uint8_t* __restrict c, float* __restrict out) {
  static_assert(kN % 64 == 0);
  if (no_nan_codes512<kFn, kN>(c)) [[likely]] {
    fp8_decode_row_avx512_steps<kFn, kN, false>(c, out);
  } else {
    fp8_decode_row_avx512_steps<kFn, kN, true>(c, out);
  }
}
#endif

// The fp16 forms of kN codes (kN % 64 == 0) stored as they are: the <= 8-row blocks keep K^T and V in this
// form and put kF16FormScale on Q and P instead (the same products, sim/prefill_fast.h).
#if defined(__AVX512F__) && defined(__AVX512BW__)
template <bool kFn, int kN, bool kNan>
[[gnu::always_inline]] inline void fp8_f16_form_row_steps(const uint8_t* __restrict c,
                                                          uint16_t* __restrict out) {
  const __m512i qnan = f16_quiet_nan512();
  for (int d = 0; d < kN; d += 64) {
    __m512i lo, hi;
    f16_forms64<kFn, kNan>(c + d, qnan, lo, hi);
    _mm512_storeu_si512(out + d, lo);
    _mm512_storeu_si512(out + d + 32, hi);
  }
}
#endif
template <bool kFn, int kN>
[[gnu::always_inline]] inline void fp8_f16_form_row(const uint8_t* __restrict c, uint16_t* __restrict out) {
  static_assert(kN % 64 == 0);
#if defined(__AVX512F__) && defined(__AVX512BW__)
  if (no_nan_codes512<kFn, kN>(c)) [[likely]] {
    fp8_f16_form_row_steps<kFn, kN, false>(c, out);
  } else {
    fp8_f16_form_row_steps<kFn, kN, true>(c, out);
  }
#else
  if (no_nan_codes256<kFn, kN>(c)) [[likely]] {
    for (int d = 0; d < kN; d += 16)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + d), f16_forms16(c + d));
  } else {
    for (int d = 0; d < kN; d += 16)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + d), f16_forms16_nan<kFn>(f16_forms16(c + d)));
  }
#endif
}
// kN fp16 forms widened to fp32 (exact), kN % 8 == 0.
template <int kN>
[[gnu::always_inline]] inline void f16_widen(const uint16_t* __restrict h, float* __restrict out) {
#if defined(__AVX512F__)
  if constexpr (kN % 16 == 0) {
    for (int i = 0; i < kN; i += 16)
      _mm512_store_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + i))));
    return;
  }
#endif
  for (int i = 0; i < kN; i += 8)
    _mm256_store_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

// c ? a : b, by bit masks: a select of floats stays a branch in some loops on AVX2 (no mask registers), and
// the loop then does not vectorise.
[[gnu::always_inline]] inline float select_lane(bool c, float a, float b) {
  const uint32_t m = -static_cast<uint32_t>(c);
  return std::bit_cast<float>((std::bit_cast<uint32_t>(a) & m) | (std::bit_cast<uint32_t>(b) & ~m));
}

// exp2_model for one lane, written without ldexpf so that it vectorises: 2^n is applied as two exact
// power-of-two products, 2^(n>>1) (exact: the result stays normal) then 2^(n - (n>>1)) (one rounding), which
// is ldexpf's single correctly rounded scaling. Bit-identical to num::exp2_model for every input (tested).
[[gnu::always_inline]] inline float exp2_lane(float x) {
  // Selects are written as bit masks throughout: a select lets GCC thread or sink arithmetic into branches,
  // which then do not vectorise.
  const uint32_t keep = ((x >= -150.0f) & (x < 128.0f)) ? 0xFFFFFFFFu : 0u;  // NaN: not kept
  const float xc =
      std::bit_cast<float>(std::bit_cast<uint32_t>(x) & keep);  // out of range, NaN -> +0; fixed up below
  // floorf(v) for v = xc + 0.5 in [-149.5, 128.5), by truncation (GCC vectorises floorf only without
  // -ftrapping-math); v is never -0 (x + 0.5 == -0 needs x == -0.5 and an exact -0 result, which RNE
  // does not give), so the sign of a zero n agrees with floorf.
  const float v = xc + 0.5f;
  const float tr = static_cast<float>(static_cast<int32_t>(v));
  // tr - 1 exact; tr - 0 == tr. (As a select, `tr > v ? 1 : 0` stays a branch on AVX2 and the loop does not
  // vectorise; AVX-512's masks hid that.)
  const float n = tr - std::bit_cast<float>(-static_cast<uint32_t>(tr > v) & 0x3F800000u);
  const float r = (xc - n) * num::kLn2;
  float q = 1.0f / 5040.0f;
  q = std::fma(q, r, 1.0f / 720.0f);
  q = std::fma(q, r, 1.0f / 120.0f);
  q = std::fma(q, r, 1.0f / 24.0f);
  q = std::fma(q, r, 1.0f / 6.0f);
  q = std::fma(q, r, 0.5f);
  q = std::fma(q, r, 1.0f);
  q = std::fma(q, r, 1.0f);
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t n1 = ni >> 1;  // floor(n / 2): n in [-150, 128] gives n1, n - n1 in [-75, 64]
  const int32_t n2 = ni - n1;
  const float s1 = std::bit_cast<float>((n1 + 127) << 23);
  const float s2 = std::bit_cast<float>((n2 + 127) << 23);
  const float res = (q * s1) * s2;
  // Out-of-range lanes: x < -150 -> 0, x >= 128 -> inf, NaN -> x.
  const uint32_t special = x != x ? std::bit_cast<uint32_t>(x) : (x >= 128.0f ? 0x7F800000u : 0u);
  return std::bit_cast<float>((std::bit_cast<uint32_t>(res) & keep) | special);
}

// round_p for p in [0, 2) or NaN (exp2 of a non-positive argument lies in [0, 1]): fp8 RNE by bit arithmetic.
// Normal fp8 range: keep 3 mantissa bits, ties to even. Below the fp8 min normal: the sum with 2^(23 + e_q)
// rounds to the subnormal quantum 2^e_q in fp32 arithmetic (RNE), and subtracting it back is exact.
template <bool kFn>
[[gnu::always_inline]] inline float round_p_lane(float p) {
  constexpr float kMinNormal = kFn ? 0x1.0p-6f : 0x1.0p-7f;
  constexpr float kMagic = kFn ? 0x1.0p14f : 0x1.0p13f;  // quantum 2^-9 (fn) or 2^-10 (fnuz)
  const uint32_t u = std::bit_cast<uint32_t>(p);
  const float nrm = std::bit_cast<float>((u + 0x7FFFFu + ((u >> 20) & 1u)) & 0xFFF00000u);
  const float sub = (p + kMagic) - kMagic;
  return select_lane(p != p, std::numeric_limits<float>::quiet_NaN(), select_lane(p < kMinNormal, sub, nrm));
}

// fp8_encode (RNE; saturating or not) by bit arithmetic, bit-identical to num::fp8_encode for every float
// (sim/tests/lanes_test.cpp sweeps the bit patterns). Normal fp8 range: round the fp32 significand to 3 bits
// (ties to even) with one integer add; the code is then the rounded value's exponent and top mantissa bits.
// Below the min normal: the sum with 2^(23 + e_q) rounds to the subnormal quantum 2^e_q.
template <bool kFn>
[[gnu::always_inline]] inline uint8_t fp8_encode_lane(float x, bool saturate) {
  constexpr uint32_t kBias = kFn ? 7 : 8;
  constexpr float kMinNormal = kFn ? 0x1.0p-6f : 0x1.0p-7f;
  constexpr float kMagic = kFn ? 0x1.0p14f : 0x1.0p13f;
  constexpr float kQuantumInv = kFn ? 0x1.0p9f : 0x1.0p10f;
  constexpr uint32_t kMaxCode = kFn ? 0x7E : 0x7F;
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const uint32_t sign = (u >> 24) & 0x80u;
  const uint32_t a = u & 0x7FFFFFFFu;
  const float af = std::bit_cast<float>(a);
  const uint32_t rn = (a + 0x7FFFFu + ((a >> 20) & 1u)) >> 20;  // rounded exponent:mantissa (8+3 bits)
  const uint32_t normal = rn - ((127u - kBias) << 3);           // fp8 magnitude code if in range
  const float afs = af < kMinNormal ? af : 0.0f;  // keeps the float -> int conversion in range (NaN too)
  const uint32_t sub = static_cast<uint32_t>(((afs + kMagic) - kMagic) * kQuantumInv);  // 0..8
  const uint32_t nan_code = kFn ? (sign | 0x7Fu) : 0x80u;
  uint32_t mag = af < kMinNormal ? sub : normal;
  const bool over = af >= kMinNormal && rn > ((127u - kBias) << 3) + kMaxCode;  // beyond max (or inf)
  uint32_t code = sign | mag;
  if (!kFn && mag == 0) code = 0;  // no -0 in e4m3fnuz
  code = over ? (saturate ? (sign | kMaxCode) : nan_code) : code;
  return static_cast<uint8_t>(a > 0x7F800000u ? (kFn ? 0x7Fu : 0x80u) : code);
}

}  // namespace mlaps::lanes
