#pragma once
// The policy registry: one table of scheduling policies, in plain data (scheduler/policy_table.cpp).
// Everything that plans, checks, emulates, fuzzes, benchmarks or conformance-tests a policy iterates
// policies(); nothing outside the table, the tests and the docs names a policy.
//
// Adding a policy (CONTRIBUTING.md, "Adding a policy"): one source file in scheduler/policies/ with its
// PlanFn, and one row in the table.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "scheduler/plan.h"
#include "scheduler/problem.h"
#include "scheduler/sizing.h"

namespace mlaps {

// What a policy does with a problem's need_lse (Problem::need_lse; issue 13). Every row of the table states
// one; scheduler/tests/test_need_lse.cpp plans every row of policies() with need_lse true and false and
// checks its plans against what it states (kUndeclared fails there).
enum class LseRule {
  kUndeclared,
  // need_lse: every piece a partial slot; need_lse = false: a tile taken whole by one TG is written straight
  // to the output (partial_o_loc -1, no reduce entry, no LSE), as upstream's merged #3606 form.
  kHonours,
  // Every piece a partial slot whatever need_lse says: the final LSE is always written.
  kAlwaysSlots,
  // A tile taken whole by one TG is always written directly (-1), whatever need_lse says: the pre-#3606
  // code. Its plans break the execution contract of a problem that needs the LSE.
  kPreFix,
};
std::string_view lse_rule_name(LseRule r);  // "undeclared" | "honours" | "always-slots" | "pre-fix"

// What the policy's plans rely on and claim; read by validate(), the executors and the reports.
struct PolicyTraits {
  ReduceVersion reduce = ReduceVersion::kFixed;   // the mla_reduce_v1 version its plans are correct under
  SizingFormula sizing = SizingFormula::kPr3606;  // upstream's buffer formula it is deployed with
  // Claims upstream's shape (ping-pong order, the average/reminder TG quota, <= tpc-1 cuts, head invariance,
  // cluster heads): validate() then checks the upstream-shape contract on its plans by default.
  bool upstream_shape = false;
  LseRule need_lse = LseRule::kUndeclared;  // what it does with Problem::need_lse (above)
};

// Where a policy writes its plan. The policy calls reserve() once, with the plan's sizes, after scheduling
// and before writing anything; it returns the five buffers (make_plan_into: the caller's, after checking each
// is large enough, else InputError naming it; make_plan: vectors of exactly those sizes).
class PlanOutput {
 public:
  virtual PlanSpans reserve(const PlanSizes& sizes) = 0;

 protected:
  ~PlanOutput() = default;
};

// A policy's scheduler. The problem is already validated (`totals` is validate_problem's). It writes the
// used prefix of every buffer: work_indptr[0, num_cu], work_info[0, num_works), reduce_indptr[0,
// num_reduce_entries], reduce_final_map[0, num_reduce_entries), reduce_partial_map[0, num_partials); the
// caller sets reduce_indptr's tail and zeroes unused tails as upstream does. `ws` is scratch reused across
// calls (no allocation after warm-up). opt.num_threads may be ignored (the output must not depend on it).
using PlanFn = PlanSizes (*)(const Problem& p, const ProblemTotals& totals, PlanOutput& out,
                             PlanWorkspace& ws, const PlanIntoOptions& opt);
// The buffers the policy's plans need at most for a deployment's static sizes (CUDA-graph safe), when it is
// tighter than its sizing formula's; nullptr: the formula's (compute_capacity(in, traits.sizing)).
using CapacityFn = Capacity (*)(const SizingInputs& in);
// The policy's exact worst case over every batch within an engine's limits (`mlaps sizing`), with a witness
// batch; tight_bound() plans the witness with the policy to show the bound attained. nullptr: upstream's
// theorem for a policy claiming upstream's shape (scheduler/sizing_tight.cpp), else not derived.
using TightBoundFn = TightBound (*)(const EngineLimits& lim);

struct PolicyDef {
  std::string_view name;     // the CLI's --policy value, case names, reports, JSON
  std::string_view summary;  // one line
  PolicyTraits traits;
  PlanFn plan;
  CapacityFn capacity = nullptr;
  TightBoundFn tight = nullptr;
};

// The table, in its order. The first row is the default policy.
std::span<const PolicyDef> policies();

// A row of the table (never null; default-constructed: the default policy). Compared by identity.
class Policy {
 public:
  Policy();
  explicit constexpr Policy(const PolicyDef& def) : def_(&def) {}
  const PolicyDef& def() const { return *def_; }
  const PolicyDef* operator->() const { return def_; }
  std::string_view name() const { return def_->name; }
  const PolicyTraits& traits() const { return def_->traits; }
  friend bool operator==(Policy a, Policy b) { return a.def_ == b.def_; }

 private:
  const PolicyDef* def_;
};

Policy default_policy();  // the table's first row
std::optional<Policy> find_policy(std::string_view name);
// The row named `name`; InputError(field, "must be one of <every name> ...") otherwise.
Policy policy_named(std::string_view name, const std::string& field = "policy");
std::string policy_names(std::string_view sep = ", ");  // every name, in table order
// The first row claiming upstream's shape with this reduce version (what an upstream dump was planned by).
std::optional<Policy> upstream_policy(ReduceVersion reduce);

std::string_view reduce_name(ReduceVersion r);  // "legacy" | "fixed"
std::string_view sizing_name(SizingFormula f);  // "legacy" | "pr3606"
SizingFormula parse_sizing_formula(std::string_view s, const std::string& field);

// Whether the policy's plans write a tile taken whole by one TG straight to the output (-1, no LSE) for a
// problem with this need_lse: kPreFix always, kHonours when !need_lse.
bool writes_whole_tiles_direct(Policy policy, bool need_lse);

// The buffers the policy is deployed with: its capacity function, or its sizing formula's.
Capacity policy_capacity(Policy policy, const SizingInputs& in);

// Plans into caller buffers with the policy's function (make_plan_into's contract).
PlanSizes make_plan_into(const Problem& p, Policy policy, const PlanSpans& out, PlanWorkspace& ws,
                         const PlanIntoOptions& opt = {});
// Plans into exactly-sized vectors; the plan carries the policy's name and reduce version.
Plan make_plan(const Problem& p, Policy policy);

// The plain, literal transcription of upstream's loop (one pass per cluster and per head, std::map reduce) at
// the policy's reduce version (kLegacy: HEAD's -1 fast path; kFixed: PR #3606). Baseline for benchmarks and
// the oracle the fast scheduler is tested against, byte for byte. Validates the problem first; InputError
// ("policy") for a policy that does not claim upstream's shape.
Plan make_plan_plain(const Problem& p, Policy policy);

}  // namespace mlaps
