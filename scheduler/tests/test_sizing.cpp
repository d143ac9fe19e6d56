// get_ps_metadata_info_v1 capacities (contract 1.3) and capacity_overflows.
#include <gtest/gtest.h>

#include <array>
#include <numeric>
#include <random>

#include "scheduler/error.h"
#include "scheduler/policy.h"
#include "scheduler/sizing.h"
#include "test_util.h"

namespace mlaps {
namespace {

// nh = 128, B = 16, L = 1024 on 256 CUs: 128 clusters x 2 TGs (cpc = 2), mq = 4, qtc = 64.
SizingInputs contract_example() {
  SizingInputs in;
  in.batch_size = 16;
  in.max_qlen = 1024;
  in.num_heads_k = 128;
  in.num_cu = 256;
  return in;
}

TEST(Sizing, LegacyFormula) {
  const Capacity c = compute_capacity(contract_example(), SizingFormula::kLegacy);
  EXPECT_EQ(c.work_indptr, 257);
  EXPECT_EQ(c.work_info, (16 + 2 - 1) * 4 * 128);  // 8704
  EXPECT_EQ(c.reduce_indptr, 65);
  EXPECT_EQ(c.reduce_final_map, 64);
  EXPECT_EQ(c.reduce_partial_map, std::min(16 + 1, 2 * 1) * 4);  // 8
  EXPECT_EQ(c.partial_rows(256), 2048);
}

TEST(Sizing, Pr3606Formula) {
  // max_kvlen defaults to max_qlen: mks = ceil(1024/128) = 8, wpc = 64 * (8 + 2) = 640.
  Capacity c = compute_capacity(contract_example(), SizingFormula::kPr3606);
  EXPECT_EQ(c.work_indptr, 257);
  EXPECT_EQ(c.work_info, 128 * 640);
  EXPECT_EQ(c.reduce_indptr, 65);
  EXPECT_EQ(c.reduce_final_map, 64);
  EXPECT_EQ(c.reduce_partial_map, 640);
  // An explicit max_kvlen (vLLM's context workspace): 16384 -> mks = 128, wpc = 64 * 130.
  SizingInputs in = contract_example();
  in.max_kvlen = 16384;
  c = compute_capacity(in, SizingFormula::kPr3606);
  EXPECT_EQ(c.reduce_partial_map, 64 * 130);
  EXPECT_EQ(c.work_info, 128 * 64 * 130);
  in.max_kvlen = 0;  // mks is at least 1
  EXPECT_EQ(compute_capacity(in, SizingFormula::kPr3606).reduce_partial_map, 64 * 3);
}

TEST(Sizing, WorkedExampleFromProblem) {
  // qo = kv = 600, 1 head, 4 CUs: 1 cluster, cpc 4, mq 3, qtc 3.
  const SizingInputs in = SizingInputs::from_problem(test::worked_example());
  EXPECT_EQ(in.batch_size, 1);
  EXPECT_EQ(in.max_qlen, 600);
  EXPECT_EQ(in.max_kvlen, 600);
  const Capacity l = compute_capacity(in, SizingFormula::kLegacy);
  EXPECT_EQ(l, (Capacity{5, 12, 4, 3, 12}));
  const Capacity f = compute_capacity(in, SizingFormula::kPr3606);
  EXPECT_EQ(f, (Capacity{5, 27, 4, 3, 27}));  // mks 5, wpc = 3 * (5 + 4)
}

TEST(Sizing, FixedPlanNeeds64SlotsOldFormulaGives8) {
  // Contract 1.3: 16 sequences qo = kv = 1024, 128 heads, 256 CUs. With the fix every piece takes a slot:
  // per cluster 64 tiles, two TGs of 32 whole tiles each -> 64 slots; the old formula allows 8.
  const Problem p =
      Problem::from_lengths(std::vector<int32_t>(16, 1024), std::vector<int32_t>(16, 1024), 128, true);
  const Plan fixed = make_plan(p, policy_named("aiter"));
  EXPECT_EQ(fixed.reduce_partial_map.size(), 64u);
  const Capacity old_cap = compute_capacity(SizingInputs::from_problem(p), SizingFormula::kLegacy);
  const auto over = capacity_overflows(fixed, old_cap, p.tile_q);
  ASSERT_EQ(over.size(), 2u);
  EXPECT_EQ(over[0], "reduce_partial_map: needs 64 entries, capacity 8");
  EXPECT_EQ(over[1], "partial_rows: needs 16384 rows, capacity 2048");  // slot 63 * 256 + 256 rows
  EXPECT_TRUE(capacity_overflows(
                  fixed, compute_capacity(SizingInputs::from_problem(p), SizingFormula::kPr3606), p.tile_q)
                  .empty());
  // The legacy plan takes the -1 path for all 64 tiles and fits the old formula.
  const Plan legacy = make_plan(p, policy_named("aiter-legacy"));
  EXPECT_TRUE(legacy.reduce_partial_map.empty());
  EXPECT_TRUE(capacity_overflows(legacy, old_cap, p.tile_q).empty());
}

TEST(Sizing, OverflowMessagesForEveryBuffer) {
  const Plan plan =
      make_plan(test::worked_example(), policy_named("aiter"));  // 5 / 6 works / 4 / 3 / 6 partials
  const auto over = capacity_overflows(plan, Capacity{4, 5, 3, 2, 5}, 256);
  ASSERT_EQ(over.size(), 6u);
  EXPECT_EQ(over[0], "work_indptr: needs 5 entries, capacity 4");
  EXPECT_EQ(over[1], "work_info: needs 6 rows, capacity 5");
  EXPECT_EQ(over[2], "reduce_indptr: needs 4 entries, capacity 3");
  EXPECT_EQ(over[3], "reduce_final_map: needs 3 rows, capacity 2");
  EXPECT_EQ(over[4], "reduce_partial_map: needs 6 entries, capacity 5");
  EXPECT_EQ(over[5], "partial_rows: needs 1536 rows, capacity 1280");
}

TEST(Sizing, RejectsBadInputs) {
  SizingInputs in = contract_example();
  in.num_cu = 0;
  EXPECT_THROW(compute_capacity(in, SizingFormula::kLegacy), InputError);
  in = contract_example();
  in.num_heads_k = 0;
  EXPECT_THROW(compute_capacity(in, SizingFormula::kPr3606), InputError);
}

}  // namespace
}  // namespace mlaps

