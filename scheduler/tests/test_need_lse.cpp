// need_lse (issue 13): every row of the policy table keeps the LseRule its traits state, for need_lse true
// and false; the execution contract's promise follows the problem's flag; lse_not_promised.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <utility>

#include "scheduler/error.h"
#include "scheduler/policy.h"
#include "scheduler/validate.h"
#include "test_util.h"

namespace mlaps {
namespace {

using test::count;
using test::has;

Problem with_need_lse(Problem p, bool need_lse) {
  p.need_lse = need_lse;
  return p;
}

int64_t direct_works(const Plan& plan) {
  int64_t n = 0;
  for (const WorkInfo& w : plan.work_info) n += w.partial_o_loc == -1;
  return n;
}

// Checks the plan's slots against a policy's rule: -1 exactly on a tile's only piece (per head) when
// `direct`, never otherwise. Returns "" or what is wrong.
std::string slots_follow(const Plan& plan, bool direct) {
  std::map<std::pair<int32_t, int32_t>, int> pieces;  // (qo_start, q head lo) -> pieces
  for (const WorkInfo& w : plan.work_info) ++pieces[{w.qo_start, w.q_head_lo()}];
  for (size_t i = 0; i < plan.work_info.size(); ++i) {
    const WorkInfo& w = plan.work_info[i];
    const bool whole = pieces[{w.qo_start, w.q_head_lo()}] == 1;
    const bool want = direct && whole;
    if ((w.partial_o_loc == -1) != want) {
      return "work " + std::to_string(i) + " rows [" + std::to_string(w.qo_start) + "," +
             std::to_string(w.qo_end) + ") " + (whole ? "whole" : "split") + " tile has partial_o_loc " +
             std::to_string(w.partial_o_loc) + (want ? ", the rule gives -1" : ", the rule gives a slot");
    }
  }
  return "";
}

// The registry: every policy states its LseRule and its plans keep it, with need_lse true and false, on the
// seed scenario, the worked example and random problems. A new row of the table is covered here without
// naming it.
TEST(NeedLse, EveryPolicyKeepsItsStatedRule) {
  std::vector<Problem> problems = {test::seed_scenario(), test::worked_example()};
  std::mt19937 rng(1313);
  for (int i = 0; i < 300; ++i) problems.push_back(test::random_problem(rng, false));
  for (const PolicyDef& d : policies()) {
    const Policy pol(d);
    const LseRule rule = d.traits.need_lse;
    ASSERT_NE(rule, LseRule::kUndeclared)
        << "policy " << d.name << " does not state what it does with need_lse (PolicyTraits::need_lse: "
        << "kHonours, kAlwaysSlots or kPreFix)";
    int64_t direct_seen = 0;
    for (size_t i = 0; i < problems.size(); ++i) {
      for (bool need_lse : {true, false}) {
        const Problem p = with_need_lse(problems[i], need_lse);
        const Plan plan = make_plan(p, pol);
        const bool direct = writes_whole_tiles_direct(pol, need_lse);
        EXPECT_EQ(direct, rule == LseRule::kPreFix || (rule == LseRule::kHonours && !need_lse));
        const std::string bad = slots_follow(plan, direct);
        ASSERT_EQ(bad, "") << d.name << " (" << lse_rule_name(rule) << ") need_lse " << need_lse
                           << ", problem " << i << ": " << problem_to_json_text(p);
        direct_seen += direct_works(plan);
        // A policy that honours need_lse, or always gives slots, holds the execution contract of the
        // problem it was given (trailing zero-KV tiles, contract 2.5.2, aside).
        if (rule != LseRule::kPreFix) {
          for (const Violation& v : validate(p, plan)) {
            ASSERT_EQ(v.invariant, inv::kTileCoverage) << d.name << " need_lse " << need_lse << ", problem "
                                                       << i << ": " << problem_to_json_text(p) << "\n"
                                                       << format_violation(v);
          }
        }
      }
    }
    // The rule is not vacuous: a policy that can write directly did so somewhere.
    if (rule != LseRule::kAlwaysSlots) {
      EXPECT_GT(direct_seen, 0) << d.name;
    } else {
      EXPECT_EQ(direct_seen, 0) << d.name;
    }
  }
}

TEST(NeedLse, TableStatesTheUpstreamRows) {
  EXPECT_EQ(policy_named("aiter").traits().need_lse, LseRule::kHonours);
  EXPECT_EQ(policy_named("aiter-legacy").traits().need_lse, LseRule::kPreFix);
  EXPECT_EQ(policy_named("whole-tiles").traits().need_lse, LseRule::kAlwaysSlots);
  EXPECT_EQ(lse_rule_name(LseRule::kHonours), "honours");
  EXPECT_EQ(lse_rule_name(LseRule::kUndeclared), "undeclared");
}

// aiter with need_lse = false is HEAD's layout (the merged form keeps the -1 direct writes), byte for byte,
// and the plain transcription agrees; with need_lse it is PR-head's.
TEST(NeedLse, AiterWithoutLseIsHeadsLayout) {
  std::mt19937 rng(77);
  for (int i = 0; i < 200; ++i) {
    const Problem p = with_need_lse(test::random_problem(rng, false), false);
    Plan a = make_plan(p, policy_named("aiter"));
    Plan legacy = make_plan(with_need_lse(p, true), policy_named("aiter-legacy"));
    EXPECT_EQ(a.policy, "aiter");
    EXPECT_EQ(a.reduce, ReduceVersion::kFixed);
    legacy.policy = a.policy;
    legacy.reduce = a.reduce;
    ASSERT_EQ(a, legacy) << problem_to_json_text(p);
    ASSERT_EQ(a, make_plan_plain(p, policy_named("aiter"))) << problem_to_json_text(p);
  }
  const Problem seed = test::seed_scenario();
  EXPECT_EQ(direct_works(make_plan(seed, policy_named("aiter"))), 0);
  const Plan no_lse = make_plan(with_need_lse(seed, false), policy_named("aiter"));
  EXPECT_EQ(direct_works(no_lse), 256);
  EXPECT_EQ(no_lse.num_reduce_entries(), 0);
}

// The checker's promise follows the flag.
TEST(NeedLse, ContractFollowsTheFlag) {
  const Problem seed = test::seed_scenario();
  const Problem no_lse = with_need_lse(seed, false);
  const Plan direct = make_plan(no_lse, policy_named("aiter"));
  // need_lse = false: the direct writes are allowed, under the policy's own and under aiter's contract.
  EXPECT_TRUE(validate(no_lse, direct).empty()) << test::dump(validate(no_lse, direct));
  ValidateOptions aiter;
  aiter.contract = policy_named("aiter");
  EXPECT_TRUE(validate(no_lse, direct, aiter).empty());
  // The pre-fix code is correct when no LSE is needed (the same plan).
  const Plan legacy = make_plan(no_lse, policy_named("aiter-legacy"));
  EXPECT_TRUE(validate(no_lse, legacy).empty()) << test::dump(validate(no_lse, legacy));
  // need_lse: the same plan breaks the #3606 property.
  const auto v = validate(seed, direct);
  EXPECT_EQ(count(v, inv::kSlotPolicy), 256) << test::dump(v);
  EXPECT_EQ(count(v, inv::kReduceEntry), 16);
  // need_lse = false still allows slots on whole tiles (the LSE is then written anyway).
  EXPECT_TRUE(validate(no_lse, make_plan(seed, policy_named("aiter"))).empty());
}

TEST(NeedLse, EveryOtherRuleStillHolds) {
  // Worked example (2.4) without LSE: works 0 (0,256) whole -> -1; tile (512,600) cut in 3; (256,512) in 2.
  const Problem p = with_need_lse(test::worked_example(), false);
  const Plan base = make_plan(p, policy_named("aiter"));
  ASSERT_EQ(base.work_info[0].partial_o_loc, -1);
  ASSERT_TRUE(validate(p, base).empty()) << test::dump(validate(p, base));
  // A piece of a cut tile written directly: its part of the attention never reaches the merge.
  Plan plan = base;
  plan.work_info[1].partial_o_loc = -1;
  auto v = validate(p, plan);
  EXPECT_TRUE(has(v, inv::kSlotPolicy)) << test::dump(v);
  // A whole tile given a slot but no reduce entry: its output is never written.
  plan = base;
  plan.work_info[0].partial_o_loc = 1536;
  v = validate(p, plan);
  EXPECT_EQ(count(v, inv::kReduceEntry), 1) << test::dump(v);
  // A reduce entry for a direct-write tile.
  plan = base;
  plan.reduce_final_map.insert(plan.reduce_final_map.begin(), FinalLoc{0, 256});
  plan.reduce_partial_map.insert(plan.reduce_partial_map.begin(), -1);
  plan.reduce_indptr.insert(plan.reduce_indptr.begin() + 1, 1);
  for (size_t i = 2; i < plan.reduce_indptr.size(); ++i) ++plan.reduce_indptr[i];
  v = validate(p, plan);
  EXPECT_TRUE(has(v, inv::kReduceEntry)) << test::dump(v);
  // Coverage still holds: drop the direct write.
  plan = base;
  plan.work_info.erase(plan.work_info.begin());
  for (int32_t& x : plan.work_indptr) x -= x > 0 ? 1 : 0;
  EXPECT_TRUE(has(validate(p, plan), inv::kTileCoverage));
}

TEST(NeedLse, OneHeadDirectAnotherThroughTheReduceIsCaught) {
  // 2 K heads on 2 CUs: a cluster (one TG) per head, every tile whole -> all -1 without LSE.
  Problem p = Problem::from_lengths({8, 8}, {1200, 1200}, 2, false, 2);
  p.need_lse = false;
  Plan plan = make_plan(p, policy_named("aiter"));
  ASSERT_TRUE(validate(p, plan).empty()) << test::dump(validate(p, plan));
  // Head 1's piece of tile 0 gets a slot and the tile a reduce entry; head 0 still writes it directly.
  for (WorkInfo& w : plan.work_info) {
    if (w.qo_start == 0 && w.q_head_lo() == 1) w.partial_o_loc = 0;
  }
  plan.reduce_indptr = {0, 1};
  plan.reduce_final_map = {FinalLoc{0, 8}};
  plan.reduce_partial_map = {0};
  const auto v = validate(p, plan);
  EXPECT_EQ(count(v, inv::kReducePartials), 1) << test::dump(v);
}

TEST(NeedLse, LseNotPromisedMarksTheDirectWriteRows) {
  const Problem seed = test::seed_scenario();
  const Problem no_lse = with_need_lse(seed, false);
  const Plan direct = make_plan(no_lse, policy_named("aiter"));
  const auto mask = lse_not_promised(no_lse, direct);
  ASSERT_EQ(mask.size(), static_cast<size_t>(seed.num_tokens() * seed.num_heads_q()));
  int64_t marked = 0;
  for (uint8_t m : mask) marked += m;
  EXPECT_EQ(marked, 16 * 8 * 16);  // every (row, head): every tile is whole
  // need_lse: everything is promised, whatever the plan does.
  for (uint8_t m : lse_not_promised(seed, direct)) ASSERT_EQ(m, 0);
  // Only the whole tile's rows in the worked example (rows [0,256) of 600).
  const Problem w = with_need_lse(test::worked_example(), false);
  const auto wm = lse_not_promised(w, make_plan(w, policy_named("aiter")));
  for (size_t r = 0; r < wm.size(); ++r) ASSERT_EQ(wm[r], r < 256 ? 1 : 0) << r;
  // An untrusted plan's rows and heads are clamped, never indexed outside.
  Plan bad = direct;
  bad.work_info[0].qo_start = -5;
  bad.work_info[0].qo_end = 1 << 30;
  bad.work_info[0].q_head_range = WorkInfo::pack_heads(3, 0xFFFF);
  EXPECT_EQ(lse_not_promised(no_lse, bad).size(), mask.size());
}

TEST(NeedLse, ProblemJsonCarriesTheFlag) {
  Problem p = test::seed_scenario();
  EXPECT_TRUE(problem_from_json_text(problem_to_json_text(p)).need_lse);
  p.need_lse = false;
  const std::string text = problem_to_json_text(p);
  EXPECT_NE(text.find("\"need_lse\":false"), std::string::npos) << text;
  EXPECT_FALSE(problem_from_json_text(text).need_lse);
  // Absent: the default, true.
  EXPECT_TRUE(problem_from_json_text(R"({"qo_lens": [1], "kv_lens": [1], "heads": 1})").need_lse);
  try {
    problem_from_json_text(R"({"qo_lens": [1], "kv_lens": [1], "heads": 1, "need_lse": 1})");
    FAIL() << "need_lse 1 accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "need_lse");
  }
}

}  // namespace
}  // namespace mlaps
