// e4m3fn codec against CUDA's host-side conversions (cuda_fp8.h used as a header only; no CUDA library).
#include <cuda_fp8.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "sim/numerics.h"

namespace mlaps::num {
namespace {

uint8_t cuda_encode(float x, bool saturate) {
  return static_cast<uint8_t>(__nv_cvt_float_to_fp8(x, saturate ? __NV_SATFINITE : __NV_NOSAT, __NV_E4M3));
}
float cuda_decode(uint8_t c) {
  __nv_fp8_e4m3 v;
  v.__x = c;
  return static_cast<float>(v);
}
bool same_code(uint8_t a, uint8_t b) {
  // NaN codes: 0x7F and 0xFF are both NaN in e4m3fn; the sign of a NaN is not part of the contract.
  return a == b || ((a & 0x7F) == 0x7F && (b & 0x7F) == 0x7F);
}

TEST(Fp8Cuda, DecodeAllCodes) {
  for (int c = 0; c < 256; ++c) {
    const float ours = fp8_decode(static_cast<uint8_t>(c), Fp8Encoding::kE4M3FN);
    const float theirs = cuda_decode(static_cast<uint8_t>(c));
    if (std::isnan(theirs)) {
      EXPECT_TRUE(std::isnan(ours)) << c;
    } else {
      EXPECT_EQ(f2u(ours), f2u(theirs)) << c;
    }
  }
}

// 2^21 random floats: half uniform over all bit patterns (every binade, NaN, inf), half in the fp8 range
// where rounding decides, both saturation modes.
TEST(Fp8Cuda, EncodeRandomFloats) {
  std::mt19937_64 rng(20261127);
  std::uniform_real_distribution<float> near(-600.0f, 600.0f);
  std::uniform_int_distribution<uint32_t> any;
  int64_t checked = 0;
  for (int i = 0; i < (1 << 21); ++i) {
    float x = (i & 1) ? u2f(any(rng)) : near(rng);
    if (i % 7 == 0) x = std::ldexp(x, -static_cast<int>(rng() % 16));  // many subnormal-range values too
    for (bool sat : {true, false}) {
      const uint8_t ours = fp8_encode(x, Fp8Encoding::kE4M3FN, sat);
      const uint8_t theirs = cuda_encode(x, sat);
      ASSERT_TRUE(same_code(ours, theirs))
          << std::hexfloat << x << " sat=" << sat << " ours=" << int(ours) << " cuda=" << int(theirs);
      ++checked;
    }
  }
  EXPECT_EQ(checked, int64_t{2} << 21);
}

TEST(Fp8Cuda, EncodeEdges) {
  const float inf = std::numeric_limits<float>::infinity();
  const float xs[] = {0.0f,
                      -0.0f,
                      448.0f,
                      464.0f,
                      std::nextafter(464.0f, 0.0f),
                      std::nextafter(464.0f, inf),
                      480.0f,
                      1e30f,
                      inf,
                      -inf,
                      0x1.0p-10f,
                      0x1.8p-10f,
                      0x1.0p-9f,
                      0x1.0p-6f,
                      0x1.fp-7f};
  for (float x : xs)
    for (bool sat : {true, false})
      for (float s : {1.0f, -1.0f})
        EXPECT_TRUE(same_code(fp8_encode(s * x, Fp8Encoding::kE4M3FN, sat), cuda_encode(s * x, sat)))
            << std::hexfloat << s * x << " sat=" << sat;
}

}  // namespace
}  // namespace mlaps::num
