// cost-balanced: upstream's plan shape (TGs filled one after another, a tile cut where a TG's budget runs
// out, at most tpc - 1 cuts per cluster), with the budget in modelled microseconds instead of KV units.
//
// Upstream gives every TG the same number of KV units. On the device a piece also costs its set-up, its Q
// load and its partial write (cost/model.h), and a unit's cost depends on the rows of its tile (padded to
// the kernel's row quantum) and on whether the causal diagonal crosses it. So a TG holding many small tiles
// runs longer than one holding a single cut of a long tile, and the slowest TG sets the makespan. Here every
// piece is priced with the target profile's terms (PlanningCosts: item, Q rows, write, full/masked sub-tile
// per pass and per padded row), and the plan is the smallest budget T for which next-fit fills the cluster:
//   tiles in global row order; a TG takes a tile's remaining units while piece cost (its set-up included)
//   fits its budget; otherwise it cuts the tile at the last unit that fits (a cut only where at least one
//   unit fits, so the extra set-up pays for itself: it uses room that would stay idle) and the next TG
//   continues it; T is bisected between sum / tpc and sum / tpc + 2 x the largest set-up + the largest unit
//   (always feasible: every TG then ends within one set-up + one unit of T).
// Where the profile's device runs fewer TGs at once than the plan has (slots < CUs: the H200's 132 SMs for
// a 256-TG plan), the cluster is also planned on its share of the slots only, the other TGs empty, so that
// it runs in one wave (tile_prices.h, tgs_in_use), and the faster of the two on the model's placement is
// kept. The result keeps upstream's structure and so its buffer bound: each TG boundary cuts at most one tile
// (next-fit never returns to a TG), every piece holds >= 1 unit, so pieces <= tiles + min(tpc - 1, tiles x
// (units per tile - 1)), and a TG never holds two pieces of one tile.
//
// Layout, as upstream's and whole-tiles' (contract 2.1, 2.3): gcd(K heads, CUs) clusters running the same
// schedule, every head of a TG repeating its pieces with its q_head_range, so a tile has the same slots for
// every head. Pieces keep upstream's metadata rules: KV from kv_indptr[b] + units x kvg / block_size, the
// last piece's end the tile's visible keys rounded up to the KV tile (at most the sequence end), kv_offset 0
// on a tile's last piece and the tokens after the piece otherwise; slots G x k for the k-th piece in
// schedule order; one reduce entry per tile in global row order listing its pieces' slots in KV order. Tiles
// with no visible key are scheduled too (one empty piece: O = 0, LSE = -inf), as in whole-tiles.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <queue>
#include <vector>

#include "scheduler/geometry.h"
#include "scheduler/policies/tile_prices.h"
#include "scheduler/policy.h"

