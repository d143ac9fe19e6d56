// Scheduler properties: every validate() invariant holds for the aiter policy on generated valid inputs (one
// property per invariant, so a failure names it), up to the upstream defects recorded in the ledger; the
// #3606 property holds for aiter and fails, shrinking small, for aiter-legacy (the mutation check).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/flags.h"
#include "ledger/ledger.h"
#include "proptests/generators.h"
#include "proptests/prop_support.h"
#include "scheduler/dump.h"
#include "scheduler/error.h"
#include "scheduler/validate.h"

namespace mlaps {
namespace {

using prop::assert_invariant;

#define MLAPS_INVARIANT_PROP(Name, invariant) \
  RC_GTEST_PROP(AiterInvariant, Name, ()) {   \
    const Case c = *pgen::aiter_case();       \
    assert_invariant(c, {invariant});         \
  }

MLAPS_INVARIANT_PROP(WorkIndptrShape, inv::kWorkIndptrShape)
MLAPS_INVARIANT_PROP(WorkIndptrMonotone, inv::kWorkIndptrMonotone)
MLAPS_INVARIANT_PROP(WorkFields, inv::kWorkFields)
MLAPS_INVARIANT_PROP(WorkHeadRange, inv::kHeadRange)
MLAPS_INVARIANT_PROP(WorkTgRowsOnce, inv::kTgRowsOnce)
MLAPS_INVARIANT_PROP(CoverageKvVisible, inv::kKvVisible)
MLAPS_INVARIANT_PROP(ReduceSplits, inv::kReduceSplits)
MLAPS_INVARIANT_PROP(ClusterHeads, inv::kClusterHeads)
MLAPS_INVARIANT_PROP(CoverageTile, inv::kTileCoverage)
MLAPS_INVARIANT_PROP(CoverageKv, inv::kKvCoverage)
MLAPS_INVARIANT_PROP(CoverageKvOffset, inv::kKvOffset)
MLAPS_INVARIANT_PROP(CapacityTgLoad, inv::kTgLoad)
MLAPS_INVARIANT_PROP(CapacityCuts, inv::kCuts)
MLAPS_INVARIANT_PROP(HeadInvariance, inv::kHeadInvariance)
MLAPS_INVARIANT_PROP(SlotAlignment, inv::kSlotAlignment)
MLAPS_INVARIANT_PROP(SlotUnique, inv::kSlotUnique)
MLAPS_INVARIANT_PROP(SlotBounds, inv::kSlotBounds)
MLAPS_INVARIANT_PROP(SlotPolicy, inv::kSlotPolicy)
MLAPS_INVARIANT_PROP(ReduceEntry, inv::kReduceEntry)
MLAPS_INVARIANT_PROP(ReducePartials, inv::kReducePartials)
MLAPS_INVARIANT_PROP(ReduceOrder, inv::kReduceOrder)
MLAPS_INVARIANT_PROP(ReduceIndptrMonotone, inv::kReduceIndptr)
MLAPS_INVARIANT_PROP(BuffersFit, inv::kBufferFit)

const std::set<std::string>& all_invariants() {
  static const std::set<std::string> s = {inv::kWorkIndptrShape,
                                          inv::kWorkIndptrMonotone,
                                          inv::kWorkFields,
                                          inv::kHeadRange,
                                          inv::kTgRowsOnce,
                                          inv::kKvVisible,
                                          inv::kReduceSplits,
                                          inv::kClusterHeads,
                                          inv::kTileCoverage,
                                          inv::kKvCoverage,
                                          inv::kKvOffset,
                                          inv::kTgLoad,
                                          inv::kCuts,
                                          inv::kHeadInvariance,
                                          inv::kSlotAlignment,
                                          inv::kSlotUnique,
                                          inv::kSlotBounds,
                                          inv::kSlotPolicy,
                                          inv::kReduceEntry,
                                          inv::kReducePartials,
                                          inv::kReduceOrder,
                                          inv::kReduceIndptr,
                                          inv::kBufferFit};
  return s;
}

// Every name validate() reports is one of the stable inv:: names (the ledger and `mlaps check` key on them).
RC_GTEST_PROP(AiterInvariant, NamesAreStable, ()) {
  const Case c = *pgen::case_for(pgen::problem(), pgen::policy());
  const Plan plan = make_plan(c.problem, c.policy);
  const int64_t works = plan.num_works();
  RC_TAG(works < 100       ? "works < 100"
         : works < 10000   ? "works < 10^4"
         : works < 1000000 ? "works < 10^6"
                           : "works >= 10^6");
  for (const Violation& v : validate(c.problem, plan)) {
    if (!all_invariants().count(v.invariant)) RC_FAIL("unknown invariant name '" + v.invariant + "'");
  }
}

// Every policy of the table holds its own contract on generated problems (the execution contract, the
// upstream shape where it claims it, the pre-#3606 rules for a legacy-reduce policy; its deployed buffers),
// up to the upstream defects the ledger records; a policy of the fixed reduce also holds the #3606 execution
// contract with no contract named (what `mlaps check` applies by default). One rapidcheck run per policy,
// so a failure names the policy and shrinks to a `mlaps check ... --policy NAME` line.
TEST(EveryPolicy, HoldsItsContract) {
  for (const PolicyDef& def : policies()) {
    const Policy pol(def);
    const bool ok = rc::check("policy " + std::string(def.name) + " holds its contract", [pol] {
      const Case c = *pgen::case_for(pgen::problem(), rc::gen::just(pol));
      assert_invariant(c, all_invariants(), pol);
      if (pol.traits().reduce == ReduceVersion::kFixed) assert_invariant(c, all_invariants());
    });
    EXPECT_TRUE(ok) << "policy " << def.name;
  }
}

// Every policy's plans fit its own capacity (policy_capacity), and that fits the formula it claims to be
// deployable with (traits.sizing), buffer by buffer.
RC_GTEST_PROP(EveryPolicy, FitsItsCapacity, ()) {
  const Case c = *pgen::case_for(pgen::problem(), pgen::policy());
  const SizingInputs in = SizingInputs::from_problem(c.problem);
  const Capacity own = policy_capacity(c.policy, in);
  const Capacity formula = compute_capacity(in, c.policy.traits().sizing);
  RC_ASSERT(own.work_info <= formula.work_info);
  RC_ASSERT(own.reduce_partial_map <= formula.reduce_partial_map);
  RC_ASSERT(own.reduce_final_map <= formula.reduce_final_map);
  if (c.policy->capacity) {  // a policy's own bound must hold on every plan (upstream's may not: ledger)
    const auto over = capacity_overflows(make_plan(c.problem, c.policy), own, c.problem.tile_q);
    RC_ASSERT(over.empty());
  }
}

// The pre-fix contract holds for the legacy policy (its own buffer formula): the -1 fast path is correct
// by the legacy rules; only the post-fix contract flags it.
RC_GTEST_PROP(LegacyContract, AllInvariantsHoldForLegacyPolicy, ()) {
  Case c = *pgen::case_for(pgen::problem(), rc::gen::just(policy_named("aiter-legacy")));
  assert_invariant(c, all_invariants(), policy_named("aiter-legacy"));
}

// Contract 2.5.2 exactly: under aiter, the tiles without a work are precisely the predicted trailing
// zero-KV tiles (no more, no fewer) -- a behaviour change in either direction fails.
RC_GTEST_PROP(Ledger, TrailingEmptyKvPredictionIsExact, ()) {
  const Case c = *pgen::aiter_case();
  const Plan plan = make_plan(c.problem, c.policy);
  const auto v = prop::only(validate(c.problem, plan), {inv::kTileCoverage});
  std::set<std::pair<int32_t, int32_t>> got, want;
  for (const Violation& x : v) got.insert({x.qo_start, x.qo_end});
  for (const QTile& t : predicted_unscheduled_tiles(c.problem)) want.insert({t.qo_start, t.qo_end});
  RC_ASSERT(got == want);
}

// ---------------------------------------------------------------------------------------------------------
// The #3606 property: every scheduled query tile has a reduce entry whose partials are exactly its pieces'
// slots (reduce.entry + reduce.partials).
const std::set<std::string> kPr3606 = {inv::kReduceEntry, inv::kReducePartials};

bool pr3606_holds(const Case& c) {
  ValidateOptions opt;
  opt.contract = policy_named("aiter");
  return prop::only(validate(c.problem, make_plan(c.problem, c.policy), opt), kPr3606).empty();
}

RC_GTEST_PROP(Pr3606, HoldsForAiter, ()) {
  const Case c = *pgen::aiter_case();
  assert_invariant(c, kPr3606);
}

// The shrunk counterexample the mutation check finds (kept as a regression case; also the ledger's
// legacy_minus1_fast_path/minimal case): one sequence, one row, one key, one TG.
Case shrunk_legacy_case() {
  return Case{Problem::from_lengths({1}, {1}, 1, /*causal=*/false, /*num_cu=*/1),
              policy_named("aiter-legacy")};
}

// Mutation check: the suite must catch the bug it exists for. Run the #3606 property against aiter-legacy
// with a fixed seed; it must fail, and shrinking must reach a tiny case.
TEST(Pr3606, MutationCheckLegacyFailsAndShrinksSmall) {
  std::optional<Case> last_failure;  // shrinking only accepts failures: the last failure is the shrunk one
  auto property = [&] {
    const Case c = *pgen::case_for(pgen::problem(), rc::gen::just(policy_named("aiter-legacy")));
    const bool ok = pr3606_holds(c);
    if (!ok) last_failure = c;
    RC_ASSERT(ok);
  };
  prop::QuietListener listener;
  const auto result = prop::run_property(property, "Pr3606.MutationCheck", 3606, 200, listener);
  ASSERT_TRUE(result.template is<rc::detail::FailureResult>())
      << "the #3606 property did not fail against aiter-legacy: the suite cannot see the bug";
  const auto failure = result.template get<rc::detail::FailureResult>();
  ASSERT_TRUE(last_failure.has_value());
  const Problem& p = last_failure->problem;
  std::ostringstream shown;
  showValue(*last_failure, shown);
  // Small and readable: one sequence, a few rows and keys, one head, one CU.
  EXPECT_EQ(p.batch(), 1) << shown.str();
  EXPECT_LE(p.max_qo_len(), 1) << shown.str();
  EXPECT_LE(p.max_kv_len(), 1) << shown.str();
  EXPECT_EQ(p.num_heads_k, 1) << shown.str();
  EXPECT_EQ(p.num_cu, 1) << shown.str();
  EXPECT_EQ(shown.str(),
            "mlaps check --qo-lens 1 --kv-lens 1 --heads 1 --num-cu 1 --no-causal --policy aiter-legacy")
      << "the counterexample shrank to a different case: update shrunk_legacy_case() and the ledger";
  std::cout << "[ mutation ] failed after " << failure.numSuccess << " passing cases; "
            << listener.shrinks_accepted << " of " << listener.shrinks_tried
            << " shrinks accepted; shrunk: " << shown.str() << "\n";
}

TEST(Pr3606, ShrunkLegacyCaseRegression) {
  const Case c = shrunk_legacy_case();
  EXPECT_FALSE(pr3606_holds(c));
  const Plan plan = make_plan(c.problem, c.policy);
  ASSERT_EQ(plan.work_info.size(), 1u);
  EXPECT_EQ(plan.work_info[0].partial_o_loc, -1);
  EXPECT_TRUE(plan.reduce_final_map.empty());
  // The fixed policy on the same input gives the tile slot 0 and one reduce entry with one partial.
  const Plan fixed = make_plan(c.problem, policy_named("aiter"));
  ASSERT_EQ(fixed.work_info.size(), 1u);
  EXPECT_EQ(fixed.work_info[0].partial_o_loc, 0);
  EXPECT_EQ(fixed.reduce_indptr, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(fixed.reduce_partial_map, (std::vector<int32_t>{0}));
}

// ---------------------------------------------------------------------------------------------------------
// Plumbing around the scheduler.
RC_GTEST_PROP(Scheduler, Deterministic, ()) {
  const Case c = *pgen::case_for(pgen::problem(), pgen::policy());
  RC_ASSERT(make_plan(c.problem, c.policy) == make_plan(c.problem, c.policy));
}

RC_GTEST_PROP(Scheduler, ProblemJsonRoundTrip, ()) {
  const Case c = *pgen::aiter_case();
  const Problem back = problem_from_json_text(problem_to_json_text(c.problem));
  RC_ASSERT(problems_equal(back, c.problem));
}

// The reproduce line a counterexample prints, read back by the `mlaps` command's own parser (ProblemArgs on
// CLI11, as `mlaps check` registers it), rebuilds the same problem and policy.
RC_GTEST_PROP(Scheduler, CliFlagsRoundTrip, ()) {
  const Case c = *pgen::aiter_case();
  RC_ASSERT(cli::is_cli_representable(c.problem));
  std::istringstream words(cli::cli_command("check", c.problem, c.policy));
  std::vector<std::string> argv{std::istream_iterator<std::string>(words),
                                std::istream_iterator<std::string>()};
  RC_ASSERT(argv.size() > 2u);
  RC_ASSERT(argv[0] == "mlaps");
  RC_ASSERT(argv[1] == "check");
  argv.erase(argv.begin(), argv.begin() + 2);
  std::reverse(argv.begin(), argv.end());  // CLI11 takes a vector of arguments last first
  CLI::App app;
  cli::ProblemArgs args;
  args.add_to(app, /*with_dump=*/false);
  app.parse(argv);
  RC_ASSERT(problems_equal(args.problem(app), c.problem));
  RC_ASSERT(args.parsed_policy() == c.policy);
}

// Dumps are padded to upstream's capacities (hundreds of MB for 128 heads x long contexts): small problems.
RC_GTEST_PROP(Scheduler, DumpRoundTrip, ()) {
  pgen::Options o = pgen::small_options();
  o.max_batch = 8;
  o.max_kv = 2048;
  o.block_sizes = true;
  o.all_cus = true;
  const Case c = *pgen::case_for(pgen::problem(o), pgen::policy());
  const Plan plan = make_plan(c.problem, c.policy);
  const Capacity cap = compute_capacity(SizingInputs::from_problem(c.problem), c.policy.traits().sizing);
  if (!capacity_overflows(plan, cap, c.problem.tile_q).empty()) return;  // buffers.fit's business
  const auto dir = std::filesystem::temp_directory_path() / ("mlaps_prop_dump_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  write_aiter_dump(dir, c.problem, plan, cap);
  const AiterDump d = read_aiter_dump(dir);
  std::filesystem::remove_all(dir);
  RC_ASSERT(d.plan.work_indptr == plan.work_indptr);
  RC_ASSERT(d.plan.work_info == plan.work_info);
  RC_ASSERT(d.plan.reduce_indptr == plan.reduce_indptr);
  RC_ASSERT(d.plan.reduce_final_map == plan.reduce_final_map);
  RC_ASSERT(d.plan.reduce_partial_map == plan.reduce_partial_map);
  RC_ASSERT(d.problem.qo_indptr == c.problem.qo_indptr);
  RC_ASSERT(d.problem.kv_indptr == c.problem.kv_indptr);
  RC_ASSERT(d.problem.context_lens == c.problem.context_lens);
  RC_ASSERT(d.capacity == cap);
}

}  // namespace
}  // namespace mlaps
