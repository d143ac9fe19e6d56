#pragma once
// A profile as what cost-aware policies plan for (scheduler/planning_costs.h): `mlaps cost --profile P`,
// `mlaps compare --profile P`, `mlaps invariance --profile P` and the GPU policy timing plan for the device
// they cost on.
#include "cost/model.h"
#include "scheduler/planning_costs.h"

namespace mlaps::cost {

// The prefill and reduce terms of the profile, copied.
PlanningCosts planning_costs(const CostProfile& prof);

}  // namespace mlaps::cost