namespace mlaps::policy_impl {
namespace {

// Units from unit a that fit into `budget` (the piece's set-up already paid), at most `limit`.
inline int32_t units_fitting(const TilePrice& t, int32_t a, double budget, int32_t limit) {
  if (budget < 0) return 0;
  int32_t k = 0;
  if (a < t.full) {
    const int32_t nf = t.full - a;
    const int32_t kf = t.uf > 0 ? static_cast<int32_t>(std::min<double>(nf, std::floor(budget / t.uf))) : nf;
    if (kf < nf || kf >= limit) return std::min(kf, limit);
    k = kf;
    budget -= kf * t.uf;
  }
  const int32_t nm = t.units - std::max(a, t.full);
  const int32_t km = t.um > 0 ? static_cast<int32_t>(std::min<double>(nm, std::floor(budget / t.um))) : nm;
  return std::min(k + km, limit);
}

// Next-fit of the tiles (in `order`) under budget T; returns the largest TG load, or -1 when the tiles do
// not fit in tpc TGs. kBackFill: where the front tile cannot go on in a TG, whole tiles from the back of the
// order fill the TG's room (with a descending order: the smallest ones). With kEmit, records each piece as
// three ints (tile, first unit, units) in *pieces and each TG's end (pieces so far) in tg_end.
// Where next-fit writes a plan: each piece as (tile, first unit, units) and each TG's end (pieces so far).
struct Emitted {
  std::vector<int32_t>* pieces;
  int32_t* tg_end;
};

template <bool kEmit, bool kBackFill>
double next_fit(const TilePrice* tiles, const int32_t* order, int32_t n, int32_t tpc, double T,
                const Emitted* out) {
  const double slack = T * 1e-12 + 1e-12;  // a rounding step is no overflow
  int32_t tg = 0, npieces = 0;
  double room = T, max_load = 0;
  [[maybe_unused]] int32_t* rec = nullptr;
  if constexpr (kEmit) {
    out->pieces->resize(3 * (static_cast<size_t>(n) + static_cast<size_t>(tpc)));  // pieces <= tiles + tpc
    rec = out->pieces->data();
  }
  auto emit = [&](int32_t ti, int32_t a, int32_t k) {
    if constexpr (kEmit) {
      rec[0] = ti;
      rec[1] = a;
      rec[2] = k;
      rec += 3;
      ++npieces;
    }
  };
  int32_t i = 0, j = n, a = 0;  // tiles order[i, j) are left; the front one from unit a
  while (i < j) {
    const TilePrice& t = tiles[order[i]];
    const double rest = rest_cost(t, a);
    if (rest <= room + slack) {
      room -= rest;
      emit(order[i], a, t.units - a);
      ++i;
      a = 0;
      continue;
    }
    const int32_t k = units_fitting(t, a, room + slack - t.base, t.units - a - 1);
    if (k >= 1) {
      const int32_t nf = std::clamp(t.full - a, 0, k);
      room -= t.base + nf * t.uf + (k - nf) * t.um;
      emit(order[i], a, k);
      a += k;
    }
    if constexpr (kBackFill) {
      while (j - 1 > i) {
        const TilePrice& s = tiles[order[j - 1]];
        const double c = rest_cost(s, 0);
        if (c > room + slack) break;
        room -= c;
        emit(order[j - 1], 0, s.units);
        --j;
      }
    }
    max_load = std::max(max_load, T - room);
    if constexpr (kEmit) out->tg_end[tg] = npieces;
    if (++tg == tpc) return -1;
    room = T;
  }
  max_load = std::max(max_load, T - room);
  if constexpr (kEmit) {
    for (; tg < tpc; ++tg) out->tg_end[tg] = npieces;
    out->pieces->resize(3 * static_cast<size_t>(npieces));
  }
  return max_load;
}

// The smallest budget next-fit fills the cluster with, to 0.1% (or an absolute 1e-6 us): bisected between
// sum / tpc and sum / tpc + 2 x the largest set-up + the largest unit, where every TG ends within one set-up
// and one unit of the budget, so it fits (doubled until it does, should a rounding step say otherwise).
template <bool kBackFill>
double smallest_budget(const TilePrice* tiles, const int32_t* order, int32_t n, int32_t tpc, double sum,
                       double max_base, double max_unit) {
  double lo = sum / tpc, hi = lo + 2 * max_base + max_unit;
  // No budget below sum / tpc holds the tiles; at it, next-fit is optimal (often: equal tiles, paired ones).
  if (lo > 0 && next_fit<false, kBackFill>(tiles, order, n, tpc, lo, nullptr) >= 0) return lo;
  if (!(hi > 0)) hi = 1;  // nothing priced: any budget holds everything
  while (next_fit<false, kBackFill>(tiles, order, n, tpc, hi, nullptr) < 0) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > std::max(1e-3 * lo, 1e-6)) {
    const double mid = 0.5 * (lo + hi);
    (next_fit<false, kBackFill>(tiles, order, n, tpc, mid, nullptr) >= 0 ? hi : lo) = mid;
  }
  return hi;
}

// The reduce's modelled time for `pieces` (cost/model.h, the launch left out): one entry per tile, n = its
// pieces, every entry processed (the fixed reduce), but none for a tile written directly (`direct`, one
// piece).
double reduce_us(const PlanningCosts& pc, const TilePrice* tiles, int32_t ntiles, int32_t heads, bool direct,
                 const std::vector<int32_t>& pieces, std::vector<int32_t>& count) {
  count.assign(static_cast<size_t>(ntiles), 0);
  for (size_t k = 0; k < pieces.size(); k += 3) ++count[pieces[k]];
  int64_t entries = 0;
  for (int32_t t = 0; t < ntiles; ++t) entries += !(direct && count[t] == 1);
  int64_t wg = 1;
  if (pc.reduce_fill) {
    for (const int64_t w : {1, 2, 4, 8, 16, 64, 256}) {
      wg = w;
      if (entries * heads * w >= pc.reduce_slots) break;
    }
  }
  double sum = 0, max_block = 0;
  for (int32_t t = 0; t < ntiles; ++t) {
    if (direct && count[t] == 1) continue;  // written directly: no entry
    const int32_t n = count[t], rows = tiles[t].qo_end - tiles[t].qo_start;
    const double read = n >= 4 ? pc.reduce_massive_read_us : pc.reduce_simple_read_us;
    const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(wg, rows));
    const double per_row = n * read + pc.reduce_write_row_us;
    sum += pc.reduce_block_us * static_cast<double>(blocks) + rows * per_row;
    max_block =
        std::max(max_block, pc.reduce_block_us + static_cast<double>((rows + blocks - 1) / blocks) * per_row);
  }
  return std::max(sum * heads / pc.reduce_slots, max_block);
}

