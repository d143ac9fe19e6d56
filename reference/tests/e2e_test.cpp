// Emulator (scheduler -> emulated prefill -> emulated reduce) against the float64 reference, under both
// policies. Small problems: CI has 2 cores.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ostream>
#include <string>

#include "bridge/reference_bridge.h"
#include "scheduler/policy.h"
// The emulator against the reference: these tests exist to run sim/ (through bridge/, as every caller does).
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
  *os << c.policy.name() << (c.causal ? " causal" : " non-causal") << " cu" << c.num_cu;
}
std::string case_name(const ::testing::TestParamInfo<E2eCase>& i) {
  std::string n(i.param.policy.name());
  std::replace(n.begin(), n.end(), '-', '_');
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
    if (w.partial_o_loc == -1) n += w.qo_rows() * (w.q_head_hi() - w.q_head_lo());
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
  const CompareResult cmp = compare_run(reference_attention(reference_inputs(p, in), ro), run.buffers);
  SCOPED_TRACE(cmp.summary());
  ro.round_p_fp8 = false;
  const CompareResult upstream = compare_run(reference_attention(reference_inputs(p, in), ro), run.buffers);
  EXPECT_LE(upstream.output.mismatch_fraction, 0.05) << upstream.summary();

  // The output is right under both policies: the bug is in the LSE only.
  EXPECT_EQ(cmp.unwritten.output, 0);
  EXPECT_EQ(cmp.output.mismatches, 0);
  EXPECT_LE(cmp.lse.max_abs_err, 0.03);
  EXPECT_EQ(cmp.lse.mask_mismatch, 0);
  EXPECT_EQ(cmp.unwritten.lse, run.unwritten.lse);  // compare and the emulator count the same poison
  if (c.policy == policy_named("aiter")) {
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
    ::testing::Values(
        E2eCase{policy_named("aiter"), true, 1}, E2eCase{policy_named("aiter"), true, 4},
        E2eCase{policy_named("aiter"), true, 16}, E2eCase{policy_named("aiter"), true, 80},
        E2eCase{policy_named("aiter"), false, 1}, E2eCase{policy_named("aiter"), false, 4},
        E2eCase{policy_named("aiter"), false, 16}, E2eCase{policy_named("aiter"), false, 80},
        E2eCase{policy_named("aiter-legacy"), true, 1}, E2eCase{policy_named("aiter-legacy"), true, 4},
        E2eCase{policy_named("aiter-legacy"), true, 16}, E2eCase{policy_named("aiter-legacy"), true, 80},
        E2eCase{policy_named("aiter-legacy"), false, 1}, E2eCase{policy_named("aiter-legacy"), false, 4},
        E2eCase{policy_named("aiter-legacy"), false, 16}, E2eCase{policy_named("aiter-legacy"), false, 80}),
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
  const RefResult ref = reference_attention(reference_inputs(p, in), ro);
  const CompareResult legacy = compare_run(
      ref, simulate(p, make_plan(p, policy_named("aiter-legacy")), in, NumericModel{}, 2).buffers);
  const CompareResult fixed =
      compare_run(ref, simulate(p, make_plan(p, policy_named("aiter")), in, NumericModel{}, 2).buffers);
  EXPECT_FALSE(legacy.pass) << legacy.summary();
  EXPECT_EQ(legacy.unwritten.lse, int64_t{p.num_tokens()} * p.num_heads_q()) << legacy.summary();
  EXPECT_TRUE(fixed.pass) << fixed.summary();
}

// The documented default, softmax_scale = 0, means 1/sqrt(192) to every executor (resolve_softmax_scale):
// a hand-built input with 0 gives the bits of the explicit scale in the emulator and the same reference.
TEST(SoftmaxScale, DefaultMeansTheSameToEmulatorAndReference) {
  const Problem p = Problem::from_lengths({40, 8}, {40, 300}, 1, true, 4);
  InputOptions io;
  io.seed = 3;
  const AttnInputs explicit_scale = make_random_inputs(p, io);
  ASSERT_EQ(explicit_scale.softmax_scale, resolve_softmax_scale(0.0f));
  AttnInputs zero = explicit_scale;
  zero.softmax_scale = 0.0f;
  const Plan plan = make_plan(p, policy_named("aiter"));
  const SimRun a = simulate(p, plan, explicit_scale, NumericModel{}, 1);
  const SimRun b = simulate(p, plan, zero, NumericModel{}, 1);
  EXPECT_EQ(a.buffers.out, b.buffers.out);
  EXPECT_EQ(0, std::memcmp(a.buffers.final_lse.data(), b.buffers.final_lse.data(),
                           a.buffers.final_lse.size() * sizeof(float)));
  // The reference's DGEMMs are not bit-reproducible from call to call (Eigen's kernels depend on the
  // buffers' alignment): equal to 1e-12, far below the ~1e-8 a differently rounded scale would move them.
  const RefResult ra = reference_attention(reference_inputs(p, explicit_scale));
  const RefResult rb = reference_attention(reference_inputs(p, zero));
  ASSERT_EQ(ra.out.size(), rb.out.size());
  for (size_t i = 0; i < ra.out.size(); ++i) ASSERT_NEAR(ra.out[i], rb.out[i], 1e-12) << i;
  ASSERT_EQ(ra.lse_ln.size(), rb.lse_ln.size());
  for (size_t i = 0; i < ra.lse_ln.size(); ++i) {
    if (std::isinf(ra.lse_ln[i])) {
      EXPECT_EQ(ra.lse_ln[i], rb.lse_ln[i]) << i;
    } else {
      ASSERT_NEAR(ra.lse_ln[i], rb.lse_ln[i], 1e-12) << i;
    }
  }
}

}  // namespace
}  // namespace mlaps
