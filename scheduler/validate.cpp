// validate(problem, plan): the scheduler invariants of contract section 9 (items 1-9, 14), each violation
// named. The plan may come from a dump or a fuzzer: nothing in it is trusted (indices are range-checked
// before use).
#include "scheduler/validate.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <numeric>
#include <tuple>

namespace mlaps {
namespace {

int64_t clamp64(int64_t v, int64_t lo, int64_t hi) {
  return std::min(std::max(v, lo), hi);
}

std::string rows(int32_t a, int32_t b) {
  return fmt::format("[{},{})", a, b);
}

// One query tile in global row order ("range order": batch by batch, range by range).
struct Tile {
  int32_t batch;
  int32_t qo_start, qo_end;
  int32_t num_blocks;
  int32_t eff;
};

class Validator {
 public:
  Validator(const Problem& p, const Plan& plan, const ValidateOptions& opt) : p_(p), plan_(plan), opt_(opt) {}

  std::vector<Violation> run() {
    setup();
    check_work_indptr();
    check_works();
    check_groups();
    check_heads();
    check_tg_load();
    check_reduce();
    check_buffers();
    return std::move(out_);
  }

 private:
  const Problem& p_;
  const Plan& plan_;
  const ValidateOptions& opt_;
  std::vector<Violation> out_;

  int32_t B_ = 0, G_ = 0, bs_ = 0, bpu_ = 0, gqa_ = 0, nhk_ = 0, nhq_ = 0;
  ClusterGeometry geo_{};
  int32_t average_ = 0, reminder_ = 0;
  bool legacy_contract_ = false;  // the pre-#3606 contract (-1 iff a tile is whole) instead of #3606's
  // -1 direct writes allowed (a tile's only piece per head): the legacy contract, or need_lse = false.
  bool direct_ok_ = false;
  bool upstream_shape_ = false;  // check the upstream-shape contract too
  Capacity cap_;
  std::vector<int32_t> range_base_;  // [B+1]: first range id of each batch
  std::vector<Tile> tiles_;          // range order
  std::vector<int32_t> emission_;    // emission order -> range id
  int64_t nworks_ = 0;
  std::vector<int32_t> tg_of_;         // work -> thread group, -1 if no work_indptr range holds it
  std::vector<int32_t> tile_of_;       // work -> range id, -1 if the work's rows are not a tile of its batch
  std::vector<int32_t> head_of_;       // work -> K head unit (q heads [h*gqa, (h+1)*gqa)), -1 if malformed
  std::vector<int32_t> by_tile_head_;  // works with tile and head, sorted by (tile, head, index)
  std::vector<int32_t> by_head_;       // works with a head, sorted by (head, index)
  std::vector<char> scheduled_;        // per tile: at least one work
  std::vector<int32_t> grp_;           // scratch: one (tile, head) group in KV order
  std::vector<std::pair<int32_t, int32_t>> tgs_;  // scratch: (TG, work) of one group

  void add(const char* inv, std::string detail, int32_t tg = -1, int32_t head = -1, int32_t qs = -1,
           int32_t qe = -1, int32_t work = -1) {
    const Contract c = contract_of(inv);
    if (c == Contract::kUpstreamShape && !upstream_shape_) return;
    out_.push_back(Violation{inv, std::move(detail), tg, head, qs, qe, work, c});
  }
  void add_work(const char* inv, std::string detail, int32_t w) {
    const WorkInfo& wi = plan_.work_info[w];
    add(inv, std::move(detail), tg_of_[w], wi.q_head_lo(), wi.qo_start, wi.qo_end, w);
  }
  int32_t kv_base(int32_t b) const { return p_.kv_indptr[b]; }

  void setup() {
    B_ = p_.batch();
    G_ = p_.qlen_granularity();
    bs_ = p_.block_size;
    bpu_ = p_.kvlen_granularity() / p_.block_size;
    gqa_ = p_.gqa_ratio;
    nhk_ = p_.num_heads_k;
    nhq_ = p_.num_heads_q();
    geo_ = cluster_geometry(p_);
    legacy_contract_ = opt_.contract && opt_.contract->traits().reduce == ReduceVersion::kLegacy;
    direct_ok_ = legacy_contract_ || !p_.need_lse;
    if (opt_.contract) {
      upstream_shape_ = opt_.contract->traits().upstream_shape;
    } else if (const auto own = find_policy(plan_.policy)) {
      upstream_shape_ = own->traits().upstream_shape;
    }
    if (opt_.capacity) {
      cap_ = *opt_.capacity;
    } else {
      const Policy sized =
          opt_.contract ? *opt_.contract : find_policy(plan_.policy).value_or(default_policy());
      cap_ = policy_capacity(sized, SizingInputs::from_problem(p_));
    }

    range_base_.assign(static_cast<size_t>(B_) + 1, 0);
    for (int32_t b = 0; b < B_; ++b) range_base_[b + 1] = range_base_[b] + (p_.qo_len(b) + G_ - 1) / G_;
    tiles_.assign(static_cast<size_t>(range_base_[B_]), Tile{});
    emission_.clear();
    int32_t total_units = 0;
    for (const QTile& t : make_query_tiles(p_)) {
      const int32_t id = range_base_[t.batch] + (t.qo_start - p_.qo_indptr[t.batch]) / G_;
      tiles_[id] = Tile{t.batch, t.qo_start, t.qo_end, t.num_blocks, t.effective_kv};
      emission_.push_back(id);
      total_units += t.num_blocks / bpu_;
    }
    average_ = total_units / geo_.tgs_per_cluster;
    reminder_ = total_units % geo_.tgs_per_cluster;
    nworks_ = static_cast<int64_t>(plan_.work_info.size());
  }

