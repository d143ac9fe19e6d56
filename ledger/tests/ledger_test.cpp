// The upstream-defects ledger: every recorded case is still detected exactly as recorded (a behaviour change
// in the scheduler, the checker or the reduce fails loudly), and match_ledger names it.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>

#include "ledger/ledger.h"
#include "scheduler/error.h"
#include "scheduler/validate.h"
#include "sim/emulate.h"
#include "sim/numerics.h"
#include "sim/tensors.h"
#include "workloads/workloads.h"

namespace mlaps {
namespace {

std::string as_json(const std::map<std::string, int>& m) {
  return nlohmann::json(m).dump();
}

TEST(Ledger, ParsesAndHasTheKnownDefects) {
  std::set<std::string> ids;
  for (const LedgerEntry& e : ledger()) {
    EXPECT_TRUE(ids.insert(e.id).second) << e.id;
    EXPECT_FALSE(e.upstream.empty()) << e.id;
    EXPECT_TRUE(!e.cases.empty() || !e.shows.empty()) << e.id;
  }
  for (const char* id : {"trailing_empty_kv", "causal_qo_gt_kv", "legacy_sizing_overflow",
                         "legacy_minus1_fast_path", "decode_guard_n1_minus1", "need_lse_false_merge",
                         "softmax_scale_default", "stub_granularity_defaults", "gqa_ratio_unused"}) {
    EXPECT_TRUE(ids.count(id)) << id;
  }
  EXPECT_THROW(parse_ledger("{"), InputError);
  EXPECT_THROW(parse_ledger(R"({"entries": [{"id": "x"}]})"), InputError);
}

// The "shows" records: a command line (run by cli/tests, CliLedger.EveryShowPrintsWhatItRecords) or a test
// that exists in the source tree.
TEST(Ledger, ShowsAreWellFormedAndTheirTestsExist) {
  int commands = 0, tests = 0;
  for (const LedgerEntry& e : ledger()) {
    for (const LedgerShow& sh : e.shows) {
      SCOPED_TRACE(e.id + "/" + sh.name);
      EXPECT_FALSE(sh.says.empty());
      for (const std::string& a : sh.args) {  // passed through a shell by the CLI test: no quoting needed
        EXPECT_EQ(a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._,=/-"),
                  std::string::npos)
            << a;
      }
      if (!sh.args.empty()) {
        ++commands;
        continue;
      }
      ++tests;
      const auto sep = sh.test.find("::");
      ASSERT_NE(sep, std::string::npos) << sh.test << ": PATH::NAME";
      const std::string path = sh.test.substr(0, sep), name = sh.test.substr(sep + 2);
      std::ifstream in(std::string(MLAPS_SOURCE_DIR) + "/" + path);
      ASSERT_TRUE(in.good()) << path << " does not exist";
      const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      std::string want = "def " + name + "(";
      if (const auto dot = name.find('.'); dot != std::string::npos)  // GoogleTest Suite.Name
        want = "(" + name.substr(0, dot) + ", " + name.substr(dot + 1) + ")";
      EXPECT_NE(text.find(want), std::string::npos) << path << " has no " << want;
    }
  }
  EXPECT_GE(commands, 8);
  EXPECT_GE(tests, 3);
  const char* base = R"({"entries": [{"id": "x", "title": "t", "upstream": "u", "shows": [)";
  EXPECT_THROW(parse_ledger(std::string(base) + R"({"name": "n", "says": "s"}]}]})"), InputError);
  EXPECT_THROW(parse_ledger(std::string(base) + R"({"name": "n", "says": "s", "args": ["plan"]}]}]})"),
               InputError);  // a command without the text it prints
  EXPECT_THROW(
      parse_ledger(std::string(base) +
                   R"({"name": "n", "says": "s", "args": ["plan"], "expect": ["x"], "test": "a::b"}]}]})"),
      InputError);
  EXPECT_THROW(parse_ledger(R"({"entries": [{"id": "x", "title": "t", "upstream": "u"}]})"), InputError);
  EXPECT_EQ(
      parse_ledger(std::string(base) + R"({"name": "n", "says": "s", "test": "a::b"}]}]})")[0].shows.size(),
      1u);
}

// Each case reproduces its recorded violations exactly (counts per invariant, distinct tiles per invariant).
TEST(Ledger, EveryCaseDetectedExactlyAsRecorded) {
  for (const LedgerEntry& e : ledger()) {
    for (const LedgerCase& c : e.cases) {
      SCOPED_TRACE(e.id + "/" + c.name);
      const auto v = run_ledger_case(c);
      const auto counts = count_by_invariant(v);
      EXPECT_EQ(counts, c.expected) << "observed \"expected\": " << as_json(counts)
                                    << (v.empty() ? "" : "\n  first: " + format_violation(v[0]));
      const auto tiles = count_tiles_by_invariant(v);
      for (const auto& [name, n] : c.expected_tiles) {
        EXPECT_EQ(tiles.count(name) ? tiles.at(name) : 0, n)
            << name << "; observed tiles: " << as_json(tiles);
      }
      EXPECT_FALSE(v.empty()) << "a ledger case must show its defect";
      const auto m = match_ledger(c.problem, v);
      ASSERT_TRUE(m.has_value());
      EXPECT_EQ(m->id, e.id);
      EXPECT_TRUE(m->exact);
      EXPECT_EQ(m->case_name, c.name);
      EXPECT_EQ(m->unexplained, 0);
    }
  }
}

// The recognisers (not only the exact records) explain each class: perturb a recorded case and the match
// must still name the entry with nothing unexplained -- except the hand-made decode plan.
TEST(Ledger, ClassesRecognisedBeyondTheRecordedCases) {
  struct Probe {
    const char* id;
    Problem p;
    Policy policy;
    SizingFormula formula;
  };
  std::vector<Probe> probes;
  probes.push_back({"trailing_empty_kv", Problem::from_lengths({300, 5, 700}, {1000, 0, 0}, 3, false, 80),
                    policy_named("aiter"), SizingFormula::kPr3606});
  Problem gt = Problem::from_lengths({2000, 10}, {300, 10}, 2, true, 16);
  gt.allow_causal_qo_gt_kv = true;
  probes.push_back({"causal_qo_gt_kv", gt, policy_named("aiter"), SizingFormula::kPr3606});
  probes.push_back({"legacy_minus1_fast_path",
                    Problem::from_lengths({4096, 1000}, {4096, 3000}, 16, true, 256),
                    policy_named("aiter-legacy"), SizingFormula::kPr3606});
  probes.push_back(
      {"legacy_sizing_overflow",
       Problem::from_lengths(std::vector<int32_t>(8, 2048), std::vector<int32_t>(8, 2048), 128, false, 256),
       policy_named("aiter"), SizingFormula::kLegacy});
  for (const Probe& pr : probes) {
    SCOPED_TRACE(pr.id);
    ValidateOptions opt;
    opt.capacity = compute_capacity(SizingInputs::from_problem(pr.p), pr.formula);
    const auto v = validate(pr.p, make_plan(pr.p, pr.policy), opt);
    ASSERT_FALSE(v.empty());
    const auto m = match_ledger(pr.p, v);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->id, pr.id);
    EXPECT_FALSE(m->exact);
    EXPECT_EQ(m->unexplained, 0) << format_violation(unexplained_violations(pr.p, v).at(0));
    EXPECT_TRUE(unexplained_violations(pr.p, v).empty());
  }
}

// A violation outside a defect class is never explained: the same invariant names on a problem outside
// the class stay unexplained.
TEST(Ledger, ForeignViolationsStayUnexplained) {
  const Problem p = Problem::from_lengths({300}, {300}, 1, false, 4);  // no zero-KV tile, no qo > kv
  std::vector<Violation> v(3);
  v[0].invariant = inv::kTileCoverage;
  v[0].qo_start = 0;
  v[0].qo_end = 256;
  v[1].invariant = inv::kBufferFit;  // this plan fits both formulas: not the sizing defect
  v[2].invariant = inv::kReduceEntry;
  v[2].qo_start = 256;  // [256, 300) is split in the legacy plan, so it is no -1 tile
  v[2].qo_end = 300;
  EXPECT_EQ(unexplained_violations(p, v).size(), 3u);
  EXPECT_FALSE(match_ledger(p, v).has_value());
  EXPECT_FALSE(match_ledger(p, {}).has_value());
}

TEST(Ledger, PredictedUnscheduledTiles) {
  // Contract 2.5.2's example: tiles [300, 556) and [556, 600) of the second sequence (ping-pong: the first
  // range, then the last).
  const auto t = predicted_unscheduled_tiles(workload("trailing_empty_kv").problem);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].qo_start, 300);
  EXPECT_EQ(t[0].qo_end, 556);
  EXPECT_EQ(t[1].qo_start, 556);
  EXPECT_EQ(t[1].qo_end, 600);
  // A zero-KV sequence in the middle is emitted (with empty KV), so nothing is predicted.
  EXPECT_TRUE(predicted_unscheduled_tiles(Problem::from_lengths({300, 300}, {0, 300}, 1, false, 4)).empty());
}