// The modelled prefill (every cluster's TGs in launch order onto pc.slots places, each on the one that frees
// first, as cost/model.h places them; a TG costs tg_us + its pieces x its heads) + the reduce, of one
// cluster's schedule (pieces as three ints, TG ends) repeated over the clusters.
double modelled_us(const PlanningCosts& pc, const TilePrice* tiles, int32_t ntiles, const Problem& p,
                   int32_t heads_per_tg, int32_t tpc, bool direct, const std::vector<int32_t>& pieces,
                   const std::vector<int32_t>& tg_end, std::vector<int32_t>& count) {
  static thread_local std::vector<double> load;
  load.assign(static_cast<size_t>(tpc), 0.0);
  int32_t tg = 0;
  const int32_t n = static_cast<int32_t>(pieces.size() / 3);
  for (int32_t k = 0; k < n; ++k) {
    while (tg < tpc - 1 && k >= tg_end[tg]) ++tg;
    const TilePrice& t = tiles[pieces[3 * k]];
    const int32_t a = pieces[3 * k + 1], cnt = pieces[3 * k + 2];
    const int32_t nf = std::clamp(t.full - a, 0, cnt);
    load[tg] += (a == 0 && cnt == t.units ? t.base_whole : t.base) + nf * t.uf + (cnt - nf) * t.um;
  }
  std::priority_queue<double, std::vector<double>, std::greater<>> free_at;
  for (int32_t s = 0; s < std::max(1, pc.slots); ++s) free_at.push(0.0);
  double makespan = 0;
  for (int32_t g = 0; g < p.num_cu; ++g) {
    const double start = free_at.top();
    free_at.pop();
    const double end = start + pc.tg_us + heads_per_tg * load[g % tpc];
    makespan = std::max(makespan, end);
    free_at.push(end);
  }
  return makespan + reduce_us(pc, tiles, ntiles, p.num_heads_q(), direct, pieces, count);
}

}  // namespace