  int64_t tg_capacity(int32_t tg) const {
    const int32_t local = tg % geo_.tgs_per_cluster;
    return (int64_t{average_} + (local < reminder_ ? 1 : 0)) * bpu_;
  }

  // Item 1: work_indptr shape and monotonicity; assigns every work to a thread group.
  void check_work_indptr() {
    const auto& ip = plan_.work_indptr;
    const int64_t size = static_cast<int64_t>(ip.size());
    if (size != int64_t{p_.num_cu} + 1) {
      add(inv::kWorkIndptrShape,
          fmt::format("work_indptr has {} entries, num_cu + 1 = {}", size, p_.num_cu + 1));
    }
    if (size > 0 && ip[0] != 0)
      add(inv::kWorkIndptrShape, fmt::format("work_indptr[0] = {}, must be 0", ip[0]));
    if (size > 0 && ip.back() != nworks_) {
      add(inv::kWorkIndptrShape,
          fmt::format("work_indptr[{}] = {}, but work_info has {} works", size - 1, ip.back(), nworks_));
    }
    for (int64_t i = 0; i + 1 < size; ++i) {
      if (ip[i + 1] < ip[i]) {
        add(inv::kWorkIndptrMonotone,
            fmt::format("work_indptr[{}] = {} < work_indptr[{}] = {}", i + 1, ip[i + 1], i, ip[i]),
            static_cast<int32_t>(i));
      }
    }
    tg_of_.assign(static_cast<size_t>(nworks_), -1);
    if (size == 0) return;
    int64_t lo = clamp64(ip[0], 0, nworks_);
    for (int64_t tg = 0; tg + 1 < size; ++tg) {
      const int64_t hi = std::max(lo, clamp64(ip[tg + 1], 0, nworks_));
      for (int64_t w = lo; w < hi; ++w) tg_of_[w] = static_cast<int32_t>(tg);
      lo = hi;
    }
  }

  // Range id of rows [qs, qe) of batch b, or -1 if they are not exactly one query tile.
  int32_t tile_id(int32_t b, int32_t qs, int32_t qe) const {
    const int64_t local = int64_t{qs} - p_.qo_indptr[b];
    const int64_t len = p_.qo_len(b);
    if (local < 0 || local >= len || local % G_ != 0) return -1;
    if (qe != std::min<int64_t>(local + G_, len) + p_.qo_indptr[b]) return -1;
    return range_base_[b] + static_cast<int32_t>(local / G_);
  }

