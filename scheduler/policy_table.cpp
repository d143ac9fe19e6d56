// The policy table: every scheduling policy mlaps knows, in plain data. A new policy is one source file in
// scheduler/policies/ (its PlanFn, declared here) and one row below; the CLI, validate(), the emulator, the
// property tests, both fuzzers, the benchmarks and the GPU conformance suite iterate this table.
#include "scheduler/policy.h"

namespace mlaps {
namespace policy_impl {
// scheduler/policies/aiter.cpp
PlanSizes plan_aiter(const Problem&, const ProblemTotals&, PlanOutput&, PlanWorkspace&,
                     const PlanIntoOptions&);
PlanSizes plan_aiter_legacy(const Problem&, const ProblemTotals&, PlanOutput&, PlanWorkspace&,
                            const PlanIntoOptions&);
// scheduler/policies/whole_tiles.cpp
PlanSizes plan_whole_tiles(const Problem&, const ProblemTotals&, PlanOutput&, PlanWorkspace&,
                           const PlanIntoOptions&);
Capacity whole_tiles_capacity(const SizingInputs&);
TightBound whole_tiles_tight(const EngineLimits&);
}  // namespace policy_impl

namespace {

using R = ReduceVersion;
using S = SizingFormula;
using L = LseRule;

// The first row is the default policy.
constexpr PolicyDef kTable[] = {
    {.name = "aiter",
     .summary =
         "upstream get_ps_metadata_v1 with PR #3606: every piece a partial slot, every tile a reduce entry",
     .traits = {.reduce = R::kFixed, .sizing = S::kPr3606, .upstream_shape = true, .need_lse = L::kHonours},
     .plan = policy_impl::plan_aiter},
    {.name = "aiter-legacy",
     .summary = "upstream before PR #3606: a tile one TG takes whole writes O directly (-1), no LSE",
     .traits = {.reduce = R::kLegacy, .sizing = S::kLegacy, .upstream_shape = true, .need_lse = L::kPreFix},
     .plan = policy_impl::plan_aiter_legacy},
    {.name = "whole-tiles",
     .summary = "never splits a query tile: longest tile first to the least-loaded TG of its cluster (LPT)",
     .traits =
         {.reduce = R::kFixed, .sizing = S::kPr3606, .upstream_shape = false, .need_lse = L::kAlwaysSlots},
     .plan = policy_impl::plan_whole_tiles,
     .capacity = policy_impl::whole_tiles_capacity,
     .tight = policy_impl::whole_tiles_tight},
};

}  // namespace

std::span<const PolicyDef> policies() {
  return kTable;
}

}  // namespace mlaps