// Contract 5.3 / property 13: a reduce entry with one split whose slot is -1 (decode metadata) must leave the
// directly written output untouched, in the fixed reduce and the legacy one.
TEST(Ledger, DecodeGuardLeavesOutputUntouched) {
  const LedgerEntry* e = find_ledger_entry("decode_guard_n1_minus1");
  ASSERT_NE(e, nullptr);
  for (const LedgerCase& c : e->cases) {
    if (!c.expect_reduce_leaves_output) continue;
    ASSERT_TRUE(c.plan.has_value());
    const Plan& plan = *c.plan;
    for (bool fixed : {true, false}) {
      SCOPED_TRACE(fixed ? "fixed reduce" : "legacy reduce");
      RunBuffers buf;
      buf.allocate(c.problem.num_tokens(), c.problem.num_heads_q(), c.problem.tile_q);
      buf.poison();
      // The decode kernel's direct output and an LSE the reduce must not touch.
      for (size_t i = 0; i < buf.out.size(); ++i) buf.out[i] = num::bf16_encode(0.25f + 0.001f * (i % 97));
      for (float& x : buf.final_lse) x = 3.5f;
      for (float& x : buf.partial_o) x = 100.0f;  // what a negative-offset read would mix in
      for (float& x : buf.partial_lse) x = 9.0f;
      const auto out_before = buf.out;
      const auto lse_before = buf.final_lse;
      ReduceParams rp = make_reduce_params(plan, buf);
      rp.fixed_version = fixed;
      emulate_reduce(rp, 1);
      EXPECT_EQ(buf.out, out_before);
      EXPECT_EQ(0, std::memcmp(buf.final_lse.data(), lse_before.data(), lse_before.size() * sizeof(float)));
    }
  }
}

}  // namespace
}  // namespace mlaps