  // Item 1 (fields, cluster heads) and item 7 (slot alignment, bounds; aiter's slot policy) per work.
  void check_works() {
    tile_of_.assign(static_cast<size_t>(nworks_), -1);
    head_of_.assign(static_cast<size_t>(nworks_), -1);
    const int64_t partial_rows = cap_.partial_rows(p_.tile_q);
    for (int32_t w = 0; w < nworks_; ++w) {
      const WorkInfo& wi = plan_.work_info[w];
      std::vector<std::string> bad;
      const int32_t b = wi.batch_idx;
      const bool batch_ok = b >= 0 && b < B_;
      if (!batch_ok) {
        bad.push_back(fmt::format("batch_idx {} not in [0,{})", b, B_));
      } else {
        tile_of_[w] = tile_id(b, wi.qo_start, wi.qo_end);
        if (tile_of_[w] < 0) {
          bad.push_back(fmt::format("rows {} are not a query tile of batch {} (rows {}, tile {})",
                                    rows(wi.qo_start, wi.qo_end), b,
                                    rows(p_.qo_indptr[b], p_.qo_indptr[b + 1]), G_));
        }
        if (wi.kv_start > wi.kv_end)
          bad.push_back(fmt::format("kv_start {} > kv_end {}", wi.kv_start, wi.kv_end));
        if (wi.kv_start < p_.kv_indptr[b] || wi.kv_start > p_.kv_indptr[b + 1] ||
            wi.kv_end < p_.kv_indptr[b] || wi.kv_end > p_.kv_indptr[b + 1]) {
          bad.push_back(fmt::format("kv pages {} outside batch {}'s pages {}", rows(wi.kv_start, wi.kv_end),
                                    b, rows(p_.kv_indptr[b], p_.kv_indptr[b + 1])));
        }
        if (wi.kv_offset < 0 || wi.kv_offset > p_.context_lens[b]) {
          bad.push_back(fmt::format("kv_offset {} not in [0,{}]", wi.kv_offset, p_.context_lens[b]));
        }
      }
      if (!bad.empty()) {
        std::string d = fmt::format("work {}: ", w);
        for (size_t i = 0; i < bad.size(); ++i) d += (i ? "; " : "") + bad[i];
        add_work(inv::kWorkFields, std::move(d), w);
      }
      // The kernel reads one K head per work (Gqa = 1 kernels: q head h reads K/V head h / gqa); a range
      // crossing K heads or past the q heads reads the wrong K/V or writes outside O.
      const int32_t lo = wi.q_head_lo(), hi = wi.q_head_hi();
      if (lo % gqa_ != 0 || hi != lo + gqa_ || hi > nhq_) {
        add_work(inv::kHeadRange,
                 fmt::format("work {}: q_head_range [{},{}) is not one K head's q heads (gqa {}, {} q heads)",
                             w, lo, hi, gqa_, nhq_),
                 w);
      } else {
        head_of_[w] = lo / gqa_;
      }
      const int32_t tg = tg_of_[w];
      if (tg >= 0 && tg < p_.num_cu && head_of_[w] >= 0 &&
          tg / geo_.tgs_per_cluster != head_of_[w] / geo_.kheads_per_cluster) {
        add_work(inv::kClusterHeads,
                 fmt::format("work {} in TG {} (cluster {}) has K head {} of cluster {}", w, tg,
                             tg / geo_.tgs_per_cluster, head_of_[w], head_of_[w] / geo_.kheads_per_cluster),
                 w);
      }
      const int32_t pol = wi.partial_o_loc;
      if (pol != -1 && (pol < 0 || pol % G_ != 0)) {
        add_work(inv::kSlotAlignment,
                 fmt::format("partial_o_loc {} is neither -1 nor a multiple of {}", pol, G_), w);
      }
      if (pol >= 0) {
        const int64_t end = int64_t{pol} + wi.qo_rows();
        if (end > partial_rows) {
          add_work(
              inv::kSlotBounds,
              fmt::format("partial rows [{},{}) exceed the partial buffers' {} rows", pol, end, partial_rows),
              w);
        }
      }
      if (!direct_ok_ && pol == -1) {
        add_work(inv::kSlotPolicy,
                 fmt::format("partial_o_loc -1: rows {} get no LSE (#3606; the problem needs the LSE)",
                             rows(wi.qo_start, wi.qo_end)),
                 w);
      }
    }
    // Stable counting sorts (linear): by head, and by (tile, head); index order is kept within a key.
    std::vector<int64_t> start(static_cast<size_t>(nhk_) + 1, 0);
    for (int32_t w = 0; w < nworks_; ++w) {
      if (head_of_[w] >= 0) ++start[head_of_[w] + 1];
    }
    for (int32_t h = 0; h < nhk_; ++h) start[h + 1] += start[h];
    by_head_.assign(static_cast<size_t>(start[nhk_]), 0);
    for (int32_t w = 0; w < nworks_; ++w) {
      if (head_of_[w] >= 0) by_head_[start[head_of_[w]]++] = w;
    }
    const int64_t nkeys = static_cast<int64_t>(tiles_.size()) * nhk_;
    start.assign(static_cast<size_t>(nkeys) + 1, 0);
    auto key = [&](int32_t w) { return int64_t{tile_of_[w]} * nhk_ + head_of_[w]; };
    for (int32_t w = 0; w < nworks_; ++w) {
      if (head_of_[w] >= 0 && tile_of_[w] >= 0) ++start[key(w) + 1];
    }
    for (int64_t i = 0; i < nkeys; ++i) start[i + 1] += start[i];
    by_tile_head_.assign(static_cast<size_t>(start[nkeys]), 0);
    for (int32_t w = 0; w < nworks_; ++w) {
      if (head_of_[w] >= 0 && tile_of_[w] >= 0) by_tile_head_[start[key(w)]++] = w;
    }
  }

