#pragma once
// The plan as JSON: upstream's five arrays trimmed to used length, and the buffer capacities. One home for
// `mlaps plan --format json` and the Python module's Plan.to_json().
#include <string>

#include "scheduler/plan.h"
#include "scheduler/sizing.h"

namespace mlaps {

// {"work_indptr", "work_info" (8-int rows), "reduce_indptr", "reduce_final_map" (pairs),
// "reduce_partial_map",
//  "capacity": {"formula", one element count per buffer}}; `indent` as nlohmann's dump (-1: one line).
std::string plan_to_json_text(const Plan& plan, const Capacity& cap, SizingFormula f, int indent = -1);

}  // namespace mlaps
