#pragma once
// The upstream-defects ledger: known misbehaviour of upstream AITER on valid or borderline inputs, each with
// its upstream reference, a minimal input and the violations validate() reports for it, and/or the mlaps
// command lines that show it (LedgerShow)
// (ledger/ledger.json, embedded at build time). Tests assert every entry is still detected exactly as
// recorded; `mlaps check` names the entry a violation set matches; the fuzzer treats explained violations
// as known.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scheduler/policy.h"
#include "scheduler/problem.h"
#include "scheduler/sizing.h"
#include "scheduler/validate.h"

namespace mlaps {

// One recorded input and what validate() reports for it.
struct LedgerCase {
  std::string name;
  Problem problem;
  Policy policy = default_policy();    // the plan is make_plan(problem, policy) ...
  std::optional<Plan> plan;            // ... unless a hand-made plan is recorded (e.g. decode metadata)
  Policy contract = default_policy();  // ValidateOptions::contract
  SizingFormula capacity = SizingFormula::kPr3606;  // buffers the plan is held to
  std::map<std::string, int> expected;              // invariant -> number of violations
  // invariant -> number of distinct query tiles [qo_start, qo_end) among those violations (optional).
  std::map<std::string, int> expected_tiles;
  // Reduce emulation check for hand-made plans (decode guard): run the fixed reduce on poisoned partials
  // over a pre-filled output; true = the output must stay untouched.
  bool expect_reduce_leaves_output = false;
};

// What mlaps shows for an entry, beside (or in place of) validate() cases: an `mlaps` command line and what
// it prints (cli/tests/cli_test.cpp, CliLedger.EveryShowPrintsWhatItRecords, runs each: exit status and
// text), or, where no command line can show it, the test that does (ledger_test checks it exists).
struct LedgerShow {
  std::string name;
  std::string says;                 // what it shows, one line
  std::vector<std::string> args;    // the `mlaps` arguments; empty for a test reference
  int exit_code = 0;                // the command's expected exit status
  std::vector<std::string> expect;  // substrings its stdout + stderr must all contain
  std::string test;                 // "python/tests/test_dropins.py::test_name" (only without args)
};

struct LedgerEntry {
  std::string id;  // stable key, e.g. "trailing_empty_kv"
  std::string title;
  std::string upstream;  // file:line / PR in ROCm/aiter
  std::string contract;  // section(s) of docs/upstream-contract.md, e.g. "2.5.2"
  std::string status;    // e.g. "open upstream", "fixed by #3606"
  std::string description;
  std::vector<LedgerCase> cases;  // cases[0] is the minimal input
  std::vector<LedgerShow> shows;  // at least one case or one show per entry
};

// The embedded ledger (parsed once; throws InputError if the embedded JSON is malformed).
const std::vector<LedgerEntry>& ledger();
const LedgerEntry* find_ledger_entry(std::string_view id);
std::string_view ledger_json_text();
// Parses a ledger document (the format of ledger/ledger.json). Throws InputError.
std::vector<LedgerEntry> parse_ledger(std::string_view json_text);

// Plans (or takes the hand-made plan) and validates a recorded case as recorded.
Plan ledger_case_plan(const LedgerCase& c);
std::vector<Violation> run_ledger_case(const LedgerCase& c);

std::map<std::string, int> count_by_invariant(const std::vector<Violation>& v);
std::map<std::string, int> count_tiles_by_invariant(const std::vector<Violation>& v);

struct LedgerMatch {
  std::string id;
  std::string title;
  std::string upstream;
  std::string contract;
  std::string case_name;  // the recorded case when `exact`, else empty
  bool exact = false;     // the problem is a recorded case's and the violation counts equal the record
  int explained = 0;      // violations this entry explains
  int unexplained = 0;    // violations no ledger entry explains (0: the whole set is known)
};

// The ledger entry that explains the violations of `p`'s plan, if any: an exact recorded case first, else
// the entry (in ledger order) whose defect class explains the most violations. A class is recognised from
// the problem itself (e.g. the tiles that 2.5.2 predicts unscheduled, the tiles a legacy plan gives -1,
// a plan that fits the PR #3606 buffers but not the pre-#3606 ones), so a violation outside the recorded
// behaviour is never explained.
std::optional<LedgerMatch> match_ledger(const Problem& p, const std::vector<Violation>& violations);

// Violations that no ledger entry explains (what the property tests and the fuzzer fail on).
std::vector<Violation> unexplained_violations(const Problem& p, const std::vector<Violation>& violations);

// Tiles contract 2.5.2 predicts are never scheduled: zero-KV tiles (num_blocks <= 0) after the last tile with
// KV blocks, in emission order. Empty for causal problems with qo > kv (a different class).
std::vector<QTile> predicted_unscheduled_tiles(const Problem& p);

bool problems_equal(const Problem& a, const Problem& b);

}  // namespace mlaps
