#pragma once
// Shared helpers of the property tests (header-only, test code).
#include <rapidcheck.h>

#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ledger/ledger.h"
#include "proptests/generators.h"
#include "scheduler/validate.h"

namespace mlaps::prop {

inline std::vector<Violation> only(const std::vector<Violation>& v, const std::set<std::string>& names) {
  std::vector<Violation> out;
  for (const Violation& x : v) {
    if (names.count(x.invariant)) out.push_back(x);
  }
  return out;
}

// "3 violations of coverage.kv; first: ...; reproduce: mlaps check ...".
inline std::string describe(const Case& c, const std::vector<Violation>& v, size_t max_listed = 3) {
  std::ostringstream os;
  os << v.size() << " violation(s)";
  for (size_t i = 0; i < v.size() && i < max_listed; ++i) os << "\n  " << format_violation(v[i]);
  if (v.size() > max_listed) os << "\n  ...";
  os << "\n  reproduce: " << cli::cli_command(c.verb, c.problem, c.policy);
  return os.str();
}

// The violations of invariants `names` of c's plan under `contract` that the ledger does not explain.
inline std::vector<Violation> unexplained_of(const Case& c, const std::set<std::string>& names,
                                             std::optional<Policy> contract = std::nullopt) {
  const Plan plan = make_plan(c.problem, c.policy);
  ValidateOptions opt;
  opt.contract = contract;
  return unexplained_violations(c.problem, only(validate(c.problem, plan, opt), names));
}

// The property body: the invariant holds (up to known ledger defects) for the aiter policy.
inline void assert_invariant(const Case& c, const std::set<std::string>& names,
                             std::optional<Policy> contract = std::nullopt) {
  const auto v = unexplained_of(c, names, contract);
  if (!v.empty()) RC_FAIL(describe(c, v));
}

// A listener that keeps rapidcheck quiet (no reproduce banner for failures a test expects) and counts.
struct QuietListener : rc::detail::TestListener {
  int cases = 0, shrinks_tried = 0, shrinks_accepted = 0;
  void onTestCaseFinished(const rc::detail::CaseDescription&) override { ++cases; }
  void onShrinkTried(const rc::detail::CaseDescription&, bool accepted) override {
    ++shrinks_tried;
    shrinks_accepted += accepted ? 1 : 0;
  }
  void onTestFinished(const rc::detail::TestMetadata&, const rc::detail::TestResult&) override {}
};

// Runs a property programmatically with a fixed seed (for mutation checks: the property is expected to fail).
template <typename Property>
rc::detail::TestResult run_property(Property&& property, const std::string& id, uint64_t seed,
                                    int max_success, QuietListener& listener) {
  rc::detail::TestParams params;
  params.seed = seed;
  params.maxSuccess = max_success;
  rc::detail::TestMetadata meta;
  meta.id = meta.description = id;
  return rc::detail::checkTestable(std::forward<Property>(property), meta, params, listener);
}

}  // namespace mlaps::prop
