// validate(): clean plans pass, each invariant catches a hand-mutated plan, known upstream defects are
// reported, and malformed plans never crash it.
#include <gtest/gtest.h>

#include "scheduler/error.h"
#include "scheduler/policy.h"
#include "scheduler/sizing.h"
#include "scheduler/validate.h"
#include "test_util.h"

namespace mlaps {
namespace {

using test::count;
using test::has;

// Removes work w, keeping work_indptr consistent.
void erase_work(Plan& plan, int32_t w) {
  plan.work_info.erase(plan.work_info.begin() + w);
  for (int32_t& v : plan.work_indptr) v -= v > w ? 1 : 0;
}

class Mutate : public ::testing::Test {
 protected:
  // Worked example (2.4), fixed policy. Works: 0 (0,256) kv[0,256) pol 0 | 1 (512,600) kv[0,128) pol 256 off
  // 472 | 2 (512,600) kv[128,512) pol 512 off 88 | 3 (512,600) kv[512,600) pol 768 | 4 (256,512) kv[0,256)
  // pol 1024 off 344 | 5 (256,512) kv[256,512) pol 1280. work_indptr [0,2,3,5,6].
  Problem p = test::worked_example();
  Plan plan = make_plan(p, policy_named("aiter"));
  std::vector<Violation> check(const ValidateOptions& opt = {}) { return validate(p, plan, opt); }
};

TEST_F(Mutate, BaselineIsClean) {
  EXPECT_TRUE(check().empty()) << test::dump(check());
}

TEST_F(Mutate, WorkIndptrShape) {
  plan.work_indptr.pop_back();
  const auto v = check();
  EXPECT_TRUE(has(v, inv::kWorkIndptrShape)) << test::dump(v);
  plan = make_plan(p, policy_named("aiter"));
  plan.work_indptr[0] = 1;
  EXPECT_TRUE(has(check(), inv::kWorkIndptrShape));
}

TEST_F(Mutate, WorkIndptrMonotone) {
  plan.work_indptr[1] = 4;  // [0,4,3,5,6]
  const auto v = check();
  ASSERT_TRUE(has(v, inv::kWorkIndptrMonotone)) << test::dump(v);
  for (const auto& x : v) {
    if (x.invariant == inv::kWorkIndptrMonotone) {
      EXPECT_EQ(x.tg, 1);
    }
  }
}

TEST_F(Mutate, WorkFields) {
  plan.work_info[2].batch_idx = 5;
  plan.work_info[4].kv_end = -3;
  plan.work_info[5].q_head_range = test::heads(1, 2);  // head 1 of a 1-head problem
  const auto v = check();
  ASSERT_EQ(count(v, inv::kWorkFields), 2) << test::dump(v);
  ASSERT_EQ(count(v, inv::kHeadRange), 1) << test::dump(v);
  for (const auto& x : v) {
    if (x.invariant != inv::kWorkFields && x.invariant != inv::kHeadRange) continue;
    EXPECT_TRUE(x.work == 2 || x.work == 4 || x.work == 5);
    EXPECT_GE(x.tg, 1);
    EXPECT_EQ(x.contract, Contract::kExecution);
  }
  plan = make_plan(p, policy_named("aiter"));
  plan.work_info[0].qo_end = 200;  // not a query tile
  EXPECT_TRUE(has(check(), inv::kWorkFields));
}

TEST_F(Mutate, HeadRangeCrossingKHeads) {
  // 2 K heads, gqa 1: a work for q heads [0,2) spans both K heads (the kernel reads one K/V head per work).
  p = Problem::from_lengths({600}, {600}, 2, true, 4);
  plan = make_plan(p, policy_named("aiter"));
  plan.work_info[0].q_head_range = test::heads(0, 2);
  const auto v = check();
  ASSERT_EQ(count(v, inv::kHeadRange), 1) << test::dump(v);
  EXPECT_FALSE(has(v, inv::kWorkFields));
  // gqa 2: [1,3) is two halves of two K heads' q heads.
  p = Problem::from_lengths({600}, {600}, 2, true, 4, /*gqa_ratio=*/2);
  plan = make_plan(p, policy_named("aiter"));
  ASSERT_TRUE(check().empty()) << test::dump(check());
  plan.work_info[1].q_head_range = test::heads(1, 3);
  EXPECT_EQ(count(check(), inv::kHeadRange), 1) << test::dump(check());
}

TEST_F(Mutate, TgRowsOnce) {
  // TG0 takes TG1's piece of tile (512,600) too: work_indptr [0,3,3,5,6] (TG0 holds works 0, 1, 2).
  plan.work_indptr[1] = 3;
  const auto v = check();
  ASSERT_EQ(count(v, inv::kTgRowsOnce), 1) << test::dump(v);
  for (const auto& x : v) {
    if (x.invariant != inv::kTgRowsOnce) continue;
    EXPECT_EQ(x.tg, 0);
    EXPECT_EQ(x.work, 2);
    EXPECT_EQ(x.qo_start, 512);
  }
}

TEST_F(Mutate, KvPieceStartsPastVisibleKeys) {
  // Tile (256,512) sees 512 keys; its second piece moves to [512,600): past them, every row of it masked.
  plan.work_info[4].kv_end = 512;
  plan.work_info[4].kv_offset = 88;
  plan.work_info[5].kv_start = 512;
  plan.work_info[5].kv_end = 600;
  const auto v = check();
  ASSERT_EQ(count(v, inv::kKvVisible), 1) << test::dump(v);
  for (const auto& x : v) {
    if (x.invariant == inv::kKvVisible) {
      EXPECT_EQ(x.work, 5);
    }
  }
  // An empty first piece of a tile with no visible key is fine (upstream's mid zero-KV tiles).
  p = Problem::from_lengths({64, 100, 5}, {500, 0, 200}, 1, false, 4);
  plan = make_plan(p, policy_named("aiter"));
  EXPECT_FALSE(has(check(), inv::kKvVisible)) << test::dump(check());
}

TEST_F(Mutate, ReduceSplits) {
  // One TG: every tile whole, one partial each. Tile (0,256) now lists 2 partials: more than num_cu = 1.
  p = Problem::from_lengths({600}, {600}, 1, true, 1);
  plan = make_plan(p, policy_named("aiter"));
  ASSERT_TRUE(check().empty()) << test::dump(check());
  plan.reduce_partial_map.insert(plan.reduce_partial_map.begin() + 1, 512);
  for (size_t i = 1; i < plan.reduce_indptr.size(); ++i) ++plan.reduce_indptr[i];
  const auto v = check();
  ASSERT_EQ(count(v, inv::kReduceSplits), 1) << test::dump(v);
  EXPECT_TRUE(has(v, inv::kReducePartials));
}

TEST_F(Mutate, ReducePartialsPerHead) {
  // 3 K heads on 4 CUs: one cluster, each TG lists its pieces for K heads 0, 1, 2. K head 1 of tile
  // (512,600) uses the tile's slots in the opposite KV order: the union over heads is unchanged, but the
  // reduce's one partial list cannot serve both heads.
  p = Problem::from_lengths({600}, {600}, 3, true, 4);
  plan = make_plan(p, policy_named("aiter"));
  ASSERT_TRUE(check().empty()) << test::dump(check());
  std::vector<int32_t> idx;  // K head 1's pieces of tile (512,600), in work order (= KV order)
  for (int32_t w = 0; w < plan.num_works(); ++w) {
    const WorkInfo& x = plan.work_info[w];
    if (x.qo_start == 512 && x.q_head_lo() == 1) idx.push_back(w);
  }
  ASSERT_EQ(idx.size(), 3u);
  std::swap(plan.work_info[idx[0]].partial_o_loc, plan.work_info[idx[2]].partial_o_loc);
  const auto v = check();
  ASSERT_EQ(count(v, inv::kReducePartials), 1) << test::dump(v);
  for (const auto& x : v) {
    if (x.invariant == inv::kReducePartials) {
      EXPECT_EQ(x.head, 1);
    }
  }
}

TEST_F(Mutate, UpstreamShapeOnlyWhereClaimed) {
  // TG3 takes 56 keys from TG2's piece of tile (256,512): over TG3's quota (upstream shape), still a valid
  // execution. A plan of a policy that does not claim upstream's shape is not held to the quota.
  plan.work_info[4].kv_end = 200;
  plan.work_info[4].kv_offset = 400;
  plan.work_info[5].kv_start = 200;
  auto v = check();
  ASSERT_TRUE(has(v, inv::kTgLoad)) << test::dump(v);
  for (const auto& x : v) EXPECT_EQ(x.contract, contract_of(x.invariant));
  for (const auto& x : v) {
    if (x.invariant == inv::kTgLoad) {
      EXPECT_EQ(x.contract, Contract::kUpstreamShape);
    }
  }
  plan.policy = "not-a-registered-policy";  // claims nothing
  v = check();
  EXPECT_FALSE(has(v, inv::kTgLoad)) << test::dump(v);
  EXPECT_TRUE(v.empty()) << test::dump(v);
  ValidateOptions as_aiter;
  as_aiter.contract = policy_named("aiter");  // --contract aiter asks for the shape
  EXPECT_TRUE(has(check(as_aiter), inv::kTgLoad));
}

TEST_F(Mutate, ClusterHeads) {
  // 2 heads on 4 CUs: clusters {TG0,TG1} with head 0 and {TG2,TG3} with head 1.
  p = Problem::from_lengths({600}, {600}, 2, true, 4);
  plan = make_plan(p, policy_named("aiter"));
  ASSERT_TRUE(check().empty()) << test::dump(check());
  plan.work_info[0].q_head_range = test::heads(1, 2);
  const auto v = check();
  ASSERT_TRUE(has(v, inv::kClusterHeads)) << test::dump(v);
  for (const auto& x : v) {
    if (x.invariant == inv::kClusterHeads) {
      EXPECT_EQ(x.work, 0);
      EXPECT_EQ(x.tg, 0);
      EXPECT_EQ(x.head, 1);
    }
  }
}

TEST_F(Mutate, TileCoverage) {
  erase_work(plan, 0);  // tile (0,256) was one piece
  const auto v = check();
  ASSERT_EQ(count(v, inv::kTileCoverage), 1) << test::dump(v);
  for (const auto& x : v) {
    if (x.invariant == inv::kTileCoverage) {
      EXPECT_EQ(x.qo_start, 0);
      EXPECT_EQ(x.qo_end, 256);
      EXPECT_EQ(x.head, 0);
    }
  }
}

TEST_F(Mutate, KvCoverageGap) {
  plan.work_info[2].kv_start = 130;
  const auto v = check();
  ASSERT_TRUE(has(v, inv::kKvCoverage)) << test::dump(v);
  EXPECT_FALSE(has(v, inv::kTileCoverage));
}

TEST_F(Mutate, KvCoverageShort) {
  plan.work_info[5].kv_end = 500;  // tile (256,512) sees 512 keys
  const auto v = check();
  EXPECT_TRUE(has(v, inv::kKvCoverage)) << test::dump(v);
}

TEST_F(Mutate, KvOffset) {
  plan.work_info[1].kv_offset = 471;
  auto v = check();
  ASSERT_EQ(count(v, inv::kKvOffset), 1) << test::dump(v);
  plan.work_info[1].kv_offset = 472;
  plan.work_info[3].kv_offset = 5;  // last piece must be 0
  v = check();
  ASSERT_EQ(count(v, inv::kKvOffset), 1) << test::dump(v);
  EXPECT_EQ(v[0].work, 3);
}

TEST_F(Mutate, TgLoad) {
  // TG3 (cap 2 units = 256 blocks) takes 56 more keys from TG2's piece of the same tile.
  plan.work_info[4].kv_end = 200;
  plan.work_info[4].kv_offset = 400;
  plan.work_info[5].kv_start = 200;
  const auto v = check();
  ASSERT_EQ(count(v, inv::kTgLoad), 1) << test::dump(v);
  EXPECT_FALSE(has(v, inv::kKvCoverage));
  for (const auto& x : v) {
    if (x.invariant == inv::kTgLoad) {
      EXPECT_EQ(x.tg, 3);
    }
  }
}

TEST_F(Mutate, Cuts) {
  // Split TG3's piece kv [256,512) into [256,384) + [384,512): 4 cuts > TGs per cluster - 1 = 3.
  WorkInfo extra = plan.work_info[5];
  plan.work_info[5].kv_end = 384;
  plan.work_info[5].kv_offset = 600 - 384;
  extra.kv_start = 384;
  extra.partial_o_loc = 1536;
  plan.work_info.push_back(extra);
  plan.work_indptr[4] = 7;
  const auto v = check();
  EXPECT_TRUE(has(v, inv::kCuts)) << test::dump(v);
}

TEST_F(Mutate, HeadInvariance) {
  p = Problem::from_lengths({600}, {600}, 2, true, 4);
  plan = make_plan(p, policy_named("aiter"));
  // Head 1's works (cluster 1) get a different but valid, unused slot on one piece.
  int32_t w = plan.work_indptr[2];
  plan.work_info[w].partial_o_loc = 256 * 40;
  const auto v = check();
  ASSERT_EQ(count(v, inv::kHeadInvariance), 1) << test::dump(v);
  for (const auto& x : v) {
    if (x.invariant == inv::kHeadInvariance) {
      EXPECT_EQ(x.head, 1);
    }
  }
}

TEST_F(Mutate, TileOrder) {
  // One TG takes both tiles of qo = kv = 512 non-causal in emission order [0,256), [256,512); swap them.
  p = Problem::from_lengths({512}, {512}, 1, false, 1);
  plan = make_plan(p, policy_named("aiter"));
  ASSERT_EQ(plan.num_works(), 2);
  ASSERT_TRUE(check().empty()) << test::dump(check());
  std::swap(plan.work_info[0], plan.work_info[1]);
  const auto v = check();
  ASSERT_EQ(count(v, inv::kTileOrder), 1) << test::dump(v);
}

TEST_F(Mutate, SlotAlignment) {
  plan.work_info[0].partial_o_loc = 100;
  const auto v = check();
  ASSERT_TRUE(has(v, inv::kSlotAlignment)) << test::dump(v);
  plan.work_info[0].partial_o_loc = -7;
  EXPECT_TRUE(has(check(), inv::kSlotAlignment));
}

TEST_F(Mutate, SlotUnique) {
  plan.work_info[5].partial_o_loc = 1024;  // same as work 4
  const auto v = check();
  ASSERT_EQ(count(v, inv::kSlotUnique), 1) << test::dump(v);
}

TEST_F(Mutate, SlotBounds) {
  // Partial buffers of 5 slots (1280 rows): slot 1280 + 256 rows do not fit.
  ValidateOptions opt;
  opt.capacity = compute_capacity(SizingInputs::from_problem(p), SizingFormula::kPr3606);
  opt.capacity->reduce_partial_map = 5;
  const auto v = check(opt);
  ASSERT_EQ(count(v, inv::kSlotBounds), 1) << test::dump(v);
  EXPECT_TRUE(has(v, inv::kBufferFit));  // also 6 partial map entries > 5
}

TEST_F(Mutate, SlotPolicyAiter) {
  plan.work_info[0].partial_o_loc = -1;
  const auto v = check();
  EXPECT_EQ(count(v, inv::kSlotPolicy), 1) << test::dump(v);
}

TEST_F(Mutate, SlotPolicyLegacy) {
  plan = make_plan(p, policy_named("aiter-legacy"));
  ValidateOptions opt;
  opt.contract = policy_named("aiter-legacy");
  ASSERT_TRUE(check(opt).empty()) << test::dump(check(opt));
  plan.work_info[3].partial_o_loc = -1;  // a piece of a split tile
  auto v = check(opt);
  EXPECT_TRUE(has(v, inv::kSlotPolicy)) << test::dump(v);
  plan = make_plan(p, policy_named("aiter-legacy"));
  plan.work_info[0].partial_o_loc = 1536;  // a whole tile with a slot
  v = check(opt);
  EXPECT_TRUE(has(v, inv::kSlotPolicy)) << test::dump(v);
}

TEST_F(Mutate, ReduceEntry) {
  // Drop the entry of tile (0,256).
  plan.reduce_final_map.erase(plan.reduce_final_map.begin());
  plan.reduce_partial_map.erase(plan.reduce_partial_map.begin());
  plan.reduce_indptr = {0, 2, 5};
  const auto v = check();
  ASSERT_EQ(count(v, inv::kReduceEntry), 1) << test::dump(v);
  EXPECT_EQ(v[0].qo_start, 0);
  EXPECT_FALSE(has(v, inv::kReducePartials));
}

TEST_F(Mutate, ReducePartials) {
  plan.reduce_partial_map[2] = 1536;  // tile (256,512) lists 1024, 1536 instead of 1024, 1280
  const auto v = check();
  ASSERT_EQ(count(v, inv::kReducePartials), 1) << test::dump(v);
}

TEST_F(Mutate, ReduceOrder) {
  std::swap(plan.reduce_partial_map[1], plan.reduce_partial_map[2]);  // 1280 before 1024
  auto v = check();
  ASSERT_EQ(count(v, inv::kReduceOrder), 1) << test::dump(v);
  EXPECT_TRUE(has(v, inv::kReducePartials));  // the list is no longer the pieces' slots in KV order
  plan = make_plan(p, policy_named("aiter"));
  std::swap(plan.reduce_final_map[0], plan.reduce_final_map[1]);
  EXPECT_TRUE(has(check(), inv::kReduceOrder));
}

TEST_F(Mutate, ReduceIndptr) {
  plan.reduce_indptr[3] = 7;
  auto v = check();
  EXPECT_TRUE(has(v, inv::kReduceIndptr)) << test::dump(v);
  plan = make_plan(p, policy_named("aiter"));
  plan.reduce_indptr = {0, 3, 1, 6};
  v = check();
  EXPECT_TRUE(has(v, inv::kReduceIndptr)) << test::dump(v);
}

TEST_F(Mutate, BufferFit) {
  ValidateOptions opt;
  opt.capacity = compute_capacity(SizingInputs::from_problem(p), SizingFormula::kPr3606);
  opt.capacity->work_info = 5;
  const auto v = check(opt);
  ASSERT_EQ(count(v, inv::kBufferFit), 1) << test::dump(v);
  EXPECT_NE(v[0].detail.find("work_info: needs 6 rows, capacity 5"), std::string::npos) << v[0].detail;
}

// The #3606 property on the seed scenario (issue 2): the legacy plan has 0 reduce entries for 16 tiles.
TEST(Contract, LegacySeedFailsReduceEntryAiterPasses) {
  const Problem p = test::seed_scenario();
  const auto legacy = validate(p, make_plan(p, policy_named("aiter-legacy")));
  EXPECT_EQ(count(legacy, inv::kReduceEntry), 16) << test::dump(legacy);
  EXPECT_EQ(count(legacy, inv::kSlotPolicy), 256);
  const auto aiter = validate(p, make_plan(p, policy_named("aiter")));
  EXPECT_TRUE(aiter.empty()) << test::dump(aiter);
  // Under its own (pre-fix) contract the legacy plan is consistent.
  ValidateOptions opt;
  opt.contract = policy_named("aiter-legacy");
  EXPECT_TRUE(validate(p, make_plan(p, policy_named("aiter-legacy")), opt).empty());
}

TEST(Contract, WorkedExampleLegacyMissesOneEntry) {
  const Problem p = test::worked_example();
  const auto v = validate(p, make_plan(p, policy_named("aiter-legacy")));
  ASSERT_EQ(count(v, inv::kReduceEntry), 1) << test::dump(v);
  for (const auto& x : v) {
    if (x.invariant == inv::kReduceEntry) {
      EXPECT_EQ(x.qo_end, 256);
    }
  }
}

TEST(KnownDefects, TrailingZeroKvTilesAreReportedAsCoverage) {
  // Contract 2.5.2: qo [300,300], kv [300,0], non-causal, 4 TGs: sequence 1's two tiles get no work.
  const Problem p = Problem::from_lengths({300, 300}, {300, 0}, 1, false, 4);
  const auto v = validate(p, make_plan(p, policy_named("aiter")));
  EXPECT_EQ(count(v, inv::kTileCoverage), 2) << test::dump(v);
  EXPECT_EQ(static_cast<int>(v.size()), 2) << test::dump(v);
}

TEST(KnownDefects, NegativeUnitsAreReportedNotCrashing) {
  // Contract 2.5.3: qo 1024, kv 512, causal: work kv [0,-128).
  Problem p = Problem::from_lengths({1024}, {512}, 1, true, 4);
  p.allow_causal_qo_gt_kv = true;
  const auto v = validate(p, make_plan(p, policy_named("aiter")));
  EXPECT_TRUE(has(v, inv::kWorkFields)) << test::dump(v);
  EXPECT_TRUE(has(v, inv::kKvCoverage)) << test::dump(v);
  // Nothing scheduled at all (qo 1000, kv 100): every tile uncovered.
  Problem q = Problem::from_lengths({1000}, {100}, 1, true, 4);
  q.allow_causal_qo_gt_kv = true;
  EXPECT_EQ(count(validate(q, make_plan(q, policy_named("aiter"))), inv::kTileCoverage), 4);
}

TEST(KnownDefects, NegativeUnitsTruncateAnotherSequencesKv) {
  // Beyond contract 2.5.3: qo [128, 512], kv [256, 0], causal, 1 CU. Units: sequence 0's tile 2, sequence 1's
  // tiles -1 (eff -256) and 0 (eff 0): total 1, so the only TG gets 128 blocks and cuts sequence 0's valid
  // tile at half its keys (kv [0,128), kv_offset 128); the rest is never scheduled. A valid sequence gets a
  // wrong (truncated) attention, not just missing rows.
  Problem p = Problem::from_lengths({128, 512}, {256, 0}, 1, true, 1);
  p.allow_causal_qo_gt_kv = true;
  const Plan plan = make_plan(p, policy_named("aiter"));
  ASSERT_EQ(plan.work_info, (std::vector<WorkInfo>{{0, 0, 0, 128, 0, 128, 128, test::heads(0, 1)}}));
  const auto v = validate(p, plan);
  EXPECT_EQ(count(v, inv::kKvCoverage), 1) << test::dump(v);
  EXPECT_EQ(count(v, inv::kKvOffset), 1);
  EXPECT_EQ(count(v, inv::kTileCoverage), 2);
  // Under the legacy contract the truncated single piece also keeps a real slot instead of -1.
  ValidateOptions legacy;
  legacy.contract = policy_named("aiter-legacy");
  EXPECT_TRUE(has(validate(p, make_plan(p, policy_named("aiter-legacy")), legacy), inv::kSlotPolicy));
}

TEST(Contract, RandomPlansHoldTheirContracts) {
  // Every aiter plan is clean under the aiter contract except trailing zero-KV tiles (2.5.2, coverage.tile);
  // every legacy plan is clean under the legacy contract and legacy sizing, with the same exception.
  std::mt19937 rng(99);
  for (int i = 0; i < 600; ++i) {
    const Problem p = test::random_problem(rng, false);
    for (Policy pol : {policy_named("aiter"), policy_named("aiter-legacy")}) {
      ValidateOptions opt;
      opt.contract = pol;
      const auto v = validate(p, make_plan(p, pol), opt);
      for (const auto& x : v) {
        ASSERT_EQ(x.invariant, inv::kTileCoverage)
            << "case " << i << " " << pol.name() << " " << problem_to_json_text(p) << "\n"
            << test::dump(v);
      }
    }
  }
}

TEST(Robustness, GarbagePlansNeverCrash) {
  std::mt19937 rng(5);
  auto any = [&]() {
    switch (std::uniform_int_distribution<int>(0, 4)(rng)) {
      case 0:
        return std::numeric_limits<int32_t>::min();
      case 1:
        return std::numeric_limits<int32_t>::max();
      case 2:
        return -1;
      default:
        return std::uniform_int_distribution<int32_t>(-5, 1300)(rng);
    }
  };
  for (int i = 0; i < 400; ++i) {
    const Problem p = test::random_problem(rng, i % 3 == 0);
    Plan plan = make_plan(p, policy_named("aiter"));
    const int n = std::uniform_int_distribution<int>(1, 6)(rng);
    for (int k = 0; k < n; ++k) {
      switch (std::uniform_int_distribution<int>(0, 6)(rng)) {
        case 0:
          if (!plan.work_info.empty()) {
            auto& w =
                plan.work_info[std::uniform_int_distribution<size_t>(0, plan.work_info.size() - 1)(rng)];
            reinterpret_cast<int32_t*>(&w)[std::uniform_int_distribution<int>(0, 7)(rng)] = any();
          }
          break;
        case 1:
          if (!plan.work_indptr.empty()) {
            plan.work_indptr[std::uniform_int_distribution<size_t>(0, plan.work_indptr.size() - 1)(rng)] =
                any();
          }
          break;
        case 2:
          if (!plan.reduce_indptr.empty()) {
            plan.reduce_indptr[std::uniform_int_distribution<size_t>(0, plan.reduce_indptr.size() - 1)(rng)] =
                any();
          }
          break;
        case 3:
          plan.reduce_final_map.push_back(FinalLoc{any(), any()});
          break;
        case 4:
          if (!plan.reduce_partial_map.empty())
            plan.reduce_partial_map.pop_back();
          else
            plan.reduce_indptr.clear();
          break;
        case 5:
          plan.work_info.push_back(WorkInfo{any(), any(), any(), any(), any(), any(), any(), any()});
          break;
        default:
          plan.work_indptr.resize(std::uniform_int_distribution<size_t>(0, 3)(rng));
          break;
      }
    }
    const auto v = validate(p, plan);
    for (const auto& x : v) EXPECT_FALSE(format_violation(x).empty());
  }
}

TEST(Format, ViolationNamesItsPlace) {
  const Violation v{inv::kTgLoad, "300 blocks, capacity 256", 3, 0, 256, 512, 5, Contract::kUpstreamShape};
  EXPECT_EQ(format_violation(v),
            "[upstream-shape] capacity.tg_load tg=3 head=0 rows=[256,512) work=5: 300 blocks, capacity 256");
}

TEST(Validate, BadProblemIsAnInputError) {
  Problem p = test::worked_example();
  const Plan plan = make_plan(p, policy_named("aiter"));
  p.num_heads_k = 0;
  EXPECT_THROW(validate(p, plan), InputError);
}

}  // namespace
}  // namespace mlaps
