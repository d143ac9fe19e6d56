// The two upstream rows of the policy table: upstream's get_ps_metadata_v1 host path (plan.cpp's fast
// scheduler) before and after PR #3606.
#include "scheduler/policy.h"

namespace mlaps::policy_impl {

// PR #3606 (head 1784f4ce46): every piece gets a partial slot, every scheduled tile a reduce entry.
PlanSizes plan_aiter(const Problem& p, const ProblemTotals& totals, PlanOutput& out, PlanWorkspace& ws,
                     const PlanIntoOptions& opt) {
  return plan_upstream(p, totals, /*legacy=*/false, out, ws, opt);
}

// HEAD e4048607a5: a tile absorbed whole by one TG gets partial_o_loc = -1 and no reduce entry.
PlanSizes plan_aiter_legacy(const Problem& p, const ProblemTotals& totals, PlanOutput& out, PlanWorkspace& ws,
                            const PlanIntoOptions& opt) {
  return plan_upstream(p, totals, /*legacy=*/true, out, ws, opt);
}

}  // namespace mlaps::policy_impl
