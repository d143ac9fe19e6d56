#include "cost/model.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <numeric>
#include <queue>

#include <fmt/format.h>

#include "cost/same_pieces.h"
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

[[noreturn, gnu::noinline, gnu::cold]] void bad_batch(const Problem& p, const WorkInfo& w, int64_t i) {
  throw InputError("plan",
                   fmt::format("work_info[{}].batch_idx {} is outside [0, {})", i, w.batch_idx, p.batch()));
}
inline void check_batch(const Problem& p, const WorkInfo& w, int64_t i) {
  if (w.batch_idx < 0 || w.batch_idx >= p.batch()) bad_batch(p, w, i);
}

// Ceiling division by a divisor fixed for a whole evaluation (the profile's row_quantum, rows_per_pass): a
// shift when it is a power of two, as both built-in profiles' are, else a division.
class CeilDiv {
 public:
  explicit CeilDiv(int64_t d) : d_(std::max<int64_t>(1, d)) {
    if ((d_ & (d_ - 1)) == 0) shift_ = std::countr_zero(static_cast<uint64_t>(d_));
  }
  int64_t operator()(int64_t a) const {
    if (a <= 0) return 0;
    return shift_ >= 0 ? (a + d_ - 1) >> shift_ : (a + d_ - 1) / d_;
  }
  int64_t divisor() const { return d_; }

 private:
  int64_t d_;
  int shift_ = -1;
};

// One (work item, head) as the model sees it: rows, padded rows, row passes, sub-tiles by kind, the write.
struct ItemShape {
  int64_t rows;
  double rpad, passes;
  SubTileCounts s;
  bool partial;
};
ItemShape shape_of(const Problem& p, const WorkInfo& w, const CeilDiv& quantum, const CeilDiv& pass) {
  const int64_t rows = w.qo_rows();
  return {rows, static_cast<double>(quantum(rows) * quantum.divisor()), static_cast<double>(pass(rows)),
          sub_tiles(p, w), w.partial_o_loc >= 0};
}

// The features of one (work item, head) (model.h).
Features features_of(const ItemShape& x) {
  Features f{};
  f[kItem] = 1;
  f[kQRow] = x.rpad;
  f[kPassFull] = x.passes * x.s.full;
  f[kRowFull] = x.rpad * x.s.full;
  f[kPassMasked] = x.passes * x.s.masked;
  f[kRowMasked] = x.rpad * x.s.masked;
  f[kPassEmpty] = x.passes * x.s.empty;
  f[kRowEmpty] = x.rpad * x.s.empty;
  (x.partial ? f[kWritePartialRow] : f[kWriteDirectRow]) = static_cast<double>(x.rows);
  return f;
}

// sum_k c[k] * f[k] over kItem .. kWriteDirectRow, in that order, of features_of(x): the same operations on
// the same values, less the terms whose feature is 0 (each would add +0.0, which changes no sum of these
// non-negative terms), so bit-identical to the dot product and shorter on its dependency chain.
double cost_of(const CostProfile& prof, const ItemShape& x) {
  const auto& c = prof.c;
  double t = c[kItem] * 1.0;
  if (x.rpad != 0) t += c[kQRow] * x.rpad;
  if (x.s.full != 0) {
    t += c[kPassFull] * (x.passes * x.s.full);
    t += c[kRowFull] * (x.rpad * x.s.full);
  }
  if (x.s.masked != 0) {
    t += c[kPassMasked] * (x.passes * x.s.masked);
    t += c[kRowMasked] * (x.rpad * x.s.masked);
  }
  if (x.s.empty != 0) {
    t += c[kPassEmpty] * (x.passes * x.s.empty);
    t += c[kRowEmpty] * (x.rpad * x.s.empty);
  }
  if (x.rows != 0) t += c[x.partial ? kWritePartialRow : kWriteDirectRow] * static_cast<double>(x.rows);
  return t;
}

