#pragma once
// Portable numerics shared by sim/ (host) and gpu/ (device): fp8 and bf16 codecs and exp/exp2/log/log2.
// Only IEEE-exact operations are used (+ - * / with round-to-nearest-even, fmaf, ldexpf, frexpf, floorf,
// comparisons), so host and device round identically. Libm's and the GPU's own exp/log differ in the last
// bit; these do not. Compile host code with -ffp-contract=off and device code with --fmad=false.
#include <cstdint>
#include <cstring>

#include "sim/hd.h"

#if !MLAPS_DEVICE_COMPILER
#include <cmath>
#include <string_view>
#endif

namespace mlaps::num {

// Bit casts usable on both sides (std::bit_cast is not available in device code everywhere).
MLAPS_HD inline uint32_t f2u(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  return u;
}
MLAPS_HD inline float u2f(uint32_t u) {
  float x;
  memcpy(&x, &u, 4);
  return x;
}

MLAPS_HD inline float inf_f() {
  return u2f(0x7F800000u);
}
MLAPS_HD inline float qnan_f() {
  return u2f(0x7FC00000u);
}
MLAPS_HD inline bool is_nan(float x) {
  return x != x;
}
MLAPS_HD inline bool is_inf(float x) {
  return (f2u(x) & 0x7FFFFFFFu) == 0x7F800000u;
}
MLAPS_HD inline float fmax_nan_last(float a, float b) {
  return a > b ? a : b;
}  // max for non-NaN inputs

#if MLAPS_DEVICE_COMPILER && (defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__))
MLAPS_HD inline float fma_f(float a, float b, float c) {
  return __fmaf_rn(a, b, c);
}
#else
MLAPS_HD inline float fma_f(float a, float b, float c) {
  return std::fma(a, b, c);
}
#endif
MLAPS_HD inline float ldexp_f(float x, int e) {
  return ldexpf(x, e);
}
MLAPS_HD inline float floor_f(float x) {
  return floorf(x);
}

// ---------------------------------------------------------------------------------------------------
// Constants (the model's names; rounded to float from their exact values).
inline constexpr float kLog2e = 1.44269504088896340736f;
inline constexpr float kLn2 = 0.693147180559945309417f;
inline constexpr float kLn2Hi = 0.693145751953125f;  // 11 significant bits: n * kLn2Hi exact for |n| < 2^13
inline constexpr float kLn2Lo = 1.42860682030941723212e-6f;  // ln2 - kLn2Hi

// e^r for the reduced argument r of exp2_model / exp_model: degree-7 Taylor, Horner with fma, in this order
// (the order is part of the model: host and device must round alike).
MLAPS_HD inline float exp_taylor7(float r) {
  float p = 1.0f / 5040.0f;
  p = fma_f(p, r, 1.0f / 720.0f);
  p = fma_f(p, r, 1.0f / 120.0f);
  p = fma_f(p, r, 1.0f / 24.0f);
  p = fma_f(p, r, 1.0f / 6.0f);
  p = fma_f(p, r, 0.5f);
  p = fma_f(p, r, 1.0f);
  p = fma_f(p, r, 1.0f);
  return p;
}

// 2^x, x in float. Cody-Waite-free: x = n + r, r in [-0.5, 0.5], 2^r by a degree-7 Taylor polynomial in
// r*ln2 (truncation error < 6e-9 relative), then exact scaling by 2^n.
MLAPS_HD inline float exp2_model(float x) {
  if (is_nan(x)) return x;
  if (x >= 128.0f) return inf_f();
  if (x < -150.0f) return 0.0f;
  const float n = floor_f(x + 0.5f);
  const float r = (x - n) * kLn2;  // |r| <= 0.3466
  return ldexp_f(exp_taylor7(r), static_cast<int>(n));
}

// e^x: n = round(x*log2e), r = x - n*ln2 (two-step Cody-Waite with fma), e^r by degree-7 Taylor.
MLAPS_HD inline float exp_model(float x) {
  if (is_nan(x)) return x;
  if (x >= 88.8f) return inf_f();
  if (x < -104.0f) return 0.0f;
  const float n = floor_f(fma_f(x, kLog2e, 0.5f));
  float r = fma_f(-n, kLn2Hi, x);
  r = fma_f(-n, kLn2Lo, r);
  return ldexp_f(exp_taylor7(r), static_cast<int>(n));
}

// Natural log: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), log(m) = 2 atanh(s), s = (m-1)/(m+1).
MLAPS_HD inline float log_model(float x) {
  if (is_nan(x)) return x;
  if (x < 0.0f) return qnan_f();
  if (x == 0.0f) return -inf_f();
  if (is_inf(x)) return x;
  int e = 0;
  if (x < 1.17549435e-38f) {  // subnormal: scale into the normal range exactly
    x *= 8388608.0f;          // 2^23
    e = -23;
  }
  const uint32_t u = f2u(x);
  e += static_cast<int>((u >> 23) & 0xFF) - 127;
  float m = u2f((u & 0x007FFFFFu) | 0x3F800000u);  // [1, 2)
  if (m > 1.41421356f) {
    m *= 0.5f;
    e += 1;
  }
  const float s = (m - 1.0f) / (m + 1.0f);  // |s| <= 0.1716
  const float s2 = s * s;
  float q = 1.0f / 11.0f;
  q = fma_f(q, s2, 1.0f / 9.0f);
  q = fma_f(q, s2, 1.0f / 7.0f);
  q = fma_f(q, s2, 1.0f / 5.0f);
  q = fma_f(q, s2, 1.0f / 3.0f);
  const float logm = fma_f(2.0f * s * s2, q, 2.0f * s);  // 2s + 2s^3 q(s^2)
  const float fe = static_cast<float>(e);
  return fma_f(fe, kLn2Hi, fma_f(fe, kLn2Lo, logm));
}

MLAPS_HD inline float log2_model(float x) {
  // log2(x) = e + log(m) * log2e, written via log_model for one shared code path.
  return log_model(x) * kLog2e;
}

// ---------------------------------------------------------------------------------------------------
// fp8 e4m3: gfx950 uses e4m3fn (bias 7, max 448, NaN = S.1111.111, no inf, -0 exists);
// gfx942 uses e4m3fnuz (bias 8, max 240, NaN = 0x80 only, no inf, no -0).
enum class Fp8Encoding : uint8_t { kE4M3FN = 0, kE4M3FNUZ = 1 };

#if !MLAPS_DEVICE_COMPILER
// The encodings' names, as the CLI takes them and reports and case names print them (host code only).
inline constexpr Fp8Encoding kFp8Encodings[] = {Fp8Encoding::kE4M3FN, Fp8Encoding::kE4M3FNUZ};
constexpr const char* fp8_encoding_name(Fp8Encoding e) {
  return e == Fp8Encoding::kE4M3FN ? "e4m3fn" : "e4m3fnuz";
}
// The encoding called `name`; false (and *out untouched) when no encoding has that name.
inline bool fp8_encoding_from_name(std::string_view name, Fp8Encoding* out) {
  for (Fp8Encoding e : kFp8Encodings) {
    if (name == fp8_encoding_name(e)) {
      *out = e;
      return true;
    }
  }
  return false;
}
#endif

MLAPS_HD inline float fp8_max(Fp8Encoding enc) {
  return enc == Fp8Encoding::kE4M3FN ? 448.0f : 240.0f;
}

MLAPS_HD inline float fp8_decode(uint8_t c, Fp8Encoding enc) {
  const int bias = enc == Fp8Encoding::kE4M3FN ? 7 : 8;
  const bool neg = (c & 0x80) != 0;
  const int exp = (c >> 3) & 0xF;
  const int man = c & 0x7;
  if (enc == Fp8Encoding::kE4M3FN) {
    if ((c & 0x7F) == 0x7F) return qnan_f();
  } else {
    if (c == 0x80) return qnan_f();
  }
  float v;
  if (exp == 0) {
    v = ldexp_f(static_cast<float>(man), 1 - bias - 3);
  } else {
    v = ldexp_f(static_cast<float>(8 + man), exp - bias - 3);
  }
  return neg ? -v : v;
}

// Round-to-nearest-even encode. saturate: |x| beyond max (and +-inf) -> +-max; otherwise -> NaN.
// NaN -> NaN. e4m3fnuz has no -0: a value rounding to zero encodes as +0.
MLAPS_HD inline uint8_t fp8_encode(float x, Fp8Encoding enc, bool saturate = true) {
  const bool fn = enc == Fp8Encoding::kE4M3FN;
  const uint8_t nan_code = fn ? 0x7F : 0x80;
  if (is_nan(x)) return nan_code;
  const uint32_t u = f2u(x);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80);
  const float a = u2f(u & 0x7FFFFFFFu);
  const int bias = fn ? 7 : 8;
  const float maxv = fp8_max(enc);
  const uint8_t max_code = fn ? 0x7E : 0x7F;
  if (is_inf(a))
    return saturate ? static_cast<uint8_t>(sign | max_code) : static_cast<uint8_t>(fn ? (sign | 0x7F) : 0x80);
  // Quantum of the binade holding a (subnormal quantum below the min normal).
  const int min_exp = 1 - bias;  // exponent of the min normal
  int e;
  if (a < ldexp_f(1.0f, min_exp)) {
    e = min_exp;
  } else {
    e = static_cast<int>((f2u(a) >> 23) & 0xFF) - 127;
  }
  const float quantum = ldexp_f(1.0f, e - 3);
  // a / quantum is exact (power-of-two scaling of a float); round it to an integer, ties to even.
  const float scaled = a / quantum;
  float q = floor_f(scaled);
  const float frac = scaled - q;
  if (frac > 0.5f || (frac == 0.5f && static_cast<uint32_t>(q) % 2u == 1u)) q += 1.0f;
  const float rounded = q * quantum;  // exact
  if (rounded > maxv) {
    if (saturate) return static_cast<uint8_t>(sign | max_code);
    return fn ? static_cast<uint8_t>(sign | 0x7F) : static_cast<uint8_t>(0x80);
  }
  if (rounded == 0.0f) return fn ? sign : static_cast<uint8_t>(0);
  int re;
  // Re-derive exponent/mantissa from the rounded value (rounding may carry into the next binade).
  if (rounded < ldexp_f(1.0f, min_exp)) {
    const int man = static_cast<int>(rounded / ldexp_f(1.0f, min_exp - 3));
    return static_cast<uint8_t>(sign | man);
  }
  re = static_cast<int>((f2u(rounded) >> 23) & 0xFF) - 127;
  const int man = static_cast<int>(rounded / ldexp_f(1.0f, re - 3)) - 8;
  return static_cast<uint8_t>(sign | ((re + bias) << 3) | man);
}

// ---------------------------------------------------------------------------------------------------
// bf16: round-to-nearest-even from fp32; NaN stays NaN (quiet, sign kept).
MLAPS_HD inline uint16_t bf16_encode(float x) {
  const uint32_t u = f2u(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  const uint32_t lsb = (u >> 16) & 1u;
  return static_cast<uint16_t>((u + 0x7FFFu + lsb) >> 16);
}
MLAPS_HD inline float bf16_decode(uint16_t b) {
  return u2f(static_cast<uint32_t>(b) << 16);
}

// ---------------------------------------------------------------------------------------------------
// Poison: signalling-NaN patterns that no arithmetic produces (arithmetic NaNs are quiet), so an unwritten
// element is told apart from a computed NaN by its bits.
inline constexpr uint16_t kPoisonBf16 = 0x7FA5;
inline constexpr uint32_t kPoisonF32 = 0x7FA5A5A5u;
MLAPS_HD inline bool is_poison_bf16(uint16_t b) {
  return b == kPoisonBf16;
}
MLAPS_HD inline bool is_poison_f32(float x) {
  return f2u(x) == kPoisonF32;
}

}  // namespace mlaps::num
