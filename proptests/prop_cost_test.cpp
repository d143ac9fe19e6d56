// Cost-model properties over random plans: the lower bound never exceeds the modelled total, every metric
// is finite and in range, evaluating a plan does not depend on the cluster memo (a plan whose TGs are
// re-listed so that no cluster repeats another costs the same) nor on the item memo (each TG's time is the
// plain sum over its items, bit for bit), and evaluate_into over a used PlanCost equals evaluate.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>

#include "cost/model.h"
#include "cost/profile.h"
#include "proptests/generators.h"

namespace mlaps {
namespace {

rc::Gen<cost::CostProfile> random_profile() {
  return rc::gen::apply(
      [](std::vector<int> coeffs, int slots, int rows_per_pass, int quantum) {
        cost::CostProfile p = *cost::find_builtin_profile("mi355x-asm");
        for (int k = 0; k < cost::kNumCoeffs; ++k) p.c[k] = coeffs[k % coeffs.size()] / 100.0;
        p.slots = slots;
        p.reduce_slots = slots * 2;
        p.rows_per_pass = rows_per_pass;
        p.row_quantum = quantum;
        return p;
      },
      rc::gen::container<std::vector<int>>(cost::kNumCoeffs, rc::gen::inRange(0, 500)),
      rc::gen::inRange(1, 300), rc::gen::element(16, 64, 256), rc::gen::element(1, 16, 256));
}

RC_GTEST_PROP(CostProperty, LowerBoundNeverExceedsTheMakespan, ()) {
  const Case c = *pgen::case_for(pgen::problem(), pgen::policy(), "cost");
  const cost::CostProfile prof = *random_profile();
  const Plan plan = make_plan(c.problem, c.policy);
  const cost::PlanCost pc = cost::evaluate(c.problem, plan, prof);
  RC_ASSERT(std::isfinite(pc.total_us));
  // The bound as model.h states it, before evaluate() caps it at total_us: above the makespan by at most a
  // rounding step (the float mean of equal TG times), never by more.
  const double bound =
      plan.num_tg() > 0
          ? prof.c[cost::kLaunch] + std::max(pc.busy_sum_us / pc.places, pc.max_piece_us) + pc.reduce_us
          : pc.reduce_us;
  RC_ASSERT(bound <= pc.total_us * (1 + 1e-12) + 1e-9);
  RC_ASSERT(pc.lower_bound_us == std::min(bound, pc.total_us));
  RC_ASSERT(pc.total_us == pc.prefill_us + pc.reduce_us);
  RC_ASSERT(pc.imbalance >= 1.0 - 1e-12);
  RC_ASSERT(pc.idle_fraction >= 0.0 && pc.idle_fraction <= 1.0);
  RC_ASSERT(pc.tg_us.size() == static_cast<size_t>(plan.num_tg()));
  RC_ASSERT(pc.works == plan.num_works());
  // No TG ends after the makespan; none starts before 0.
  for (int32_t g = 0; g < plan.num_tg(); ++g) {
    RC_ASSERT(pc.tg_start_us[g] >= 0.0);
    RC_ASSERT(prof.c[cost::kLaunch] + pc.tg_start_us[g] + pc.tg_us[g] <= pc.prefill_us * (1 + 1e-12) + 1e-9);
  }
}

// The plan costs the same with the CU count changed in the problem: the cluster memo (which needs
// num_tg == num_cu) is then off, and every TG is computed item by item.
void assert_as_without_cluster_memo(const Problem& p, const Plan& plan, const cost::CostProfile& prof) {
  Problem other = p;
  other.num_cu = p.num_cu + 1;
  const cost::PlanCost a = cost::evaluate(p, plan, prof);
  const cost::PlanCost b = cost::evaluate(other, plan, prof);
  RC_ASSERT(a.tg_us == b.tg_us);
  RC_ASSERT(a.total_us == b.total_us);
  RC_ASSERT(a.partial_bytes == b.partial_bytes);
}

RC_GTEST_PROP(CostProperty, ClusterMemoChangesNothing, ()) {
  const Case c = *pgen::case_for(pgen::problem(), pgen::policy(), "cost");
  const cost::CostProfile prof = *random_profile();
  assert_as_without_cluster_memo(c.problem, make_plan(c.problem, c.policy), prof);
}

// A plan whose clusters repeat but for one field of one item (any item, any of the fields the cost reads):
// the cluster compare must see it, so the cost equals the memo-off evaluation's.
RC_GTEST_PROP(CostProperty, ClusterMemoSeesOneChangedItem, ()) {
  const Case c = *pgen::case_for(pgen::problem(), pgen::policy(), "cost");
  const cost::CostProfile prof = *random_profile();
  Plan plan = make_plan(c.problem, c.policy);
  RC_PRE(plan.num_works() > 1);
  const auto i = static_cast<size_t>(*rc::gen::inRange<int32_t>(0, plan.num_works()));
  WorkInfo& w = plan.work_info[i];
  switch (*rc::gen::inRange(0, 4)) {
    case 0:  // one key fewer (or one more when empty)
      w.kv_end = w.kv_end > w.kv_start ? w.kv_end - 1 : w.kv_end + 1;
      break;
    case 1:  // one row fewer (or one more)
      w.qo_end = w.qo_end > w.qo_start ? w.qo_end - 1 : w.qo_end + 1;
      break;
    case 2:  // the write flips between a partial slot and a direct write
      w.partial_o_loc = w.partial_o_loc >= 0 ? -1 : 0;
      break;
    default:  // one head more
      w.q_head_range += 1 << 16;
      break;
  }
  assert_as_without_cluster_memo(c.problem, plan, prof);
}

RC_GTEST_PROP(CostProperty, ItemMemoIsThePlainSum, ()) {
  const Case c = *pgen::case_for(pgen::problem(), pgen::policy(), "cost");
  const cost::CostProfile prof = *random_profile();
  const Plan plan = make_plan(c.problem, c.policy);
  Problem other = c.problem;  // the cluster memo off (as above): every TG computed, through the item memo
  other.num_cu = c.problem.num_cu + 1;
  const cost::PlanCost pc = cost::evaluate(other, plan, prof);
  RC_ASSERT(pc.tg_us.size() == static_cast<size_t>(plan.num_tg()));
  for (int32_t g = 0; g < plan.num_tg(); ++g) {
    double busy = prof.c[cost::kTg];  // the model's TG time, item by item in order (model.h)
    for (int32_t i = plan.work_indptr[g]; i < plan.work_indptr[g + 1]; ++i) {
      const WorkInfo& w = plan.work_info[i];
      busy += cost::item_head_us(other, w, prof) * cost::item_heads(w);
    }
    RC_ASSERT(pc.tg_us[g] == busy);
  }
}

RC_GTEST_PROP(CostProperty, EvaluateIntoAUsedResultEqualsEvaluate, ()) {
  const Case first = *pgen::case_for(pgen::problem(), pgen::policy(), "cost");
  const Case second = *pgen::case_for(pgen::problem(), pgen::policy(), "cost");
  const cost::CostProfile prof = *random_profile();
  cost::PlanCost reused;
  cost::evaluate_into(first.problem, make_plan(first.problem, first.policy), prof, reused);
  const Plan plan = make_plan(second.problem, second.policy);
  cost::evaluate_into(second.problem, plan, prof, reused);
  const cost::PlanCost fresh = cost::evaluate(second.problem, plan, prof);
  RC_ASSERT(reused.tg_us == fresh.tg_us);
  RC_ASSERT(reused.tg_start_us == fresh.tg_start_us);
  RC_ASSERT(reused.policy == fresh.policy);
  RC_ASSERT(reused.profile == fresh.profile);
  RC_ASSERT(reused.total_us == fresh.total_us);
  RC_ASSERT(reused.prefill_us == fresh.prefill_us);
  RC_ASSERT(reused.reduce_us == fresh.reduce_us);
  RC_ASSERT(reused.lower_bound_us == fresh.lower_bound_us);
  RC_ASSERT(reused.imbalance == fresh.imbalance);
  RC_ASSERT(reused.idle_fraction == fresh.idle_fraction);
  RC_ASSERT(reused.works == fresh.works);
  RC_ASSERT(reused.partial_bytes == fresh.partial_bytes);
  RC_ASSERT(reused.direct_writes == fresh.direct_writes);
  RC_ASSERT(reused.reduce_processed == fresh.reduce_processed);
  RC_ASSERT(reused.max_piece_us == fresh.max_piece_us);
  RC_ASSERT(reused.places == fresh.places);
  RC_ASSERT(reused.calls == fresh.calls);
}

}  // namespace
}  // namespace mlaps
