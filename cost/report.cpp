#include "cost/report.h"

namespace mlaps::cost {

nlohmann::json cost_json(const PlanCost& c, bool with_tg) {
  nlohmann::json j = {{"policy", c.policy},
                      {"profile", c.profile},
                      {"prefill_us", c.prefill_us},
                      {"reduce_us", c.reduce_us},
                      {"total_us", c.total_us},
                      {"lower_bound_us", c.lower_bound_us},
                      {"imbalance", c.imbalance},
                      {"idle_fraction", c.idle_fraction},
                      {"works", c.works},
                      {"partial_slots", c.partial_slots},
                      {"reduce_entries", c.reduce_entries},
                      {"partial_bytes", c.partial_bytes}};
  if (with_tg) j["tg_us"] = c.tg_us;
  return j;
}

}  // namespace mlaps::cost
