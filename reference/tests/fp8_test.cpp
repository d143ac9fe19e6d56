// The reference's own fp8 decode and rounding (reference/fp8.h) on all 256 codes of both encodings: equal to
// an independent statement of the formats (the value tables built here from integer significands and the
// formats' anchor values), and to the emulator's decode and encode (sim/numerics.h, the code the reference
// checks: this test is the one place where the two meet, so that they can be held equal).
#include "reference/fp8.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "sim/numerics.h"  // the emulator's fp8, which the reference's must equal (never used by it)

namespace mlaps {
namespace {

constexpr RefFp8 kFormats[] = {RefFp8::kE4M3FN, RefFp8::kE4M3FNUZ};

num::Fp8Encoding sim_encoding(RefFp8 f) {
  return f == RefFp8::kE4M3FN ? num::Fp8Encoding::kE4M3FN : num::Fp8Encoding::kE4M3FNUZ;
}

// The independent statement: a code's magnitude is its integer significand times a power of two, q * 2^k
// with q = m (e = 0) or 8 + m (e > 0) and k = max(e, 1) - bias - 3, built here by repeated halving and
// doubling (no ldexp); NaN codes as the formats list them.
bool is_nan_code(uint8_t c, RefFp8 f) {
  return f == RefFp8::kE4M3FN ? (c & 0x7F) == 0x7F : c == 0x80;
}
double stated_value(uint8_t c, RefFp8 f) {
  const int bias = f == RefFp8::kE4M3FN ? 7 : 8;
  const int e = (c >> 3) & 0xF, m = c & 7;
  double v = e == 0 ? m : 8 + m;
  for (int k = (e == 0 ? 1 : e) - bias - 3; k < 0; ++k) v /= 2;
  for (int k = (e == 0 ? 1 : e) - bias - 3; k > 0; --k) v *= 2;
  return (c & 0x80) ? -v : v;
}

bool same_bits(double a, double b) {
  return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
}

TEST(RefFp8, DecodeEqualsTheFormatsStatementOnAllCodes) {
  for (RefFp8 f : kFormats) {
    int nans = 0;
    for (int i = 0; i < 256; ++i) {
      const auto c = static_cast<uint8_t>(i);
      const double got = ref_fp8_value(c, f);
      if (is_nan_code(c, f)) {
        EXPECT_TRUE(std::isnan(got)) << i;
        ++nans;
        continue;
      }
      EXPECT_TRUE(same_bits(got, stated_value(c, f))) << "code " << i << ": " << got;
    }
    EXPECT_EQ(nans, f == RefFp8::kE4M3FN ? 2 : 1);
  }
  // Anchors of the formats.
  EXPECT_EQ(ref_fp8_value(0x7E, RefFp8::kE4M3FN), 448.0);
  EXPECT_EQ(ref_fp8_value(0x7F, RefFp8::kE4M3FNUZ), 240.0);
  EXPECT_EQ(ref_fp8_value(0x38, RefFp8::kE4M3FN), 1.0);     // e = 7 = bias
  EXPECT_EQ(ref_fp8_value(0x40, RefFp8::kE4M3FNUZ), 1.0);   // e = 8 = bias
  EXPECT_EQ(ref_fp8_value(0x01, RefFp8::kE4M3FN), 0x1p-9);  // smallest subnormal: 2^(1-7) / 8
  EXPECT_EQ(ref_fp8_value(0x01, RefFp8::kE4M3FNUZ), 0x1p-10);
  EXPECT_EQ(ref_fp8_value(0x08, RefFp8::kE4M3FN), 0x1p-6);          // smallest normal
  EXPECT_TRUE(std::signbit(ref_fp8_value(0x80, RefFp8::kE4M3FN)));  // -0
  EXPECT_EQ(ref_fp8_value(0x80, RefFp8::kE4M3FN), 0.0);
  EXPECT_EQ(ref_fp8_max(RefFp8::kE4M3FN), 448.0);
  EXPECT_EQ(ref_fp8_max(RefFp8::kE4M3FNUZ), 240.0);
}

TEST(RefFp8, DecodeEqualsTheEmulatorsOnAllCodes) {
  for (RefFp8 f : kFormats) {
    for (int i = 0; i < 256; ++i) {
      const auto c = static_cast<uint8_t>(i);
      const double sim = num::fp8_decode(c, sim_encoding(f));
      EXPECT_TRUE(same_bits(ref_fp8_value(c, f), sim)) << "code " << i;
    }
  }
}

// Rounding: every finite value of the format rounds to itself; every midpoint between neighbours rounds to
// the one with the even mantissa, and the values one float ulp either side of it to the nearer one;
// beyond the largest value it saturates.
TEST(RefFp8, RoundsToNearestEvenAndSaturates) {
  for (RefFp8 f : kFormats) {
    std::vector<double> vals;  // the non-negative finite values, ascending (codes 0.. are ordered)
    std::vector<int> codes;
    for (int c = 0; c < 128; ++c) {
      if (is_nan_code(static_cast<uint8_t>(c), f)) continue;
      vals.push_back(stated_value(static_cast<uint8_t>(c), f));
      codes.push_back(c);
    }
    for (size_t i = 0; i < vals.size(); ++i) {
      EXPECT_TRUE(same_bits(ref_fp8_round(vals[i], f), vals[i])) << vals[i];
      EXPECT_TRUE(
          same_bits(ref_fp8_round(-vals[i], f), f == RefFp8::kE4M3FNUZ && vals[i] == 0 ? 0.0 : -vals[i]));
      if (i + 1 == vals.size()) continue;
      const double mid = (vals[i] + vals[i + 1]) / 2;  // exact
      const double even = codes[i] % 2 == 0 ? vals[i] : vals[i + 1];
      EXPECT_EQ(ref_fp8_round(mid, f), even) << mid;
      EXPECT_EQ(ref_fp8_round(std::nextafter(mid, 0.0), f), vals[i]) << mid;
      EXPECT_EQ(ref_fp8_round(std::nextafter(mid, 1e9), f), vals[i + 1]) << mid;
    }
    const double mx = ref_fp8_max(f);
    EXPECT_EQ(ref_fp8_round(mx * 4, f), mx);
    EXPECT_EQ(ref_fp8_round(-mx * 4, f), -mx);
    EXPECT_EQ(ref_fp8_round(std::numeric_limits<double>::infinity(), f), mx);
    EXPECT_TRUE(std::isnan(ref_fp8_round(std::numeric_limits<double>::quiet_NaN(), f)));
  }
}

// Against the emulator's encode + decode (what the model applies to P), as the reference calls it: on P held
// as fp32. Every float near each value and midpoint of the format, and random floats in [0, 1] and beyond.
TEST(RefFp8, RoundingEqualsTheEmulatorsOnFloats) {
  for (RefFp8 f : kFormats) {
    const num::Fp8Encoding e = sim_encoding(f);
    auto check = [&](float x) {
      const double sim = num::fp8_decode(num::fp8_encode(x, e, true), e);
      const double ref = ref_fp8_round(x, f);
      ASSERT_TRUE(same_bits(ref, sim) || (std::isnan(ref) && std::isnan(sim))) << x;
    };
    for (int c = 0; c < 256; ++c) {
      if (is_nan_code(static_cast<uint8_t>(c), f)) continue;
      const double v = stated_value(static_cast<uint8_t>(c), f);
      for (double centre :
           {v, v + std::ldexp(1.0, -12), (v + stated_value(static_cast<uint8_t>(c + 1), f)) / 2}) {
        float x = static_cast<float>(centre);
        for (int k = 0; k < 16; ++k) x = std::nextafter(x, -1e9f);
        for (int k = 0; k < 33; ++k, x = std::nextafter(x, 1e9f)) check(x);
      }
    }
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    std::uniform_real_distribution<float> wide(-600.0f, 600.0f);
    for (int i = 0; i < 200000; ++i) {
      check(unit(rng));
      check(wide(rng));
    }
    check(0.0f);
    check(-0.0f);
    check(std::numeric_limits<float>::infinity());
    check(std::numeric_limits<float>::denorm_min());
  }
}

}  // namespace
}  // namespace mlaps