  // Items 3, 4, 5 (cuts), 7 (legacy slot policy, KV order of slots): per (tile, head) groups of pieces.
  void check_groups() {
    scheduled_.assign(tiles_.size(), 0);
    std::vector<int64_t> cuts(static_cast<size_t>(nhk_), 0);
    size_t k = 0;
    const int32_t ntiles = static_cast<int32_t>(tiles_.size());
    for (int32_t t = 0; t < ntiles; ++t) {
      const Tile& tile = tiles_[t];
      const int32_t b = tile.batch;
      const int64_t base = kv_base(b);
      const int64_t kv_len = p_.context_lens[b];
      const int64_t need = std::max<int64_t>(0, std::min<int64_t>(tile.eff, kv_len));
      for (int32_t h = 0; h < nhk_; ++h) {
        const size_t g0 = k;
        while (k < by_tile_head_.size() && tile_of_[by_tile_head_[k]] == t && head_of_[by_tile_head_[k]] == h)
          ++k;
        const size_t n = k - g0;
        if (n == 0) {
          add(inv::kTileCoverage,
              fmt::format("tile {} of batch {} (effective kv {}) has no work for K head {}",
                          rows(tile.qo_start, tile.qo_end), b, tile.eff, h),
              -1, h * gqa_, tile.qo_start, tile.qo_end);
          continue;
        }
        scheduled_[t] = 1;
        cuts[h] += static_cast<int64_t>(n) - 1;
        // The pieces in KV order (upstream lists them so; another policy may place them in any TG order).
        grp_.assign(by_tile_head_.begin() + static_cast<std::ptrdiff_t>(g0),
                    by_tile_head_.begin() + static_cast<std::ptrdiff_t>(k));
        if (n > 1) {
          std::stable_sort(grp_.begin(), grp_.end(), [&](int32_t a, int32_t c) {
            return plan_.work_info[a].kv_start < plan_.work_info[c].kv_start;
          });
          // work.tg_rows_once: one TG, two works for the same rows and head. Upstream never emits it (a TG
          // takes one contiguous run of a tile); the vendor kernel's behaviour on it is unknown (it may keep
          // a tile's Q or softmax state across consecutive works), and any such pair merges into one piece.
          tgs_.clear();
          for (int32_t w : grp_) tgs_.emplace_back(tg_of_[w], w);
          std::sort(tgs_.begin(), tgs_.end());
          for (size_t i = 1; i < tgs_.size(); ++i) {
            if (tgs_[i].first >= 0 && tgs_[i].first == tgs_[i - 1].first) {
              add_work(
                  inv::kTgRowsOnce,
                  fmt::format("TG {} holds works {} and {} for the same rows {} and K head {}", tgs_[i].first,
                              tgs_[i - 1].second, tgs_[i].second, rows(tile.qo_start, tile.qo_end), h),
                  tgs_[i].second);
            }
          }
        }
        const int32_t* grp = grp_.data();
        // coverage.kv: contiguous from the sequence start, covering the visible keys; non-last pieces end
        // before eff.
        const WorkInfo& first = plan_.work_info[grp[0]];
        if (first.kv_start != base) {
          add_work(inv::kKvCoverage,
                   fmt::format("first piece starts at page {}, sequence {} starts at page {}", first.kv_start,
                               b, base),
                   grp[0]);
        }
        for (size_t i = 0; i < n; ++i) {
          const WorkInfo& wi = plan_.work_info[grp[i]];
          const bool last = i + 1 == n;
          if (i > 0) {
            const WorkInfo& prev = plan_.work_info[grp[i - 1]];
            if (wi.kv_start != prev.kv_end) {
              add_work(
                  inv::kKvCoverage,
                  fmt::format("piece starts at page {}, previous piece (work {}) ends at {}: {}", wi.kv_start,
                              grp[i - 1], prev.kv_end, wi.kv_start > prev.kv_end ? "gap" : "overlap"),
                  grp[i]);
            }
          }
          const int64_t end_tok = (int64_t{wi.kv_end} - base) * bs_;
          // coverage.kv_visible: a piece that starts at or past the tile's visible keys does only masked
          // work: every row of it is empty (O = 0, LSE = -inf by the model; unknown on the vendor kernel).
          // Only an empty first piece may (a tile with no visible key).
          const int64_t start_tok = (int64_t{wi.kv_start} - base) * bs_;
          if ((i > 0 || wi.kv_end > wi.kv_start) && start_tok >= tile.eff) {
            add_work(inv::kKvVisible,
                     fmt::format("piece {} of {} starts at token {}, the tile's rows see tokens [0,{})",
                                 i + 1, n, start_tok, std::max(0, tile.eff)),
                     grp[i]);
          }
          if (!last && end_tok >= tile.eff) {
            add_work(inv::kKvCoverage,
                     fmt::format("non-last piece ends at token {} >= effective kv {}", end_tok, tile.eff),
                     grp[i]);
          }
          if (last && end_tok < need) {
            add_work(inv::kKvCoverage,
                     fmt::format("pieces cover tokens [0,{}) of batch {}, the tile sees {} keys", end_tok, b,
                                 need),
                     grp[i]);
          }
          // coverage.kv_offset (upstream's rule, 2.3).
          if (last && wi.kv_offset != 0) {
            add_work(inv::kKvOffset, fmt::format("last piece has kv_offset {}, must be 0", wi.kv_offset),
                     grp[i]);
          } else if (!last) {
            const int64_t expect = kv_len - end_tok;
            if (wi.kv_offset != expect || expect <= 0) {
              add_work(inv::kKvOffset,
                       fmt::format("non-last piece has kv_offset {}, expected kv_len {} - {} = {} > 0",
                                   wi.kv_offset, kv_len, end_tok, expect),
                       grp[i]);
            }
          }
          // slot.policy under the legacy contract: -1 iff the tile is one piece.
          // need_lse = false (merged #3606 form): -1 allowed, not required, on a tile's only piece.
          if (direct_ok_) {
            if (legacy_contract_ && n == 1 && wi.partial_o_loc != -1) {
              add_work(inv::kSlotPolicy,
                       fmt::format("single piece of its tile has partial_o_loc {}, legacy gives -1",
                                   wi.partial_o_loc),
                       grp[i]);
            } else if (n > 1 && wi.partial_o_loc < 0) {
              add_work(inv::kSlotPolicy,
                       fmt::format("piece {} of {} of a split tile has partial_o_loc {}", i + 1, n,
                                   wi.partial_o_loc),
                       grp[i]);
            }
          }
          // reduce.order: slots follow KV order.
          if (i > 0) {
            const int32_t prev_pol = plan_.work_info[grp[i - 1]].partial_o_loc;
            if (prev_pol >= 0 && wi.partial_o_loc >= 0 && wi.partial_o_loc <= prev_pol) {
              add_work(
                  inv::kReduceOrder,
                  fmt::format("slot {} after slot {} of the previous piece: slots must ascend in KV order",
                              wi.partial_o_loc, prev_pol),
                  grp[i]);
            }
          }
        }
      }
    }
    for (int32_t h = 0; h < nhk_; ++h) {
      if (cuts[h] > geo_.tgs_per_cluster - 1) {
        add(inv::kCuts,
            fmt::format("K head {} has {} cut pieces, at most TGs per cluster - 1 = {}", h, cuts[h],
                        geo_.tgs_per_cluster - 1),
            -1, h * gqa_);
      }
    }
  }

