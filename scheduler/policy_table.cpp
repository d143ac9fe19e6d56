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
// scheduler/policies/cost_balanced.cpp
PlanSizes plan_cost_balanced(const Problem&, const ProblemTotals&, PlanOutput&, PlanWorkspace&,
                             const PlanIntoOptions&);
Capacity cost_balanced_capacity(const SizingInputs&);
// scheduler/policies/fixed_split.cpp
PlanSizes plan_fixed_split(const Problem&, const ProblemTotals&, PlanOutput&, PlanWorkspace&,
                           const PlanIntoOptions&);
Capacity fixed_split_capacity(const SizingInputs&);
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
    {.name = "cost-balanced",
     .summary =
         "upstream's next-fit with cuts, the TG budget in modelled us (cost model terms) instead of KV "
         "units, bisected to the smallest that fits",
     .traits = {.reduce = R::kFixed, .sizing = S::kPr3606, .upstream_shape = false, .need_lse = L::kHonours},
     .plan = policy_impl::plan_cost_balanced,
     .capacity = policy_impl::cost_balanced_capacity},
    {.name = "fixed-split",
     .summary = "batch-invariant: each tile cut by its own size alone (a piece's work >= 8x its modelled "
                "set-up), whatever its batch-mates; LPT placement by modelled cost",
     .traits = {.reduce = R::kFixed, .sizing = S::kPr3606, .upstream_shape = false, .need_lse = L::kHonours},
     .plan = policy_impl::plan_fixed_split,
     .capacity = policy_impl::fixed_split_capacity},
};

}  // namespace

std::span<const PolicyDef> policies() {
  return kTable;
}

}  // namespace mlaps
