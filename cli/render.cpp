#include "cli/render.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <fmt/format.h>

namespace mlaps::cli {

std::string plan_text(const Problem& p, const Plan& plan, const Capacity& cap, const cost::PlanCost* cost) {
  std::string s;
  const ClusterGeometry geo = cluster_geometry(p);
  const auto tiles = make_query_tiles(p);
  int32_t minus_one = 0;
  for (const auto& w : plan.work_info) minus_one += w.partial_o_loc == -1;
  s += fmt::format(
      "policy {} | {} sequences, {} K heads x gqa {}, {} CUs = {} clusters x {} TGs, {}, block_size {}\n",
      plan.policy, p.batch(), p.num_heads_k, p.gqa_ratio, p.num_cu, geo.num_clusters, geo.tgs_per_cluster,
      p.causal ? "causal" : "non-causal", p.block_size);
  s += fmt::format(
      "query tiles {} | works {} (capacity {}) | direct-write works (pol -1) {} | reduce entries {} "
      "(capacity {}) | partials {} (capacity {})\n\n",
      tiles.size(), plan.num_works(), cap.work_info, minus_one, plan.num_reduce_entries(),
      cap.reduce_final_map, plan.reduce_partial_map.size(), cap.reduce_partial_map);
  if (cost) {
    s += fmt::format(
        "modelled on profile {}: prefill {:.2f} us + reduce {:.2f} us = {:.2f} us, imbalance {:.3f} (TG us: "
        "each TG's busy time)\n\n",
        cost->profile, cost->prefill_us, cost->reduce_us, cost->total_us, cost->imbalance);
  }
  s += fmt::format("{:>5} {:>6} {:>5} {:>15} {:>17} {:>8} {:>7} {:>9}{}\n", "TG", "work", "batch",
                   "qo [start,end)", "kv [start,end)", "kv_off", "pol", "q heads",
                   cost ? fmt::format(" {:>9}", "TG us") : "");
  for (int32_t tg = 0; tg < plan.num_tg(); ++tg) {
    const int32_t b = plan.work_indptr[tg], e = plan.work_indptr[tg + 1];
    const std::string tg_us = cost && tg < static_cast<int32_t>(cost->tg_us.size())
                                  ? fmt::format(" {:>9.2f}", cost->tg_us[tg])
                                  : "";
    if (b == e) {
      s += fmt::format("{:>5} {:>6} {:>5} {:>15} {:>17} {:>8} {:>7} {:>9}{}\n", tg, "-", "", "", "", "", "",
                       "", tg_us);
      continue;
    }
    for (int32_t i = b; i < e; ++i) {
      const auto& w = plan.work_info[i];
      s += fmt::format("{:>5} {:>6} {:>5} {:>15} {:>17} {:>8} {:>7} {:>9}{}\n",
                       i == b ? std::to_string(tg) : "", i, w.batch_idx,
                       fmt::format("[{},{})", w.qo_start, w.qo_end),
                       fmt::format("[{},{})", w.kv_start, w.kv_end), w.kv_offset, w.partial_o_loc,
                       fmt::format("[{},{})", w.q_head_lo(), w.q_head_hi()), i == b ? tg_us : "");
    }
  }
  s += "\nreduce entries (final rows <- partial rows):\n";
  for (int32_t t = 0; t < plan.num_reduce_entries(); ++t) {
    std::string parts;
    for (int32_t i = plan.reduce_indptr[t]; i < plan.reduce_indptr[t + 1]; ++i) {
      parts += fmt::format("{}{}", i == plan.reduce_indptr[t] ? "" : ",", plan.reduce_partial_map[i]);
    }
    s += fmt::format("  [{},{}) <- {{{}}}\n", plan.reduce_final_map[t].qo_start,
                     plan.reduce_final_map[t].qo_end, parts);
  }
  return s;
}

std::string tile_colour(int idx, int lightness) {
  // Golden-angle hues: neighbouring tiles get distinct colours.
  const double h = std::fmod(idx * 137.508, 360.0);
  return fmt::format("hsl({:.0f},60%,{}%)", h, lightness);
}
std::string svg_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else
      o += c;
  }
  return o;
}