  // Items 2 (head invariance), 6 (tile order), 7 (slot uniqueness): per head.
  void check_heads() {
    using Key = std::tuple<int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t>;
    std::vector<Key> ref, cur;
    bool ref_sorted = false;
    std::vector<std::pair<int32_t, int32_t>> pols;  // (slot, work)
    std::vector<int32_t> seen(tiles_.size(), -1);
    size_t k = 0;
    for (int32_t h = 0; h < nhk_; ++h) {
      const size_t g0 = k;
      while (k < by_head_.size() && head_of_[by_head_[k]] == h) ++k;
      cur.clear();
      pols.clear();
      size_t next = 0;  // tiles first seen so far
      bool order_reported = false;
      for (size_t i = g0; i < k; ++i) {
        const int32_t w = by_head_[i];
        const WorkInfo& wi = plan_.work_info[w];
        const int32_t tg = tg_of_[w];
        cur.emplace_back(tg < 0 ? -1 : tg % geo_.tgs_per_cluster, wi.batch_idx, wi.partial_o_loc, wi.qo_start,
                         wi.qo_end, wi.kv_start, wi.kv_end, wi.kv_offset);
        if (wi.partial_o_loc >= 0) pols.emplace_back(wi.partial_o_loc, w);
        const int32_t t = tile_of_[w];
        if (t >= 0 && seen[t] != h) {
          seen[t] = h;
          if (!order_reported && !emission_.empty() && (next >= emission_.size() || emission_[next] != t)) {
            const Tile& want = tiles_[emission_[std::min(next, emission_.size() - 1)]];
            add_work(inv::kTileOrder,
                     fmt::format("K head {}: tile #{} to appear is {}, ping-pong order expects {}", h, next,
                                 rows(wi.qo_start, wi.qo_end), rows(want.qo_start, want.qo_end)),
                     w);
            order_reported = true;
          }
          ++next;
        }
      }
      // Upstream lists every head's pieces in the same order: equal sequences are equal multisets. Sort only
      // when they differ.
      if (h == 0) {
        ref = cur;
        ref_sorted = false;
      } else if (cur != ref) {
        std::sort(cur.begin(), cur.end());
        if (!ref_sorted) std::sort(ref.begin(), ref.end());
        ref_sorted = true;
      }
      if (h > 0 && cur != ref) {
        size_t i = 0;
        while (i < cur.size() && i < ref.size() && cur[i] == ref[i]) ++i;
        std::string what;
        if (i < cur.size()) {
          const Key& c = cur[i];
          what = fmt::format("has (tg%tpc {}, batch {}, pol {}, rows {}, kv {}, off {})", std::get<0>(c),
                             std::get<1>(c), std::get<2>(c), rows(std::get<3>(c), std::get<4>(c)),
                             rows(std::get<5>(c), std::get<6>(c)), std::get<7>(c));
        } else {
          what = "lacks pieces";
        }
        add(inv::kHeadInvariance,
            fmt::format("K head {} ({} pieces) differs from K head 0 ({} pieces): {} where head 0 {}", h,
                        cur.size(), ref.size(), what,
                        i < ref.size() ? fmt::format("has pol {} rows {} kv {}", std::get<2>(ref[i]),
                                                     rows(std::get<3>(ref[i]), std::get<4>(ref[i])),
                                                     rows(std::get<5>(ref[i]), std::get<6>(ref[i])))
                                       : std::string("has no more pieces")),
            -1, h * gqa_);
      }
      // Slots ascend in schedule order within a head upstream: then they are unique without a sort.
      bool ascending = true;
      for (size_t i = 1; i < pols.size() && ascending; ++i) ascending = pols[i].first > pols[i - 1].first;
      if (!ascending) std::sort(pols.begin(), pols.end());
      for (size_t i = 1; i < pols.size() && !ascending; ++i) {
        if (pols[i].first == pols[i - 1].first) {
          add_work(inv::kSlotUnique,
                   fmt::format("K head {}: slot {} used by work {} and work {}", h, pols[i].first,
                               pols[i - 1].second, pols[i].second),
                   pols[i].second);
        }
      }
    }
  }

