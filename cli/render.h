#pragma once
// Plan renderings: JSON (upstream's arrays, trimmed), a per-thread-group text table, and an SVG picture.
#include <string>

#include <nlohmann/json.hpp>

#include "cost/model.h"
#include "scheduler/policy.h"
#include "scheduler/problem.h"
#include "scheduler/sizing.h"

namespace mlaps::cli {

// Golden-angle hues: neighbouring indices get distinct colours ("hsl(h,60%,<lightness>%)").
std::string tile_colour(int idx, int lightness = 62);
// Escapes <, > and & for SVG text and attributes.
std::string svg_escape(const std::string& s);

// `cost` (optional): each TG's modelled busy time in the first row of the TG.
std::string plan_text(const Problem& p, const Plan& plan, const Capacity& cap,
                      const cost::PlanCost* cost = nullptr);
// One row per thread group; bars are work items of the TG's first head, widths in KV pages, colour by
// query tile, partial_o_loc == -1 hatched red; a tooltip carries every field.
std::string plan_svg(const Problem& p, const Plan& plan);

// Heat map of a per-(row bucket, head) value grid (e.g. max |error|); NaN cells mean "unwritten" and are
// drawn magenta. grid is row-major [rows][cols].
std::string heatmap_svg(const std::string& title, const std::vector<double>& grid, int rows, int cols,
                        const std::string& row_label, const std::string& col_label, double vmax);

}  // namespace mlaps::cli