// Whether two work items cost the same per head. The slot itself and kv_offset never change the cost, only
// whether it is a partial or a direct write. Causal: the same sequence, rows and keys (the mask depends on
// where the piece sits in its sequence); qo_start .. kv_end are four adjacent int32 (work_info.h's layout
// asserts), compared as 16 bytes. Non-causal: every sub-tile is full, so the cost depends on the row and key
// counts only (shape_of, sub_tiles) and pieces of different sequences with the same counts share it.
bool same_cost(const WorkInfo& a, const WorkInfo& b, bool causal) {
  if ((a.partial_o_loc >= 0) != (b.partial_o_loc >= 0)) return false;
  if (causal)
    return a.batch_idx == b.batch_idx && std::memcmp(&a.qo_start, &b.qo_start, 4 * sizeof(int32_t)) == 0;
  return a.qo_rows() == b.qo_rows() && a.kv_len() == b.kv_len();
}

// Everything a TG contributes, so that a TG repeating another's pieces copies it whole.
struct TgAgg {
  double busy = 0;
  double max_item = 0;
  int64_t partial_written = 0;  // (row, head) pairs
  int64_t direct = 0;
};

// One TG's items in order. Consecutive items that cost the same (other heads' copies) reuse the cost.
TgAgg tg_aggregate(const Problem& p, const WorkInfo* works, int32_t b, int32_t e, const CostProfile& prof,
                   const CeilDiv& quantum, const CeilDiv& pass) {
  // Locals, not the returned struct's fields: the sums stay in registers across the loop.
  double busy = prof.c[kTg], max_item = 0;
  int64_t partial_written = 0, direct = 0;
  const WorkInfo* prev = nullptr;
  double prev_us = 0;
  for (int32_t i = b; i < e; ++i) {
    const WorkInfo& w = works[i];
    double us = prev_us;
    if (!prev || !same_cost(*prev, w, p.causal)) {
      check_batch(p, w, i);
      us = cost_of(prof, shape_of(p, w, quantum, pass));
    } else if (w.batch_idx != prev->batch_idx) {
      check_batch(p, w, i);  // a non-causal piece of another sequence: the cost is shared, the check is not
    }
    prev = &w;
    prev_us = us;
    const int32_t h = item_heads(w);
    busy += us * h;
    max_item = std::max(max_item, us);
    if (w.partial_o_loc >= 0) {
      partial_written += w.qo_rows() * h;
    } else {
      ++direct;
    }
  }
  return {busy, max_item, partial_written, direct};
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
  const int64_t keys = w.kv_len();
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
  return features_of(shape_of(p, w, CeilDiv(prof.row_quantum), CeilDiv(prof.rows_per_pass)));
}

double item_head_us(const Problem& p, const WorkInfo& w, const CostProfile& prof) {
  return cost_of(prof, shape_of(p, w, CeilDiv(prof.row_quantum), CeilDiv(prof.rows_per_pass)));
}