  // Item 5: per (TG, head) load within the TG's capacity.
  void check_tg_load() {
    std::vector<int64_t> load(static_cast<size_t>(nhk_), 0);
    std::vector<int32_t> touched;  // heads with load in the current TG, in first-seen order
    size_t w = 0;
    while (w < static_cast<size_t>(nworks_)) {
      const int32_t tg = tg_of_[w];
      size_t e = w;
      touched.clear();
      while (e < static_cast<size_t>(nworks_) && tg_of_[e] == tg) {
        const int32_t h = head_of_[e];
        if (h >= 0) {
          const WorkInfo& wi = plan_.work_info[e];
          if (load[h] == 0 && std::find(touched.begin(), touched.end(), h) == touched.end())
            touched.push_back(h);
          load[h] += int64_t{wi.kv_end} - wi.kv_start;
        }
        ++e;
      }
      const int64_t cap = tg >= 0 && tg < p_.num_cu ? tg_capacity(tg) : 0;
      for (int32_t h : touched) {
        if (tg >= 0 && tg < p_.num_cu && load[h] > cap) {
          add(inv::kTgLoad,
              fmt::format(
                  "TG {} K head {}: {} blocks, capacity {} (average {} units, reminder {}, {} blocks/unit)",
                  tg, h, load[h], cap, average_, reminder_, bpu_),
              tg, h * gqa_);
        }
        load[h] = 0;
      }
      w = e;
    }
  }

