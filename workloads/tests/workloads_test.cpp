// The named workload table and the contract 2.4 worked example by hand.
#include <gtest/gtest.h>

#include <set>

#include "ledger/ledger.h"
#include "scheduler/error.h"
#include "scheduler/validate.h"
#include "workloads/workloads.h"

namespace mlaps {
namespace {

TEST(Workloads, NamesUniqueAndRequiredPresent) {
  std::set<std::string> names;
  for (const Workload& w : workloads()) EXPECT_TRUE(names.insert(w.name).second) << w.name;
  for (const char* n : {"seed_ctx1200_qo8_b16_h16_noncausal", "chunked_qo8_ctx1200_b16_h16",
                        "worked_example_qo600_cu4", "causal_1x8192_h1", "causal_1x8192_h16",
                        "noncausal_1x8192_h1", "causal_1x16384_h1", "trailing_empty_kv",
                        "one_long_many_short", "average_zero_many_cus", "heads3_odd_gcd", "h128_b16_L1024"}) {
    EXPECT_NE(find_workload(n), nullptr) << n;
  }
  for (const std::string& n : scheduler_bench_workload_names()) EXPECT_NE(find_workload(n), nullptr) << n;
  EXPECT_EQ(find_workload("nope"), nullptr);
  EXPECT_THROW(workload("nope"), InputError);
}

TEST(Workloads, SeedScenarioShape) {
  const Problem& p = workload("seed_ctx1200_qo8_b16_h16_noncausal").problem;
  EXPECT_EQ(p.batch(), 16);
  EXPECT_EQ(p.qo_indptr.back(), 128);
  EXPECT_EQ(p.kv_indptr.back(), 16 * 1200);
  EXPECT_EQ(p.num_heads_k, 16);
  EXPECT_FALSE(p.causal);
  EXPECT_EQ(p.num_cu, 256);
}

TEST(Workloads, LedgerReferencesExist) {
  for (const Workload& w : workloads()) {
    if (!w.ledger_id.empty()) {
      EXPECT_NE(find_ledger_entry(w.ledger_id), nullptr) << w.name;
    }
    if (!w.valid_for_aiter) {
      EXPECT_FALSE(w.ledger_id.empty()) << w.name << ": a known-defect case names its entry";
    }
  }
}

// valid_for_aiter is a claim: the aiter plan validates clean; a known-defect workload's violations are
// named by its ledger entry and fully explained.
TEST(Workloads, ValidityFlagsHold) {
  for (const Workload& w : workloads()) {
    SCOPED_TRACE(w.name);
    const Plan plan = make_plan(w.problem, policy_named("aiter"));
    const auto v = validate(w.problem, plan);
    if (w.valid_for_aiter) {
      EXPECT_TRUE(v.empty()) << v.size()
                             << " violations, first: " << (v.empty() ? "" : format_violation(v[0]));
    } else {
      ASSERT_FALSE(v.empty());
      const auto m = match_ledger(w.problem, v);
      ASSERT_TRUE(m.has_value());
      EXPECT_EQ(m->id, w.ledger_id);
      EXPECT_EQ(m->unexplained, 0);
    }
  }
}

// Contract 2.4 by hand: one sequence qo = kv = 600, causal, 1 head, 4 TGs. Tiles in ping-pong order
// [0,256) eff 256 (2 units), [512,600) eff 600 (5), [256,512) eff 512 (4): total 11, average 2, reminder 3:
// TG0-2 take 3 units (384 keys), TG3 2 units.
TEST(WorkedExample, LegacyAndFixedPlans) {
  const Problem& p = workload("worked_example_qo600_cu4").problem;
  const int32_t hr = WorkInfo::pack_heads(0, 1);
  const std::vector<int32_t> indptr = {0, 2, 3, 5, 6};
  const Plan legacy = make_plan(p, policy_named("aiter-legacy"));
  EXPECT_EQ(legacy.work_indptr, indptr);
  const std::vector<WorkInfo> lw = {
      {0, -1, 0, 256, 0, 256, 0, hr},       {0, 0, 512, 600, 0, 128, 472, hr},
      {0, 256, 512, 600, 128, 512, 88, hr}, {0, 512, 512, 600, 512, 600, 0, hr},
      {0, 768, 256, 512, 0, 256, 344, hr},  {0, 1024, 256, 512, 256, 512, 0, hr}};
  EXPECT_EQ(legacy.work_info, lw);
  EXPECT_EQ(legacy.reduce_final_map, (std::vector<FinalLoc>{{256, 512}, {512, 600}}));
  EXPECT_EQ(legacy.reduce_indptr, (std::vector<int32_t>{0, 2, 5}));
  EXPECT_EQ(legacy.reduce_partial_map, (std::vector<int32_t>{768, 1024, 0, 256, 512}));

  const Plan fixed = make_plan(p, policy_named("aiter"));
  EXPECT_EQ(fixed.work_indptr, indptr);
  std::vector<WorkInfo> fw = lw;
  const int32_t slots[] = {0, 256, 512, 768, 1024, 1280};
  for (size_t i = 0; i < fw.size(); ++i) fw[i].partial_o_loc = slots[i];
  EXPECT_EQ(fixed.work_info, fw);
  EXPECT_EQ(fixed.reduce_final_map, (std::vector<FinalLoc>{{0, 256}, {256, 512}, {512, 600}}));
  EXPECT_EQ(fixed.reduce_indptr, (std::vector<int32_t>{0, 1, 3, 6}));
  EXPECT_EQ(fixed.reduce_partial_map, (std::vector<int32_t>{0, 1024, 1280, 256, 512, 768}));
}

}  // namespace
}  // namespace mlaps
