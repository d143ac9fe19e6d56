#pragma once
// Renderings of the cost model: `mlaps cost` (JSON, text, Gantt SVG) and `mlaps compare` (JSON, text, bar
// SVG).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cost/model.h"
#include "cost/profile.h"
#include "scheduler/plan.h"
#include "scheduler/problem.h"

namespace mlaps::cli {

std::string cost_text(const Problem& p, const Plan& plan, const cost::PlanCost& c,
                      const cost::CostProfile& prof);
// Gantt chart: a row per TG (one cluster when the others repeat it), time across, items coloured by sequence,
// split pieces outlined, direct writes hatched red, the launch and the reduce, the makespan marked.
std::string cost_svg(const Problem& p, const Plan& plan, const cost::PlanCost& c,
                     const cost::CostProfile& prof);

struct CompareRow {
  int64_t batch = 0;
  cost::PlanCost cost;  // summed over the batch's kernel calls
};
struct CompareSummary {
  std::string policy;
  double geomean_total_ratio = 1, worst_total_ratio = 1, best_total_ratio = 1;
};
// rows: batch-major, policies in the given order within a batch.
std::vector<CompareSummary> compare_summary(const std::vector<std::string>& policies,
                                            const std::vector<CompareRow>& rows);
nlohmann::json compare_json(const std::string& profile, const std::vector<std::string>& policies,
                            const std::vector<CompareRow>& rows);
std::string compare_text(const std::string& source, const std::string& profile,
                         const std::vector<std::string>& policies, const std::vector<CompareRow>& rows);
std::string compare_svg(const std::string& source, const std::string& profile,
                        const std::vector<std::string>& policies, const std::vector<CompareRow>& rows);

}  // namespace mlaps::cli
