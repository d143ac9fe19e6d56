// The scalar numerics of sim/numerics.h: fp8 (e4m3fn, e4m3fnuz) and bf16 codecs, and the portable
// exp/exp2/log/log2 against long double libm.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "sim/numerics.h"

namespace mlaps::num {
namespace {

constexpr Fp8Encoding kFn = Fp8Encoding::kE4M3FN;
constexpr Fp8Encoding kFnuz = Fp8Encoding::kE4M3FNUZ;

uint32_t bits(float x) {
  return f2u(x);
}

// Independent decode: sign, 4 exponent bits, 3 mantissa bits, written from the format definition in double.
double decode_by_definition(uint8_t c, Fp8Encoding enc) {
  const int bias = enc == kFn ? 7 : 8;
  const int e = (c >> 3) & 0xF, m = c & 7;
  const double mag = e == 0 ? std::ldexp(m, 1 - bias - 3) : std::ldexp(8 + m, e - bias - 3);
  return (c & 0x80) ? -mag : mag;
}
bool is_nan_code(uint8_t c, Fp8Encoding enc) {
  return enc == kFn ? (c & 0x7F) == 0x7F : c == 0x80;
}

TEST(Fp8, KnownValuesE4M3FN) {
  EXPECT_EQ(fp8_decode(0x00, kFn), 0.0f);
  EXPECT_EQ(bits(fp8_decode(0x80, kFn)), 0x80000000u);  // -0 exists in e4m3fn
  EXPECT_EQ(fp8_decode(0x01, kFn), 0x1.0p-9f);          // min subnormal
  EXPECT_EQ(fp8_decode(0x07, kFn), 7 * 0x1.0p-9f);      // max subnormal
  EXPECT_EQ(fp8_decode(0x08, kFn), 0x1.0p-6f);          // min normal
  EXPECT_EQ(fp8_decode(0x38, kFn), 1.0f);
  EXPECT_EQ(fp8_decode(0x7E, kFn), 448.0f);
  EXPECT_EQ(fp8_decode(0xFE, kFn), -448.0f);
  EXPECT_TRUE(std::isnan(fp8_decode(0x7F, kFn)));
  EXPECT_TRUE(std::isnan(fp8_decode(0xFF, kFn)));
  EXPECT_EQ(fp8_max(kFn), 448.0f);
}

TEST(Fp8, KnownValuesE4M3FNUZ) {
  EXPECT_EQ(bits(fp8_decode(0x00, kFnuz)), 0u);
  EXPECT_TRUE(std::isnan(fp8_decode(0x80, kFnuz)));  // the only NaN; no -0
  EXPECT_EQ(fp8_decode(0x01, kFnuz), 0x1.0p-10f);
  EXPECT_EQ(fp8_decode(0x08, kFnuz), 0x1.0p-7f);
  EXPECT_EQ(fp8_decode(0x40, kFnuz), 1.0f);
  EXPECT_EQ(fp8_decode(0x7F, kFnuz), 240.0f);
  EXPECT_EQ(fp8_decode(0xFF, kFnuz), -240.0f);
  EXPECT_EQ(fp8_max(kFnuz), 240.0f);
}

class Fp8Both : public ::testing::TestWithParam<Fp8Encoding> {};

TEST_P(Fp8Both, ExhaustiveDecodeAndRoundTrip) {
  const Fp8Encoding enc = GetParam();
  for (int c = 0; c < 256; ++c) {
    const uint8_t code = static_cast<uint8_t>(c);
    const float v = fp8_decode(code, enc);
    if (is_nan_code(code, enc)) {
      EXPECT_TRUE(std::isnan(v)) << c;
      EXPECT_EQ(fp8_encode(v, enc, true), enc == kFn ? 0x7F : 0x80) << c;
      continue;
    }
    EXPECT_EQ(static_cast<double>(v), decode_by_definition(code, enc)) << c;
    EXPECT_EQ(std::signbit(v), (c & 0x80) != 0) << c;
    EXPECT_EQ(fp8_encode(v, enc, true), code) << c;
    EXPECT_EQ(fp8_encode(v, enc, false), code) << c;
  }
}

TEST_P(Fp8Both, NegativeZeroAndNaN) {
  const Fp8Encoding enc = GetParam();
  // e4m3fn keeps the sign of zero; e4m3fnuz has no -0, so -0 and tiny negatives encode as +0.
  EXPECT_EQ(fp8_encode(-0.0f, enc), enc == kFn ? 0x80 : 0x00);
  EXPECT_EQ(fp8_encode(-1e-30f, enc), enc == kFn ? 0x80 : 0x00);
  EXPECT_EQ(fp8_encode(1e-30f, enc), 0x00);
  EXPECT_EQ(fp8_encode(std::numeric_limits<float>::quiet_NaN(), enc), enc == kFn ? 0x7F : 0x80);
  EXPECT_EQ(fp8_encode(-std::numeric_limits<float>::quiet_NaN(), enc), enc == kFn ? 0x7F : 0x80);
}

// Every rounding boundary: between consecutive finite codes a < b (same sign), the midpoint rounds to the
// code with an even mantissa (the even code), and the floats just inside each side round to that side.
TEST_P(Fp8Both, EveryRoundingBoundary) {
  const Fp8Encoding enc = GetParam();
  const uint8_t max_code = enc == kFn ? 0x7E : 0x7F;
  for (int sign = 0; sign < 2; ++sign) {
    for (int c = 0; c < max_code; ++c) {
      const uint8_t lo = static_cast<uint8_t>(c | (sign << 7)),
                    hi = static_cast<uint8_t>((c + 1) | (sign << 7));
      // fnuz has no -0 code (0x80 is NaN): the negative side's lower neighbour of 0x81 is the value -0.
      const float a = (enc == kFnuz && lo == 0x80) ? -0.0f : fp8_decode(lo, enc), b = fp8_decode(hi, enc);
      const float mid = (a + b) / 2;  // exact: fp8 values have 4 significant bits
      ASSERT_EQ(static_cast<double>(mid),
                (decode_by_definition(lo, enc) + decode_by_definition(hi, enc)) / 2);
      const uint8_t even = (c % 2 == 0) ? lo : hi;
      uint8_t expect_mid = even;
      if (enc == kFnuz && sign && c == 0) expect_mid = 0x00;  // rounds to zero: +0 (no -0 in fnuz)
      EXPECT_EQ(fp8_encode(mid, enc), expect_mid) << "code " << c << " sign " << sign;
      const float towards_b = std::nextafter(mid, b), towards_a = std::nextafter(mid, a);
      EXPECT_EQ(fp8_encode(towards_b, enc), hi) << c;
      uint8_t expect_a = lo;
      if (enc == kFnuz && lo == 0x80) expect_a = 0x00;  // 0x80 is NaN in fnuz: the -0 side is +0
      EXPECT_EQ(fp8_encode(towards_a, enc), expect_a) << c;
      EXPECT_EQ(fp8_encode(std::nextafter(b, a), enc), hi) << c;  // just inside b
    }
  }
}

// Beyond the maximum: saturating gives +-max, non-saturating NaN, with the cut where RNE would round up to
// the (non-existent) next code, i.e. the midpoint between max and max + one quantum rounds to even = max.
TEST_P(Fp8Both, SaturationAtAndBeyondMax) {
  const Fp8Encoding enc = GetParam();
  const float mx = fp8_max(enc);
  const uint8_t max_code = enc == kFn ? 0x7E : 0x7F;
  const float quantum = enc == kFn ? 32.0f : 16.0f;  // spacing of the top binade: 448 = 14*32, 240 = 15*16
  const float mid = mx + quantum / 2;                // 464 (fn) / 248 (fnuz): a tie, max's mantissa is even?
  // e4m3fn: 448 = 1.110b * 2^8 (mantissa 6, even) -> the tie rounds down to max.
  // e4m3fnuz: 240 = 1.111b * 2^7 (mantissa 7, odd) -> the tie rounds up, beyond max.
  for (int s = 0; s < 2; ++s) {
    const float sg = s ? -1.0f : 1.0f;
    const uint8_t sb = static_cast<uint8_t>(s << 7);
    EXPECT_EQ(fp8_encode(sg * mx, enc, true), max_code | sb);
    EXPECT_EQ(fp8_encode(sg * mx, enc, false), max_code | sb);
    EXPECT_EQ(fp8_encode(sg * std::nextafter(mid, 0.0f), enc, false), max_code | sb);
    const bool tie_down = enc == kFn;
    if (tie_down) {
      EXPECT_EQ(fp8_encode(sg * mid, enc, false), max_code | sb);
    } else {
      EXPECT_TRUE(is_nan_code(fp8_encode(sg * mid, enc, false), enc));
    }
    EXPECT_EQ(fp8_encode(sg * mid, enc, true), max_code | sb);
    EXPECT_EQ(fp8_encode(sg * std::nextafter(mid, 1e9f), enc, true), max_code | sb);
    EXPECT_TRUE(is_nan_code(fp8_encode(sg * std::nextafter(mid, 1e9f), enc, false),
                            enc));  // e4m3fn keeps the sign: 0x7F or 0xFF
    EXPECT_EQ(fp8_encode(sg * 1e30f, enc, true), max_code | sb);
    EXPECT_TRUE(is_nan_code(fp8_encode(sg * 1e30f, enc, false), enc));  // e4m3fn keeps the sign: 0x7F or 0xFF
    EXPECT_EQ(fp8_encode(sg * std::numeric_limits<float>::infinity(), enc, true), max_code | sb);
    EXPECT_TRUE(is_nan_code(fp8_encode(sg * std::numeric_limits<float>::infinity(), enc, false),
                            enc));  // e4m3fn keeps the sign: 0x7F or 0xFF
  }
}

INSTANTIATE_TEST_SUITE_P(Encodings, Fp8Both, ::testing::Values(kFn, kFnuz),
                         [](const auto& info) { return std::string(fp8_encoding_name(info.param)); });

// ---------------------------------------------------------------------------------------------------
// bf16: oracle from the definition (nearest of the two neighbours, ties to the even one, beyond the largest
// finite value's half-way point to infinity).
uint16_t bf16_oracle(float x) {
  const uint32_t u = bits(x);
  const uint32_t lo = u & 0xFFFF0000u;
  const uint32_t hi = lo + 0x10000u;  // next bf16 away from zero (may be inf)
  const double dx = x, dlo = u2f(lo);
  const double dhi = (hi & 0x7FFFFFFFu) >= 0x7F800000u ? std::copysign(std::ldexp(1.0, 128), dx) : u2f(hi);
  const double e_lo = std::fabs(dx - dlo), e_hi = std::fabs(dhi - dx);
  if (e_lo < e_hi) return static_cast<uint16_t>(lo >> 16);
  if (e_hi < e_lo) return static_cast<uint16_t>(hi >> 16);
  return static_cast<uint16_t>(((lo >> 16) & 1u) ? hi >> 16 : lo >> 16);
}

TEST(Bf16, AllUpperHalvesWithBoundaryLowHalves) {
  const uint32_t lows[] = {0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFF, 0x4000, 0xC000};
  for (uint32_t hi16 = 0; hi16 < 0x10000u; ++hi16) {
    for (uint32_t low : lows) {
      const uint32_t u = (hi16 << 16) | low;
      const float x = u2f(u);
      const uint16_t b = bf16_encode(x);
      if (std::isnan(x)) {
        ASSERT_TRUE(std::isnan(bf16_decode(b))) << std::hex << u;
        ASSERT_EQ(b & 0x8000u, (u >> 16) & 0x8000u) << std::hex << u;  // sign kept
        continue;
      }
      if (std::isinf(x)) {
        ASSERT_EQ(b, static_cast<uint16_t>(u >> 16));
        continue;
      }
      ASSERT_EQ(b, bf16_oracle(x)) << std::hex << u;
    }
  }
}

TEST(Bf16, TiesOverflowAndSpecials) {
  EXPECT_EQ(bf16_encode(1.0f), 0x3F80);
  EXPECT_EQ(bf16_encode(u2f(0x3F808000u)), 0x3F80);  // tie, even stays
  EXPECT_EQ(bf16_encode(u2f(0x3F818000u)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(bf16_encode(u2f(0x7F7F7FFFu)), 0x7F7F);  // largest finite bf16
  EXPECT_EQ(bf16_encode(u2f(0x7F7F8000u)), 0x7F80);  // tie above it goes to inf (0x7F7F is odd)
  EXPECT_EQ(bf16_encode(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(bf16_encode(-std::numeric_limits<float>::max()), 0xFF80);
  EXPECT_EQ(bf16_encode(-0.0f), 0x8000);
  EXPECT_EQ(bf16_encode(u2f(0x00008000u)), 0x0000);  // subnormal tie to even (zero)
  EXPECT_EQ(bf16_encode(u2f(0x00018000u)), 0x0002);
  const uint16_t n = bf16_encode(u2f(0x7F800001u));  // signalling NaN: stays NaN, becomes quiet
  EXPECT_TRUE(std::isnan(bf16_decode(n)));
  EXPECT_NE(n & 0x0040u, 0u);
  EXPECT_NE(bf16_encode(u2f(kPoisonF32)), kPoisonBf16);  // the poison pattern is never produced
}

// ---------------------------------------------------------------------------------------------------
// exp, exp2, log, log2 against long double libm, in units of the float ulp of the exact result.
double ulp_error(float y, long double exact) {
  const long double a = std::fabs(exact);
  int e = 0;
  std::frexp(static_cast<double>(a), &e);
  const double ulp = std::ldexp(1.0, std::max(e - 24, -149));  // subnormal results: the subnormal spacing
  return static_cast<double>(std::fabs(static_cast<long double>(y) - exact)) / ulp;
}

template <typename F, typename G>
double max_ulp(F f, G exact, float lo, float hi, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uni(lo, hi);
  double worst = 0;
  for (int i = 0; i < n; ++i) {
    const float x = uni(rng);
    worst = std::max(worst, ulp_error(f(x), exact(static_cast<long double>(x))));
  }
  return worst;
}

// Random floats over every binade of [lo, hi] (uniform in the bit pattern, positive range).
template <typename F, typename G>
double max_ulp_binades(F f, G exact, float lo, float hi, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint32_t> u(f2u(lo), f2u(hi));
  double worst = 0;
  for (int i = 0; i < n; ++i) {
    const float x = u2f(u(rng));
    worst = std::max(worst, ulp_error(f(x), exact(static_cast<long double>(x))));
  }
  return worst;
}

// Bounds. exp/exp2: the degree-7 Taylor polynomial on |r| <= ln2/2 truncates at < 6e-9 relative (0.05 ulp);
// the rest is the Horner evaluation, whose final fma rounds once (0.5 ulp) and whose earlier steps add at
// most a few tenths, and the exact 2^n scaling: < 1 ulp (measured 0.94). log: s = (m-1)/(m+1) rounds once and
// the result 2s + ... + e*ln2 (split constant) rounds in two more fmas: < 2 ulp (measured 1.97). log2
// multiplies log by float(log2 e) (0.5 ulp product, ~0.5 ulp constant error relative): < 3.5 ulp
// (measured 3.0).
TEST(PortableMath, ExpWithinOneUlp) {
  auto f = [](float x) { return exp_model(x); };
  auto g = [](long double x) { return expl(x); };
  EXPECT_LT(max_ulp(f, g, -103.9f, 88.7f, 400000, 1), 1.0);
  EXPECT_LT(max_ulp(f, g, -2.0f, 2.0f, 400000, 2), 1.0);
}

TEST(PortableMath, Exp2WithinOneUlp) {
  auto f = [](float x) { return exp2_model(x); };
  auto g = [](long double x) { return exp2l(x); };
  EXPECT_LT(max_ulp(f, g, -149.9f, 127.9f, 400000, 3), 1.0);  // includes subnormal results
  EXPECT_LT(max_ulp(f, g, -20.0f, 0.0f, 400000, 4), 1.0);     // the softmax range
}

TEST(PortableMath, LogWithinTwoUlp) {
  auto f = [](float x) { return log_model(x); };
  auto g = [](long double x) { return logl(x); };
  EXPECT_LT(max_ulp_binades(f, g, 1e-45f, 3e38f, 400000, 5), 2.0);  // subnormal inputs included
  EXPECT_LT(max_ulp(f, g, 0.5f, 2.0f, 400000, 6), 2.0);
}

TEST(PortableMath, Log2WithinThreeAndAHalfUlp) {
  auto f = [](float x) { return log2_model(x); };
  auto g = [](long double x) { return log2l(x); };
  EXPECT_LT(max_ulp_binades(f, g, 1e-45f, 3e38f, 400000, 7), 3.5);
  EXPECT_LT(max_ulp(f, g, 0.5f, 2.0f, 400000, 8), 3.5);
}

TEST(PortableMath, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(exp_model(0.0f), 1.0f);
  EXPECT_EQ(exp_model(-inf), 0.0f);
  EXPECT_EQ(exp_model(inf), inf);
  EXPECT_EQ(exp_model(89.0f), inf);
  EXPECT_EQ(exp_model(-105.0f), 0.0f);
  EXPECT_TRUE(std::isnan(exp_model(nan)));
  EXPECT_EQ(exp2_model(0.0f), 1.0f);  // the softmax relies on exp2(0) == 1 exactly
  EXPECT_EQ(exp2_model(-0.0f), 1.0f);
  for (int k = -149; k <= 127; ++k) ASSERT_EQ(exp2_model(static_cast<float>(k)), std::ldexp(1.0f, k)) << k;
  EXPECT_EQ(exp2_model(-inf), 0.0f);
  EXPECT_EQ(exp2_model(-150.5f), 0.0f);
  EXPECT_EQ(exp2_model(128.0f), inf);
  EXPECT_EQ(exp2_model(inf), inf);
  EXPECT_TRUE(std::isnan(exp2_model(nan)));
  EXPECT_EQ(log_model(1.0f), 0.0f);  // the reduce's n == 1 identity relies on log(1) == 0 exactly
  EXPECT_EQ(log2_model(1.0f), 0.0f);
  EXPECT_EQ(log_model(0.0f), -inf);
  EXPECT_EQ(log_model(-0.0f), -inf);
  EXPECT_EQ(log_model(inf), inf);
  EXPECT_TRUE(std::isnan(log_model(-1.0f)));
  EXPECT_TRUE(std::isnan(log_model(nan)));
  EXPECT_TRUE(std::isnan(log_model(-inf)));
}

}  // namespace
}  // namespace mlaps::num
