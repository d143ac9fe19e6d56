#include "scheduler/planning_costs.h"

#include "scheduler/default_planning_costs.h"

namespace mlaps {
namespace {

thread_local const PlanningCosts* t_costs = nullptr;

}  // namespace

const PlanningCosts& default_planning_costs() {
  static const PlanningCosts c = generated_default_planning_costs();
  return c;
}

const PlanningCosts& planning_costs_in_effect() {
  return t_costs ? *t_costs : default_planning_costs();
}

PlanningCostsScope::PlanningCostsScope(const PlanningCosts* costs) : saved_(t_costs) {
  t_costs = costs;
}

PlanningCostsScope::~PlanningCostsScope() {
  t_costs = saved_;
}

Plan make_plan(const Problem& p, Policy policy, const PlanningCosts* costs) {
  const PlanningCostsScope scope(costs);
  return make_plan(p, policy);
}

PlanSizes make_plan_into(const Problem& p, Policy policy, const PlanSpans& out, PlanWorkspace& ws,
                         const PlanIntoOptions& opt, const PlanningCosts* costs) {
  const PlanningCostsScope scope(costs);
  return make_plan_into(p, policy, out, ws, opt);
}

}  // namespace mlaps
