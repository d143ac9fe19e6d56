#pragma once
// What a cost-aware policy plans for: the cost model's terms of a device profile (cost/model.h), as
// cost::planning_costs(profile) (cost/plan_for.h) copies them. A policy's PlanFn (policy.h) has one signature
// for every policy, so the terms reach it through a scope: make_plan(p, policy, &costs) opens one for the
// call, and a cost-aware policy reads planning_costs_in_effect() (the default profile's terms outside any
// scope). The scope is per thread; a plan depends on the costs in effect and on nothing else.
#include <cstdint>
#include <string>

#include "scheduler/plan.h"
#include "scheduler/policy.h"
#include "scheduler/problem.h"

namespace mlaps {

// Per (work item, q head), microseconds. A piece of R rows (Rpad = ceil(R / row_quantum) * row_quantum, P =
// ceil(R / rows_per_pass) passes) costs item_us + q_row_us * Rpad + the write per row + per 128-key sub-tile
// of kind k (full, masked, empty) P * pass_us[k] + Rpad * row_us[k].
struct PlanningCosts {
  std::string profile;  // the profile's name
  int32_t slots = 0;    // TGs the device runs at once (0: every TG of the plan)
  double tg_us = 0;     // per TG, loaded or empty (block start, tables)
  int32_t rows_per_pass = 256;
  int32_t row_quantum = 256;
  double item_us = 0, q_row_us = 0;
  double pass_us[3] = {0, 0, 0};  // full, masked, empty
  double row_us[3] = {0, 0, 0};
  double write_partial_row_us = 0, write_direct_row_us = 0;
  // The reduce (mla_reduce_v1's grid, cost/model.h): per (entry, q head) block, per row and partial read
  // (simple path n < 4, massive n >= 4), per row written; blocks run reduce_slots at once; reduce_fill
  // splits an entry's rows over blocks to fill them.
  int32_t reduce_slots = 256;
  bool reduce_fill = false;
  double reduce_block_us = 0, reduce_simple_read_us = 0, reduce_massive_read_us = 0, reduce_write_row_us = 0;
};

// The default profile's terms (cost/profiles/mi355x-asm.json, read at configure time: the profile file stays
// their one home; a cost test checks them against cost::planning_costs(load_profile(kDefaultProfile))).
const PlanningCosts& default_planning_costs();

// The terms in effect on this thread: the innermost open scope's, else default_planning_costs().
const PlanningCosts& planning_costs_in_effect();

// Opens a scope (nullptr: the default terms) until destroyed; scopes nest.
class PlanningCostsScope {
 public:
  explicit PlanningCostsScope(const PlanningCosts* costs);
  ~PlanningCostsScope();
  PlanningCostsScope(const PlanningCostsScope&) = delete;
  PlanningCostsScope& operator=(const PlanningCostsScope&) = delete;

 private:
  const PlanningCosts* saved_;
};

// make_plan / make_plan_into (policy.h) with `costs` in effect (nullptr: the default profile's).
Plan make_plan(const Problem& p, Policy policy, const PlanningCosts* costs);
PlanSizes make_plan_into(const Problem& p, Policy policy, const PlanSpans& out, PlanWorkspace& ws,
                         const PlanIntoOptions& opt, const PlanningCosts* costs);

}  // namespace mlaps
