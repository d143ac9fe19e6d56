// The fast scheduler (make_plan, make_plan_into) against the plain transcription, byte for byte.
#include <gtest/gtest.h>

#include "scheduler/error.h"
#include "scheduler/policy.h"
#include "scheduler/sizing.h"
#include "test_util.h"

namespace mlaps {
namespace {

TEST(FastVsPlain, HandMadeCases) {
  std::vector<Problem> cases = {test::worked_example(), test::seed_scenario()};
  for (int32_t ctx : {256, 1024, 4096, 8192, 16384}) {
    for (int32_t nh : {1, 16}) cases.push_back(Problem::from_lengths({ctx}, {ctx}, nh, true, 256));
  }
  cases.push_back(Problem::from_lengths({300, 300}, {300, 0}, 1, false, 4));
  cases.push_back(Problem::from_lengths({300, 300}, {0, 300}, 1, false, 4));
  cases.push_back(Problem::from_lengths({300}, {300}, 3, false, 4));
  cases.push_back(Problem::from_lengths({200}, {200}, 2, true, 2, 2));
  cases.push_back(Problem::from_lengths({10}, {300}, 1, false, 8));
  cases.push_back(Problem::from_lengths({10}, {300}, 1, false, 2, 1, 16));
  cases.push_back(Problem::from_lengths({1024}, {1024}, 128, true, 256));
  cases.push_back(
      Problem::from_lengths(std::vector<int32_t>(16, 1024), std::vector<int32_t>(16, 1024), 128, true, 256));
  cases.push_back(
      Problem::from_lengths(std::vector<int32_t>(8, 2048), std::vector<int32_t>(8, 16384), 128, true, 256));
  cases.push_back(
      Problem::from_lengths(std::vector<int32_t>(64, 256), std::vector<int32_t>(64, 16384), 16, false, 256));
  for (auto [qo, kv] : {std::pair{1024, 512}, std::pair{1000, 100}}) {
    Problem p = Problem::from_lengths({qo}, {kv}, 1, true, 4);
    p.allow_causal_qo_gt_kv = true;
    cases.push_back(p);
  }
  for (const Problem& p : cases) {
    for (Policy pol : {policy_named("aiter"), policy_named("aiter-legacy")}) {
      EXPECT_EQ(make_plan(p, pol), make_plan_plain(p, pol)) << problem_to_json_text(p) << " " << pol.name();
    }
  }
}

TEST(FastVsPlain, RandomProblems) {
  std::mt19937 rng(20260822);
  int checked = 0;
  for (int i = 0; i < 3000; ++i) {
    const Problem p = test::random_problem(rng, i % 10 == 9);
    const Policy pol = i % 2 ? policy_named("aiter") : policy_named("aiter-legacy");
    const Plan plain = make_plan_plain(p, pol);
    const Plan fast = make_plan(p, pol);
    ASSERT_EQ(fast, plain) << "case " << i << ": " << problem_to_json_text(p) << " " << pol.name();
    ++checked;
  }
  EXPECT_EQ(checked, 3000);
}

TEST(MakePlanInto, PaddedBuffersAsUpstream) {
  // The worked example into buffers sized by the PR formula: used prefix equal to make_plan, reduce_indptr
  // tail = total partials (contract 3.3), every other tail entry 0 even if the buffers held garbage.
  const Problem p = test::worked_example();
  const Capacity cap = compute_capacity(SizingInputs::from_problem(p), SizingFormula::kPr3606);
  std::vector<int32_t> wip(cap.work_indptr, 77), rip(cap.reduce_indptr, 77), rpm(cap.reduce_partial_map, 77);
  std::vector<WorkInfo> wi(cap.work_info, WorkInfo{7, 7, 7, 7, 7, 7, 7, 7});
  std::vector<FinalLoc> rfm(cap.reduce_final_map, FinalLoc{7, 7});
  PlanWorkspace ws;
  const PlanSizes s = make_plan_into(p, policy_named("aiter"), PlanSpans{wip, wi, rip, rfm, rpm}, ws);
  EXPECT_EQ(s, (PlanSizes{6, 3, 6}));
  const Plan plan = make_plan(p, policy_named("aiter"));
  EXPECT_EQ(wip, plan.work_indptr);
  EXPECT_TRUE(std::equal(plan.work_info.begin(), plan.work_info.end(), wi.begin()));
  EXPECT_TRUE(std::all_of(wi.begin() + 6, wi.end(), [](const WorkInfo& w) { return w == WorkInfo{}; }));
  // qtc = 3 tiles, all used: reduce_indptr = [0,1,3,6], nothing to pad.
  EXPECT_EQ(rip, (std::vector<int32_t>{0, 1, 3, 6}));
  EXPECT_TRUE(std::equal(plan.reduce_partial_map.begin(), plan.reduce_partial_map.end(), rpm.begin()));
  EXPECT_TRUE(std::all_of(rpm.begin() + 6, rpm.end(), [](int32_t v) { return v == 0; }));

  // Legacy: 2 entries of qtc = 3, so reduce_indptr = [0,2,5,5] (contract 2.4), final map tail row 0.
  const PlanSizes l = make_plan_into(p, policy_named("aiter-legacy"), PlanSpans{wip, wi, rip, rfm, rpm}, ws);
  EXPECT_EQ(l, (PlanSizes{6, 2, 5}));
  EXPECT_EQ(rip, (std::vector<int32_t>{0, 2, 5, 5}));
  EXPECT_EQ(rfm[2], (FinalLoc{0, 0}));
  EXPECT_EQ(rpm[5], 0);
}

TEST(MakePlanInto, NoZeroTailsLeavesTailsAlone) {
  const Problem p = test::worked_example();
  std::vector<int32_t> wip(5), rip(5, 9), rpm(10, 9);
  std::vector<WorkInfo> wi(8, WorkInfo{9, 9, 9, 9, 9, 9, 9, 9});
  std::vector<FinalLoc> rfm(4, FinalLoc{9, 9});
  PlanWorkspace ws;
  make_plan_into(p, policy_named("aiter-legacy"), PlanSpans{wip, wi, rip, rfm, rpm}, ws,
                 {.zero_tails = false});
  EXPECT_EQ(wi[6].batch_idx, 9);
  EXPECT_EQ(rfm[3], (FinalLoc{9, 9}));
  EXPECT_EQ(rip, (std::vector<int32_t>{0, 2, 5, 5,
                                       5}));  // reduce_indptr's tail is always set (the reduce reads it)
}

TEST(MakePlanInto, TooSmallBufferThrowsBeforeWriting) {
  const Problem p = test::worked_example();
  std::vector<int32_t> wip(5, 3), rip(4, 3), rpm(6, 3);
  std::vector<WorkInfo> wi(5, WorkInfo{3, 3, 3, 3, 3, 3, 3, 3});  // needs 6
  std::vector<FinalLoc> rfm(3, FinalLoc{3, 3});
  PlanWorkspace ws;
  try {
    make_plan_into(p, policy_named("aiter"), PlanSpans{wip, wi, rip, rfm, rpm}, ws);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "work_info");
  }
  EXPECT_EQ(wip, std::vector<int32_t>(5, 3));
  EXPECT_EQ(wi[0], (WorkInfo{3, 3, 3, 3, 3, 3, 3, 3}));
}

TEST(MakePlanInto, WorkspaceReuseAcrossProblems) {
  std::mt19937 rng(7);
  PlanWorkspace ws;
  for (int i = 0; i < 200; ++i) {
    const Problem p = test::random_problem(rng, false);
    const Plan plain = make_plan_plain(p, policy_named("aiter"));
    std::vector<int32_t> wip(p.num_cu + 1), rip(plain.reduce_indptr.size()),
        rpm(plain.reduce_partial_map.size());
    std::vector<WorkInfo> wi(plain.work_info.size());
    std::vector<FinalLoc> rfm(plain.reduce_final_map.size());
    make_plan_into(p, policy_named("aiter"), PlanSpans{wip, wi, rip, rfm, rpm}, ws);
    ASSERT_EQ(wip, plain.work_indptr);
    ASSERT_EQ(wi, plain.work_info);
    ASSERT_EQ(rip, plain.reduce_indptr);
    ASSERT_EQ(rfm, plain.reduce_final_map);
    ASSERT_EQ(rpm, plain.reduce_partial_map);
  }
}

// The parallel writer (clusters split among threads) against the plain scheduler, byte for byte: random
// problems with the size threshold off (every geometry: one cluster, heads per cluster > 1, more threads than
// clusters) and the named workloads with their default threshold.
TEST(MakePlanInto, ThreadedWriteIsByteIdentical) {
  auto check = [](const Problem& p, Policy policy, const PlanIntoOptions& opt) {
    const Plan plain = make_plan_plain(p, policy);
    std::vector<int32_t> wip(p.num_cu + 1, 7), rip(plain.reduce_indptr.size(), 7),
        rpm(plain.reduce_partial_map.size(), 7);
    std::vector<WorkInfo> wi(plain.work_info.size(), WorkInfo{7, 7, 7, 7, 7, 7, 7, 7});
    std::vector<FinalLoc> rfm(plain.reduce_final_map.size(), FinalLoc{7, 7});
    PlanWorkspace ws;
    make_plan_into(p, policy, PlanSpans{wip, wi, rip, rfm, rpm}, ws, opt);
    ASSERT_EQ(wip, plain.work_indptr) << "threads " << opt.num_threads;
    ASSERT_EQ(wi, plain.work_info) << "threads " << opt.num_threads;
    ASSERT_EQ(rip, plain.reduce_indptr);
    ASSERT_EQ(rfm, plain.reduce_final_map);
    ASSERT_EQ(rpm, plain.reduce_partial_map);
  };
  std::mt19937 rng(11);
  for (int i = 0; i < 300; ++i) {
    const Problem p = test::random_problem(rng, false);
    const int threads = 2 + i % 7;
    SCOPED_TRACE("random problem " + std::to_string(i));
    check(p, i % 3 == 0 ? policy_named("aiter-legacy") : policy_named("aiter"),
          PlanIntoOptions{.num_threads = threads, .parallel_min_bytes = 0});
  }
  // noncausal_b256_qo256_kv16384_h16 (512 KiB of rows: at the default threshold) and
  // causal_b64_qo2048_kv16384_h128 (2 MiB).
  const std::vector<int32_t> qo256(256, 256), kv256(256, 16384), qo64(64, 2048), kv64(64, 16384);
  check(Problem::from_lengths(qo256, kv256, 16, false, 256), policy_named("aiter"),
        PlanIntoOptions{.num_threads = 2});
  check(Problem::from_lengths(qo64, kv64, 128, true, 256), policy_named("aiter"),
        PlanIntoOptions{.num_threads = 2});
}

TEST(MakePlanInto, ThreadCountBelowOneIsRejectedBeforeWriting) {
  const Problem p = test::worked_example();
  std::vector<int32_t> wip(5, 3), rip(5, 3), rpm(10, 3);
  std::vector<WorkInfo> wi(8, WorkInfo{3, 3, 3, 3, 3, 3, 3, 3});
  std::vector<FinalLoc> rfm(4, FinalLoc{3, 3});
  PlanWorkspace ws;
  try {
    make_plan_into(p, policy_named("aiter"), PlanSpans{wip, wi, rip, rfm, rpm}, ws, {.num_threads = 0});
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "num_threads");
  }
  EXPECT_EQ(wip, std::vector<int32_t>(5, 3));
  EXPECT_EQ(wi[0], (WorkInfo{3, 3, 3, 3, 3, 3, 3, 3}));
}

}  // namespace
}  // namespace mlaps