  // Items 8 and 9: reduce info.
  void check_reduce() {
    const auto& ip = plan_.reduce_indptr;
    const auto& fm = plan_.reduce_final_map;
    const auto& pm = plan_.reduce_partial_map;
    const int64_t n_final = static_cast<int64_t>(fm.size());
    const int64_t npart = static_cast<int64_t>(pm.size());
    if (static_cast<int64_t>(ip.size()) != n_final + 1) {
      add(inv::kReduceIndptr,
          fmt::format("reduce_indptr has {} entries, reduce_final_map has {} rows (+1 expected)", ip.size(),
                      n_final));
    }
    if (!ip.empty() && ip[0] != 0)
      add(inv::kReduceIndptr, fmt::format("reduce_indptr[0] = {}, must be 0", ip[0]));
    for (size_t i = 0; i + 1 < ip.size(); ++i) {
      if (ip[i + 1] < ip[i]) {
        add(inv::kReduceIndptr,
            fmt::format("reduce_indptr[{}] = {} < reduce_indptr[{}] = {}", i + 1, ip[i + 1], i, ip[i]));
      }
    }
    if (!ip.empty() && ip.back() != npart) {
      add(inv::kReduceIndptr, fmt::format("reduce_indptr[{}] = {}, reduce_partial_map has {} entries",
                                          ip.size() - 1, ip.back(), npart));
    }
    // Each entry's partials: a clamped range, so a broken indptr cannot index outside the map.
    auto entry_range = [&](int64_t i) {
      const int64_t s = i < static_cast<int64_t>(ip.size()) ? clamp64(ip[i], 0, npart) : npart;
      const int64_t e = i + 1 < static_cast<int64_t>(ip.size()) ? clamp64(ip[i + 1], 0, npart) : s;
      return std::pair<int64_t, int64_t>(s, std::max(s, e));
    };
    std::vector<int64_t> entry_of(tiles_.size(), -1);
    for (int64_t i = 0; i < n_final; ++i) {
      const FinalLoc& f = fm[i];
      if (i > 0 && f.qo_start <= fm[i - 1].qo_start) {
        add(inv::kReduceOrder,
            fmt::format("reduce_final_map[{}] = {} does not ascend after {}", i, rows(f.qo_start, f.qo_end),
                        rows(fm[i - 1].qo_start, fm[i - 1].qo_end)),
            -1, -1, f.qo_start, f.qo_end);
      }
      const auto [s, e] = entry_range(i);
      for (int64_t k = s + 1; k < e; ++k) {
        if (pm[k] <= pm[k - 1]) {
          add(inv::kReduceOrder,
              fmt::format("entry {} {}: partials not strictly ascending ({} after {})", i,
                          rows(f.qo_start, f.qo_end), pm[k], pm[k - 1]),
              -1, -1, f.qo_start, f.qo_end);
          break;
        }
      }
      // Which tile is it?
      const auto it = std::upper_bound(p_.qo_indptr.begin(), p_.qo_indptr.end(), f.qo_start);
      const int64_t b = (it - p_.qo_indptr.begin()) - 1;
      const int32_t t = (b >= 0 && b < B_) ? tile_id(static_cast<int32_t>(b), f.qo_start, f.qo_end) : -1;
      if (t < 0) {
        add(inv::kReduceEntry,
            fmt::format("entry {}: rows {} are not a query tile", i, rows(f.qo_start, f.qo_end)), -1, -1,
            f.qo_start, f.qo_end);
      } else if (entry_of[t] >= 0) {
        add(inv::kReduceEntry,
            fmt::format("entries {} and {} both finalise tile {}", entry_of[t], i,
                        rows(f.qo_start, f.qo_end)),
            -1, -1, f.qo_start, f.qo_end);
      } else {
        entry_of[t] = i;
      }
    }
    // Every head of a tile must list exactly the entry's partials, in KV order: mla_reduce_v1 reads one
    // partial list per tile for every head (-1 pieces skipped under the pre-#3606 contract, where they are
    // direct writes).
    std::vector<int32_t> got, cur, any;
    size_t k = 0;
    for (size_t t = 0; t < tiles_.size(); ++t) {
      const Tile& tile = tiles_[t];
      const int32_t entry = static_cast<int32_t>(entry_of[t]);
      std::pair<int64_t, int64_t> range{0, 0};
      if (entry >= 0) {
        range = entry_range(entry);
        got.assign(pm.begin() + range.first, pm.begin() + range.second);
      }
      bool has_slots = false, reported = false;
      int32_t direct_head = -1;  // a head whose pieces of the tile are all direct writes (-1)
      any.clear();
      while (k < by_tile_head_.size() && tile_of_[by_tile_head_[k]] == static_cast<int32_t>(t)) {
        const int32_t head = head_of_[by_tile_head_[k]];
        grp_.clear();
        for (; k < by_tile_head_.size() && tile_of_[by_tile_head_[k]] == static_cast<int32_t>(t) &&
               head_of_[by_tile_head_[k]] == head;
             ++k)
          grp_.push_back(by_tile_head_[k]);
        std::stable_sort(grp_.begin(), grp_.end(), [&](int32_t a, int32_t c) {
          return plan_.work_info[a].kv_start < plan_.work_info[c].kv_start;
        });
        cur.clear();
        for (int32_t w : grp_) {
          const int32_t pol = plan_.work_info[w].partial_o_loc;
          if (direct_ok_ && pol == -1) continue;
          cur.push_back(pol);
        }
        has_slots = has_slots || !cur.empty();
        if (cur.empty() && direct_head < 0) direct_head = head;
        if (any.empty()) any = cur;
        if (entry >= 0 && !reported && range.second > range.first && !cur.empty() && cur != got) {
          add(inv::kReducePartials,
              fmt::format("entry {} for tile {} lists slots [{}], K head {}'s pieces use [{}] (in KV order)",
                          entry, rows(tile.qo_start, tile.qo_end), fmt::join(got, ","), head,
                          fmt::join(cur, ",")),
              -1, head * gqa_, tile.qo_start, tile.qo_end);
          reported = true;
        }
      }
      const bool needs = !direct_ok_ ? scheduled_[t] != 0 : has_slots;
      if (entry < 0) {
        if (needs) {
          add(inv::kReduceEntry,
              fmt::format("scheduled tile {} of batch {} has no reduce entry ({} slots: {})",
                          rows(tile.qo_start, tile.qo_end), tile.batch, any.size(), fmt::join(any, ",")),
              -1, -1, tile.qo_start, tile.qo_end);
        }
        continue;
      }
      // One head writes the tile directly, another through slots: mla_reduce_v1 merges the entry's partials
      // for every head, over the direct head's output.
      if (has_slots && direct_head >= 0 && !reported && range.second > range.first) {
        add(inv::kReducePartials,
            fmt::format(
                "entry {} for tile {} merges slots [{}] for every head, but K head {} writes the tile "
                "directly (partial_o_loc -1): the reduce overwrites its output",
                entry, rows(tile.qo_start, tile.qo_end), fmt::join(got, ","), direct_head),
            -1, direct_head * gqa_, tile.qo_start, tile.qo_end);
      }
      if (!needs) {
        add(inv::kReduceEntry,
            fmt::format("entry {} for tile {}, which has no partial pieces", entry,
                        rows(tile.qo_start, tile.qo_end)),
            -1, -1, tile.qo_start, tile.qo_end);
        continue;
      }
      const int64_t nsplit = range.second - range.first;
      if (nsplit == 0) {
        add(inv::kReduceEntry,
            fmt::format("entry {} for tile {} has 0 partials", entry, rows(tile.qo_start, tile.qo_end)), -1,
            -1, tile.qo_start, tile.qo_end);
        continue;
      }
      // mla_reduce_v1 sizes its LDS for max(CU count, num_kv_splits) partial LSEs per row; the prefill
      // path passes num_kv_splits = 0 (contract 5.1).
      if (nsplit > p_.num_cu) {
        add(inv::kReduceSplits,
            fmt::format("entry {} for tile {} merges {} partials, the reduce holds at most num_cu = {}",
                        entry, rows(tile.qo_start, tile.qo_end), nsplit, p_.num_cu),
            -1, -1, tile.qo_start, tile.qo_end);
      }
    }
  }

