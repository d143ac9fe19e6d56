#pragma once
// The reference's own fp8 e4m3 arithmetic, written from the formats' definitions. It shares no code with the
// emulator's numerics (sim/numerics.h, sim/lanes.h) that it checks; reference/tests holds it equal to them
// and to an independent statement of the formats on all 256 codes of both encodings.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace mlaps {

// A code is sign s (bit 7), exponent e (bits 6..3), mantissa m (bits 2..0); no infinities in either format.
//   e4m3fn   (OCP FP8 E4M3; gfx950): bias 7; S.1111.111 is NaN (both signs); 0x80 is -0; max 448.
//   e4m3fnuz (gfx942):               bias 8; 0x80 (the would-be -0) is the only NaN; no -0; max 240.
enum class RefFp8 : uint8_t { kE4M3FN, kE4M3FNUZ };

inline int ref_fp8_bias(RefFp8 f) {
  return f == RefFp8::kE4M3FN ? 7 : 8;
}
inline double ref_fp8_max(RefFp8 f) {  // the largest finite value: S.1111.110 (fn), S.1111.111 (fnuz)
  return f == RefFp8::kE4M3FN ? 448.0 : 240.0;
}

// The value of a code: (-1)^s * 2^(e - bias) * (1 + m/8) for e > 0, (-1)^s * 2^(1 - bias) * (m/8) for e = 0.
inline double ref_fp8_value(uint8_t code, RefFp8 f) {
  const int s = code >> 7, e = (code >> 3) & 0xF, m = code & 0x7;
  const bool nan = f == RefFp8::kE4M3FN ? (e == 0xF && m == 0x7) : code == 0x80;
  if (nan) return std::numeric_limits<double>::quiet_NaN();
  const int bias = ref_fp8_bias(f);
  const double mag = e > 0 ? std::ldexp(1.0 + m / 8.0, e - bias) : std::ldexp(m / 8.0, 1 - bias);
  return s ? -mag : mag;
}

// x rounded to the nearest value of the format, ties to the even mantissa, |x| beyond the largest finite
// value saturating to it (the rounding the reference applies to P where the kernel rounds P to fp8). Below
// 2^(1 - bias) the spacing is the subnormals' 2^(1 - bias - 3); in the binade [2^k, 2^(k+1)) it is 2^(k - 3).
// A magnitude that rounds to zero keeps x's sign in e4m3fn (it has -0) and is +0 in e4m3fnuz. NaN stays NaN.
inline double ref_fp8_round(double x, RefFp8 f) {
  if (std::isnan(x)) return x;
  if (std::isinf(x)) return std::copysign(ref_fp8_max(f), x);
  const double a = std::fabs(x);
  const int bias = ref_fp8_bias(f);
  int k = 1 - bias;  // the binade's exponent, at least the smallest normal's
  if (a >= std::ldexp(1.0, 1 - bias)) {
    int e2 = 0;
    std::frexp(a, &e2);  // a = r * 2^e2 with r in [0.5, 1)
    k = e2 - 1;
  }
  const double spacing = std::ldexp(1.0, k - 3);
  const double q = a / spacing;  // exact: a power-of-two scaling
  double n = std::floor(q);
  const double frac = q - n;
  if (frac > 0.5 || (frac == 0.5 && std::fmod(n, 2.0) != 0.0)) n += 1.0;
  const double r = std::min(n * spacing, ref_fp8_max(f));
  if (r == 0.0) return f == RefFp8::kE4M3FN ? std::copysign(0.0, x) : 0.0;
  return std::copysign(r, x);
}

}  // namespace mlaps
