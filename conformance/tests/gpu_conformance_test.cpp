// GPU conformance tests: the executor against the emulator, the suites and the comparison. Host-side pieces
// run everywhere; tests that need a device skip when none is present (CI builds the CUDA flavour on a
// machine without a GPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <unistd.h>

#include "conformance/conformance.h"
#include "gpu/launcher.h"
#include "ledger/ledger.h"
#include "scheduler/policy.h"
#include "sim/emulate.h"
#include "sim/numerics.h"
#include "workloads/workloads.h"

namespace mlaps::conformance {
namespace {

using gpu::DeviceInfo;
using gpu::GpuRun;
using gpu::query_device;
using gpu::run_plan;

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
  std::map<std::string, int> per_policy;
  int legacy = 0, fnuz = 0, causal = 0, timed = 0;
  for (const auto& c : cases) {
    cus.insert(c.problem.num_cu);
    names.insert(c.name.substr(0, c.name.find('/')));
    ++per_policy[std::string(c.policy.name())];
    EXPECT_NE(c.name.find("/" + std::string(c.policy.name()) + "/"), std::string::npos) << c.name;
    legacy += c.policy == policy_named("aiter-legacy");
    fnuz += c.model.encoding == num::Fp8Encoding::kE4M3FNUZ;
    causal += c.problem.causal;
    timed += c.timed;
    EXPECT_EQ(c.model.encoding, c.inputs.encoding) << c.name;
  }
  for (int32_t cu : {4, 80, 132, 256}) EXPECT_TRUE(cus.count(cu)) << "cu " << cu;
  for (const char* n : {"seed_ctx1200_qo8_b16_h16_noncausal", "causal_1x8192_h1", "causal_1x16384_h1"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_GT(legacy, 0);
  // Every policy of the table runs the fixed mid-size problems over every CU count, and the sanitizer suite.
  for (const PolicyDef& d : policies()) EXPECT_GE(per_policy[std::string(d.name)], 32) << d.name;
  ConformanceOptions san;
  san.suite = "sanitizer";
  std::set<std::string> san_policies;
  for (const auto& c : conformance_suite(san)) san_policies.insert(std::string(c.policy.name()));
  EXPECT_EQ(san_policies.size(), policies().size());
  EXPECT_GT(fnuz, 0);
  EXPECT_GT(causal, 0);
  EXPECT_LT(causal, static_cast<int>(cases.size()));
  EXPECT_EQ(timed, 4);
}

// One name, one problem: every case but the random ones is a named workload of the table (its name before the
// first '/', "wl:" stripped), with the table's problem on the case's CU count.
TEST(GpuConformance, CasesAreTableWorkloads) {
  for (const char* suite : {"default", "quick", "seed", "sanitizer"}) {
    ConformanceOptions o;
    o.suite = suite;
    int named = 0;
    for (const ConformanceCase& c : conformance_suite(o)) {
      std::string name = c.name.substr(0, c.name.find('/'));
      if (name.rfind("random", 0) == 0) continue;
      if (name.rfind("wl:", 0) == 0) name = name.substr(3);
      const Workload* w = find_workload(name);
      ASSERT_NE(w, nullptr) << suite << ": " << c.name;
      Problem want = w->problem;
      want.num_cu = c.problem.num_cu;
      EXPECT_TRUE(problems_equal(c.problem, want)) << suite << ": " << c.name;
      ++named;
    }
    EXPECT_GT(named, 0) << suite;
  }
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

// --out goes through the project's one writer: a folder (or link, device) at a report's name, or a file where
// the folder should be, is a usage error (2) found before the device is queried, and nothing is written or
// removed. A folder holding other files (another mode's reports) is accepted, as --calibrate's and
// --time-policies' outputs are.
TEST(GpuConformance, BadOutIsRefusedBeforeTheDeviceAndNothingIsTouched) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("mlaps_conformance_out_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "dir" / "junit.xml");
  auto write = [](const fs::path& f, const std::string& text) { std::ofstream(f) << text; };
  auto read = [](const fs::path& f) {
    std::ifstream in(f);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  write(root / "file", "not a folder\n");
  ConformanceOptions o;
  o.suite = "quick";
  o.no_device_ok = true;  // 2 below is the --out check, not a missing device
  for (const fs::path& out : {root / "dir", root / "file"}) {
    o.out_dir = out.string();
    std::ostringstream log;
    EXPECT_EQ(run_conformance(o, log), 2) << out;
    EXPECT_NE(log.str().find("--out"), std::string::npos) << log.str();
    EXPECT_EQ(log.str().find("no usable GPU"), std::string::npos) << log.str();
  }
  EXPECT_TRUE(fs::is_directory(root / "dir" / "junit.xml"));
  EXPECT_FALSE(fs::exists(root / "dir" / "summary.json"));
  EXPECT_EQ(read(root / "file"), "not a folder\n");
  if (!have_device()) {
    // Checked and accepted, then nothing to write without a device: the folder is as it was.
    fs::create_directories(root / "ok");
    write(root / "ok" / "profile.json", "{}\n");
    write(root / "ok" / "junit.xml", "old\n");
    o.out_dir = (root / "ok").string();
    std::ostringstream log;
    EXPECT_EQ(run_conformance(o, log), 0) << log.str();
    EXPECT_EQ(read(root / "ok" / "profile.json"), "{}\n");
    EXPECT_EQ(read(root / "ok" / "junit.xml"), "old\n");
  }
  fs::remove_all(root);
}

// One small problem per policy: every element of every buffer (partial_lse included) equals the emulator's,
// bit for bit.
TEST(GpuExecutor, MatchesEmulatorBitForBit) {
  if (!have_device()) GTEST_SKIP() << "no GPU: " << query_device().reason;
  for (const PolicyDef& def : policies()) {
    const Policy pol(def);
    const Problem p = Problem::from_lengths({300, 7}, {300, 7}, 2, true, 8);
    const Plan plan = make_plan(p, pol);
    InputOptions io;
    io.seed = 7;
    const AttnInputs in = make_random_inputs(p, io);
    const NumericModel model;
    const SimRun sim = simulate(p, plan, in, model);
    const GpuRun gpu = run_plan(p, plan, in, model);
    // Every element of out, final_lse, partial_o and partial_lse, by the conformance suite's own rules.
    const RunDiff d = compare_runs(p, plan, sim.buffers, gpu.buffers);
    EXPECT_EQ(d.out.count, 0) << d.out.first;
    EXPECT_EQ(d.final_lse.count, 0) << d.final_lse.first;
    EXPECT_EQ(d.partial_o.count, 0) << d.partial_o.first;
    EXPECT_EQ(d.partial_lse.count, 0) << d.partial_lse.first;
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

// compare_runs, the conformance check itself, needs no GPU: two copies of one emulator run, then single
// elements changed in each buffer. Each change is counted once and described by row, head (and dim).
TEST(GpuConformance, CompareRunsCountsAndDescribesEachBuffer) {
  const Problem p = Problem::from_lengths({300, 40}, {300, 500}, 2, true, 4);  // 2 heads, cut tiles, partials
  const Plan plan = make_plan(p, policy_named("aiter"));
  InputOptions io;
  io.seed = 7;
  const AttnInputs in = make_random_inputs(p, io);
  const SimRun sim = simulate(p, plan, in, NumericModel{}, 1);
  RunBuffers gpu = sim.buffers;
  EXPECT_EQ(compare_runs(p, plan, sim.buffers, gpu).total(), 0);

  const int32_t H = p.num_heads_q();
  const size_t o = (size_t{3} * H + 1) * kVHeadDim + 5;  // row 3, head 1, dim 5
  gpu.out[o] ^= 1;
  const size_t l = size_t{310} * H + 0;  // row 310 (sequence 1), head 0
  gpu.final_lse[l] = num::u2f(num::f2u(gpu.final_lse[l]) ^ 1u);
  ASSERT_FALSE(gpu.partial_o.empty());
  gpu.partial_o[kVHeadDim + 2] = num::u2f(num::kPoisonF32);  // partial row 0, head 1, dim 2
  gpu.partial_lse.back() = num::u2f(num::f2u(gpu.partial_lse.back()) + 1u);
  RunDiff d = compare_runs(p, plan, sim.buffers, gpu);
  EXPECT_EQ(d.out.count, 1);
  EXPECT_EQ(d.final_lse.count, 1);
  EXPECT_EQ(d.partial_o.count, 1);
  EXPECT_EQ(d.partial_lse.count, 1);
  EXPECT_EQ(d.total(), 4);
  EXPECT_NE(d.out.first.find("out[row 3, head 1, dim 5]"), std::string::npos) << d.out.first;
  EXPECT_NE(d.out.first.find("written by reduce entry"), std::string::npos) << d.out.first;
  EXPECT_NE(d.final_lse.first.find("final_lse[row 310, head 0]"), std::string::npos) << d.final_lse.first;
  EXPECT_NE(d.partial_o.first.find("partial_o[partial row 0, head 1, dim 2]"), std::string::npos)
      << d.partial_o.first;
  EXPECT_NE(d.partial_o.first.find("written by prefill work #"), std::string::npos) << d.partial_o.first;
  EXPECT_NE(d.partial_lse.first.find("partial_lse[partial row "), std::string::npos) << d.partial_lse.first;

  // Two different quiet NaNs match (payloads are outside the model); a NaN against the poison does not.
  RunBuffers a = sim.buffers, b = sim.buffers;
  a.final_lse[0] = num::u2f(0x7FC00000u);
  b.final_lse[0] = num::u2f(0xFFC00001u);
  EXPECT_EQ(compare_runs(p, plan, a, b).total(), 0);
  b.final_lse[0] = num::u2f(num::kPoisonF32);
  EXPECT_EQ(compare_runs(p, plan, a, b).final_lse.count, 1);
  // Unequal sizes are a difference of their own, not an out-of-bounds read.
  b = sim.buffers;
  b.partial_lse.pop_back();
  d = compare_runs(p, plan, sim.buffers, b);
  EXPECT_EQ(d.partial_lse.count, 1);
  EXPECT_NE(d.partial_lse.first.find("sizes differ"), std::string::npos) << d.partial_lse.first;
}

}  // namespace
}  // namespace mlaps::conformance

#if MLAPS_CONFORMANCE_WITH_COST
#include <cmath>

#include <fmt/format.h>

#include "conformance/policy_timing.h"
#include "scheduler/error.h"

namespace mlaps::conformance {
namespace {

// The policy-timing cases (host side): each suite problem once, set_batches batches per set, named apart.
TEST(PolicyTiming, CasesCoverTheSuiteAndTheSets) {
  PolicyTimingOptions o;
  o.policies = {"aiter", "cost-balanced"};
  o.suite = "quick";
  o.sets = {"many-short", "vllm-chunked-8k"};
  o.set_batches = 3;
  const auto cases = policy_timing_cases(o);
  std::map<std::string, int> per_group;
  std::set<std::string> names;
  for (const auto& c : cases) {
    ++per_group[c.group];
    EXPECT_TRUE(names.insert(c.name).second) << c.name;
    EXPECT_FALSE(c.calls.empty()) << c.name;
  }
  EXPECT_GT(per_group["suite"], 5);
  EXPECT_EQ(per_group["many-short"], 3);
  EXPECT_EQ(per_group["vllm-chunked-8k"], 3);
  o.policies = {"aiter", "nope"};
  EXPECT_THROW(policy_timing_cases(o), InputError);
  o.policies = {"aiter"};
  o.sets = {"nope"};
  EXPECT_THROW(policy_timing_cases(o), InputError);
}

TEST(PolicyTiming, MarkdownPutsMeasuredBesidePredicted) {
  const std::vector<TimingRow> rows = {{"b#0", "set", "aiter", 90, 10, 45, 5},
                                       {"b#0", "set", "cost-balanced", 72, 8, 40, 5},
                                       {"b#1", "set", "aiter", 100, 0, 50, 0},
                                       {"b#1", "set", "cost-balanced", 140, 0, 45, 0}};
  const std::string md = policy_timing_markdown(rows, {"aiter", "cost-balanced"}, "GPU", "h200-mlaps");
  // b#0: measured 80 / 100, predicted 45 / 50; b#1: 140 / 100, 45 / 50. Geomeans: sqrt(0.8 * 1.4) > 1, 0.9.
  EXPECT_NE(md.find(fmt::format("| set | 2 | cost-balanced | {:.3f} | 0.900 | NO |", std::sqrt(0.8 * 1.4))),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| b#0 | cost-balanced | 72.0 + 8.0 | 40.0 + 5.0 | 0.800 | 0.900 |"), std::string::npos)
      << md;
}

}  // namespace
}  // namespace mlaps::conformance
#endif
