#pragma once
// A plan's cost as JSON: the keys of `mlaps cost --format json` (README, "The cost model"). One home for the
// CLI's `cost` and `compare` rows and the Python module's `mlaps.cost()`.
#include <nlohmann/json.hpp>

#include "cost/model.h"

namespace mlaps::cost {

// policy, profile, prefill_us, reduce_us, total_us, lower_bound_us, imbalance, idle_fraction, works,
// partial_slots, reduce_entries, partial_bytes, and tg_us (one value per TG) when with_tg.
nlohmann::json cost_json(const PlanCost& c, bool with_tg = true);

}  // namespace mlaps::cost
