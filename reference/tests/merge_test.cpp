#include "reference/merge.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "bridge/reference_bridge.h"
#include "reference/reference.h"
#include "reference/tests/test_util.h"

namespace mlaps {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(MergeState, EqualLsesWeighHalfEach) {
  const MergeWeights w = merge_state(0.0, 0.0);
  EXPECT_EQ(w.w_prefix, 0.5);
  EXPECT_EQ(w.w_suffix, 0.5);
  EXPECT_DOUBLE_EQ(w.lse_ln, std::log(2.0));
}

// e^2 : e^0 -> weights e^2/(e^2+1), 1/(e^2+1); lse = log(e^2 + 1).
TEST(MergeState, WeightsFollowExpOfLse) {
  const MergeWeights w = merge_state(2.0, 0.0);
  const double e2 = std::exp(2.0);
  EXPECT_DOUBLE_EQ(w.w_prefix, e2 / (e2 + 1));
  EXPECT_DOUBLE_EQ(w.w_suffix, 1 / (e2 + 1));
  EXPECT_DOUBLE_EQ(w.lse_ln, std::log(e2 + 1));
}

// An empty side (-inf, or +inf by the FA2 convention) is the identity, exactly.
TEST(MergeState, EmptySideIsIdentity) {
  for (double empty : {-kInf, kInf}) {
    const MergeWeights a = merge_state(3.25, empty);
    EXPECT_EQ(a.w_prefix, 1.0);
    EXPECT_EQ(a.w_suffix, 0.0);
    EXPECT_EQ(a.lse_ln, 3.25);
    const MergeWeights b = merge_state(empty, -1.5);
    EXPECT_EQ(b.w_prefix, 0.0);
    EXPECT_EQ(b.w_suffix, 1.0);
    EXPECT_EQ(b.lse_ln, -1.5);
  }
}

// Both empty: vLLM's guard keeps the prefix state, no NaN even with garbage in the suffix output.
TEST(MergeAttnStates, BothEmptyKeepsPrefix) {
  std::vector<double> po(4, 0.0), pl = {-kInf};
  const std::vector<double> so = {kNaN, 7, 7, 7}, sl = {kInf};
  merge_attn_states(po, pl, so, sl, 1, 1, 4);
  EXPECT_EQ(pl[0], -kInf);
  for (double x : po) EXPECT_EQ(x, 0.0);
}

TEST(MergeAttnStates, NaNLsePropagates) {
  std::vector<double> po = {1, 2}, pl = {kNaN};
  merge_attn_states(po, pl, {3, 4}, {0.0}, 1, 1, 2);
  EXPECT_TRUE(std::isnan(pl[0]));
  EXPECT_TRUE(std::isnan(po[0]));
}

TEST(MergeAttnStates, MergingAnEmptyStateIsTheIdentity) {
  std::vector<double> po = {0.25, -1.5, 3.0}, pl = {2.75};
  const std::vector<double> before = po;
  merge_attn_states(po, pl, {9, 9, 9}, {-kInf}, 1, 1, 3);
  EXPECT_EQ(po, before);
  EXPECT_EQ(pl[0], 2.75);
}

// Attention over a key set equals the merge of attention over its two halves (non-causal), and
// causal attention over context + new tokens equals merge(context non-causal, new tokens causal):
// the chunk-merge identity (contract 9.12) in double, to ~1e-12.
TEST(MergeAttnStates, HalvesOfAKeySetMergeToTheWhole) {
  const int32_t ctx = 23, nw = 9;
  const Problem full = testing::tiny_problem({nw, 4}, {ctx + nw, 17}, 2, 2, true);
  const AttnInputs in = testing::tiny_inputs(full, 7);
  const RefResult want = reference_attention(reference_inputs(full, in));

  // Split every sequence's keys at `cut`: [0, cut) non-causal, [cut, kv) as its own problem (causal).
  const std::vector<int32_t> cut = {ctx, 13};  // seq 1: qo 4 <= 17 - 13 keeps the causal suffix valid
  std::vector<int32_t> pre_kv, suf_kv;
  AttnInputs pre_in = in, suf_in = in;
  pre_in.kv_page_indices.clear();
  suf_in.kv_page_indices.clear();
  for (int32_t b = 0; b < full.batch(); ++b) {
    const auto base = in.kv_page_indices.begin() + full.kv_indptr[b];
    pre_in.kv_page_indices.insert(pre_in.kv_page_indices.end(), base, base + cut[b]);
    suf_in.kv_page_indices.insert(suf_in.kv_page_indices.end(), base + cut[b], base + full.kv_len(b));
    pre_kv.push_back(cut[b]);
    suf_kv.push_back(full.kv_len(b) - cut[b]);
  }
  const std::vector<int32_t> qo = {nw, 4};
  const RefResult pre =
      reference_attention(reference_inputs(testing::tiny_problem(qo, pre_kv, 2, 2, false), pre_in));
  const RefResult suf =
      reference_attention(reference_inputs(testing::tiny_problem(qo, suf_kv, 2, 2, true), suf_in));
  std::vector<double> out = pre.out, lse = pre.lse_ln;
  merge_attn_states(out, lse, suf.out, suf.lse_ln, want.num_tokens, want.num_heads_q, kVHeadDim);
  for (size_t i = 0; i < lse.size(); ++i) EXPECT_NEAR(lse[i], want.lse_ln[i], 1e-12) << i;
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], want.out[i], 1e-12) << i;
}

TEST(MergeAttnStates, RejectsBadShapes) {
  std::vector<double> po(4), pl(1);
  EXPECT_ANY_THROW(merge_attn_states(po, pl, std::vector<double>(3), {0.0}, 1, 1, 4));
}

}  // namespace
}  // namespace mlaps
