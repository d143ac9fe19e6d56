#include "scheduler/plan_json.h"

#include <nlohmann/json.hpp>

#include "scheduler/policy.h"

namespace mlaps {

std::string plan_to_json_text(const Plan& plan, const Capacity& cap, SizingFormula f, int indent) {
  nlohmann::json works = nlohmann::json::array();
  for (const auto& w : plan.work_info) {
    works.push_back({w.batch_idx, w.partial_o_loc, w.qo_start, w.qo_end, w.kv_start, w.kv_end, w.kv_offset,
                     w.q_head_range});
  }
  nlohmann::json finals = nlohmann::json::array();
  for (const auto& f2 : plan.reduce_final_map) finals.push_back({f2.qo_start, f2.qo_end});
  nlohmann::json j;
  j["work_indptr"] = plan.work_indptr;
  j["work_info"] = std::move(works);
  j["reduce_indptr"] = plan.reduce_indptr;
  j["reduce_final_map"] = std::move(finals);
  j["reduce_partial_map"] = plan.reduce_partial_map;
  j["capacity"] = {{"formula", sizing_name(f)},
                   {"work_indptr", cap.work_indptr},
                   {"work_info", cap.work_info},
                   {"reduce_indptr", cap.reduce_indptr},
                   {"reduce_final_map", cap.reduce_final_map},
                   {"reduce_partial_map", cap.reduce_partial_map}};
  return j.dump(indent);
}

}  // namespace mlaps
