// Emulator (scheduler -> emulated prefill -> emulated reduce) against the float64 reference, under both
// policies. Small problems: CI has 2 cores.
#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "reference/compare.h"
#include "reference/reference.h"
#include "scheduler/plan.h"
#include "sim/emulate.h"
#include "sim/tensors.h"

namespace mlaps {
namespace {

struct E2eCase {
  Policy policy;
  bool causal;
  int32_t num_cu;
};
void PrintTo(const E2eCase& c, std::ostream* os) {
  *os << policy_name(c.policy) << (c.causal ? " causal" : " non-causal") << " cu" << c.num_cu;
}
std::string case_name(const ::testing::TestParamInfo<E2eCase>& i) {
  std::string n = i.param.policy == Policy::kAiter ? "aiter" : "aiter_legacy";
  n += i.param.causal ? "_causal" : "_noncausal";
  return n + "_cu" + std::to_string(i.param.num_cu);
}

// Causal: two sequences, one spanning two query tiles (300 rows) and a chunked-regime one (qo < kv).
// Non-causal: upstream's seed shape in small (qo 8 over a long KV) next to a 300-row one.
Problem e2e_problem(bool causal, int32_t num_cu) {
  if (causal) return Problem::from_lengths({300, 40}, {300, 520}, 2, true, num_cu);
  return Problem::from_lengths({8, 300}, {700, 260}, 2, false, num_cu);
}

// (row, head) pairs that the plan sends down the -1 fast path: bf16 O written, no LSE anywhere.
int64_t direct_rows(const Plan& plan) {
  int64_t n = 0;
  for (const WorkInfo& w : plan.work_info)
    if (w.partial_o_loc == -1) n += int64_t{w.qo_end - w.qo_start} * (w.q_head_hi() - w.q_head_lo());
  return n;
}

class EmulatorVsReference : public ::testing::TestWithParam<E2eCase> {};

TEST_P(EmulatorVsReference, FinalOutputAndLse) {
  const E2eCase& c = GetParam();
  const Problem p = e2e_problem(c.causal, c.num_cu);
  InputOptions io;
  io.seed = 1234;
  const AttnInputs in = make_random_inputs(p, io);
  const Plan plan = make_plan(p, c.policy);
  const NumericModel model{};
  const SimRun run = simulate(p, plan, in, model, 2);
  // The truth with the model's P rounding (fp8 P, rounded against the row max rather than the kernel's
  // running max): mismatch-free. Upstream's unrounded truth: within its "warning" band (fraction <= 0.05),
  // since rows with a few visible keys carry fp8's 2^-4 relative rounding of P into O.
  RefOptions ro;
  ro.round_p_fp8 = model.round_p_fp8;
  const CompareResult cmp = compare_run(reference_attention(p, in, ro), run.buffers);
  SCOPED_TRACE(cmp.summary());
  ro.round_p_fp8 = false;
  const CompareResult upstream = compare_run(reference_attention(p, in, ro), run.buffers);
  EXPECT_LE(upstream.output.mismatch_fraction, 0.05) << upstream.summary();

  // The output is right under both policies: the bug is in the LSE only.
  EXPECT_EQ(cmp.unwritten.output, 0);
  EXPECT_EQ(cmp.output.mismatches, 0);
  EXPECT_LE(cmp.lse.max_abs_err, 0.03);
  EXPECT_EQ(cmp.lse.mask_mismatch, 0);
  EXPECT_EQ(cmp.unwritten.lse, run.unwritten.lse);  // compare and the emulator count the same poison
  if (c.policy == Policy::kAiter) {
    EXPECT_EQ(direct_rows(plan), 0);
    EXPECT_EQ(cmp.unwritten.lse, 0);
    EXPECT_TRUE(cmp.pass);
  } else {
    // Every tile absorbed whole by one thread group leaves its final LSE rows unwritten, and only those.
    EXPECT_EQ(cmp.unwritten.lse, direct_rows(plan));
    if (c.num_cu == 1) {
      EXPECT_EQ(cmp.unwritten.lse, int64_t{p.num_tokens()} * p.num_heads_q());  // one TG absorbs everything
    }
    EXPECT_EQ(cmp.pass, direct_rows(plan) == 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Small, EmulatorVsReference,
    ::testing::Values(E2eCase{Policy::kAiter, true, 1}, E2eCase{Policy::kAiter, true, 4},
                      E2eCase{Policy::kAiter, true, 16}, E2eCase{Policy::kAiter, true, 80},
                      E2eCase{Policy::kAiter, false, 1}, E2eCase{Policy::kAiter, false, 4},
                      E2eCase{Policy::kAiter, false, 16}, E2eCase{Policy::kAiter, false, 80},
                      E2eCase{Policy::kAiterLegacy, true, 1}, E2eCase{Policy::kAiterLegacy, true, 4},
                      E2eCase{Policy::kAiterLegacy, true, 16}, E2eCase{Policy::kAiterLegacy, true, 80},
                      E2eCase{Policy::kAiterLegacy, false, 1}, E2eCase{Policy::kAiterLegacy, false, 4},
                      E2eCase{Policy::kAiterLegacy, false, 16}, E2eCase{Policy::kAiterLegacy, false, 80}),
    case_name);

// Upstream's seed scenario (--qo-lens 8x16 --kv-lens 1200x16 --heads 16 --no-causal) in small: 4 sequences,
// 4 heads, 16 CUs. Legacy: every tile is absorbed whole, so every final LSE row is unwritten; fixed: passes.
TEST(EmulatorSeedShape, LegacyLosesEveryLseFixedPasses) {
  const Problem p =
      Problem::from_lengths(std::vector<int32_t>(4, 8), std::vector<int32_t>(4, 1200), 4, false, 16);
  InputOptions io;
  io.seed = 7;
  const AttnInputs in = make_random_inputs(p, io);
  RefOptions ro;
  ro.round_p_fp8 = NumericModel{}.round_p_fp8;
  const RefResult ref = reference_attention(p, in, ro);
  const CompareResult legacy =
      compare_run(ref, simulate(p, make_plan(p, Policy::kAiterLegacy), in, NumericModel{}, 2).buffers);
  const CompareResult fixed =
      compare_run(ref, simulate(p, make_plan(p, Policy::kAiter), in, NumericModel{}, 2).buffers);
  EXPECT_FALSE(legacy.pass) << legacy.summary();
  EXPECT_EQ(legacy.unwritten.lse, int64_t{p.num_tokens()} * p.num_heads_q()) << legacy.summary();
  EXPECT_TRUE(fixed.pass) << fixed.summary();
}

}  // namespace
}  // namespace mlaps
