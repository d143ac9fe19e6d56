// GPU executor tests. Host-side pieces run everywhere; tests that need a device skip when none is present
// (CI builds the CUDA flavour on a machine without a GPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <sstream>
#include <string>

#include "gpu/conformance.h"
#include "gpu/launcher.h"
#include "scheduler/plan.h"
#include "sim/emulate.h"
#include "sim/numerics.h"

namespace mlaps::gpu {
namespace {

bool have_device() {
  return query_device().available;
}

TEST(GpuDevice, QueryExplainsAMissingDevice) {
  const DeviceInfo d = query_device();
  if (d.available) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_GT(d.multiprocessors, 0);
  } else {
    EXPECT_FALSE(d.reason.empty());
  }
  EXPECT_TRUE(d.flavour == "cuda" || d.flavour == "hip");
}

TEST(GpuConformance, PrefillFlopsCountVisiblePairs) {
  // causal qo = kv = 4, one head: 1 + 2 + 3 + 4 = 10 visible pairs, 2 * 320 FLOPs each.
  EXPECT_DOUBLE_EQ(prefill_flops(Problem::from_lengths({4}, {4}, 1, true)), 10 * 640.0);
  // causal chunk qo 2, kv 5: row 0 sees keys 0..3, row 1 sees 0..4 -> 9 pairs; 2 heads.
  EXPECT_DOUBLE_EQ(prefill_flops(Problem::from_lengths({2}, {5}, 2, true)), 9 * 2 * 640.0);
  // non-causal qo 3, kv 7, plus an empty context: 21 pairs.
  EXPECT_DOUBLE_EQ(prefill_flops(Problem::from_lengths({3, 4}, {7, 0}, 1, false)), 21 * 640.0);
}

TEST(GpuConformance, DefaultSuiteCoversSeedScenariosPoliciesAndCuCounts) {
  const auto cases = conformance_suite(ConformanceOptions{});
  std::set<int32_t> cus;
  std::set<std::string> names;
  int legacy = 0, fnuz = 0, causal = 0, timed = 0;
  for (const auto& c : cases) {
    cus.insert(c.problem.num_cu);
    names.insert(c.name.substr(0, c.name.find('/')));
    legacy += c.policy == Policy::kAiterLegacy;
    fnuz += c.model.encoding == num::Fp8Encoding::kE4M3FNUZ;
    causal += c.problem.causal;
    timed += c.timed;
    EXPECT_EQ(c.model.encoding, c.inputs.encoding) << c.name;
  }
  for (int32_t cu : {4, 80, 132, 256}) EXPECT_TRUE(cus.count(cu)) << "cu " << cu;
  for (const char* n : {"chunked_qo8_ctx1200_b16_h16", "causal_1x8192_h1", "causal_1x16384_h1"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_GT(legacy, 0);
  EXPECT_GT(fnuz, 0);
  EXPECT_GT(causal, 0);
  EXPECT_LT(causal, static_cast<int>(cases.size()));
  EXPECT_EQ(timed, 4);
}

TEST(GpuConformance, NoDeviceIsReportedNotPassed) {
  if (have_device()) GTEST_SKIP() << "a GPU is present";
  ConformanceOptions o;
  o.suite = "quick";
  std::ostringstream log;
  EXPECT_EQ(run_conformance(o, log), 2);
  o.no_device_ok = true;
  EXPECT_EQ(run_conformance(o, log), 0);
  EXPECT_NE(log.str().find("no usable GPU"), std::string::npos);
}

// One small problem per policy: every element of every buffer equals the emulator's, bit for bit.
TEST(GpuExecutor, MatchesEmulatorBitForBit) {
  if (!have_device()) GTEST_SKIP() << "no GPU: " << query_device().reason;
  for (Policy pol : {Policy::kAiter, Policy::kAiterLegacy}) {
    const Problem p = Problem::from_lengths({300, 7}, {300, 7}, 2, true, 8);
    const Plan plan = make_plan(p, pol);
    InputOptions io;
    io.seed = 7;
    const AttnInputs in = make_random_inputs(p, io);
    const NumericModel model;
    const SimRun sim = simulate(p, plan, in, model);
    const GpuRun gpu = run_plan(p, plan, in, model);
    EXPECT_EQ(0, std::memcmp(sim.buffers.out.data(), gpu.buffers.out.data(), sim.buffers.out.size() * 2));
    EXPECT_EQ(0, std::memcmp(sim.buffers.final_lse.data(), gpu.buffers.final_lse.data(),
                             sim.buffers.final_lse.size() * 4));
    EXPECT_EQ(0, std::memcmp(sim.buffers.partial_o.data(), gpu.buffers.partial_o.data(),
                             sim.buffers.partial_o.size() * 4));
    const UnwrittenCounts u = count_unwritten(gpu.buffers);
    EXPECT_EQ(u.output, sim.unwritten.output);
    EXPECT_EQ(u.lse, sim.unwritten.lse);
  }
}

TEST(GpuConformance, QuickSuitePasses) {
  if (!have_device()) GTEST_SKIP() << "no GPU: " << query_device().reason;
  ConformanceOptions o;
  o.suite = "quick";
  o.random_cases = 4;
  std::ostringstream log;
  EXPECT_EQ(run_conformance(o, log), 0) << log.str();
}

}  // namespace
}  // namespace mlaps::gpu
