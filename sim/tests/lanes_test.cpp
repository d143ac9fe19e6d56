// The lane forms in sim/lanes.h (used by the fast prefill) against the scalar model functions, bit for bit.
#include "sim/lanes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "sim/model.h"
#include "sim/numerics.h"

namespace mlaps {
namespace {

using num::f2u;
using num::u2f;

bool same(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || f2u(a) == f2u(b);
}

TEST(Lanes, Fp8DecodeAllCodes) {
  for (int c = 0; c < 256; ++c) {
    const uint8_t code = static_cast<uint8_t>(c);
    // Bit-exact including NaN: both give the canonical quiet NaN.
    EXPECT_EQ(f2u(lanes::fp8_decode_lane<true>(code)), f2u(num::fp8_decode(code, num::Fp8Encoding::kE4M3FN)))
        << c;
    EXPECT_EQ(f2u(lanes::fp8_decode_lane<false>(code)),
              f2u(num::fp8_decode(code, num::Fp8Encoding::kE4M3FNUZ)))
        << c;
  }
}

// exp2_lane == exp2_model on a dense sweep of bit patterns (every 499th float of both signs, all binades),
// plus the range edges and specials. (An exhaustive run over all 2^32 inputs was done once, offline.)
TEST(Lanes, Exp2MatchesModel) {
  for (uint64_t u = 0; u <= 0xFFFFFFFFull; u += 499) {
    const float x = u2f(static_cast<uint32_t>(u));
    ASSERT_TRUE(same(lanes::exp2_lane(x), num::exp2_model(x))) << std::hexfloat << x;
  }
  const float inf = std::numeric_limits<float>::infinity();
  const float edges[] = {0.0f,
                         -0.0f,
                         inf,
                         -inf,
                         std::numeric_limits<float>::quiet_NaN(),
                         -150.0f,
                         std::nextafter(-150.0f, -inf),
                         std::nextafter(-150.0f, 0.0f),
                         -149.5f,
                         -126.5f,
                         -0.5f,
                         std::nextafter(-0.5f, 0.0f),
                         std::nextafter(-0.5f, -1.0f),
                         127.5f,
                         128.0f,
                         std::nextafter(128.0f, 0.0f),
                         -1e-30f,
                         1e-30f,
                         -1e-45f};
  for (float x : edges) EXPECT_TRUE(same(lanes::exp2_lane(x), num::exp2_model(x))) << std::hexfloat << x;
}

// round_p_lane == round_p (fp8 encode + decode) on its domain [0, 2) and NaN, both encodings: every 61st
// float of the domain plus every fp8 midpoint and its neighbours.
TEST(Lanes, RoundPMatchesModel) {
  NumericModel fn, fnuz;
  fnuz.encoding = num::Fp8Encoding::kE4M3FNUZ;
  for (uint32_t u = 0; u < f2u(2.0f); u += 61) {
    const float p = u2f(u);
    ASSERT_EQ(f2u(lanes::round_p_lane<true>(p)), f2u(round_p(p, fn))) << std::hexfloat << p;
    ASSERT_EQ(f2u(lanes::round_p_lane<false>(p)), f2u(round_p(p, fnuz))) << std::hexfloat << p;
  }
  for (const auto& [m, fnuz_enc] : {std::pair{fn, false}, std::pair{fnuz, true}}) {
    for (int c = 0; c < 0x40; ++c) {  // codes up to 2.0 in both encodings
      const float a = num::fp8_decode(static_cast<uint8_t>(c), m.encoding);
      const float b = num::fp8_decode(static_cast<uint8_t>(c + 1), m.encoding);
      if (!(b <= 2.0f)) break;
      const float mid = (a + b) / 2;
      for (float p : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 4.0f)}) {
        const float got = fnuz_enc ? lanes::round_p_lane<false>(p) : lanes::round_p_lane<true>(p);
        EXPECT_EQ(f2u(got), f2u(round_p(p, m))) << std::hexfloat << p;
      }
    }
  }
  EXPECT_TRUE(std::isnan(lanes::round_p_lane<true>(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(std::isnan(round_p(std::numeric_limits<float>::quiet_NaN(), fn)));
}

// fp8_encode_lane == fp8_encode for every 257th bit pattern (all binades, both signs, NaN, inf) and every
// rounding boundary, both encodings and saturation modes. (Exhaustive over all 2^32 floats: done offline, 0
// differences.)
TEST(Lanes, Fp8EncodeMatchesModel) {
  auto check = [](float x) {
    for (bool sat : {true, false}) {
      ASSERT_EQ(lanes::fp8_encode_lane<true>(x, sat), num::fp8_encode(x, num::Fp8Encoding::kE4M3FN, sat))
          << std::hexfloat << x << " sat " << sat;
      ASSERT_EQ(lanes::fp8_encode_lane<false>(x, sat), num::fp8_encode(x, num::Fp8Encoding::kE4M3FNUZ, sat))
          << std::hexfloat << x << " sat " << sat;
    }
  };
  for (uint64_t u = 0; u <= 0xFFFFFFFFull; u += 257) check(u2f(static_cast<uint32_t>(u)));
  for (auto enc : {num::Fp8Encoding::kE4M3FN, num::Fp8Encoding::kE4M3FNUZ}) {
    for (int c = 0; c < 128; ++c) {
      const float a = num::fp8_decode(static_cast<uint8_t>(c), enc);
      const float b = num::fp8_decode(static_cast<uint8_t>(c + 1), enc);
      const float mid =
          std::isnan(b) ? a + (a - num::fp8_decode(static_cast<uint8_t>(c - 1), enc)) / 2 : (a + b) / 2;
      for (float s : {1.0f, -1.0f})
        for (float x : {a, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)}) check(s * x);
    }
  }
}

}  // namespace
}  // namespace mlaps