PlanSizes plan_cost_balanced(const Problem& p, const ProblemTotals& totals, PlanOutput& out,
                             PlanWorkspace& ws, const PlanIntoOptions& opt) {
  const PlanningCosts& pc = planning_costs_in_effect();
  const int32_t G = p.qlen_granularity();
  const int32_t kvg = p.kvlen_granularity();
  const int32_t bs = p.block_size;
  const int32_t bpu = kvg / bs;
  const ClusterGeometry geo = cluster_geometry(p);
  const int32_t tpc = geo.tgs_per_cluster;
  const int32_t heads_per_tg = geo.kheads_per_cluster * p.qhead_granularity();
  const int32_t ntiles = totals.num_tiles;

  // Tiles in global row order, priced, and upstream's emission order.
  static thread_local std::vector<TilePrice> prices;
  std::vector<int32_t>& pingpong = ws.scratch.i32[0];
  pingpong.resize(static_cast<size_t>(ntiles));
  const TileTotals tt = price_tiles(p, pc, ntiles, prices, pingpong.data());
  const double sum = tt.sum, max_base = tt.max_base, max_unit = tt.max_unit;

  // Candidates, each at its smallest budget: (0) next-fit in upstream's emission order; (1) tiles by
  // descending cost, next-fit with back-fill (the longest tiles cut across TGs, the shortest filling what
  // they leave). (1) is tried only when (0) ends above sum / TGs (no plan of these tiles' set-ups is
  // faster); the plan is the one of least modelled time (slowest TG x its heads + the reduce).
  std::vector<int32_t>* cand[2] = {&ws.scratch.i32[2], &ws.scratch.i32[3]};
  static thread_local std::vector<int32_t> end_bufs[2];  // beyond the workspace's four int vectors
  std::vector<int32_t>* ends[2] = {&end_bufs[0], &end_bufs[1]};
  std::vector<int32_t>& count = ws.scratch.i32[1];
  const bool direct = whole_tiles_direct(p);
  // Plans the cluster on its first `use` TGs; returns which candidate won (its pieces in cand[], its TG
  // ends, the TGs out of use empty, in ends[]).
  auto plan_on = [&](int32_t use) {
    int best = 0;
    double best_us = 0;
    const double bound = sum / use * (1 + 1e-9);
    for (int c = 0; c < 2; ++c) {
      ends[c]->assign(static_cast<size_t>(tpc), 0);
      const Emitted em{cand[c], ends[c]->data()};
      if (c == 0) {
        const int32_t* ord = pingpong.data();
        // At sum / TGs first: where it fits (equal or paired tiles) that is the plan, in one pass.
        double load = sum > 0 ? next_fit<true, false>(prices.data(), ord, ntiles, use, sum / use, &em) : -1;
        if (load < 0) {
          const double T = smallest_budget<false>(prices.data(), ord, ntiles, use, sum, max_base, max_unit);
          load = next_fit<true, false>(prices.data(), ord, ntiles, use, T, &em);
        }
        best_us = load * heads_per_tg;
        if (load <= bound) break;  // the smallest budget any plan of these tiles can have
        best_us += reduce_us(pc, prices.data(), ntiles, p.num_heads_q(), direct, *cand[c], count);
        continue;
      }
      static thread_local std::vector<int32_t> desc;  // pingpong stays for a second call
      desc.resize(static_cast<size_t>(ntiles));
      for (int32_t t = 0; t < ntiles; ++t) desc[t] = t;
      std::sort(desc.begin(), desc.end(), [&](int32_t x, int32_t y) {
        const double cx = rest_cost(prices[x], 0), cy = rest_cost(prices[y], 0);
        return cx > cy || (cx == cy && x < y);
      });
      const double T =
          smallest_budget<true>(prices.data(), desc.data(), ntiles, use, sum, max_base, max_unit);
      const double load = next_fit<true, true>(prices.data(), desc.data(), ntiles, use, T, &em);
      const double us = load * heads_per_tg +
                        reduce_us(pc, prices.data(), ntiles, p.num_heads_q(), direct, *cand[c], count);
      if (us < best_us) {
        best = c;
        best_us = us;
      }
    }
    const int32_t n = static_cast<int32_t>(cand[best]->size() / 3);
    for (int32_t tg = use; tg < tpc; ++tg) (*ends[best])[tg] = n;  // the TGs out of use: empty
    return best;
  };
  int best = plan_on(tpc);
  const int32_t wave = tgs_in_use(p, pc);
  if (wave < tpc) {
    // The device runs fewer TGs at once than the plan has: the cluster on every TG (two waves) or on its
    // share of the slots (one wave, the rest empty; an empty TG still costs tg_us and a slot), whichever
    // the list-scheduled prefill (cost/model.h's placement) + the reduce says is faster.
    static thread_local std::vector<int32_t> all_pieces, all_ends;
    const double all_us =
        modelled_us(pc, prices.data(), ntiles, p, heads_per_tg, tpc, direct, *cand[best], *ends[best], count);
    all_pieces.swap(*cand[best]);
    all_ends.swap(*ends[best]);
    const int wb = plan_on(wave);
    const double wave_us =
        modelled_us(pc, prices.data(), ntiles, p, heads_per_tg, tpc, direct, *cand[wb], *ends[wb], count);
    if (all_us <= wave_us) {
      cand[wb]->swap(all_pieces);
      ends[wb]->swap(all_ends);
    }
    best = wb;
  }
  const std::vector<int32_t>& placed = *cand[best];
  std::vector<int32_t>& tg_end = *ends[best];
  const int32_t npieces = static_cast<int32_t>(placed.size() / 3);

  // Pieces in schedule order, each with the next slot (G x k for the k-th slot), or -1 for a tile taken
  // whole when it is written directly; each tile's pieces, in KV order, for its reduce entry.
  std::vector<WorkInfo>& pieces = ws.scratch.works[1];
  pieces.resize(static_cast<size_t>(npieces));
  count.assign(static_cast<size_t>(ntiles) + 1, 0);  // then: each tile's first position in by_tile
  for (int32_t k = 0; k < npieces; ++k) ++count[placed[3 * k] + 1];
  int32_t nslots = 0, nwhole_direct = 0;
  for (int32_t k = 0; k < npieces; ++k) {
    const int32_t ti = placed[3 * k], a = placed[3 * k + 1], cnt = placed[3 * k + 2];
    const TilePrice& t = prices[ti];
    const bool to_output = direct && count[ti + 1] == 1;
    nwhole_direct += to_output;
    const int32_t pol = to_output ? -1 : G * nslots++;
    const int32_t kv_start = t.kv_start + a * bpu;
    if (a + cnt < t.units) {  // a cut: upstream's kv_offset, the tokens after the piece
      const int32_t kv_end = std::min(kv_start + cnt * bpu, p.kv_indptr[t.batch + 1]);
      pieces[k] = WorkInfo{t.batch,
                           pol,
                           t.qo_start,
                           t.qo_end,
                           kv_start,
                           kv_end,
                           p.context_lens[t.batch] - (kv_end - t.kv_start) * bs,
                           0};
    } else {
      pieces[k] = WorkInfo{t.batch, pol, t.qo_start, t.qo_end, kv_start, t.kv_end, 0, 0};
    }
  }
  for (int32_t t = 0; t < ntiles; ++t) count[t + 1] += count[t];
  std::vector<int32_t>& by_tile = ws.scratch.i32[0];  // piece indices grouped by tile, in KV order
  by_tile.resize(static_cast<size_t>(npieces));
  {
    std::vector<int32_t>& fill = *cand[1 - best];  // the other candidate is done with
    fill.assign(count.begin(), count.end() - 1);
    for (int32_t k = 0; k < npieces; ++k) by_tile[fill[placed[3 * k]]++] = k;
  }

  // Bounded by validate_problem; one reduce entry per tile with slots, in global row order.
  const PlanSizes sizes{p.num_heads_k * npieces, ntiles - nwhole_direct, nslots};
  const PlanSpans spans = out.reserve(sizes);
  write_replicated_works(p, ClusterSchedule{pieces, tg_end}, spans, opt);
  write_reduce_maps(ntiles, prices, count, by_tile, pieces, direct, spans);
  return sizes;
}

// What its plans need at most for a deployment's static sizes: qtc = batch_size x ceil(max_qlen / G) tiles,
// each TG boundary of a cluster cutting at most one (tpc - 1 cuts), every piece >= 1 unit (a tile has at
// most M = ceil(max_kvlen / kvg) units): P = qtc + min(tpc - 1, qtc x (M - 1)) pieces per cluster and head.
Capacity cost_balanced_capacity(const SizingInputs& in) {
  Capacity c = compute_capacity(in, SizingFormula::kPr3606);  // validates the inputs; shapes of the indptrs
  const int64_t qtc = sizing_query_tiles(in);
  const int64_t tpc = cluster_geometry(in.num_heads_k, in.num_cu).tgs_per_cluster;
  int64_t cuts = tpc - 1;
  if (const auto M = sizing_kv_units(in)) cuts = std::min(cuts, qtc * std::max<int64_t>(0, *M - 1));
  c.work_info = (qtc + cuts) * in.num_heads_k;
  c.reduce_partial_map = qtc + cuts;
  return c;
}

}  // namespace mlaps::policy_impl
