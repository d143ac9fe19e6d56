#include "cost/model.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <queue>

#include <fmt/format.h>

#include "scheduler/error.h"
#include "scheduler/geometry.h"

namespace mlaps::cost {
namespace {

constexpr const char* kNames[kNumCoeffs] = {"launch_us",
                                            "tg_us",
                                            "item_us",
                                            "q_row_us",
                                            "pass_full_us",
                                            "row_full_us",
                                            "pass_masked_us",
                                            "row_masked_us",
                                            "pass_empty_us",
                                            "row_empty_us",
                                            "write_partial_row_us",
                                            "write_direct_row_us",
                                            "reduce_launch_us",
                                            "reduce_block_us",
                                            "reduce_simple_read_us",
                                            "reduce_massive_read_us",
                                            "reduce_write_row_us"};

// Floor division for possibly negative numerators (positive divisor).
int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}
int64_t ceil_div(int64_t a, int64_t b) {
  return a <= 0 ? 0 : (a + b - 1) / b;
}

void check_batch(const Problem& p, const WorkInfo& w, int64_t i) {
  if (w.batch_idx < 0 || w.batch_idx >= p.batch()) {
    throw InputError("plan",
                     fmt::format("work_info[{}].batch_idx {} is outside [0, {})", i, w.batch_idx, p.batch()));
  }
}

// Everything a TG contributes, so that a TG repeating another's pieces copies it whole.
struct TgAgg {
  double busy = 0;
  double max_item = 0;
  int64_t partial_written = 0;  // (row, head) pairs
  int64_t direct = 0;
};

// The 7 fields that decide a work item's cost (q_head_range aside: only its width counts).
bool same_geometry(const WorkInfo& a, const WorkInfo& b) {
  return a.batch_idx == b.batch_idx && a.partial_o_loc == b.partial_o_loc && a.qo_start == b.qo_start &&
         a.qo_end == b.qo_end && a.kv_start == b.kv_start && a.kv_end == b.kv_end &&
         item_heads(a) == item_heads(b);
}

}  // namespace

const char* coeff_name(int c) {
  return c >= 0 && c < kNumCoeffs ? kNames[c] : "?";
}

int32_t item_heads(const WorkInfo& w) {
  return std::max(0, w.q_head_hi() - w.q_head_lo());
}

SubTileCounts sub_tiles(const Problem& p, const WorkInfo& w) {
  SubTileCounts s;
  const int64_t keys = std::max(0, w.kv_end - w.kv_start);
  const int64_t nsub = ceil_div(keys, kSubTileKeys);
  if (nsub == 0) return s;
  if (!p.causal) {
    s.full = static_cast<int32_t>(nsub);
    return s;
  }
  const int32_t b = w.batch_idx;
  const int64_t qo_len = p.qo_indptr[b + 1] - p.qo_indptr[b];
  const int64_t kv_len = p.kv_indptr[b + 1] - p.kv_indptr[b];
  const int64_t d = kv_len - qo_len;
  const int64_t i0 = w.qo_start - p.qo_indptr[b];
  const int64_t i1 = w.qo_end - p.qo_indptr[b];  // exclusive
  const int64_t js = w.kv_start - p.kv_indptr[b];
  // Full: the first row sees the sub-tile's last key. Non-last sub-tile t ends at js + 128 t + 127.
  const int64_t first_row_sees = i0 + d;
  int64_t full =
      std::clamp<int64_t>(floor_div(first_row_sees - js - (kSubTileKeys - 1), kSubTileKeys) + 1, 0, nsub - 1);
  if (full == nsub - 1 && js + keys - 1 <= first_row_sees) full = nsub;
  // Empty: the last row sees none of the sub-tile's keys (first key js + 128 t > (i1 - 1) + d).
  const int64_t last_row_sees = i1 - 1 + d;
  const int64_t seen = std::clamp<int64_t>(floor_div(last_row_sees - js, kSubTileKeys) + 1, 0, nsub);
  const int64_t empty = nsub - seen;
  s.full = static_cast<int32_t>(full);
  s.empty = static_cast<int32_t>(std::min(empty, nsub - full));
  s.masked = static_cast<int32_t>(nsub - full - s.empty);
  return s;
}