ReduceCost reduce_cost(const Problem& p, const Plan& plan, const CostProfile& prof) {
  ReduceCost r;
  const bool fixed = plan.reduce == ReduceVersion::kFixed;
  const int64_t heads = p.num_heads_q();
  const int64_t nfin = plan.num_reduce_entries();
  if (plan.reduce_indptr.size() < static_cast<size_t>(nfin) + 1) {
    throw InputError("plan", "reduce_indptr is shorter than reduce_final_map + 1");
  }
  // Which entries the reduce processes: one pass checks every entry's range and counts them, the next
  // (checked already) computes. reduce_fill: how many blocks share an entry's rows follows from the count.
  const int32_t* indptr = plan.reduce_indptr.data();
  const int32_t* pmap = plan.reduce_partial_map.data();
  auto processed = [&](int64_t t) {
    const int64_t start = indptr[t], n = indptr[t + 1] - start;
    return n > 1 || (n == 1 && fixed && pmap[start] != -1);
  };
  const int64_t nslots = static_cast<int64_t>(plan.reduce_partial_map.size());
  int64_t entries = 0;
  for (int64_t t = 0; t < nfin; ++t) {
    const int64_t start = indptr[t], end = indptr[t + 1];
    if (end - start <= 0) continue;
    if (start < 0 || end > nslots) {
      throw InputError("plan", fmt::format("reduce entry {} indexes outside reduce_partial_map", t));
    }
    entries += processed(t);
  }
  int64_t wg = 1;
  if (prof.reduce_fill) {
    for (const int64_t w : {1, 2, 4, 8, 16, 64, 256}) {
      wg = w;
      if (entries * heads * w >= prof.reduce_slots) break;
    }
  }
  double sum = 0, max_block = 0;
  double f_block = 0, f_simple = 0, f_massive = 0, f_write = 0;
  int64_t count = 0, bytes = 0;
  // The entries in runs of equal (n, rows): a run's terms are computed once and added entry by entry, in
  // entry order, so every sum is the one a plain loop over the entries makes.
  auto n_of = [&](int64_t t) { return int64_t{indptr[t + 1]} - indptr[t]; };
  auto rows_of = [&](int64_t t) { return plan.reduce_final_map[t].rows(); };
  for (int64_t t = 0; t < nfin;) {
    if (!processed(t)) {
      ++t;
      continue;
    }
    const int64_t n = n_of(t), rows_e = rows_of(t);
    int64_t k = 1;
    while (t + k < nfin && processed(t + k) && n_of(t + k) == n && rows_of(t + k) == rows_e) ++k;
    const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(wg, rows_e));
    // Rows of the largest block (one block per entry unless reduce_fill splits it).
    const double rows = static_cast<double>(blocks == 1 ? rows_e : (rows_e + blocks - 1) / blocks);
    const bool massive = n >= kMassiveFrom;
    const double reads = rows * static_cast<double>(n);
    const double read_c = prof.c[massive ? kReduceMassiveRead : kReduceSimpleRead];
    const double block = prof.c[kReduceBlock] + reads * read_c + rows * prof.c[kReduceWriteRow];
    const double all_reads = static_cast<double>(rows_e * n);
    const double e_sum =
        (prof.c[kReduceBlock] * blocks + all_reads * read_c + rows_e * prof.c[kReduceWriteRow]) * heads;
    const double e_blocks = static_cast<double>(blocks * heads), e_reads = all_reads * heads;
    const double e_rows = static_cast<double>(rows_e * heads);
    if (block > max_block || count == 0) {  // the run's later entries have the same block: never larger
      max_block = block;
      r.max_block_features = {};
      r.max_block_features[kReduceLaunch] = 1;
      r.max_block_features[kReduceBlock] = 1;
      r.max_block_features[massive ? kReduceMassiveRead : kReduceSimpleRead] = reads;
      r.max_block_features[kReduceWriteRow] = rows;
    }
    double& f_read = massive ? f_massive : f_simple;
    double fr = f_read;
    for (int64_t i = 0; i < k; ++i) {
      sum += e_sum;
      f_block += e_blocks;
      fr += e_reads;
      f_write += e_rows;
    }
    f_read = fr;
    bytes += k * (rows_e * n * heads * kPartialRowBytes);
    count += k;
    t += k;
  }
  r.processed = count;
  r.partial_bytes_read = bytes;
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
  evaluate_into(p, plan, prof, pc);
  return pc;
}

