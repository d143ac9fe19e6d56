#include "reference/compare.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "bridge/reference_bridge.h"
// Runs' buffers are built with the executors' bf16/fp32 codecs and poison patterns (compare_run reads them).
#include "sim/numerics.h"

namespace mlaps {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// 2 tokens x 1 head. Reference out 1.0 everywhere except token 1, which is 2.0; LSE {1.0, -inf}.
RefResult ref_2x1() {
  RefResult r;
  r.num_tokens = 2;
  r.num_heads_q = 1;
  r.out.assign(2 * kVHeadDim, 1.0);
  for (int d = 0; d < kVHeadDim; ++d) r.out[kVHeadDim + d] = 2.0;
  r.lse_ln = {1.0, -kInf};
  return r;
}
// A run that wrote exactly the reference values (1.0 and 2.0 are bf16-exact).
RunBuffers exact_run() {
  RunBuffers b;
  b.num_tokens = 2;
  b.num_heads_q = 1;
  b.out.assign(2 * kVHeadDim, num::bf16_encode(1.0f));
  for (int d = 0; d < kVHeadDim; ++d) b.out[kVHeadDim + d] = num::bf16_encode(2.0f);
  b.final_lse = {1.0f, -std::numeric_limits<float>::infinity()};
  return b;
}

TEST(Compare, ExactRunPasses) {
  const CompareResult c = compare_run(ref_2x1(), exact_run());
  EXPECT_TRUE(c.pass) << c.summary();
  EXPECT_EQ(c.output.elements, 256);
  EXPECT_EQ(c.output.mismatches, 0);
  EXPECT_EQ(c.output.max_abs_err, 0.0);
  EXPECT_EQ(c.lse.compared, 1);  // the -inf/-inf entry agrees by mask and has no value error
  EXPECT_EQ(c.lse.mask_mismatch, 0);
}

// checkAllclose is relative to the executor's output: |ref - out| <= 0.05 + 0.05 |out|.
// ref 1, out 1.1015625 (bf16 of 1.1): err 0.1015625 <= 0.05 + 0.0550781 -> close (not close if it were
//   relative to the reference: 0.05 + 0.05 = 0.1).
// ref 2, out 1.8515625 (237/128, bf16-exact): err 0.1484375 > 0.05 + 0.0925781 -> mismatch (close if it
//   were relative to the reference: 0.05 + 0.1 = 0.15).
TEST(Compare, OutputToleranceIsRelativeToTheOutput) {
  RunBuffers b = exact_run();
  b.out[5] = num::bf16_encode(1.1f);
  b.out[kVHeadDim + 7] = num::bf16_encode(1.8515625f);
  const CompareResult c = compare_run(ref_2x1(), b);
  EXPECT_EQ(c.output.mismatches, 1);
  EXPECT_DOUBLE_EQ(c.output.mismatch_fraction, 1.0 / 256);
  EXPECT_DOUBLE_EQ(c.output.max_abs_err, 0.1484375);
  EXPECT_EQ(c.output.worst.row, 1);
  EXPECT_EQ(c.output.worst.dim, 7);
  EXPECT_FALSE(c.pass);
  EXPECT_TRUE(c.within_warning_band);  // 1/256 <= upstream's 0.05 warning fraction
}

// The warning band admits output mismatches up to 5% of the elements and nothing else `pass` rejects.
TEST(Compare, WarningBand) {
  RunBuffers b = exact_run();
  for (int d = 0; d < 12; ++d) b.out[d] = num::bf16_encode(1.5f);  // 12 / 256 = 0.047
  CompareResult c = compare_run(ref_2x1(), b);
  EXPECT_FALSE(c.pass);
  EXPECT_TRUE(c.within_warning_band) << c.summary();
  b.out[12] = num::bf16_encode(1.5f);  // 13 / 256 = 0.051
  EXPECT_FALSE(compare_run(ref_2x1(), b).within_warning_band);
  RunBuffers lse = exact_run();
  lse.final_lse[0] = 0.96f;  // LSE 0.04 off: outside the band whatever the output
  EXPECT_FALSE(compare_run(ref_2x1(), lse).within_warning_band);
  RunBuffers unwritten = exact_run();
  unwritten.out[0] = num::kPoisonBf16;  // 1 / 256 mismatching, but unwritten
  EXPECT_FALSE(compare_run(ref_2x1(), unwritten).within_warning_band);
  RunBuffers masks = exact_run();
  masks.final_lse[1] = 0.0f;  // the empty row's -inf written as a finite value
  EXPECT_FALSE(compare_run(ref_2x1(), masks).within_warning_band);
  EXPECT_TRUE(compare_run(ref_2x1(), exact_run()).within_warning_band);
}

TEST(Compare, WorstLocationNamesRowHeadDim) {
  RunBuffers b = exact_run();
  b.out[kVHeadDim + 42] = num::bf16_encode(2.5f);
  const CompareResult c = compare_run(ref_2x1(), b);
  EXPECT_EQ(c.output.worst.row, 1);
  EXPECT_EQ(c.output.worst.head, 0);
  EXPECT_EQ(c.output.worst.dim, 42);
  EXPECT_DOUBLE_EQ(c.output.max_abs_err, 0.5);
}

TEST(Compare, PoisonCountsAsUnwrittenAndMismatch) {
  RunBuffers b = exact_run();
  b.out[3] = num::kPoisonBf16;
  b.out[4] = num::kPoisonBf16;  // same (row, head): one unwritten pair, two mismatching elements
  b.final_lse[1] = num::u2f(num::kPoisonF32);
  const CompareResult c = compare_run(ref_2x1(), b);
  EXPECT_EQ(c.unwritten.output, 1);
  EXPECT_EQ(c.unwritten.lse, 1);
  EXPECT_EQ(c.output.mismatches, 2);
  EXPECT_EQ(c.output.max_abs_err, 0.0);  // anomalies are counted, not folded into the max
  EXPECT_EQ(c.output.first_anomaly.dim, 3);
  EXPECT_FALSE(c.pass);
}

TEST(Compare, NaNOutputIsNeverClose) {
  RunBuffers b = exact_run();
  b.out[0] = num::bf16_encode(std::numeric_limits<float>::quiet_NaN());
  const CompareResult c = compare_run(ref_2x1(), b);
  EXPECT_EQ(c.unwritten.output, 0);
  EXPECT_EQ(c.output.mismatches, 1);
  EXPECT_EQ(c.output.nonfinite, 1);
  EXPECT_FALSE(c.pass);
}

// LSE: 0.02 off passes, 0.04 off fails (bound 0.03, over entries where the reference is finite).
TEST(Compare, LseBound) {
  RunBuffers b = exact_run();
  b.final_lse[0] = 1.02f;
  CompareResult c = compare_run(ref_2x1(), b);
  EXPECT_NEAR(c.lse.max_abs_err, 0.02, 1e-6);
  EXPECT_TRUE(c.pass) << c.summary();
  b.final_lse[0] = 0.96f;
  c = compare_run(ref_2x1(), b);
  EXPECT_NEAR(c.lse.max_abs_err, 0.04, 1e-6);
  EXPECT_EQ(c.lse.worst.row, 0);
  EXPECT_FALSE(c.pass);
}

// A result carries the tolerances it was judged by (what `mlaps run` prints): the defaults, or the caller's.
TEST(Compare, ResultCarriesItsTolerances) {
  RunBuffers b = exact_run();
  b.final_lse[0] = 0.96f;  // LSE error 0.04: fails the default bound 0.03, passes 0.05
  const CompareResult d = compare_run(ref_2x1(), b);
  EXPECT_EQ(d.options.out_atol, 0.05);
  EXPECT_EQ(d.options.out_rtol, 0.05);
  EXPECT_EQ(d.options.lse_atol, 0.03);
  EXPECT_FALSE(d.pass);
  CompareOptions o;
  o.lse_atol = 0.05;
  o.out_rtol = 0.125;
  const CompareResult c = compare_run(ref_2x1(), b, o);
  EXPECT_EQ(c.options.lse_atol, 0.05);
  EXPECT_EQ(c.options.out_rtol, 0.125);
  EXPECT_TRUE(c.pass) << c.summary();
}

// Masks first: the empty row (reference -inf) written as a finite 0.0 (torch.empty garbage) and a finite
// reference row written as +inf are mask mismatches, with no value error counted.
TEST(Compare, LseAnomalyMasks) {
  RunBuffers b = exact_run();
  b.final_lse = {std::numeric_limits<float>::infinity(), 0.0f};
  const CompareResult c = compare_run(ref_2x1(), b);
  EXPECT_EQ(c.lse.mask_mismatch, 2);
  EXPECT_EQ(c.lse.ref_finite_out_nonfinite, 1);
  EXPECT_EQ(c.lse.ref_nonfinite_out_finite, 1);
  EXPECT_EQ(c.lse.compared, 0);
  EXPECT_EQ(c.lse.max_abs_err, 0.0);
  EXPECT_EQ(c.lse.first_anomaly.row, 0);
  EXPECT_FALSE(c.pass);
  CompareOptions lax;
  lax.require_lse_mask_match = false;
  EXPECT_TRUE(compare_run(ref_2x1(), b, lax).pass);
}

TEST(Compare, ClassifiesAnomalies) {
  EXPECT_EQ(classify(1.0), Anomaly::kFinite);
  EXPECT_EQ(classify(-kInf), Anomaly::kNegInf);
  EXPECT_EQ(classify(kInf), Anomaly::kPosInf);
  EXPECT_EQ(classify(std::nan("")), Anomaly::kNaN);
  EXPECT_STREQ(anomaly_name(Anomaly::kUnwritten), "unwritten");
}

TEST(Compare, RejectsShapeMismatch) {
  RunBuffers b = exact_run();
  b.final_lse.pop_back();
  EXPECT_ANY_THROW(compare_run(ref_2x1(), b));
}

}  // namespace
}  // namespace mlaps