Features item_head_features(const Problem& p, const WorkInfo& w, const CostProfile& prof) {
  Features f{};
  const int64_t rows = std::max(0, w.qo_end - w.qo_start);
  const double rpad = static_cast<double>(ceil_div(rows, prof.row_quantum) * prof.row_quantum);
  const double passes = static_cast<double>(ceil_div(rows, prof.rows_per_pass));
  const SubTileCounts s = sub_tiles(p, w);
  f[kItem] = 1;
  f[kQRow] = rpad;
  f[kPassFull] = passes * s.full;
  f[kRowFull] = rpad * s.full;
  f[kPassMasked] = passes * s.masked;
  f[kRowMasked] = rpad * s.masked;
  f[kPassEmpty] = passes * s.empty;
  f[kRowEmpty] = rpad * s.empty;
  (w.partial_o_loc >= 0 ? f[kWritePartialRow] : f[kWriteDirectRow]) = static_cast<double>(rows);
  return f;
}

double item_head_us(const Problem& p, const WorkInfo& w, const CostProfile& prof) {
  const Features f = item_head_features(p, w, prof);
  double t = 0;
  for (int k = kItem; k <= kWriteDirectRow; ++k) t += prof.c[k] * f[k];
  return t;
}

ReduceCost reduce_cost(const Problem& p, const Plan& plan, const CostProfile& prof) {
  ReduceCost r;
  const bool fixed = plan.reduce == ReduceVersion::kFixed;
  const int64_t heads = p.num_heads_q();
  const int64_t nfin = plan.num_reduce_entries();
  if (plan.reduce_indptr.size() < static_cast<size_t>(nfin) + 1) {
    throw InputError("plan", "reduce_indptr is shorter than reduce_final_map + 1");
  }
  // Which entries the reduce processes, and (reduce_fill) how many blocks share an entry's rows.
  auto processed = [&](int64_t t) {
    const int64_t start = plan.reduce_indptr[t], end = plan.reduce_indptr[t + 1];
    const int64_t n = end - start;
    if (n <= 0) return false;
    if (start < 0 || end > static_cast<int64_t>(plan.reduce_partial_map.size())) {
      throw InputError("plan", fmt::format("reduce entry {} indexes outside reduce_partial_map", t));
    }
    return !(n == 1 && (!fixed || plan.reduce_partial_map[start] == -1));
  };
  int64_t wg = 1;
  if (prof.reduce_fill) {
    int64_t entries = 0;
    for (int64_t t = 0; t < nfin; ++t) entries += processed(t);
    for (const int64_t w : {1, 2, 4, 8, 16, 64, 256}) {
      wg = w;
      if (entries * heads * w >= prof.reduce_slots) break;
    }
  }
  double sum = 0, max_block = 0;
  double f_block = 0, f_simple = 0, f_massive = 0, f_write = 0;
  for (int64_t t = 0; t < nfin; ++t) {
    if (!processed(t)) continue;
    const int64_t n = plan.reduce_indptr[t + 1] - plan.reduce_indptr[t];
    const int64_t rows_e = std::max(0, plan.reduce_final_map[t].qo_end - plan.reduce_final_map[t].qo_start);
    const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(wg, rows_e));
    const double rows = static_cast<double>((rows_e + blocks - 1) / blocks);  // rows of the largest block
    const bool massive = n >= kMassiveFrom;
    const double reads = rows * static_cast<double>(n);
    const double block = prof.c[kReduceBlock] +
                         reads * prof.c[massive ? kReduceMassiveRead : kReduceSimpleRead] +
                         rows * prof.c[kReduceWriteRow];
    const double all_reads = static_cast<double>(rows_e * n);
    sum += (prof.c[kReduceBlock] * blocks +
            all_reads * prof.c[massive ? kReduceMassiveRead : kReduceSimpleRead] +
            rows_e * prof.c[kReduceWriteRow]) *
           heads;
    if (block > max_block || r.processed == 0) {
      max_block = block;
      r.max_block_features = {};
      r.max_block_features[kReduceLaunch] = 1;
      r.max_block_features[kReduceBlock] = 1;
      r.max_block_features[massive ? kReduceMassiveRead : kReduceSimpleRead] = reads;
      r.max_block_features[kReduceWriteRow] = rows;
    }
    f_block += static_cast<double>(blocks * heads);
    (massive ? f_massive : f_simple) += all_reads * heads;
    f_write += static_cast<double>(rows_e * heads);
    r.partial_bytes_read += rows_e * n * heads * kPartialRowBytes;
    ++r.processed;
  }
  if (r.processed > 0) {
    r.sum_branch = sum / prof.reduce_slots >= max_block;
    r.us = prof.c[kReduceLaunch] + std::max(sum / prof.reduce_slots, max_block);
    const double inv = 1.0 / prof.reduce_slots;
    r.features[kReduceLaunch] = 1;
    r.features[kReduceBlock] = f_block * inv;
    r.features[kReduceSimpleRead] = f_simple * inv;
    r.features[kReduceMassiveRead] = f_massive * inv;
    r.features[kReduceWriteRow] = f_write * inv;
  }
  return r;
}