  // Item 14: the plan fits the buffers.
  void check_buffers() {
    for (std::string& m : capacity_overflows(plan_, cap_, p_.tile_q)) add(inv::kBufferFit, std::move(m));
  }
};

}  // namespace

std::vector<Violation> validate(const Problem& p, const Plan& plan, const ValidateOptions& opt) {
  validate_problem(p);  // a bad problem is an input error, not a plan defect
  return Validator(p, plan, opt).run();
}

const char* contract_name(Contract c) {
  return c == Contract::kUpstreamShape ? "upstream-shape" : "execution";
}

Contract contract_of(std::string_view invariant) {
  for (const char* shape : {inv::kClusterHeads, inv::kTgLoad, inv::kCuts, inv::kHeadInvariance,
                            inv::kTileOrder, inv::kReduceOrder}) {
    if (invariant == shape) return Contract::kUpstreamShape;
  }
  return Contract::kExecution;
}

std::string format_violation(const Violation& v) {
  std::string s = fmt::format("[{}] {}", contract_name(v.contract), v.invariant);
  if (v.tg >= 0) s += fmt::format(" tg={}", v.tg);
  if (v.head >= 0) s += fmt::format(" head={}", v.head);
  if (v.qo_start >= 0 || v.qo_end >= 0) s += fmt::format(" rows=[{},{})", v.qo_start, v.qo_end);
  if (v.work >= 0) s += fmt::format(" work={}", v.work);
  return s + ": " + v.detail;
}

std::vector<uint8_t> lse_not_promised(const Problem& p, const Plan& plan) {
  const int64_t tokens = std::max(0, p.num_tokens()), heads = p.num_heads_q();
  std::vector<uint8_t> mask(static_cast<size_t>(tokens * heads), 0);
  if (p.need_lse) return mask;
  for (const WorkInfo& w : plan.work_info) {
    if (w.partial_o_loc != -1) continue;
    const int64_t r0 = std::max<int64_t>(0, w.qo_start), r1 = std::min<int64_t>(tokens, w.qo_end);
    const int64_t h0 = std::max<int64_t>(0, w.q_head_lo()), h1 = std::min<int64_t>(heads, w.q_head_hi());
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t h = h0; h < h1; ++h) mask[static_cast<size_t>(r * heads + h)] = 1;
    }
  }
  return mask;
}

int64_t unscheduled_row_heads(const Problem& p, const std::vector<Violation>& v) {
  int64_t n = 0;
  for (const Violation& x : v) {
    if (x.invariant == inv::kTileCoverage) n += int64_t{x.qo_end - x.qo_start} * p.gqa_ratio;
  }
  return n;
}

}  // namespace mlaps
