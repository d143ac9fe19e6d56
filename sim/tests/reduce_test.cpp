// emulate_reduce (mla_reduce_v1): upstream's split cases against a float64 LSE-weighted merge, the n == 1
// rules of both versions, degenerate rows, and simple vs massive.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "sim/emulate.h"
#include "sim/model.h"
#include "sim/numerics.h"

namespace mlaps {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr int kH = 2;  // heads: exercises the head stride

// Partial buffers for a list of reduce groups. Group t has splits[t] partials of `rows` rows each; partial i
// of group t lives at row offset slot * rows (slots handed out in order), like upstream's G * slot.
struct ReduceCase {
  std::vector<int32_t> indptr{0};
  std::vector<FinalLoc> final_map;
  std::vector<int32_t> pmap;
  std::vector<float> po, plse;  // [slots*rows, kH, 128], [slots*rows, kH]
  std::vector<uint16_t> out;    // [tokens, kH, 128]
  std::vector<float> lse;       // [tokens, kH]
  int32_t tokens = 0, prow = 0;

  ReduceCase(const std::vector<int>& splits, int32_t rows, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> lse_d(-4.0f, 8.0f), o_d(-1.0f, 1.0f);
    int32_t slot = 0;
    for (size_t t = 0; t < splits.size(); ++t) {
      final_map.push_back({tokens, tokens + rows});
      tokens += rows;
      for (int i = 0; i < splits[t]; ++i) pmap.push_back(rows * slot++);
      indptr.push_back(static_cast<int32_t>(pmap.size()));
    }
    prow = rows * slot;
    po.resize(size_t(prow) * kH * 128);
    plse.resize(size_t(prow) * kH);
    for (float& v : po) v = o_d(rng);
    for (float& v : plse) v = lse_d(rng);
    out.assign(size_t(tokens) * kH * 128, num::kPoisonBf16);
    lse.assign(size_t(tokens) * kH, num::u2f(num::kPoisonF32));
  }
  ReduceParams params(bool fixed) {
    ReduceParams p{};
    p.partial_o = po.data();
    p.partial_lse = plse.data();
    p.reduce_indptr = indptr.data();
    p.reduce_final_map = final_map.data();
    p.reduce_partial_map = pmap.data();
    p.final_out = out.data();
    p.final_lse = lse.data();
    p.num_reduce_tiles = static_cast<int32_t>(final_map.size());
    p.num_heads = kH;
    p.num_tokens = tokens;
    p.partial_rows = prow;
    p.fixed_version = fixed;
    return p;
  }
  float& l_at(int32_t slot_row, int h) { return plse[size_t(slot_row) * kH + h]; }
  float* o_at(int32_t slot_row, int h) { return po.data() + (size_t(slot_row) * kH + h) * 128; }
};

// The merge in float64: L = log sum exp(l_i), out = sum exp(l_i - L) o_i.
void merge_f64(ReduceCase& c, int32_t t, int32_t local, int h, double* out, double* lse) {
  double mx = -INFINITY;
  for (int32_t i = c.indptr[t]; i < c.indptr[t + 1]; ++i)
    mx = std::max(mx, double(c.l_at(c.pmap[i] + local, h)));
  double s = 0;
  for (int32_t i = c.indptr[t]; i < c.indptr[t + 1]; ++i)
    s += std::exp(double(c.l_at(c.pmap[i] + local, h)) - mx);
  *lse = mx + std::log(s);
  for (int d = 0; d < 128; ++d) out[d] = 0;
  for (int32_t i = c.indptr[t]; i < c.indptr[t + 1]; ++i) {
    const double w = std::exp(double(c.l_at(c.pmap[i] + local, h)) - *lse);
    const float* o = c.o_at(c.pmap[i] + local, h);
    for (int d = 0; d < 128; ++d) out[d] += w * o[d];
  }
}

struct SplitCase {
  const char* name;
  std::vector<int> splits;
  int32_t rows;
};

class UpstreamCases : public ::testing::TestWithParam<SplitCase> {};

// Error bound, from the arithmetic (|l_i| <= 8, |o| <= 1, n partials):
//   l_i - M is rounded (<= 2^-21 absolute for |l| <= 16), exp_model adds < 1 ulp, the n-term sum adds n/2 ulp
//   of relative error, log_model < 2 ulp: |dL| <= 2^-21 + (n + 8) * 2^-24 * (1 + |L|).
//   The output weights inherit dL and their own exp error; the weighted sum of n terms adds n/2 ulp of
//   max|o|: |dout| <= 2^-8 |out| (bf16 RNE: half an ulp, 8 significant bits) + (2^-20 + (n + 8) * 2^-23) *
//   max|o|.
TEST_P(UpstreamCases, MatchesFloat64Merge) {
  const SplitCase& sc = GetParam();
  ReduceCase c(sc.splits, sc.rows, 7);
  emulate_reduce(c.params(true), 2);
  double ref[128], ref_lse;
  for (int32_t t = 0; t < static_cast<int32_t>(sc.splits.size()); ++t) {
    const int n = sc.splits[t];
    for (int32_t local = 0; local < sc.rows; ++local) {
      const int32_t r = c.final_map[t].qo_start + local;
      for (int h = 0; h < kH; ++h) {
        merge_f64(c, t, local, h, ref, &ref_lse);
        const float got_lse = c.lse[size_t(r) * kH + h];
        const double tol_lse = 0x1.0p-21 + (n + 8) * 0x1.0p-24 * (1 + std::fabs(ref_lse));
        ASSERT_NEAR(got_lse, ref_lse, tol_lse) << "tile " << t << " row " << local << " head " << h;
        for (int d = 0; d < 128; ++d) {
          const float got = num::bf16_decode(c.out[(size_t(r) * kH + h) * 128 + d]);
          const double tol = 0x1.0p-8 * std::fabs(ref[d]) + 0x1.0p-20 + (n + 8) * 0x1.0p-23;
          ASSERT_NEAR(got, ref[d], tol) << "tile " << t << " row " << local << " head " << h << " d " << d;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Splits, UpstreamCases,
                         ::testing::Values(SplitCase{"s2", {2}, 5}, SplitCase{"s3_2", {3, 2}, 5},
                                           SplitCase{"s4", {4}, 5}, SplitCase{"s8_5_7", {8, 5, 7}, 5},
                                           SplitCase{"s33", {33}, 4}, SplitCase{"s300", {300}, 2},
                                           SplitCase{"s2_4_16_64", {2, 4, 16, 64}, 3},
                                           SplitCase{"s40x6", std::vector<int>(40, 6), 2},
                                           SplitCase{"s8_4_qo3", {8, 4}, 3}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Reduce, SingleSplitIsIdentityInFixedVersion) {
  ReduceCase c({1, 1}, 4, 11);
  emulate_reduce(c.params(true), 1);
  for (int32_t r = 0; r < c.tokens; ++r) {
    for (int h = 0; h < kH; ++h) {
      // Group t's single slot is at row t*4; row r = 4t + local.
      const int32_t prow = r;
      EXPECT_EQ(num::f2u(c.lse[size_t(r) * kH + h]), num::f2u(c.l_at(prow, h)));  // log(1) + l_0 == l_0
      for (int d = 0; d < 128; ++d)
        ASSERT_EQ(c.out[(size_t(r) * kH + h) * 128 + d], num::bf16_encode(c.o_at(prow, h)[d]));  // o_0 / 1
    }
  }
}

TEST(Reduce, SingleSplitIsSkippedInLegacyVersion) {
  ReduceCase c({1, 2}, 4, 12);
  emulate_reduce(c.params(false), 1);
  for (int32_t r = 0; r < 4; ++r)  // tile 0: n == 1, skipped -> poison stays
    for (int h = 0; h < kH; ++h) {
      EXPECT_TRUE(num::is_poison_f32(c.lse[size_t(r) * kH + h]));
      EXPECT_TRUE(num::is_poison_bf16(c.out[(size_t(r) * kH + h) * 128]));
    }
  for (int32_t r = 4; r < 8; ++r)  // tile 1: n == 2, merged
    for (int h = 0; h < kH; ++h) EXPECT_TRUE(std::isfinite(c.lse[size_t(r) * kH + h]));
}

// The merged #3606 guard: n == 1 with the -1 sentinel (decode metadata's direct-to-O rows) must leave the
// output that the attention kernel wrote untouched, and write no LSE.
TEST(Reduce, SingleSplitWithSentinelSlotLeavesOutputUntouched) {
  ReduceCase c({1, 2}, 4, 13);
  c.pmap[0] = -1;
  for (int32_t r = 0; r < 4; ++r)
    for (int h = 0; h < kH; ++h)
      for (int d = 0; d < 128; ++d) c.out[(size_t(r) * kH + h) * 128 + d] = num::bf16_encode(0.25f * d);
  const std::vector<uint16_t> before(c.out.begin(), c.out.begin() + 4 * kH * 128);
  emulate_reduce(c.params(true), 1);
  EXPECT_EQ(std::vector<uint16_t>(c.out.begin(), c.out.begin() + 4 * kH * 128), before);
  for (int32_t r = 0; r < 4; ++r)
    for (int h = 0; h < kH; ++h) EXPECT_TRUE(num::is_poison_f32(c.lse[size_t(r) * kH + h]));
  for (int32_t r = 4; r < 8; ++r)
    for (int h = 0; h < kH; ++h) EXPECT_TRUE(std::isfinite(c.lse[size_t(r) * kH + h]));
}

// Every partial of the row is empty (l = -inf, O = 0, the prefill's empty-row rule). Upstream's degenerate
// rule gives LSE = +inf whenever the sum is 0 or NaN. What `out` becomes depends on the path:
//   n == 1 (fixed): out = o_0 / 1 = 0, lse = log(1) + -inf = -inf (the identity; no degenerate case).
//   simple (n = 2, 3): a = exp(-inf - -inf) = NaN, so acc and s are NaN: out = NaN (bf16), lse = +inf.
//   massive (n >= 4): M = -inf, S = sum exp(NaN) = NaN -> L = +inf; w_i = exp(-inf - inf) = 0: out = +0.
TEST(Reduce, AllEmptyRows) {
  ReduceCase c({1, 2, 3, 4, 7}, 3, 14);
  for (float& v : c.plse) v = -kInf;
  for (float& v : c.po) v = 0.0f;
  emulate_reduce(c.params(true), 1);
  for (int32_t t = 0; t < 5; ++t) {
    const int n = c.indptr[t + 1] - c.indptr[t];
    for (int32_t r = c.final_map[t].qo_start; r < c.final_map[t].qo_end; ++r) {
      for (int h = 0; h < kH; ++h) {
        const float lse = c.lse[size_t(r) * kH + h];
        const uint16_t o = c.out[(size_t(r) * kH + h) * 128 + 5];
        if (n == 1) {
          EXPECT_EQ(lse, -kInf);
          EXPECT_EQ(o, 0x0000);
        } else if (n < kMassiveThreshold) {
          EXPECT_EQ(lse, kInf);
          EXPECT_TRUE(std::isnan(num::bf16_decode(o)));
          EXPECT_FALSE(num::is_poison_bf16(o));
        } else {
          EXPECT_EQ(lse, kInf);
          EXPECT_EQ(o, 0x0000);
        }
      }
    }
  }
}

// Empty partials mixed with real ones carry zero weight on both paths (as long as one partial is real).
TEST(Reduce, EmptyPartialsCarryNoWeight) {
  for (int n : {2, 3, 5}) {
    for (int empty_at : {0, n - 1}) {
      ReduceCase c({n}, 2, 15 + n);
      ReduceCase ref_c(std::vector<int>{n - 1}, 2, 99);  // the same data without the empty split
      for (int32_t local = 0; local < 2; ++local)
        for (int h = 0; h < kH; ++h) {
          int j = 0;
          for (int i = 0; i < n; ++i) {
            if (i == empty_at) continue;
            ref_c.l_at(ref_c.pmap[j] + local, h) = c.l_at(c.pmap[i] + local, h);
            std::memcpy(ref_c.o_at(ref_c.pmap[j] + local, h), c.o_at(c.pmap[i] + local, h), 128 * 4);
            ++j;
          }
          c.l_at(c.pmap[empty_at] + local, h) = -kInf;
          std::fill_n(c.o_at(c.pmap[empty_at] + local, h), 128, 0.0f);
        }
      emulate_reduce(c.params(true), 1);
      double ref[128], ref_lse;
      for (int32_t local = 0; local < 2; ++local)
        for (int h = 0; h < kH; ++h) {
          merge_f64(ref_c, 0, local, h, ref, &ref_lse);
          EXPECT_NEAR(c.lse[size_t(local) * kH + h], ref_lse,
                      0x1.0p-21 + (n + 8) * 0x1.0p-24 * (1 + std::fabs(ref_lse)));
          for (int d = 0; d < 128; ++d)
            ASSERT_NEAR(num::bf16_decode(c.out[(size_t(local) * kH + h) * 128 + d]), ref[d],
                        0x1.0p-8 * std::fabs(ref[d]) + 0x1.0p-20 + (n + 8) * 0x1.0p-23)
                << "n " << n << " empty " << empty_at;
        }
    }
  }
}

// Simple (n = 3) and massive (the same 3 partials plus an empty one, n = 4) merge the same states. Each is
// within (2^-21 + 11 * 2^-24 (1 + |L|)) of the exact LSE (bound above), so they differ by at most twice that;
// outputs, rounded to bf16, by at most one bf16 ulp (both within ~2^-20 of the same value, which straddles
// at most one rounding boundary).
TEST(Reduce, SimpleAndMassiveAgree) {
  ReduceCase simple({3}, 16, 21), massive({4}, 16, 21);
  for (int32_t local = 0; local < 16; ++local)
    for (int h = 0; h < kH; ++h) {
      for (int i = 0; i < 3; ++i) {
        massive.l_at(massive.pmap[i] + local, h) = simple.l_at(simple.pmap[i] + local, h);
        std::memcpy(massive.o_at(massive.pmap[i] + local, h), simple.o_at(simple.pmap[i] + local, h),
                    128 * 4);
      }
      massive.l_at(massive.pmap[3] + local, h) = -kInf;
      std::fill_n(massive.o_at(massive.pmap[3] + local, h), 128, 0.0f);
    }
  emulate_reduce(simple.params(true), 1);
  emulate_reduce(massive.params(true), 1);
  int64_t differing = 0;
  for (size_t i = 0; i < simple.lse.size(); ++i) {
    const double l = simple.lse[i];
    EXPECT_NEAR(simple.lse[i], massive.lse[i], 2 * (0x1.0p-21 + 11 * 0x1.0p-24 * (1 + std::fabs(l))));
  }
  for (size_t i = 0; i < simple.out.size(); ++i) {
    const int diff = std::abs(int(simple.out[i]) - int(massive.out[i]));
    const bool same_sign = (simple.out[i] & 0x8000) == (massive.out[i] & 0x8000);
    if (same_sign) {
      ASSERT_LE(diff, 1) << i;
    } else {  // straddling zero: both within a few float ulps of 0
      ASSERT_LE(std::fabs(num::bf16_decode(simple.out[i]) - num::bf16_decode(massive.out[i])), 1e-5) << i;
    }
    differing += diff != 0;
  }
  EXPECT_LT(differing, static_cast<int64_t>(simple.out.size() / 10));  // mostly identical
}

TEST(Reduce, PaddingGroupsAndThreadCount) {
  ReduceCase a({3, 5, 2}, 7, 31);
  ReduceCase b({3, 5, 2}, 7, 31);
  // Pad two groups with zero splits (upstream: reduce_indptr[j] = total for j >= n_final).
  for (ReduceCase* c : {&a, &b}) {
    c->indptr.push_back(c->indptr.back());
    c->indptr.push_back(c->indptr.back());
    c->final_map.push_back({0, 0});
    c->final_map.push_back({0, 0});
  }
  emulate_reduce(a.params(true), 1);
  emulate_reduce(b.params(true), 2);
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(std::memcmp(a.lse.data(), b.lse.data(), a.lse.size() * 4), 0);
  for (float v : a.lse) EXPECT_FALSE(num::is_poison_f32(v));
}

}  // namespace
}  // namespace mlaps