PlanCost evaluate(const Problem& p, const Plan& plan, const CostProfile& prof) {
  PlanCost pc;
  pc.policy = plan.policy;
  pc.profile = prof.name;
  const int32_t ntg = plan.num_tg();
  if (ntg < 0 || (ntg > 0 && (plan.work_indptr[0] != 0 || plan.work_indptr[ntg] != plan.num_works()))) {
    throw InputError("plan", "work_indptr does not span work_info");
  }
  pc.works = plan.num_works();
  pc.partial_slots = static_cast<int64_t>(plan.reduce_partial_map.size());
  pc.reduce_entries = plan.num_reduce_entries();
  pc.tg_us.assign(std::max(0, ntg), 0.0);
  pc.tg_start_us.assign(std::max(0, ntg), 0.0);

  // TGs of one cluster size apart repeat the same pieces (contract 2.1): compare and copy.
  const int32_t tpc =
      ntg == p.num_cu ? cluster_geometry(std::max(1, p.num_heads_k), std::max(1, p.num_cu)).tgs_per_cluster
                      : 0;
  std::vector<TgAgg> agg(std::max(0, ntg));
  const WorkInfo* works = plan.work_info.data();
  for (int32_t g = 0; g < ntg; ++g) {
    const int32_t b = plan.work_indptr[g], e = plan.work_indptr[g + 1];
    if (b > e || b < 0 || e > plan.num_works()) throw InputError("plan", "work_indptr is not monotone");
    if (tpc > 0 && g >= tpc) {
      const int32_t rb = plan.work_indptr[g - tpc], re = plan.work_indptr[g - tpc + 1];
      bool same = re - rb == e - b;
      for (int32_t i = 0; same && i < e - b; ++i) same = same_geometry(works[b + i], works[rb + i]);
      if (same) {
        agg[g] = agg[g - tpc];
        continue;
      }
    }
    TgAgg a;
    a.busy = prof.c[kTg];
    // Consecutive items of one geometry (other heads' copies) reuse the previous cost.
    const WorkInfo* prev = nullptr;
    double prev_us = 0;
    for (int32_t i = b; i < e; ++i) {
      const WorkInfo& w = works[i];
      double us;
      if (prev && prev->batch_idx == w.batch_idx && prev->partial_o_loc == w.partial_o_loc &&
          prev->qo_start == w.qo_start && prev->qo_end == w.qo_end && prev->kv_start == w.kv_start &&
          prev->kv_end == w.kv_end) {
        us = prev_us;
      } else {
        check_batch(p, w, i);
        us = item_head_us(p, w, prof);
      }
      prev = &w;
      prev_us = us;
      const int32_t h = item_heads(w);
      a.busy += us * h;
      a.max_item = std::max(a.max_item, us);
      if (w.partial_o_loc >= 0) {
        a.partial_written += static_cast<int64_t>(std::max(0, w.qo_end - w.qo_start)) * h;
      } else {
        ++a.direct;
      }
    }
    agg[g] = a;
  }

  double sum = 0, max_busy = 0, max_item = 0;
  int64_t written = 0;
  for (int32_t g = 0; g < ntg; ++g) {
    pc.tg_us[g] = agg[g].busy;
    sum += agg[g].busy;
    max_busy = std::max(max_busy, agg[g].busy);
    max_item = std::max(max_item, agg[g].max_item);
    written += agg[g].partial_written;
    pc.direct_writes += agg[g].direct;
  }
  // Placement onto slots in launch order.
  const int32_t slots = std::max(1, prof.slots);
  double makespan = 0;
  if (ntg <= slots) {
    makespan = max_busy;
  } else {
    using Slot = std::pair<double, int32_t>;  // (free at, index)
    std::priority_queue<Slot, std::vector<Slot>, std::greater<>> free_at;
    for (int32_t s = 0; s < slots; ++s) free_at.push({0.0, s});
    for (int32_t g = 0; g < ntg; ++g) {
      const Slot s = free_at.top();
      free_at.pop();
      pc.tg_start_us[g] = s.first;
      const double end = s.first + pc.tg_us[g];
      makespan = std::max(makespan, end);
      free_at.push({end, s.second});
    }
  }
  const double launch = prof.c[kLaunch];
  pc.prefill_us = ntg > 0 ? launch + makespan : 0.0;
  const ReduceCost rc = reduce_cost(p, plan, prof);
  pc.reduce_us = rc.us;
  pc.reduce_processed = rc.processed;
  pc.total_us = pc.prefill_us + pc.reduce_us;
  pc.partial_bytes = written * kPartialRowBytes + rc.partial_bytes_read;
  pc.max_piece_us = prof.c[kTg] + max_item;
  const int32_t places = std::min(std::max(ntg, 1), slots);
  pc.lower_bound_us = (ntg > 0 ? launch + std::max(sum / places, pc.max_piece_us) : 0.0) + pc.reduce_us;
  const double mean = ntg > 0 ? sum / ntg : 0.0;
  pc.max_tg_us = max_busy;
  pc.mean_tg_us = mean;
  pc.busy_sum_us = sum;
  pc.places = ntg > 0 ? places : 0;
  pc.area_us = pc.places * makespan;
  // max >= mean; the division can land a rounding step below 1 for equal TGs.
  pc.imbalance = mean > 0 ? std::max(1.0, max_busy / mean) : 1.0;
  pc.idle_fraction = makespan > 0 ? std::max(0.0, 1.0 - sum / (places * makespan)) : 0.0;
  return pc;
}