void evaluate_into(const Problem& p, const Plan& plan, const CostProfile& prof, PlanCost& pc) {
  {  // Every field reset; the vectors' and strings' storage kept.
    PlanCost fresh;
    std::swap(fresh.tg_us, pc.tg_us);
    std::swap(fresh.tg_start_us, pc.tg_start_us);
    std::swap(fresh.policy, pc.policy);
    std::swap(fresh.profile, pc.profile);
    pc = std::move(fresh);
  }
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

  // TGs of one cluster size apart repeat the same pieces (contract 2.1): a cluster of TGs whose pieces equal
  // the previous cluster's (compared, never assumed: same items per TG, same_pieces over the whole range)
  // copies its TG times and adds its totals; any other cluster is computed TG by TG.
  const int32_t tpc =  // TGs per cluster; ntg: no repeats
      ntg == p.num_cu ? cluster_geometry(std::max(1, p.num_heads_k), std::max(1, p.num_cu)).tgs_per_cluster
                      : ntg;
  const WorkInfo* works = plan.work_info.data();
  const int32_t* indptr = plan.work_indptr.data();
  const int32_t nw = plan.num_works();
  const CeilDiv quantum(prof.row_quantum), pass(prof.rows_per_pass);
  double sum = 0, max_busy = 0, max_item = 0;
  int64_t written = 0;
  TgAgg prev_cluster;  // totals of the previous cluster (busy summed, max_item the largest)
  double prev_max_busy = 0;
  // work_indptr spans work_info (checked above). A computed cluster checks each of its TGs' ranges; a
  // repeated one has the previous cluster's counts, so work_indptr stays monotone and every range inside
  // work_info. The common case first: every cluster repeats the one before it (then work_info from the second
  // cluster on equals work_info one cluster earlier, compared in one pass), and only the first is computed.
  int32_t computed_to = ntg;  // clusters from here on repeat the one before
  if (tpc < ntg && ntg % tpc == 0) {
    const int32_t shift = indptr[tpc];
    int32_t d = 0;
    for (int32_t g = tpc + 1; g <= ntg; ++g) d |= (indptr[g] - indptr[g - tpc]) ^ shift;
    // b = works[0, nw - shift) lies inside a = works[shift, nw) from item shift on.
    if (d == 0 && shift >= 0 && shift <= nw && detail::same_pieces(works + shift, works, nw - shift, shift))
      computed_to = tpc;
  }
  for (int32_t g0 = 0; g0 < ntg; g0 += tpc) {
    const int32_t g1 = std::min(ntg, g0 + tpc);
    // The same number of items per TG as the previous cluster: indptr[g] - indptr[g - tpc] constant.
    bool repeat = g0 >= computed_to;
    if (!repeat && g0 > 0 && g1 - g0 == tpc) {
      const int32_t shift = indptr[g0] - indptr[g0 - tpc];
      int32_t d = 0;
      for (int32_t g = g0 + 1; g <= g1; ++g) d |= (indptr[g] - indptr[g - tpc]) ^ shift;
      const int32_t n = indptr[g1] - indptr[g0];
      repeat = d == 0 && detail::same_pieces(works + indptr[g0], works + indptr[g0 - tpc], n, n);
    }
    if (repeat) {
      std::copy(pc.tg_us.begin() + (g0 - tpc), pc.tg_us.begin() + g0, pc.tg_us.begin() + g0);
    } else {
      prev_cluster = TgAgg{};
      prev_max_busy = 0;
      for (int32_t g = g0; g < g1; ++g) {
        if (indptr[g] > indptr[g + 1] || indptr[g] < 0 || indptr[g + 1] > nw) {
          throw InputError("plan", "work_indptr is not monotone");
        }
        const TgAgg a = tg_aggregate(p, works, indptr[g], indptr[g + 1], prof, quantum, pass);
        pc.tg_us[g] = a.busy;
        prev_cluster.busy += a.busy;
        prev_cluster.max_item = std::max(prev_cluster.max_item, a.max_item);
        prev_cluster.partial_written += a.partial_written;
        prev_cluster.direct += a.direct;
        prev_max_busy = std::max(prev_max_busy, a.busy);
      }
    }
    sum += prev_cluster.busy;
    max_busy = std::max(max_busy, prev_max_busy);
    max_item = std::max(max_item, prev_cluster.max_item);
    written += prev_cluster.partial_written;
    pc.direct_writes += prev_cluster.direct;
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
  // The exact bound is <= total_us; the float mean of equal TG times can land a rounding step above the max.
  pc.lower_bound_us = std::min(
      pc.total_us, (ntg > 0 ? launch + std::max(sum / places, pc.max_piece_us) : 0.0) + pc.reduce_us);
  const double mean = ntg > 0 ? sum / ntg : 0.0;
  pc.max_tg_us = max_busy;
  pc.mean_tg_us = mean;
  pc.busy_sum_us = sum;
  pc.places = ntg > 0 ? places : 0;
  pc.area_us = pc.places * makespan;
  // max >= mean; the division can land a rounding step below 1 for equal TGs.
  pc.imbalance = mean > 0 ? std::max(1.0, max_busy / mean) : 1.0;
  pc.idle_fraction = makespan > 0 ? std::max(0.0, 1.0 - sum / (places * makespan)) : 0.0;
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
