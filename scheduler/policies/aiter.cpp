// The two upstream rows of the policy table: upstream's get_ps_metadata_v1 host path (plan.cpp's fast
// scheduler) before and after PR #3606.
#include "scheduler/policy.h"

namespace mlaps::policy_impl {

// PR #3606 (head 1784f4ce46): every piece gets a partial slot, every scheduled tile a reduce entry. The
// merged form's need_lse = false keeps HEAD's -1 direct write for a tile taken whole by one TG [thread:
// contract 10], which is HEAD's layout: the reduce entries left are all of cut tiles (n >= 2), which the
// merged guard `n > 1 || (n == 1 && pmap[start] != -1)` and HEAD's `n > 1` treat alike.
PlanSizes plan_aiter(const Problem& p, const ProblemTotals& totals, PlanOutput& out, PlanWorkspace& ws,
                     const PlanIntoOptions& opt) {
  return plan_upstream(p, totals, /*legacy=*/!p.need_lse, out, ws, opt);
}

// HEAD e4048607a5: a tile absorbed whole by one TG gets partial_o_loc = -1 and no reduce entry, whatever
// need_lse says (the pre-fix code has no such flag).
PlanSizes plan_aiter_legacy(const Problem& p, const ProblemTotals& totals, PlanOutput& out, PlanWorkspace& ws,
                            const PlanIntoOptions& opt) {
  return plan_upstream(p, totals, /*legacy=*/true, out, ws, opt);
}

}  // namespace mlaps::policy_impl