PlanCost combine(const std::vector<PlanCost>& calls) {
  PlanCost t;
  if (calls.empty()) return t;
  t.policy = calls[0].policy;
  t.profile = calls[0].profile;
  t.calls = 0;
  double sum_max = 0, sum_mean = 0, sum_area = 0;
  for (const PlanCost& c : calls) {
    t.prefill_us += c.prefill_us;
    t.reduce_us += c.reduce_us;
    t.total_us += c.total_us;
    t.lower_bound_us += c.lower_bound_us;
    t.works += c.works;
    t.partial_slots += c.partial_slots;
    t.reduce_entries += c.reduce_entries;
    t.partial_bytes += c.partial_bytes;
    t.direct_writes += c.direct_writes;
    t.reduce_processed += c.reduce_processed;
    t.max_piece_us = std::max(t.max_piece_us, c.max_piece_us);
    t.busy_sum_us += c.busy_sum_us;
    t.calls += c.calls;
    t.tg_us.insert(t.tg_us.end(), c.tg_us.begin(), c.tg_us.end());
    sum_max += c.max_tg_us;
    sum_mean += c.mean_tg_us;
    sum_area += c.area_us;
  }
  t.max_tg_us = sum_max;
  t.mean_tg_us = sum_mean;
  t.imbalance = sum_mean > 0 ? sum_max / sum_mean : 1.0;
  t.idle_fraction = sum_area > 0 ? std::max(0.0, 1.0 - t.busy_sum_us / sum_area) : 0.0;
  return t;
}

}  // namespace mlaps::cost
