// The registry's lookups and the generic plan entry points over a policy's PlanFn.
#include "scheduler/policy.h"

#include <algorithm>
#include <string>

#include "scheduler/error.h"

namespace mlaps {

Policy::Policy() : def_(&policies().front()) {}

Policy default_policy() {
  return Policy(policies().front());
}

std::optional<Policy> find_policy(std::string_view name) {
  for (const PolicyDef& d : policies()) {
    if (d.name == name) return Policy(d);
  }
  return std::nullopt;
}

std::string policy_names(std::string_view sep) {
  std::string s;
  for (const PolicyDef& d : policies()) {
    if (!s.empty()) s += sep;
    s += d.name;
  }
  return s;
}

Policy policy_named(std::string_view name, const std::string& field) {
  if (auto p = find_policy(name)) return *p;
  throw InputError(field, "must be one of " + policy_names() + " (got '" + std::string(name) +
                              "'; `mlaps policies` lists them)");
}

std::optional<Policy> upstream_policy(ReduceVersion reduce) {
  for (const PolicyDef& d : policies()) {
    if (d.traits.upstream_shape && d.traits.reduce == reduce) return Policy(d);
  }
  return std::nullopt;
}

std::string_view reduce_name(ReduceVersion r) {
  return r == ReduceVersion::kLegacy ? "legacy" : "fixed";
}

std::string_view sizing_name(SizingFormula f) {
  return f == SizingFormula::kLegacy ? "legacy" : "pr3606";
}

SizingFormula parse_sizing_formula(std::string_view s, const std::string& field) {
  if (s == "legacy") return SizingFormula::kLegacy;
  if (s == "pr3606") return SizingFormula::kPr3606;
  throw InputError(field, "'" + std::string(s) + "' is not one of legacy, pr3606");
}

std::string_view lse_rule_name(LseRule r) {
  switch (r) {
    case LseRule::kHonours:
      return "honours";
    case LseRule::kAlwaysSlots:
      return "always-slots";
    case LseRule::kPreFix:
      return "pre-fix";
    case LseRule::kUndeclared:
      break;
  }
  return "undeclared";
}

bool writes_whole_tiles_direct(Policy policy, bool need_lse) {
  const LseRule r = policy.traits().need_lse;
  return r == LseRule::kPreFix || (r == LseRule::kHonours && !need_lse);
}

Capacity policy_capacity(Policy policy, const SizingInputs& in) {
  return policy->capacity ? policy->capacity(in) : compute_capacity(in, policy.traits().sizing);
}

namespace {

void check_span(const char* name, size_t have, int64_t need) {
  if (static_cast<int64_t>(have) < need) {
    throw InputError(
        name, "buffer has " + std::to_string(have) + " entries, the plan needs " + std::to_string(need));
  }
}

// make_plan_into: the caller's buffers, checked before anything is written.
class CallerBuffers final : public PlanOutput {
 public:
  CallerBuffers(const PlanSpans& spans, int32_t num_cu) : spans_(spans), num_cu_(num_cu) {}
  PlanSpans reserve(const PlanSizes& s) override {
    check_span("work_indptr", spans_.work_indptr.size(), int64_t{num_cu_} + 1);
    check_span("work_info", spans_.work_info.size(), s.num_works);
    check_span("reduce_indptr", spans_.reduce_indptr.size(), int64_t{s.num_reduce_entries} + 1);
    check_span("reduce_final_map", spans_.reduce_final_map.size(), s.num_reduce_entries);
    check_span("reduce_partial_map", spans_.reduce_partial_map.size(), s.num_partials);
    return spans_;
  }

 private:
  PlanSpans spans_;
  int32_t num_cu_;
};

// make_plan: vectors of exactly the plan's sizes.
class PlanVectors final : public PlanOutput {
 public:
  PlanVectors(Plan& plan, int32_t num_cu) : plan_(plan), num_cu_(num_cu) {}
  PlanSpans reserve(const PlanSizes& s) override {
    plan_.work_indptr.resize(static_cast<size_t>(num_cu_) + 1);
    plan_.work_info.resize(static_cast<size_t>(s.num_works));
    plan_.reduce_indptr.resize(static_cast<size_t>(s.num_reduce_entries) + 1);
    plan_.reduce_final_map.resize(static_cast<size_t>(s.num_reduce_entries));
    plan_.reduce_partial_map.resize(static_cast<size_t>(s.num_partials));
    return PlanSpans{plan_.work_indptr, plan_.work_info, plan_.reduce_indptr, plan_.reduce_final_map,
                     plan_.reduce_partial_map};
  }

 private:
  Plan& plan_;
  int32_t num_cu_;
};

}  // namespace

PlanSizes make_plan_into(const Problem& p, Policy policy, const PlanSpans& out, PlanWorkspace& ws,
                         const PlanIntoOptions& opt) {
  if (opt.num_threads < 1) {
    throw InputError("num_threads", "must be >= 1, got " + std::to_string(opt.num_threads));
  }
  const ProblemTotals totals = validate_problem(p);
  CallerBuffers buffers(out, p.num_cu);
  const PlanSizes s = policy->plan(p, totals, buffers, ws, opt);
  std::fill(out.reduce_indptr.begin() + s.num_reduce_entries + 1, out.reduce_indptr.end(), s.num_partials);
  if (opt.zero_tails) {
    std::fill(out.work_indptr.begin() + p.num_cu + 1, out.work_indptr.end(), 0);
    std::fill(out.work_info.begin() + s.num_works, out.work_info.end(), WorkInfo{});
    std::fill(out.reduce_final_map.begin() + s.num_reduce_entries, out.reduce_final_map.end(), FinalLoc{});
    std::fill(out.reduce_partial_map.begin() + s.num_partials, out.reduce_partial_map.end(), 0);
  }
  return s;
}

Plan make_plan(const Problem& p, Policy policy) {
  const ProblemTotals totals = validate_problem(p);
  thread_local PlanWorkspace ws;
  Plan plan;
  plan.policy = std::string(policy.name());
  plan.reduce = policy.traits().reduce;
  PlanVectors vectors(plan, p.num_cu);
  policy->plan(p, totals, vectors, ws, PlanIntoOptions{});
  return plan;
}

}  // namespace mlaps
