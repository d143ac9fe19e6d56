#include "reference/reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "bridge/reference_bridge.h"
#include "reference/tests/test_util.h"
#include "scheduler/error.h"

namespace mlaps {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
using num::Fp8Encoding;

// The obvious triple loop: one (sequence, head, row) at a time, scalar double arithmetic.
RefResult naive_attention(const Problem& p, const AttnInputs& in, bool round_p) {
  RefResult r;
  r.num_tokens = p.num_tokens();
  r.num_heads_q = p.num_heads_q();
  r.out.assign(static_cast<size_t>(r.num_tokens) * r.num_heads_q * kVHeadDim, 0.0);
  r.lse_ln.assign(static_cast<size_t>(r.num_tokens) * r.num_heads_q, -kInf);
  auto dec = [&](uint8_t c) { return double{num::fp8_decode(c, in.encoding)}; };
  const double scale = double{in.softmax_scale} * in.q_scale * in.k_scale;
  for (int32_t b = 0; b < p.batch(); ++b) {
    const int32_t qo = p.qo_len(b), kv = p.kv_len(b);
    for (int32_t h = 0; h < p.num_heads_q(); ++h) {
      const int32_t kh = h / p.gqa_ratio;
      for (int32_t i = 0; i < qo; ++i) {
        const int32_t tok = p.qo_indptr[b] + i;
        std::vector<double> s;
        std::vector<int32_t> pages;
        for (int32_t j = 0; j < kv; ++j) {
          if (p.causal && j > i + kv - qo) continue;
          const int32_t page = in.kv_page_indices[static_cast<size_t>(p.kv_indptr[b] + j)];
          double dot = 0;
          for (int d = 0; d < kQkHeadDim; ++d)
            dot += dec(in.q[(static_cast<size_t>(tok) * r.num_heads_q + h) * kQkHeadDim + d]) *
                   dec(in.k[(static_cast<size_t>(page) * p.num_heads_k + kh) * kQkHeadDim + d]);
          s.push_back(dot * scale);
          pages.push_back(page);
        }
        if (s.empty()) continue;
        double m = -kInf;
        for (double x : s) m = std::max(m, x);
        double l = 0;
        std::vector<double> acc(kVHeadDim, 0.0);
        for (size_t j = 0; j < s.size(); ++j) {
          double e = std::exp(s[j] - m);
          l += e;
          if (round_p)
            e = num::fp8_decode(num::fp8_encode(static_cast<float>(e), in.encoding, true), in.encoding);
          for (int d = 0; d < kVHeadDim; ++d)
            acc[d] += e * dec(in.v[(static_cast<size_t>(pages[j]) * p.num_heads_k + kh) * kVHeadDim + d]);
        }
        const size_t th = static_cast<size_t>(tok) * r.num_heads_q + h;
        r.lse_ln[th] = m + std::log(l);
        for (int d = 0; d < kVHeadDim; ++d) r.out[th * kVHeadDim + d] = acc[d] / l * in.v_scale;
      }
    }
  }
  return r;
}

void expect_near_results(const RefResult& a, const RefResult& b, double tol) {
  ASSERT_EQ(a.out.size(), b.out.size());
  ASSERT_EQ(a.lse_ln.size(), b.lse_ln.size());
  for (size_t i = 0; i < a.lse_ln.size(); ++i) {
    if (std::isinf(b.lse_ln[i])) {
      EXPECT_EQ(a.lse_ln[i], b.lse_ln[i]) << "lse " << i;
    } else {
      EXPECT_NEAR(a.lse_ln[i], b.lse_ln[i], tol) << "lse " << i;
    }
  }
  for (size_t i = 0; i < a.out.size(); ++i) EXPECT_NEAR(a.out[i], b.out[i], tol) << "out " << i;
}

struct NaiveCase {
  const char* name;
  std::vector<int32_t> qo, kv;
  int32_t heads_k, gqa;
  bool causal;
  bool round_p;
  Fp8Encoding enc;
};

class ReferenceVsNaive : public ::testing::TestWithParam<NaiveCase> {};

// The Eigen path (row blocks of 64, GEMMs, gathered K/V) equals the scalar loop to rounding (~1e-15
// relative: the same double products, summed in a different order).
TEST_P(ReferenceVsNaive, MatchesTripleLoop) {
  const NaiveCase& c = GetParam();
  const Problem p = testing::tiny_problem(c.qo, c.kv, c.heads_k, c.gqa, c.causal);
  const AttnInputs in = testing::tiny_inputs(p, 42, c.enc);
  RefOptions opt;
  opt.round_p_fp8 = c.round_p;
  const RefResult got = reference_attention(reference_inputs(p, in), opt);
  const RefResult want = naive_attention(p, in, c.round_p);
  expect_near_results(got, want, 1e-12);
}

INSTANTIATE_TEST_SUITE_P(
    Tiny, ReferenceVsNaive,
    ::testing::Values(
        NaiveCase{"b3_causal_h2", {5, 1, 7}, {9, 1, 7}, 2, 1, true, false, Fp8Encoding::kE4M3FN},
        NaiveCase{"b2_noncausal_gqa2", {4, 3}, {6, 11}, 1, 2, false, false, Fp8Encoding::kE4M3FN},
        NaiveCase{"rowblocks_qo70_kv90_causal", {70}, {90}, 1, 1, true, false, Fp8Encoding::kE4M3FN},
        // Crosses the reference's 512-row block boundary.
        NaiveCase{"rowblocks_qo600_kv700_causal", {600}, {700}, 1, 1, true, false, Fp8Encoding::kE4M3FN},
        // More keys than one decode wave holds (16Ki): several waves, a long sequence beside a short one.
        NaiveCase{"decode_rounds_kv40000_30000_1",
                  {1, 1, 1},
                  {40000, 30000, 1},
                  1,
                  1,
                  false,
                  false,
                  Fp8Encoding::kE4M3FN},
        NaiveCase{"fp8p_causal_gqa2", {6, 3}, {6, 20}, 2, 2, true, true, Fp8Encoding::kE4M3FN},
        NaiveCase{"fp8p_fnuz_noncausal", {3}, {40}, 1, 1, false, true, Fp8Encoding::kE4M3FNUZ},
        NaiveCase{"empty_kv_and_qo_gt_kv", {3, 4, 2}, {0, 2, 5}, 1, 1, true, false, Fp8Encoding::kE4M3FN}),
    [](const ::testing::TestParamInfo<NaiveCase>& i) { return std::string(i.param.name); });

// Hand-built inputs: every code in a tensor is set explicitly.
AttnInputs constant_inputs(const Problem& p) {
  AttnInputs in;
  in.num_tokens = p.num_tokens();
  in.num_heads_q = p.num_heads_q();
  in.num_heads_k = p.num_heads_k;
  in.num_pages = p.num_used_pages();
  in.q.assign(static_cast<size_t>(in.num_tokens) * in.num_heads_q * kQkHeadDim, 0);
  in.k.assign(static_cast<size_t>(in.num_pages) * in.num_heads_k * kQkHeadDim, 0);
  in.v.assign(static_cast<size_t>(in.num_pages) * in.num_heads_k * kVHeadDim, 0);
  in.kv_page_indices.resize(static_cast<size_t>(in.num_pages));
  for (int32_t i = 0; i < in.num_pages; ++i) in.kv_page_indices[static_cast<size_t>(i)] = i;
  in.softmax_scale = 1.0f;
  return in;
}
uint8_t code(float x) {
  return num::fp8_encode(x, Fp8Encoding::kE4M3FN, true);
}

// qo = 2, kv = 3, causal, all scores 0: row 0 sees keys {0, 1} (j <= 0 + 3 - 2), row 1 sees {0, 1, 2}.
// With v_j = j + 1 in every dim: O_0 = 1.5, O_1 = 2, LSE = ln 2 and ln 3.
TEST(ReferenceMask, BottomRightCausalByAbsolutePosition) {
  const Problem p = testing::tiny_problem({2}, {3}, 1, 1, true);
  AttnInputs in = constant_inputs(p);
  for (int32_t j = 0; j < 3; ++j)
    for (int d = 0; d < kVHeadDim; ++d)
      in.v[static_cast<size_t>(j) * kVHeadDim + d] = code(static_cast<float>(j + 1));
  const RefResult r = reference_attention(reference_inputs(p, in));
  EXPECT_DOUBLE_EQ(r.lse_ln[0], std::log(2.0));
  EXPECT_DOUBLE_EQ(r.lse_ln[1], std::log(3.0));
  for (int d = 0; d < kVHeadDim; ++d) {
    EXPECT_DOUBLE_EQ(r.out[static_cast<size_t>(d)], 1.5);
    EXPECT_DOUBLE_EQ(r.out[kVHeadDim + static_cast<size_t>(d)], 2.0);
  }
}

// Empty rows: causal qo = 3 > kv = 1 leaves rows 0 and 1 without a visible key (row i sees j <= i - 2);
// a sequence with kv = 0 has no keys at all. Both give O = 0, LSE = -inf; row 2 sees key 0.
TEST(ReferenceMask, EmptyRowsGiveZeroAndNegInf) {
  const Problem p = testing::tiny_problem({3, 2}, {1, 0}, 1, 1, true);
  AttnInputs in = constant_inputs(p);
  for (int d = 0; d < kVHeadDim; ++d) in.v[static_cast<size_t>(d)] = code(3.0f);
  const RefResult r = reference_attention(reference_inputs(p, in));
  ASSERT_EQ(r.lse_ln.size(), 5u);
  for (size_t row : {0u, 1u, 3u, 4u}) {
    EXPECT_EQ(r.lse_ln[row], -kInf) << row;
    for (int d = 0; d < kVHeadDim; ++d) EXPECT_EQ(r.out[row * kVHeadDim + d], 0.0) << row;
  }
  EXPECT_DOUBLE_EQ(r.lse_ln[2], 0.0);  // one key, score 0
  EXPECT_DOUBLE_EQ(r.out[2 * kVHeadDim], 3.0);
}

// fp8 P: scores {0, -ln(0.3)... } chosen so that p = {1, 0.3}. e4m3fn's neighbours of 0.3 are 0.28125 and
// 0.3125; RNE picks 0.3125. l sums the unrounded p (1.3). With v = {1, 2}:
//   exact P: (1 + 0.3 * 2) / 1.3 = 1.2307692...;  fp8 P: (1 + 0.3125 * 2) / 1.3 = 1.25.
TEST(ReferenceFp8P, RoundsPButNotTheSum) {
  const Problem p = testing::tiny_problem({1}, {2}, 1, 1, false);
  AttnInputs in = constant_inputs(p);
  in.q[0] = code(1.0f);
  in.k[kQkHeadDim] = code(-1.0f);  // key 1: s = softmax_scale * (1 * -1)
  in.softmax_scale = static_cast<float>(-std::log(0.3));
  for (int d = 0; d < kVHeadDim; ++d) {
    in.v[static_cast<size_t>(d)] = code(1.0f);
    in.v[kVHeadDim + static_cast<size_t>(d)] = code(2.0f);
  }
  const RefResult exact = reference_attention(reference_inputs(p, in));
  RefOptions o;
  o.round_p_fp8 = true;
  const RefResult rounded = reference_attention(reference_inputs(p, in), o);
  EXPECT_NEAR(exact.out[0], 1.6 / 1.3, 1e-7);
  EXPECT_NEAR(rounded.out[0], 1.625 / 1.3, 1e-7);
  EXPECT_NEAR(rounded.lse_ln[0], std::log(1.3), 1e-7);  // the LSE ignores the rounding
  EXPECT_DOUBLE_EQ(rounded.lse_ln[0], exact.lse_ln[0]);
}

// Scales: q_scale, k_scale multiply the scores; v_scale multiplies O.
TEST(ReferenceScales, AppliedToScoresAndOutput) {
  const Problem p = testing::tiny_problem({1}, {2}, 1, 1, false);
  AttnInputs in = constant_inputs(p);
  in.q[0] = code(1.0f);
  in.k[0] = code(2.0f);  // key 0: dot 2; key 1: dot 0
  in.q_scale = 0.5f;
  in.k_scale = 0.25f;
  in.v_scale = 4.0f;
  in.softmax_scale = 2.0f;  // s0 = 2 * 0.5 * 0.25 * 2 = 0.5, s1 = 0
  for (int d = 0; d < kVHeadDim; ++d) in.v[static_cast<size_t>(d)] = code(1.0f);
  const RefResult r = reference_attention(reference_inputs(p, in));
  const double e = std::exp(0.5);
  EXPECT_NEAR(r.lse_ln[0], std::log(e + 1.0), 1e-15);
  EXPECT_NEAR(r.out[0], 4.0 * e / (e + 1.0), 1e-14);
}

TEST(ReferenceInputs, RejectsInconsistentInputs) {
  const Problem p = testing::tiny_problem({2}, {3}, 1, 1, true);
  AttnInputs in = constant_inputs(p);
  in.kv_page_indices[1] = in.num_pages;  // out of range
  EXPECT_THROW(reference_attention(reference_inputs(p, in)), InputError);
  in = constant_inputs(p);
  in.q.pop_back();
  EXPECT_THROW(reference_attention(reference_inputs(p, in)), InputError);
  Problem bs = p;
  bs.block_size = 2;
  EXPECT_THROW(reference_attention(reference_inputs(bs, constant_inputs(p))), InputError);
}

}  // namespace
}  // namespace mlaps
