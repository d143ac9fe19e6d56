#include "cli/render_cost.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "cli/render.h"
#include "cost/report.h"
#include "scheduler/geometry.h"

namespace mlaps::cli {
namespace {

using nlohmann::json;

constexpr int kWholeLightness = 72;  // a query tile one work item covers whole
constexpr int kSplitLightness = 40;  // one piece of a tile split over several work items

// A "nice" tick step (1, 2 or 5 x 10^k) giving about `n` ticks over [0, span].
double tick_step(double span, int n) {
  if (!(span > 0)) return 1;
  const double raw = span / n;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * mag >= raw) return m * mag;
  }
  return 10 * mag;
}

std::string fmt_bytes(int64_t b) {
  if (b >= (int64_t{1} << 30)) return fmt::format("{:.2f} GiB", b / double(int64_t{1} << 30));
  if (b >= (1 << 20)) return fmt::format("{:.2f} MiB", b / double(1 << 20));
  if (b >= (1 << 10)) return fmt::format("{:.1f} KiB", b / 1024.0);
  return fmt::format("{} B", b);
}

bool same_pieces(const Plan& plan, int32_t a, int32_t b) {
  const int32_t ab = plan.work_indptr[a], ae = plan.work_indptr[a + 1];
  const int32_t bb = plan.work_indptr[b], be = plan.work_indptr[b + 1];
  if (ae - ab != be - bb) return false;
  for (int32_t i = 0; i < ae - ab; ++i) {
    const WorkInfo& x = plan.work_info[ab + i];
    const WorkInfo& y = plan.work_info[bb + i];
    if (x.batch_idx != y.batch_idx || x.partial_o_loc != y.partial_o_loc || x.qo_start != y.qo_start ||
        x.qo_end != y.qo_end || x.kv_start != y.kv_start || x.kv_end != y.kv_end ||
        cost::item_heads(x) != cost::item_heads(y)) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string cost_text(const Problem& p, const Plan& plan, const cost::PlanCost& c,
                      const cost::CostProfile& prof) {
  std::string s;
  s += fmt::format("policy {} | profile {} ({}) | {} sequences, {} K heads, {}, {} TGs on {} slots\n",
                   c.policy, prof.name, prof.status, p.batch(), p.num_heads_k,
                   p.causal ? "causal" : "non-causal", plan.num_tg(), prof.slots);
  s += fmt::format("total       {:10.2f} us = prefill {:.2f} (launch {:.2f} + slowest TG) + reduce {:.2f}\n",
                   c.total_us, c.prefill_us, prof.c[cost::kLaunch], c.reduce_us);
  s += fmt::format("lower bound {:10.2f} us (total / bound {:.3f}; largest indivisible piece {:.2f} us)\n",
                   c.lower_bound_us, c.lower_bound_us > 0 ? c.total_us / c.lower_bound_us : 1.0,
                   c.max_piece_us);
  s += fmt::format("imbalance   {:10.3f} (slowest / mean TG) | idle {:.1f}%\n", c.imbalance,
                   100 * c.idle_fraction);
  s += fmt::format(
      "works {} ({} direct-write) | partial slots {} | reduce entries {} ({} processed) | partial "
      "bytes {} ({})\n",
      c.works, c.direct_writes, c.partial_slots, c.reduce_entries, c.reduce_processed, c.partial_bytes,
      fmt_bytes(c.partial_bytes));
  if (!c.tg_us.empty()) {
    std::vector<double> t = c.tg_us;
    std::sort(t.begin(), t.end());
    s += fmt::format("TG busy (us): min {:.2f} | median {:.2f} | max {:.2f}\n", t.front(), t[t.size() / 2],
                     t.back());
  }
  if (!prof.calibrated()) {
    s += fmt::format("warning: profile {} is uncalibrated: its times are not measurements\n", prof.name);
  }
  return s;
}

std::string cost_svg(const Problem& p, const Plan& plan, const cost::PlanCost& c,
                     const cost::CostProfile& prof) {
  const int32_t ntg = plan.num_tg();
  // One cluster, when every other cluster repeats its pieces (contract 2.1).
  const ClusterGeometry geo = cluster_geometry(std::max(1, p.num_heads_k), std::max(1, p.num_cu));
  const int32_t clusters = geo.num_clusters;
  int32_t rows = ntg, repeats = 1;
  if (clusters > 1 && ntg == p.num_cu) {
    const int32_t tpc = geo.tgs_per_cluster;
    bool all = true;
    for (int32_t g = tpc; all && g < ntg; ++g) all = same_pieces(plan, g, g % tpc);
    if (all) {
      rows = tpc;
      repeats = clusters;
    }
  }
  // Pieces per query tile (first head of each TG): a tile with more than one piece is split.
  std::map<std::pair<int32_t, int32_t>, int> pieces;
  for (const WorkInfo& w : plan.work_info) {
    if (w.q_head_lo() == plan.work_info[0].q_head_lo()) pieces[{w.qo_start, w.qo_end}]++;
  }
  const double launch = prof.c[cost::kLaunch];
  const double span = std::max(c.total_us, 1e-9);
  const double left = 78, top = 100, width = 1000;
  const double row_h = rows > 128 ? 3.5 : rows > 64 ? 5 : rows > 32 ? 9 : 16;
  const double plot_h = row_h * rows;
  const double reduce_y = top + plot_h + 6, reduce_h = 14;
  const double axis_y = reduce_y + reduce_h + 6;
  const double legend_y = axis_y + 34;
  const double height = legend_y + 40;
  auto x_of = [&](double t) { return left + width * t / span; };
  std::string s = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{:.0f}' height='{:.0f}' font-family='monospace' "
      "font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n"
      "<defs><pattern id='direct' width='6' height='6' patternUnits='userSpaceOnUse' "
      "patternTransform='rotate(45)'><rect width='6' height='6' fill='#fbb'/><line x1='0' y1='0' x2='0' "
      "y2='6' "
      "stroke='#d00' stroke-width='3'/></pattern></defs>\n",
      left + width + 30, height);
  s += fmt::format(
      "<text x='10' y='18' font-size='13'>mlaps cost: policy {}, profile {} ({}), {} seqs, {} K heads, {}, "
      "{} "
      "TGs on {} slots</text>\n",
      svg_escape(c.policy), svg_escape(prof.name), svg_escape(prof.status), p.batch(), p.num_heads_k,
      p.causal ? "causal" : "non-causal", ntg, prof.slots);
  s += fmt::format(
      "<text x='10' y='34'>total {:.2f} us = prefill {:.2f} + reduce {:.2f}; lower bound {:.2f} us; "
      "imbalance "
      "{:.3f}; idle {:.1f}%</text>\n<text x='10' y='50'>{} works, {} partial slots, {} reduce entries, "
      "partial "
      "bytes {}</text>\n",
      c.total_us, c.prefill_us, c.reduce_us, c.lower_bound_us, c.imbalance, 100 * c.idle_fraction, c.works,
      c.partial_slots, c.reduce_entries, fmt_bytes(c.partial_bytes));
  s += fmt::format(
      "<text x='10' y='66'>{}</text>\n",
      repeats > 1
          ? fmt::format("one row per TG of cluster 0 (TGs 0..{}); the other {} clusters repeat it with "
                        "their own heads (same pieces, same times)",
                        rows - 1, repeats - 1)
          : fmt::format("one row per TG (all {})", ntg));
  if (!prof.calibrated()) {
    s += fmt::format(
        "<text x='500' y='66' fill='#c00'>profile {} is UNCALIBRATED: these times are not "
        "measurements</text>\n",
        svg_escape(prof.name));
  }
  // Time grid and ticks.
  const double step = tick_step(span, 10);
  for (double t = 0; t <= span * 1.0001; t += step) {
    const double x = x_of(t);
    s += fmt::format(
        "<line x1='{:.1f}' y1='{:.1f}' x2='{:.1f}' y2='{:.1f}' stroke='#ddd' stroke-width='0.5'/>\n", x, top,
        x, axis_y);
    s += fmt::format("<line x1='{:.1f}' y1='{:.1f}' x2='{:.1f}' y2='{:.1f}' stroke='#000'/>\n", x, axis_y, x,
                     axis_y + 4);
    s += fmt::format("<text x='{:.1f}' y='{:.1f}' text-anchor='middle'>{:g}</text>\n", x, axis_y + 15, t);
  }
  s += fmt::format("<line x1='{:.0f}' y1='{:.1f}' x2='{:.0f}' y2='{:.1f}' stroke='#000'/>\n", left, axis_y,
                   left + width, axis_y);
  s += fmt::format("<text x='{:.0f}' y='{:.1f}' text-anchor='middle'>time (us)</text>\n", left + width / 2,
                   axis_y + 28);
  // Launch band.
  s += fmt::format(
      "<rect x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='#eee'><title>launch {:.2f} "
      "us</title></rect>\n",
      left, top, x_of(launch) - left, plot_h, launch);
  const int label_every = rows <= 32 ? 1 : rows <= 64 ? 4 : 16;
  for (int32_t g = 0; g < rows; ++g) {
    const double y = top + g * row_h;
    if (g % label_every == 0) {
      s += fmt::format("<text x='{:.0f}' y='{:.1f}' text-anchor='end' font-size='{:.0f}'>TG {}</text>\n",
                       left - 4, y + std::min(row_h, 11.0) * 0.85, std::min(11.0, std::max(8.0, row_h + 2)),
                       g);
    }
    double t = launch + c.tg_start_us[g] + prof.c[cost::kTg];
    for (int32_t i = plan.work_indptr[g]; i < plan.work_indptr[g + 1]; ++i) {
      const WorkInfo& w = plan.work_info[i];
      const double d = cost::item_head_us(p, w, prof) * cost::item_heads(w);
      const auto it = pieces.find({w.qo_start, w.qo_end});
      const bool split = it != pieces.end() && it->second > 1;
      const std::string fill = w.partial_o_loc == -1
                                   ? "url(#direct)"
                                   : tile_colour(w.batch_idx, split ? kSplitLightness : kWholeLightness);
      s += fmt::format(
          "<rect x='{:.2f}' y='{:.1f}' width='{:.2f}' height='{:.1f}' fill='{}' stroke='#fff' "
          "stroke-width='{}'><title>TG {} work {} seq {} qo "
          "[{},{}) kv [{},{}) pol {} heads [{},{}): {:.3f} us{}</title></rect>\n",
          x_of(t), y, std::max(0.3, x_of(t + d) - x_of(t)), std::max(1.0, row_h - (row_h > 4 ? 1 : 0.5)),
          fill, row_h > 4 ? 0.6 : 0.3, g, i, w.batch_idx, w.qo_start, w.qo_end, w.kv_start, w.kv_end,
          w.partial_o_loc, w.q_head_lo(), w.q_head_hi(), d, split ? " (split piece)" : "");
      t += d;
    }
  }
  // Reduce after the prefill.
  s += fmt::format("<text x='{:.0f}' y='{:.1f}' text-anchor='end'>reduce</text>\n", left - 4, reduce_y + 11);
  if (c.reduce_us > 0) {
    s += fmt::format(
        "<rect x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='#9b7fd1'><title>reduce "
        "{:.2f} us: {} entries x {} heads</title></rect>\n",
        x_of(c.prefill_us), reduce_y, std::max(0.5, x_of(c.total_us) - x_of(c.prefill_us)), reduce_h,
        c.reduce_us, c.reduce_processed, p.num_heads_q());
  }
  // Makespan, total and lower bound.
  auto vline = [&](double t, const std::string& colour, const std::string& dash, const std::string& label,
                   double ly) {
    s += fmt::format(
        "<line x1='{:.1f}' y1='{:.0f}' x2='{:.1f}' y2='{:.1f}' stroke='{}' stroke-width='1.5' "
        "stroke-dasharray='{}'/>\n<text x='{:.1f}' y='{:.0f}' fill='{}' text-anchor='end'>{}</text>\n",
        x_of(t), top - 14, x_of(t), reduce_y + reduce_h, colour, dash, x_of(t) - 3, ly, colour, label);
  };
  vline(c.prefill_us, "#d00", "5,3", fmt::format("prefill makespan {:.2f} us", c.prefill_us), top - 4);
  if (c.reduce_us > 0) vline(c.total_us, "#60c", "5,3", fmt::format("total {:.2f} us", c.total_us), top - 16);
  const double lb_prefill = c.lower_bound_us - c.reduce_us;
  s += fmt::format(
      "<line x1='{:.1f}' y1='{:.0f}' x2='{:.1f}' y2='{:.1f}' stroke='#080' stroke-width='1' "
      "stroke-dasharray='2,2'><title>prefill lower bound {:.2f} us</title></line>\n",
      x_of(lb_prefill), top, x_of(lb_prefill), top + plot_h, lb_prefill);
  // Legend.
  double lx = left;
  auto legend = [&](const std::string& swatch, const std::string& label) {
    s += swatch;
    s += fmt::format("<text x='{:.0f}' y='{:.0f}'>{}</text>\n", lx + 16, legend_y + 10, svg_escape(label));
    lx += 24 + 7.0 * label.size();
  };
  const int32_t shown = std::min(p.batch(), 8);
  for (int32_t b = 0; b < shown; ++b) {
    legend(fmt::format("<rect x='{:.0f}' y='{:.0f}' width='12' height='12' fill='{}'/>", lx, legend_y,
                       tile_colour(b, kSplitLightness)),
           fmt::format("seq {}", b));
  }
  if (p.batch() > shown) legend("", fmt::format("... ({} seqs)", p.batch()));
  lx = left;
  const double ly2 = legend_y + 18;
  auto legend2 = [&](const std::string& swatch, const std::string& label) {
    s += swatch;
    s += fmt::format("<text x='{:.0f}' y='{:.0f}'>{}</text>\n", lx + 16, ly2 + 10, svg_escape(label));
    lx += 24 + 7.0 * label.size();
  };
  legend2(
      fmt::format("<rect x='{:.0f}' y='{:.0f}' width='6' height='12' fill='{}'/><rect x='{:.0f}' y='{:.0f}' "
                  "width='6' height='12' fill='{}'/>",
                  lx, ly2, tile_colour(0, kWholeLightness), lx + 6, ly2, tile_colour(0, kSplitLightness)),
      "light: whole tile, dark: split piece (merged by the reduce)");
  legend2(fmt::format("<rect x='{:.0f}' y='{:.0f}' width='12' height='12' fill='url(#direct)'/>", lx, ly2),
          "direct write (pol -1, no LSE)");
  legend2(fmt::format("<rect x='{:.0f}' y='{:.0f}' width='12' height='12' fill='#eee'/>", lx, ly2), "launch");
  legend2(fmt::format("<rect x='{:.0f}' y='{:.0f}' width='12' height='12' fill='#9b7fd1'/>", lx, ly2),
          "reduce");
  legend2(fmt::format(
              "<line x1='{:.0f}' y1='{:.0f}' x2='{:.0f}' y2='{:.0f}' stroke='#080' stroke-dasharray='2,2'/>",
              lx + 6, ly2, lx + 6, ly2 + 12),
          "prefill lower bound");
  s += "</svg>\n";
  return s;
}

std::vector<CompareSummary> compare_summary(const std::vector<std::string>& policies,
                                            const std::vector<CompareRow>& rows) {
  const size_t np = policies.size();
  std::vector<CompareSummary> out(np);
  std::vector<double> log_sum(np, 0);
  std::vector<int64_t> count(np, 0);
  for (size_t k = 0; k < np; ++k) {
    out[k].policy = policies[k];
    out[k].worst_total_ratio = 0;
    out[k].best_total_ratio = 0;
  }
  for (size_t r = 0; r + np <= rows.size(); r += np) {
    const double base = rows[r].cost.total_us;
    for (size_t k = 0; k < np; ++k) {
      const double ratio = base > 0 ? rows[r + k].cost.total_us / base : 1.0;
      log_sum[k] += std::log(ratio);
      out[k].worst_total_ratio = count[k] ? std::max(out[k].worst_total_ratio, ratio) : ratio;
      out[k].best_total_ratio = count[k] ? std::min(out[k].best_total_ratio, ratio) : ratio;
      ++count[k];
    }
  }
  for (size_t k = 0; k < np; ++k) {
    out[k].geomean_total_ratio = count[k] ? std::exp(log_sum[k] / count[k]) : 1.0;
    if (!count[k]) out[k].worst_total_ratio = out[k].best_total_ratio = 1.0;
  }
  return out;
}

json compare_json(const std::string& profile, const std::vector<std::string>& policies,
                  const std::vector<CompareRow>& rows) {
  json j;
  j["profile"] = profile;
  json arr = json::array();
  for (const CompareRow& r : rows) {
    json o = cost::cost_json(r.cost, true);  // tg_us: the batch's calls' TG times, one call after another
    o["batch"] = r.batch;
    o["calls"] = r.cost.calls;
    arr.push_back(std::move(o));
  }
  j["rows"] = std::move(arr);
  json sum = json::object();
  for (const CompareSummary& s : compare_summary(policies, rows)) {
    sum[s.policy] = {{"geomean_total_ratio", s.geomean_total_ratio},
                     {"worst_total_ratio", s.worst_total_ratio},
                     {"best_total_ratio", s.best_total_ratio}};
  }
  j["summary"] = std::move(sum);
  return j;
}

std::string compare_text(const std::string& source, const std::string& profile,
                         const std::vector<std::string>& policies, const std::vector<CompareRow>& rows) {
  const size_t np = policies.size();
  std::string s = fmt::format("compare {} | profile {} | {} batches | ratios against {}\n\n", source, profile,
                              rows.size() / std::max<size_t>(1, np), policies[0]);
  s += fmt::format("{:>6} {:<14} {:>5} {:>11} {:>10} {:>10} {:>7} {:>9} {:>7} {:>12} {:>7}\n", "batch",
                   "policy", "calls", "total us", "prefill", "reduce", "ratio", "imbalance", "works",
                   "partial B", "ratio");
  for (size_t r = 0; r + np <= rows.size(); r += np) {
    const cost::PlanCost& base = rows[r].cost;
    for (size_t k = 0; k < np; ++k) {
      const cost::PlanCost& c = rows[r + k].cost;
      s += fmt::format(
          "{:>6} {:<14} {:>5} {:>11.2f} {:>10.2f} {:>10.2f} {:>7.3f} {:>9.3f} {:>7} {:>12} {:>7.3f}\n",
          k == 0 ? std::to_string(rows[r].batch) : "", c.policy, c.calls, c.total_us, c.prefill_us,
          c.reduce_us, base.total_us > 0 ? c.total_us / base.total_us : 1.0, c.imbalance, c.works,
          c.partial_bytes, base.partial_bytes > 0 ? double(c.partial_bytes) / base.partial_bytes : 1.0);
    }
  }
  s += fmt::format("\n{:<14} {:>14} {:>12} {:>12}   (total time, policy / {})\n", "policy", "geomean ratio",
                   "worst", "best", policies[0]);
  for (const CompareSummary& x : compare_summary(policies, rows)) {
    s += fmt::format("{:<14} {:>14.4f} {:>12.4f} {:>12.4f}\n", x.policy, x.geomean_total_ratio,
                     x.worst_total_ratio, x.best_total_ratio);
  }
  return s;
}

std::string compare_svg(const std::string& source, const std::string& profile,
                        const std::vector<std::string>& policies, const std::vector<CompareRow>& rows) {
  const size_t np = policies.size();
  const size_t nb = rows.size() / std::max<size_t>(1, np);
  const auto summary = compare_summary(policies, rows);
  // Summary: per policy, best / geomean / worst ratio bars. Per batch (up to 128 batches): the ratio bars.
  double vmax = 1.0, vmin = 1.0;
  for (const auto& x : summary) {
    vmax = std::max(vmax, x.worst_total_ratio);
    vmin = std::min(vmin, x.best_total_ratio);
  }
  const bool per_batch = nb <= 128 && np > 1;
  const double left = 70, top = 70, plot_h = 260, width = 900;
  const double lo = std::max(0.0, std::floor(vmin * 10 - 1) / 10), hi = std::ceil(vmax * 10 + 0.5) / 10;
  auto y_of = [&](double v) { return top + plot_h * (1 - (v - lo) / (hi - lo)); };
  const double height = top + plot_h + 60 + (per_batch ? plot_h + 80 : 0) + 30;
  std::string s = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{:.0f}' height='{:.0f}' font-family='monospace' "
      "font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n",
      left + width + 40, height);
  s += fmt::format(
      "<text x='10' y='20' font-size='13'>mlaps compare: {}, profile {}, {} batches: total time of each "
      "policy / {}</text>\n",
      svg_escape(source), svg_escape(profile), nb, svg_escape(policies[0]));
  s += "<text x='10' y='38'>bars: best, geomean, worst ratio over the batches (lower is faster); dashed: "
       "1.0</text>\n";
  auto axis = [&](double y0, double y1, double v0, double v1) {
    const double step = tick_step(v1 - v0, 6);
    for (double v = std::ceil(v0 / step) * step; v <= v1 + 1e-9; v += step) {
      const double y = y1 - (y1 - y0) * (v - v0) / (v1 - v0);
      s += fmt::format(
          "<line x1='{:.0f}' y1='{:.1f}' x2='{:.0f}' y2='{:.1f}' stroke='#ddd'/><text x='{:.0f}' "
          "y='{:.1f}' text-anchor='end'>{:.2f}</text>\n",
          left, y, left + width, y, left - 4, y + 4, v);
    }
    const double y = y1 - (y1 - y0) * (1.0 - v0) / (v1 - v0);
    s += fmt::format(
        "<line x1='{:.0f}' y1='{:.1f}' x2='{:.0f}' y2='{:.1f}' stroke='#000' stroke-dasharray='4,3'/>\n",
        left, y, left + width, y);
    s += fmt::format(
        "<text x='14' y='{:.0f}' transform='rotate(-90 14 {:.0f})' text-anchor='middle'>ratio</text>\n",
        (y0 + y1) / 2, (y0 + y1) / 2);
  };
  axis(top, top + plot_h, lo, hi);
  const double gw = width / np;
  const char* kinds[3] = {"best", "geomean", "worst"};
  const char* colours[3] = {"#4a9", "#47c", "#c54"};
  for (size_t k = 0; k < np; ++k) {
    const double vals[3] = {summary[k].best_total_ratio, summary[k].geomean_total_ratio,
                            summary[k].worst_total_ratio};
    for (int b = 0; b < 3; ++b) {
      const double x = left + k * gw + gw * (0.15 + 0.23 * b), w = gw * 0.2;
      const double y = y_of(vals[b]), y1 = y_of(lo);
      s += fmt::format(
          "<rect x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='{}'><title>{} {} {:.4f}"
          "</title></rect>\n<text x='{:.1f}' y='{:.1f}' text-anchor='middle' font-size='10'>{:.3f}</text>\n",
          x, y, w, std::max(0.5, y1 - y), colours[b], svg_escape(policies[k]), kinds[b], vals[b], x + w / 2,
          y - 3, vals[b]);
    }
    s += fmt::format("<text x='{:.1f}' y='{:.0f}' text-anchor='middle'>{}</text>\n", left + k * gw + gw / 2,
                     top + plot_h + 16, svg_escape(policies[k]));
  }
  double lx = left;
  for (int b = 0; b < 3; ++b) {
    s += fmt::format(
        "<rect x='{:.0f}' y='{:.0f}' width='12' height='12' fill='{}'/><text x='{:.0f}' y='{:.0f}'>{}"
        "</text>\n",
        lx, top + plot_h + 28, colours[b], lx + 16, top + plot_h + 38, kinds[b]);
    lx += 100;
  }
  if (per_batch) {
    const double t2 = top + plot_h + 80;
    double bmax = 1.0, bmin = 1.0;
    for (size_t r = 0; r + np <= rows.size(); r += np) {
      for (size_t k = 0; k < np; ++k) {
        const double v = rows[r].cost.total_us > 0 ? rows[r + k].cost.total_us / rows[r].cost.total_us : 1.0;
        bmax = std::max(bmax, v);
        bmin = std::min(bmin, v);
      }
    }
    const double blo = std::max(0.0, std::floor(bmin * 10 - 1) / 10), bhi = std::ceil(bmax * 10 + 0.5) / 10;
    s += fmt::format(
        "<text x='10' y='{:.0f}' font-size='13'>per batch (x: batch index; one bar per policy after the "
        "first)</text>\n",
        t2 - 12);
    axis(t2, t2 + plot_h, blo, bhi);
    const double bw = width / nb;
    for (size_t r = 0, bi = 0; r + np <= rows.size(); r += np, ++bi) {
      for (size_t k = 1; k < np; ++k) {
        const double v = rows[r].cost.total_us > 0 ? rows[r + k].cost.total_us / rows[r].cost.total_us : 1.0;
        const double y = t2 + plot_h * (1 - (v - blo) / (bhi - blo)), y1 = t2 + plot_h;
        const double w = bw * 0.8 / (np - 1), x = left + bi * bw + bw * 0.1 + (k - 1) * w;
        s += fmt::format(
            "<rect x='{:.2f}' y='{:.1f}' width='{:.2f}' height='{:.1f}' fill='{}'><title>batch {} {} "
            "{:.4f}</title></rect>\n",
            x, y, std::max(0.3, w), std::max(0.5, y1 - y), tile_colour(static_cast<int>(k)), rows[r].batch,
            svg_escape(policies[k]), v);
      }
      if (nb <= 32 || bi % (nb / 16) == 0) {
        s += fmt::format("<text x='{:.1f}' y='{:.0f}' text-anchor='middle' font-size='9'>{}</text>\n",
                         left + bi * bw + bw / 2, t2 + plot_h + 12, rows[r].batch);
      }
    }
    lx = left;
    for (size_t k = 1; k < np; ++k) {
      s += fmt::format(
          "<rect x='{:.0f}' y='{:.0f}' width='12' height='12' fill='{}'/><text x='{:.0f}' "
          "y='{:.0f}'>{}</text>\n",
          lx, t2 + plot_h + 22, tile_colour(static_cast<int>(k)), lx + 16, t2 + plot_h + 32,
          svg_escape(policies[k]));
      lx += 24 + 7.0 * policies[k].size();
    }
  }
  s += "</svg>\n";
  return s;
}

}  // namespace mlaps::cli