// ---------------------------------------------------------------------------------------------------------------
// The tight bound (sizing_tight.cpp): the theorem's numbers, 10,000 random batches within the limits per
// configuration (each planned by make_plan_into into buffers of exactly the bound's sizes), and the
// witnesses.

namespace mlaps {
namespace {

EngineLimits limits(int32_t T, int32_t S, int32_t heads, int32_t cu, bool causal,
                    std::optional<int32_t> max_kvlen = std::nullopt, int32_t gqa = 1) {
  EngineLimits l;
  l.max_num_batched_tokens = T;
  l.max_num_seqs = S;
  l.num_heads_k = heads;
  l.num_cu = cu;
  l.causal = causal;
  l.max_kvlen = max_kvlen;
  l.gqa_ratio = gqa;
  return l;
}

std::string describe(const EngineLimits& l, Policy p) {
  return "T " + std::to_string(l.max_num_batched_tokens) + " S " + std::to_string(l.max_num_seqs) + " H " +
         std::to_string(l.num_heads_k) + " cu " + std::to_string(l.num_cu) +
         (l.causal ? " causal" : " non-causal") + " L " + (l.max_kvlen ? std::to_string(*l.max_kvlen) : "-") +
         " gqa " + std::to_string(l.gqa_ratio) + (l.need_lse ? "" : " no-lse") + " " + std::string(p.name());
}

// A random batch within the limits, biased to the shapes that make pieces: many single-token sequences, a
// long one, KV lengths at unit boundaries +- 1, and (non-causal) empty contexts.
Batch random_batch(const EngineLimits& l, std::mt19937_64& rng) {
  auto pick = [&](int64_t lo, int64_t hi) {  // uniform in [lo, hi]
    return hi <= lo ? lo : lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
  };
  const int64_t S = l.max_num_seqs, T = l.max_num_batched_tokens, kvg = l.tile_kv;
  const int64_t B = rng() % 3 == 0 ? std::min(S, T) : pick(1, std::min(S, T));
  int64_t budget = rng() % 4 == 0 ? pick(B, T) : T;
  const int64_t qmax = l.causal && l.max_kvlen ? *l.max_kvlen : T;
  const int64_t kv_cap = l.max_kvlen ? *l.max_kvlen
                                     : std::array<int64_t, 4>{kvg, 8 * kvg, int64_t{l.num_cu} * kvg * 4,
                                                              int64_t{1} << 21}[rng() % 4];
  Batch b;
  for (int64_t i = 0; i < B; ++i) {
    const int64_t left = B - i - 1;  // keep a token for each later sequence when possible
    int64_t q;
    switch (rng() % 4) {
      case 0:
        q = 1;
        break;
      case 1:
        q = budget - left;
        break;  // the long one
      case 2:
        q = pick(0, budget - left);
        break;
      default:
        q = pick(0, std::min<int64_t>(budget - left, 2 * l.tile_q + 1));
    }
    q = std::clamp<int64_t>(q, 0, std::min(qmax, std::max<int64_t>(0, budget)));
    budget -= q;
    const int64_t lo = l.causal ? q : 0;
    int64_t kv;
    switch (rng() % 3) {
      case 0:
        kv = pick(lo, std::max(lo, kv_cap));
        break;
      case 1:
        kv = std::clamp<int64_t>(pick(0, kv_cap / kvg + 1) * kvg + pick(-1, 1), lo, std::max(lo, kv_cap));
        break;
      default:
        kv = l.causal ? q : pick(0, 1);
    }
    b.qo_lens.push_back(static_cast<int32_t>(q));
    b.kv_lens.push_back(static_cast<int32_t>(kv));
  }
  return b;
}

struct Buffers {
  std::vector<int32_t> work_indptr, reduce_indptr, reduce_partial_map;
  std::vector<WorkInfo> work_info;
  std::vector<FinalLoc> reduce_final_map;
  explicit Buffers(const EngineLimits& l, const BufferCounts& c)
      : work_indptr(static_cast<size_t>(l.num_cu) + 1),
        reduce_indptr(static_cast<size_t>(*c.reduce_entries) + 1),
        reduce_partial_map(static_cast<size_t>(*c.reduce_partial_map)),
        work_info(static_cast<size_t>(*c.works)),
        reduce_final_map(static_cast<size_t>(*c.reduce_entries)) {}
  PlanSpans spans() { return {work_indptr, work_info, reduce_indptr, reduce_final_map, reduce_partial_map}; }
};

// Plans b into buffers of exactly the bound's sizes and returns what it needs (make_plan_into throws if a
// buffer is too small).
BufferCounts plan_into_bound(const EngineLimits& l, Policy policy, const BufferCounts& bound, const Batch& b,
                             Buffers& buf, PlanWorkspace& ws) {
  const Problem p = problem_of(l, b);  // carries l.need_lse: the policy plans as it does for that flag
  const PlanSizes s = make_plan_into(p, policy, buf.spans(), ws, {.zero_tails = false});
  int64_t slots = 0;
  for (int32_t w = 0; w < s.num_works; ++w) {
    const WorkInfo& wi = buf.work_info[static_cast<size_t>(w)];
    if (wi.partial_o_loc >= 0) slots = std::max<int64_t>(slots, wi.partial_o_loc / l.qlen_granularity() + 1);
  }
  (void)bound;
  return BufferCounts{s.num_works, slots, s.num_reduce_entries, s.num_partials};
}

struct Config {
  EngineLimits lim;
  Policy policy;
  bool exact;  // a witness attains every count
};

std::vector<Config> configs() {
  std::vector<Config> v;
  auto add = [&](EngineLimits l, Policy p, bool exact = true) { v.push_back({l, p, exact}); };
  // DeepSeek-V3 shapes (16/32/128 heads per rank, 256 CUs): new tokens causal without max_kvlen, context
  // chunks non-causal with the chunk workspace as max_kvlen.
  add(limits(8192, 256, 16, 256, true), policy_named("aiter"));
  add(limits(8192, 256, 128, 256, true), policy_named("aiter"));
  add(limits(16384, 256, 32, 256, false, 16384), policy_named("aiter"));
  add(limits(8192, 256, 16, 256, false, 8192), policy_named("aiter-legacy"));
  EngineLimits nolse = limits(8192, 256, 32, 256, false, 65536);
  nolse.need_lse = false;
  add(nolse, policy_named("aiter"));
  // Small machines, where random batches reach the corners.
  add(limits(2000, 8, 1, 16, true), policy_named("aiter"));
  add(limits(2000, 8, 1, 16, true), policy_named("aiter-legacy"));
  add(limits(700, 6, 3, 12, false, 1000, 2), policy_named("aiter"));  // gqa 2: qlen_granularity 128
  add(limits(300, 300, 1, 64, false, 200), policy_named("aiter"));    // L = 200: at most 2 units per tile
  add(limits(300, 300, 1, 64, false, 200), policy_named("aiter-legacy"));
  add(limits(5000, 40, 8, 8, true), policy_named("aiter"));       // one TG per cluster: no cuts
  add(limits(100, 3, 1, 32, false, 128), policy_named("aiter"));  // every tile one unit: pieces = tiles
  // One sequence of tpc equal tiles (non-causal): each TG takes one tile whole, and one tile fewer leaves
  // tpc - 1 cuts: no batch reaches n + tpc - 1 (the bound is proven, not attained).
  add(limits(16 * 256, 1, 1, 16, false), policy_named("aiter"), false);
  // whole-tiles' own bound (one piece per tile and head, one slot and entry per tile): need_lse changes
  // nothing.
  const Policy whole = policy_named("whole-tiles");
  add(limits(8192, 256, 16, 256, true), whole);
  add(limits(2000, 8, 1, 16, true), whole);
  add(limits(300, 300, 1, 64, false, 200), whole);
  add(limits(700, 6, 3, 12, true, 1000, 2), whole);
  add(nolse, whole);
  return v;
}

TEST(TightBound, DeepSeekNumbers) {
  // T 8192, S 256: n = 256 + floor(7936 / 256) = 287 tiles; 16 heads on 256 CUs: 16 clusters of 16 TGs.
  const TightBound t = tight_bound(limits(8192, 256, 16, 256, false), policy_named("aiter"));
  EXPECT_EQ(t.bound, (BufferCounts{16 * 302, 302, 287, 302}));
  EXPECT_TRUE(t.exact());
  // 128 heads: 2 TGs per cluster, one cut.
  EXPECT_EQ(tight_bound(limits(8192, 256, 128, 256, true), policy_named("aiter")).bound,
            (BufferCounts{128 * 288, 288, 287, 288}));
  // Whole tiles direct: slots go to the cut tiles only, at most 2 (tpc - 1).
  EXPECT_EQ(tight_bound(limits(8192, 256, 16, 256, false), policy_named("aiter-legacy")).bound,
            (BufferCounts{16 * 302, 30, 15, 30}));
  // Causal with L: a sequence holds at most ceil(L / G) tiles, so few sequences make few tiles.
  EXPECT_EQ(tight_bound(limits(8192, 2, 16, 256, true, 512), policy_named("aiter")).bound.reduce_entries, 4);
  // T < S: at most T sequences of one token.
  EXPECT_EQ(tight_bound(limits(10, 256, 16, 256, true), policy_named("aiter")).bound.reduce_entries, 10);
}

TEST(TightBound, RandomBatchesFitAndWitnessesAttain) {
  for (const Config& cfg : configs()) {
    SCOPED_TRACE(describe(cfg.lim, cfg.policy));
    const TightBound t = tight_bound(cfg.lim, cfg.policy);
    Buffers buf(cfg.lim, t.bound);
    PlanWorkspace ws;
    // The witness: within the limits, and its plan (full heads, into the bound's buffers) needs the bound.
    const Batch& w = t.witness;
    ASSERT_FALSE(w.qo_lens.empty());
    EXPECT_LE(static_cast<int64_t>(w.qo_lens.size()), cfg.lim.max_num_seqs);
    EXPECT_LE(std::accumulate(w.qo_lens.begin(), w.qo_lens.end(), int64_t{0}),
              cfg.lim.max_num_batched_tokens);
    for (size_t i = 0; i < w.qo_lens.size(); ++i) {
      if (cfg.lim.max_kvlen) {
        EXPECT_LE(w.kv_lens[i], *cfg.lim.max_kvlen);
      }
      if (cfg.lim.causal) {
        EXPECT_LE(w.qo_lens[i], w.kv_lens[i]);
      }
    }
    const BufferCounts got = plan_into_bound(cfg.lim, cfg.policy, t.bound, w, buf, ws);
    EXPECT_EQ(got, t.attained);
    EXPECT_EQ(t.exact(), cfg.exact) << "witness needs " << *got.works << " / " << *got.partial_slots << " / "
                                    << *got.reduce_entries << " / " << *got.reduce_partial_map;
    std::mt19937_64 rng(1234);
    BufferCounts most{0, 0, 0, 0};
    int planned = 0;
    for (int i = 0; i < 10000; ++i) {
      const Batch b = random_batch(cfg.lim, rng);
      BufferCounts r;
      try {
        r = plan_into_bound(cfg.lim, cfg.policy, t.bound, b, buf, ws);
      } catch (const InputError& e) {
        const std::string what = e.what();
        // Buffers too small would be a bound violation; anything else is an input the generator got wrong.
        ASSERT_EQ(what.find("buffer has"), std::string::npos) << what;
        continue;
      }
      ++planned;
      ASSERT_LE(*r.partial_slots, *t.bound.partial_slots);
      most = BufferCounts{std::max(*most.works, *r.works), std::max(*most.partial_slots, *r.partial_slots),
                          std::max(*most.reduce_entries, *r.reduce_entries),
                          std::max(*most.reduce_partial_map, *r.reduce_partial_map)};
    }
    EXPECT_GE(planned, 9900);
    RecordProperty(describe(cfg.lim, cfg.policy), "random max slots " + std::to_string(*most.partial_slots) +
                                                      " of " + std::to_string(*t.bound.partial_slots));
  }
}

TEST(TightBound, WholeTilesIsOnePiecePerTile) {
  // T 8192, S 256: n = 287 tiles at most; 16 heads: 16 x 287 works, 287 slots, entries, partials.
  const Policy whole = policy_named("whole-tiles");
  const TightBound t = tight_bound(limits(8192, 256, 16, 256, true), whole);
  EXPECT_EQ(t.bound, (BufferCounts{16 * 287, 287, 287, 287}));
  EXPECT_TRUE(t.exact());
  EngineLimits nolse = limits(8192, 256, 16, 256, true);
  nolse.need_lse = false;
  EXPECT_EQ(tight_bound(nolse, whole).bound, t.bound);
  // Causal with L = 300 (2 tiles of 256 per sequence at most), S 3, T 2000: n = 3 + min(7, 3) = 6.
  EXPECT_EQ(tight_bound(limits(2000, 3, 1, 8, true, 300), whole).bound, (BufferCounts{6, 6, 6, 6}));
  EXPECT_EQ(max_query_tiles(limits(2000, 3, 1, 8, true, 300)), 6);
  // Every tile a piece: the legacy formula's 2 (tpc - 1) * mq partials at 128 heads (tpc 2: 2 * 32 = 64)
  // overflow at the fewest-token batch of 65 tiles (65 single-token sequences).
  const EngineLimits l128 = limits(8192, 256, 128, 256, true);
  const OverflowSearch o =
      smallest_overflow(l128, whole, compute_capacity(l128.upstream_inputs(), SizingFormula::kLegacy));
  ASSERT_EQ(o.status, OverflowSearch::Status::kFound);
  EXPECT_EQ(o.batch.qo_lens, std::vector<int32_t>(65, 1));
  EXPECT_FALSE(o.proven_smallest);
}

TEST(TightBound, RefusesAPolicyWithoutADerivedBound) {
  // A policy neither claiming upstream's shape nor giving its own bound: no number, a clear error.
  const PolicyDef& whole = policy_named("whole-tiles").def();
  const PolicyDef underived{.name = "underived",
                            .summary = "test row",
                            .traits = whole.traits,
                            .plan = whole.plan,
                            .capacity = whole.capacity,
                            .tight = nullptr};
  try {
    tight_bound(limits(8192, 256, 16, 256, true), Policy(underived));
    FAIL() << "a bound for a policy without one";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "--policy");
    EXPECT_NE(std::string(e.what()).find("no tight bound is derived for 'underived'"), std::string::npos)
        << e.what();
  }
}

TEST(TightBound, RejectsBadLimits) {
  EngineLimits l = limits(8192, 256, 16, 256, true);
  l.max_num_seqs = 0;
  EXPECT_THROW(tight_bound(l, policy_named("aiter")), InputError);
  l = limits(8192, 256, 16, 256, true, 0);
  EXPECT_THROW(tight_bound(l, policy_named("aiter")), InputError);
  l = limits(8192, 256, 16, 256, true);
  l.tile_kv = 96;
  EXPECT_THROW(tight_bound(l, policy_named("aiter")), InputError);
}

TEST(TightBound, LegacyFormulaOverflowWitness) {
  // 128 heads: the legacy formula at S 256, max_qlen 8192 allows min(257, 2) * 32 = 64 partials; the fixed
  // scheduler needs up to 288. The smallest batch over it: 64 single-token sequences and one cut (65 pieces).
  const EngineLimits l = limits(8192, 256, 128, 256, false);
  const Capacity legacy = compute_capacity(l.upstream_inputs(), SizingFormula::kLegacy);
  EXPECT_EQ(legacy.reduce_partial_map, 64);
  const OverflowSearch o = smallest_overflow(l, policy_named("aiter"), legacy);
  ASSERT_EQ(o.status, OverflowSearch::Status::kFound);
  EXPECT_TRUE(o.proven_smallest);
  EXPECT_EQ(std::accumulate(o.batch.qo_lens.begin(), o.batch.qo_lens.end(), 0), 64);
  EXPECT_FALSE(
      capacity_overflows(make_plan(problem_of(l, o.batch), policy_named("aiter")), legacy, l.tile_q).empty());
  // The pre-fix scheduler fits its own formula (proven: the tight bound is below it).
  EXPECT_EQ(smallest_overflow(l, policy_named("aiter-legacy"), legacy).status, OverflowSearch::Status::kNone);
  // 16 heads: 2 (cpc - 1) * 32 = 960 >= 302: no batch within these limits overflows it.
  const EngineLimits l16 = limits(8192, 256, 16, 256, false);
  EXPECT_EQ(smallest_overflow(l16, policy_named("aiter"),
                              compute_capacity(l16.upstream_inputs(), SizingFormula::kLegacy))
                .status,
            OverflowSearch::Status::kNone);
  // The PR formula never overflows.
  EXPECT_EQ(smallest_overflow(l, policy_named("aiter"),
                              compute_capacity(l.upstream_inputs(), SizingFormula::kPr3606))
                .status,
            OverflowSearch::Status::kNone);
}

TEST(TightBound, VllmBoundAndBytes) {
  const EngineLimits l = limits(8192, 256, 16, 256, true);
  const BufferCounts v = vllm_bound(l);
  EXPECT_EQ(v.partial_slots, 32 + 255 + 256);
  EXPECT_FALSE(v.works.has_value());
  const BufferBytes vb = bytes_of(v, l, 128);
  EXPECT_EQ(vb.partial_o, int64_t{543} * 256 * 16 * 128 * 4);
  EXPECT_EQ(vb.partial_lse, int64_t{543} * 256 * 16 * 4);
  EXPECT_FALSE(vb.total.has_value());
  const BufferBytes tb = bytes_of(BufferCounts{16 * 302, 302, 287, 302}, l, 128);
  EXPECT_EQ(tb.work_indptr, 257 * 4);
  EXPECT_EQ(tb.work_info, 16 * 302 * 32);
  EXPECT_EQ(tb.reduce_indptr, 288 * 4);
  EXPECT_EQ(tb.reduce_final_map, 287 * 8);
  EXPECT_EQ(tb.reduce_partial_map, 302 * 4);
  EXPECT_EQ(tb.total, *tb.work_indptr + *tb.work_info + *tb.reduce_indptr + *tb.reduce_final_map +
                          *tb.reduce_partial_map + *tb.partial_o + *tb.partial_lse);
}

}  // namespace
}  // namespace mlaps
