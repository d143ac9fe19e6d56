#pragma once
// What the cost-aware policies (cost_balanced.cpp, fixed_split.cpp) know of a tile: its prices on the target
// profile (PlanningCosts, the cost model's prefill terms of cost/model.h) and its piece template. One home
// for the pricing, so both price a piece the same way.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

#include "scheduler/planning_costs.h"
#include "scheduler/policy.h"

namespace mlaps::policy_impl {

// One tile's prices, per (piece, head): set-up `base` (a piece with a partial slot) or `base_whole` (the
// tile whole in one piece: a direct write when the problem needs no LSE, else as `base`), then units [0,
// full) at `uf` each and [full, units) at `um` each; and its piece template: sequence, global rows [qo_start,
// qo_end), KV [kv_start, kv_end) of the whole tile (pages).
struct TilePrice {
  double base, base_whole, uf, um;
  int32_t units, full;
  int32_t batch, qo_start, qo_end, kv_start, kv_end;
};

// Cost of units [a, units) of t as one piece, its set-up included (a = 0: the whole tile).
inline double rest_cost(const TilePrice& t, int32_t a) {
  const int32_t nf = std::max(0, t.full - a);
  return (a == 0 ? t.base_whole : t.base) + nf * t.uf + (t.units - a - nf) * t.um;
}

// The TGs of a cluster a one-wave plan uses: every one, unless the device runs fewer TGs at once than the
// plan has (pc.slots < num_cu, e.g. a 256-TG plan on the H200's 132 SMs): then the cluster's share of the
// slots, the rest empty (a second wave of equal TGs doubles the makespan: 256 equal TGs on 132 slots take 2
// loads, the same work on 128 TGs 2 x 128 / 256 = 1 load of twice the size, so it pays where TG loads are
// coarse).
inline int32_t tgs_in_use(const Problem& p, const PlanningCosts& pc) {
  const ClusterGeometry g = cluster_geometry(p);
  if (pc.slots <= 0 || pc.slots >= p.num_cu) return g.tgs_per_cluster;
  return std::clamp(pc.slots / g.num_clusters, 1, g.tgs_per_cluster);
}

struct TileTotals {
  double sum = 0;       // every tile whole
  double max_base = 0;  // the largest set-up
  double max_unit = 0;  // the largest unit
};

// Whether a tile taken whole by one TG is written straight to the output (partial_o_loc -1, no reduce entry):
// the cost-aware policies honour need_lse = false this way (LseRule::kHonours), as upstream's merged form.
inline bool whole_tiles_direct(const Problem& p) {
  return !p.need_lse;
}

// Prices every query tile of p in global row order into `prices` (resized to ntiles) and, when `pingpong`
// is not null, writes upstream's emission order into it (sequence by sequence, ping-pong within one: 0,
// n-1, 1, n-2, ...). A piece of R rows (Rpad padded to the row quantum, P passes) costs item + q_row x Rpad
// + write x R (partial, or direct for a whole tile under whole_tiles_direct), and P x pass + Rpad x row per
// 128-key sub-tile of its kind (kvg / 128 sub-tiles per unit); a unit is full when the tile's first row sees
// its last key, masked otherwise (the causal diagonal crosses it; a tile's units cover only keys some row
// sees, so none is empty).
inline TileTotals price_tiles(const Problem& p, const PlanningCosts& pc, int32_t ntiles,
                              std::vector<TilePrice>& prices, int32_t* pingpong) {
  const int32_t G = p.qlen_granularity();
  const int32_t kvg = p.kvlen_granularity();
  const int32_t bpu = kvg / p.block_size;
  const double subtiles_per_unit = kvg / 128.0;  // the model's sub-tile is 128 keys (cost/model.h)
  prices.resize(static_cast<size_t>(ntiles));
  struct RowPrice {
    double base, base_whole, uf, um;
  };
  const double whole_write = whole_tiles_direct(p) ? pc.write_direct_row_us : pc.write_partial_row_us;
  auto price_rows = [&pc, subtiles_per_unit, whole_write](int32_t rows) {
    const double rpad = static_cast<double>((rows + pc.row_quantum - 1) / pc.row_quantum * pc.row_quantum);
    const double passes = static_cast<double>((rows + pc.rows_per_pass - 1) / pc.rows_per_pass);
    const double setup = pc.item_us + pc.q_row_us * rpad;
    return RowPrice{setup + pc.write_partial_row_us * rows, setup + whole_write * rows,
                    (passes * pc.pass_us[0] + rpad * pc.row_us[0]) * subtiles_per_unit,
                    (passes * pc.pass_us[1] + rpad * pc.row_us[1]) * subtiles_per_unit};
  };
  const RowPrice full_tile = price_rows(G);
  const int kvg_shift = std::countr_zero(static_cast<uint32_t>(kvg));  // a power of two (validated)
  TileTotals tt;
  {
    TilePrice* tp = prices.data();
    int32_t first = 0;
    for (int32_t b = 0; b < p.batch(); ++b) {
      const int32_t q0 = p.qo_indptr[b];
      const int32_t qo_len = p.qo_indptr[b + 1] - q0;
      const int32_t kv_len = p.context_lens[b];
      const int32_t kv_base = p.kv_indptr[b];
      const int32_t kv_limit = p.kv_indptr[b + 1];
      const int32_t d = kv_len - qo_len;
      const int32_t n = (qo_len + G - 1) / G;
      for (int32_t i = 0; i < n; ++i, ++tp) {
        const int32_t start = i * G;
        const int32_t end = std::min(start + G, qo_len);
        const int32_t eff = p.causal ? std::min(d + end, kv_len) : kv_len;
        const int32_t u = eff > 0 ? (eff + kvg - 1) >> kvg_shift : 0;
        // Units every row sees whole (the first row sees keys <= start + d); the diagonal crosses the rest.
        const int32_t full = p.causal ? std::clamp((start + d + 1) >> kvg_shift, 0, u) : u;
        const RowPrice rp = end - start == G ? full_tile : price_rows(end - start);
        *tp = TilePrice{rp.base,
                        rp.base_whole,
                        rp.uf,
                        rp.um,
                        u,
                        full,
                        b,
                        q0 + start,
                        q0 + end,
                        kv_base,
                        std::min(kv_base + u * bpu, kv_limit)};
        tt.sum += rest_cost(*tp, 0);
        tt.max_base = std::max({tt.max_base, rp.base, rp.base_whole});
        tt.max_unit = std::max(tt.max_unit, u > full ? std::max(rp.uf, rp.um) : u > 0 ? rp.uf : 0.0);
      }
      if (pingpong) {
        for (int32_t i = 0; i < n; ++i) *pingpong++ = first + ((i & 1) == 0 ? i >> 1 : n - 1 - (i >> 1));
      }
      first += n;
    }
  }

  return tt;
}

// The reduce maps of a plan whose tile t < ntiles (global row order) has the pieces pieces[order[i]], i in
// [first[t], first[t + 1]), in KV order: one entry per tile with slots, listing its pieces' partial_o_loc; a
// tile of one piece writes its output directly and gets no entry when `direct` (need_lse false). The spans
// are sized for it (the caller's PlanSizes).
inline void write_reduce_maps(int32_t ntiles, const std::vector<TilePrice>& prices,
                              const std::vector<int32_t>& first, const std::vector<int32_t>& order,
                              const std::vector<WorkInfo>& pieces, bool direct, const PlanSpans& spans) {
  int32_t entry = 0, total = 0;
  for (int32_t t = 0; t < ntiles; ++t) {
    if (direct && first[t + 1] - first[t] == 1) continue;
    spans.reduce_indptr[entry] = total;
    spans.reduce_final_map[entry++] = FinalLoc{prices[t].qo_start, prices[t].qo_end};
    for (int32_t i = first[t]; i < first[t + 1]; ++i)
      spans.reduce_partial_map[total++] = pieces[order[i]].partial_o_loc;
  }
  spans.reduce_indptr[entry] = total;
}

}  // namespace mlaps::policy_impl