std::string plan_svg(const Problem& p, const Plan& plan) {
  const int32_t ntg = plan.num_tg();
  // Per TG: works of the first head only (the others repeat the same partition, contract 2.1).
  std::map<std::pair<int32_t, int32_t>, int> tile_index;  // (qo_start, qo_end) -> colour index
  for (const auto& t : make_query_tiles(p)) {
    tile_index.emplace(std::make_pair(t.qo_start, t.qo_end), static_cast<int>(tile_index.size()));
  }
  int64_t max_load = 1;
  std::vector<std::vector<const WorkInfo*>> rows(ntg);
  for (int32_t tg = 0; tg < ntg; ++tg) {
    int64_t load = 0;
    const int32_t b = plan.work_indptr[tg], e = plan.work_indptr[tg + 1];
    for (int32_t i = b; i < e; ++i) {
      const auto& w = plan.work_info[i];
      if (i > b && w.q_head_range != plan.work_info[b].q_head_range) break;
      rows[tg].push_back(&w);
      load += w.kv_len();  // 0 for an empty or inverted range: a dump's fields are untrusted
    }
    max_load = std::max(max_load, load);
  }
  const double row_h = ntg > 128 ? 5.0 : ntg > 32 ? 10.0 : 18.0;
  const double left = 70, top = 60, width = 900;
  const double height = top + row_h * ntg + 40;
  std::string s = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{:.0f}' height='{:.0f}' font-family='monospace' "
      "font-size='11'>\n<defs><pattern id='direct' width='6' height='6' patternUnits='userSpaceOnUse' "
      "patternTransform='rotate(45)'><rect width='6' height='6' fill='#fdd'/><line x1='0' y1='0' x2='0' "
      "y2='6' "
      "stroke='#d00' stroke-width='3'/></pattern></defs>\n",
      left + width + 20, height);
  int32_t direct = 0;
  for (const auto& w : plan.work_info) direct += w.partial_o_loc == -1;
  s += fmt::format(
      "<text x='10' y='18' font-size='13'>mlaps plan: policy {}, {} seqs, {} K heads, {} TGs, {} works, {} "
      "reduce entries, {} direct-write (pol -1) works</text>\n",
      plan.policy, p.batch(), p.num_heads_k, ntg, plan.num_works(), plan.num_reduce_entries(), direct);
  s += fmt::format(
      "<text x='10' y='36'>one row per thread group (first head of its cluster); bar width = KV pages; "
      "colour = "
      "query tile; red hatch = partial_o_loc -1 (no LSE written)</text>\n");
  s += fmt::format(
      "<text x='{:.0f}' y='52'>0</text><text x='{:.0f}' y='52' text-anchor='end'>{} pages</text>\n", left,
      left + width, max_load);
  const double scale = width / static_cast<double>(max_load);
  for (int32_t tg = 0; tg < ntg; ++tg) {
    const double y = top + tg * row_h;
    if (row_h >= 10 || tg % 16 == 0) {
      s += fmt::format("<text x='{:.0f}' y='{:.1f}' text-anchor='end' font-size='{:.0f}'>TG {}</text>\n",
                       left - 4, y + row_h * 0.8, std::min(11.0, row_h + 2), tg);
    }
    double x = left;
    for (const WorkInfo* w : rows[tg]) {
      const double wd = std::max(1.0, static_cast<double>(w->kv_len()) * scale);
      const auto it = tile_index.find({w->qo_start, w->qo_end});
      const std::string fill =
          w->partial_o_loc == -1 ? "url(#direct)" : tile_colour(it == tile_index.end() ? 0 : it->second);
      const std::string tip =
          fmt::format("TG {} batch {} qo [{},{}) kv [{},{}) kv_offset {} partial_o_loc {} heads [{},{})", tg,
                      w->batch_idx, w->qo_start, w->qo_end, w->kv_start, w->kv_end, w->kv_offset,
                      w->partial_o_loc, w->q_head_lo(), w->q_head_hi());
      s += fmt::format(
          "<rect x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='{}' stroke='#333' "
          "stroke-width='0.3'><title>{}</title></rect>\n",
          x, y, wd, row_h - 1, fill, svg_escape(tip));
      x += wd;
    }
  }
  s += "</svg>\n";
  return s;
}

std::string heatmap_svg(const std::string& title, const std::vector<double>& grid, int rows, int cols,
                        const std::string& row_label, const std::string& col_label, double vmax) {
  const double cw = std::clamp(800.0 / std::max(1, cols), 4.0, 40.0);
  const double ch = std::clamp(600.0 / std::max(1, rows), 3.0, 24.0);
  const double left = 80, top = 50;
  std::string s = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{:.0f}' height='{:.0f}' font-family='monospace' "
      "font-size='11'>\n<text x='10' y='18' font-size='13'>{}</text>\n"
      "<text x='10' y='36'>x: {} ({}), y: {} ({}); colour 0 (white) .. {:.3g} (dark red); magenta = output "
      "or final LSE "
      "unwritten</text>\n",
      left + cw * cols + 20, top + ch * rows + 20, svg_escape(title), svg_escape(col_label), cols,
      svg_escape(row_label), rows, vmax);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const double v = grid[static_cast<size_t>(r) * cols + c];
      std::string fill;
      if (std::isnan(v)) {
        fill = "#f0f";
      } else {
        const double t = vmax > 0 ? std::clamp(v / vmax, 0.0, 1.0) : 0.0;
        fill = fmt::format("rgb({},{},{})", static_cast<int>(255 - 115 * t), static_cast<int>(255 - 255 * t),
                           static_cast<int>(255 - 255 * t));
      }
      s += fmt::format(
          "<rect x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='{}'><title>{} {}, {} "
          "{}: {:.4g}</title></rect>\n",
          left + c * cw, top + r * ch, cw, ch, fill, svg_escape(row_label), r, svg_escape(col_label), c, v);
    }
  }
  s += "</svg>\n";
  return s;
}

}  // namespace mlaps::cli
