// make_plan / make_query_tiles against hand-worked expectations from the contract (2.2, 2.4, 2.5, 8.1).
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "scheduler/error.h"
#include "scheduler/policy.h"
#include "test_util.h"

namespace mlaps {
namespace {

using test::heads;

TEST(QueryTiles, WorkedExamplePingPong) {
  // qo = kv = 600, causal, G = 256, kvg = 128: ranges [0,256) [256,512) [512,600) emitted 0, 2, 1.
  const auto tiles = make_query_tiles(test::worked_example());
  ASSERT_EQ(tiles.size(), 3u);
  EXPECT_EQ(tiles[0].qo_start, 0);
  EXPECT_EQ(tiles[0].qo_end, 256);
  EXPECT_EQ(tiles[0].effective_kv, 256);
  EXPECT_EQ(tiles[0].num_blocks, 256);  // 2 units of 128
  EXPECT_EQ(tiles[1].qo_start, 512);
  EXPECT_EQ(tiles[1].qo_end, 600);
  EXPECT_EQ(tiles[1].effective_kv, 600);
  EXPECT_EQ(tiles[1].num_blocks, 640);  // 5 units
  EXPECT_EQ(tiles[2].qo_start, 256);
  EXPECT_EQ(tiles[2].qo_end, 512);
  EXPECT_EQ(tiles[2].effective_kv, 512);
  EXPECT_EQ(tiles[2].num_blocks, 512);
}

TEST(QueryTiles, PingPongOrderOfFiveRangesAndGlobalRows) {
  // Second sequence of 5 ranges (1100 rows) after a 10-row one: order 0, 4, 1, 3, 2, rows offset by 10.
  const auto p = Problem::from_lengths({10, 1100}, {10, 1100}, 1, false, 4);
  const auto tiles = make_query_tiles(p);
  ASSERT_EQ(tiles.size(), 6u);
  EXPECT_EQ(tiles[0].batch, 0);
  const int32_t expect_start[] = {0, 1024, 256, 768, 512};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(tiles[1 + i].batch, 1);
    EXPECT_EQ(tiles[1 + i].qo_start, 10 + expect_start[i]) << i;
    EXPECT_EQ(tiles[1 + i].effective_kv, 1100);  // non-causal: the whole context
    EXPECT_EQ(tiles[1 + i].num_blocks, 1152);    // ceil(1100/128) = 9 units
  }
  EXPECT_EQ(tiles[2].qo_end, 10 + 1100);  // range 4 = [1024,1100) is emitted second
}

TEST(QueryTiles, NegativeUnitsForCausalQoGreaterThanKv) {
  // Contract 2.5.3: qo = 1024, kv = 512, causal. Tile [0,256): eff = 512 - 1024 + 256 = -256,
  // units = (-256 + 127) / 128 = -1 (truncated), blocks = -128. Tile [768,1024): eff 512, 4 units.
  Problem p = Problem::from_lengths({1024}, {512}, 1, true, 4);
  p.allow_causal_qo_gt_kv = true;
  const auto tiles = make_query_tiles(p);
  ASSERT_EQ(tiles.size(), 4u);
  EXPECT_EQ(tiles[0].effective_kv, -256);
  EXPECT_EQ(tiles[0].num_blocks, -128);
  EXPECT_EQ(tiles[1].qo_start, 768);
  EXPECT_EQ(tiles[1].effective_kv, 512);
  EXPECT_EQ(tiles[1].num_blocks, 512);
  EXPECT_EQ(tiles[2].qo_start, 256);
  EXPECT_EQ(tiles[2].effective_kv, 0);  // (0 + 127) / 128 = 0 units
  EXPECT_EQ(tiles[2].num_blocks, 0);
  EXPECT_EQ(tiles[3].effective_kv, 256);
}

// Contract 2.4, HEAD (pre-#3606) column.
TEST(WorkedExample, Legacy) {
  for (auto make : {make_plan, make_plan_plain}) {
    const Plan plan = make(test::worked_example(), policy_named("aiter-legacy"));
    const int32_t h = heads(0, 1);
    EXPECT_EQ(plan.work_indptr, (std::vector<int32_t>{0, 2, 3, 5, 6}));
    const std::vector<WorkInfo> works = {
        {0, -1, 0, 256, 0, 256, 0, h},       {0, 0, 512, 600, 0, 128, 472, h},    // TG0
        {0, 256, 512, 600, 128, 512, 88, h},                                      // TG1
        {0, 512, 512, 600, 512, 600, 0, h},  {0, 768, 256, 512, 0, 256, 344, h},  // TG2
        {0, 1024, 256, 512, 256, 512, 0, h},                                      // TG3
    };
    EXPECT_EQ(plan.work_info, works);
    EXPECT_EQ(plan.reduce_final_map, (std::vector<FinalLoc>{{256, 512}, {512, 600}}));
    EXPECT_EQ(plan.reduce_indptr, (std::vector<int32_t>{0, 2, 5}));
    EXPECT_EQ(plan.reduce_partial_map, (std::vector<int32_t>{768, 1024, 0, 256, 512}));
    EXPECT_EQ(plan.policy, "aiter-legacy");
    EXPECT_EQ(plan.reduce, ReduceVersion::kLegacy);
  }
}

// Contract 2.4, PR-head (fixed) column.
TEST(WorkedExample, Aiter) {
  for (auto make : {make_plan, make_plan_plain}) {
    const Plan plan = make(test::worked_example(), policy_named("aiter"));
    const int32_t h = heads(0, 1);
    EXPECT_EQ(plan.work_indptr, (std::vector<int32_t>{0, 2, 3, 5, 6}));
    const std::vector<WorkInfo> works = {
        {0, 0, 0, 256, 0, 256, 0, h},        {0, 256, 512, 600, 0, 128, 472, h},
        {0, 512, 512, 600, 128, 512, 88, h}, {0, 768, 512, 600, 512, 600, 0, h},
        {0, 1024, 256, 512, 0, 256, 344, h}, {0, 1280, 256, 512, 256, 512, 0, h},
    };
    EXPECT_EQ(plan.work_info, works);
    EXPECT_EQ(plan.reduce_final_map, (std::vector<FinalLoc>{{0, 256}, {256, 512}, {512, 600}}));
    EXPECT_EQ(plan.reduce_indptr, (std::vector<int32_t>{0, 1, 3, 6}));
    EXPECT_EQ(plan.reduce_partial_map, (std::vector<int32_t>{0, 1024, 1280, 256, 512, 768}));
  }
}

// Contract 8.1: zero-split tiles (scheduled tiles with no reduce entry) of the legacy policy, 256 CUs,
// causal, block 1, one sequence with qo = kv = ctx.
TEST(BugReportTable, LegacyZeroSplitTiles) {
  const int32_t ctx[] = {256, 1024, 4096, 8192, 16384};
  const int32_t tiles[] = {1, 4, 16, 32, 64};
  const int32_t zero_16[] = {0, 1, 8, 32, 64};
  const int32_t zero_1[] = {0, 0, 1, 2, 4};
  for (int32_t nh : {16, 1}) {
    for (int i = 0; i < 5; ++i) {
      const Problem p = Problem::from_lengths({ctx[i]}, {ctx[i]}, nh, true, 256);
      const Plan plan = make_plan(p, policy_named("aiter-legacy"));
      const auto qt = make_query_tiles(p);
      ASSERT_EQ(static_cast<int32_t>(qt.size()), tiles[i]);
      int32_t zero = 0;
      for (const QTile& t : qt) {
        bool entry = false;
        for (const FinalLoc& f : plan.reduce_final_map)
          entry |= f.qo_start == t.qo_start && f.qo_end == t.qo_end;
        zero += entry ? 0 : 1;
      }
      EXPECT_EQ(zero, nh == 16 ? zero_16[i] : zero_1[i]) << "heads " << nh << " ctx " << ctx[i];
      EXPECT_EQ(make_plan_plain(p, policy_named("aiter-legacy")), plan);
      // The fixed policy gives every tile an entry.
      EXPECT_EQ(make_plan(p, policy_named("aiter")).num_reduce_entries(), tiles[i]);
    }
  }
}

TEST(SeedScenario, LegacyHasNoReduceEntriesAiterHasAll) {
  // 16 x (qo 8, kv 1200), 16 heads, non-causal, 256 CUs: 16 clusters (one head each) x 16 TGs. One tile per
  // sequence, 10 units each, total 160, average 10: TG t takes sequence t whole.
  const Problem p = test::seed_scenario();
  const Plan legacy = make_plan(p, policy_named("aiter-legacy"));
  const Plan aiter = make_plan(p, policy_named("aiter"));
  ASSERT_EQ(legacy.work_indptr.size(), 257u);
  for (int32_t i = 0; i <= 256; ++i) EXPECT_EQ(aiter.work_indptr[i], i);
  EXPECT_EQ(legacy.work_indptr, aiter.work_indptr);
  ASSERT_EQ(aiter.num_works(), 256);
  for (int32_t c = 0; c < 16; ++c) {
    for (int32_t t = 0; t < 16; ++t) {
      const WorkInfo expect{t, 256 * t, 8 * t, 8 * t + 8, 1200 * t, 1200 * t + 1200, 0, heads(c, c + 1)};
      EXPECT_EQ(aiter.work_info[16 * c + t], expect) << c << " " << t;
      WorkInfo le = expect;
      le.partial_o_loc = -1;
      EXPECT_EQ(legacy.work_info[16 * c + t], le);
    }
  }
  EXPECT_EQ(legacy.reduce_indptr, std::vector<int32_t>{0});
  EXPECT_TRUE(legacy.reduce_final_map.empty());
  EXPECT_TRUE(legacy.reduce_partial_map.empty());
  ASSERT_EQ(aiter.num_reduce_entries(), 16);
  for (int32_t t = 0; t < 16; ++t) {
    EXPECT_EQ(aiter.reduce_final_map[t], (FinalLoc{8 * t, 8 * t + 8}));
    EXPECT_EQ(aiter.reduce_indptr[t + 1], t + 1);
    EXPECT_EQ(aiter.reduce_partial_map[t], 256 * t);
  }
  EXPECT_EQ(make_plan_plain(p, policy_named("aiter")), aiter);
  EXPECT_EQ(make_plan_plain(p, policy_named("aiter-legacy")), legacy);
}

TEST(Clusters, ThreeHeadsShareOneClusterWithHeadDuplication) {
  // gcd(3, 4) = 1 cluster of 4 TGs, 3 heads per TG: each TG lists its pieces for head 0, 1, then 2.
  // One sequence qo = kv = 300 non-causal: 2 tiles x 3 units = 6, average 1, reminder 2.
  const Problem p = Problem::from_lengths({300}, {300}, 3, false, 4);
  const Plan plan = make_plan(p, policy_named("aiter"));
  // TG0 cap 2 units = 256 blocks: tile [0,256) (300 keys > 256) is cut: kv [0,256), kv_offset 44, slot 0,
  // listed once per head.
  ASSERT_EQ(plan.work_indptr.size(), 5u);
  ASSERT_GE(plan.work_indptr[1], 3);
  for (int32_t h = 0; h < 3; ++h) {
    EXPECT_EQ(plan.work_info[h], (WorkInfo{0, 0, 0, 256, 0, 256, 44, heads(h, h + 1)})) << h;
  }
  EXPECT_EQ(make_plan_plain(p, policy_named("aiter")), plan);
}

TEST(Clusters, GqaHeadRangesAndGranularity) {
  // gqa 2: qhead granularity 2, qlen granularity 128, q heads [2k, 2k+2). 2 K heads on 2 CUs: 2 clusters x 1
  // TG.
  const Problem p = Problem::from_lengths({200}, {200}, 2, true, 2, 2);
  const Plan plan = make_plan(p, policy_named("aiter"));
  // Tiles of 128 rows: [0,128) eff 128 (1 unit), [128,200) eff 200 (2 units); one TG takes both whole.
  const std::vector<WorkInfo> works = {
      {0, 0, 0, 128, 0, 128, 0, heads(0, 2)},
      {0, 128, 128, 200, 0, 200, 0, heads(0, 2)},
      {0, 0, 0, 128, 0, 128, 0, heads(2, 4)},
      {0, 128, 128, 200, 0, 200, 0, heads(2, 4)},
  };
  EXPECT_EQ(plan.work_info, works);
  EXPECT_EQ(plan.work_indptr, (std::vector<int32_t>{0, 2, 4}));
  EXPECT_EQ(plan.reduce_partial_map, (std::vector<int32_t>{0, 128}));
}

TEST(EdgeCases, TrailingZeroKvTileNeverScheduled) {
  // Contract 2.5.2: qo = [300, 300], kv = [300, 0], non-causal, 4 TGs: sequence 1 gets no work at all.
  const Problem p = Problem::from_lengths({300, 300}, {300, 0}, 1, false, 4);
  for (Policy pol : {policy_named("aiter"), policy_named("aiter-legacy")}) {
    const Plan plan = make_plan(p, pol);
    for (const WorkInfo& w : plan.work_info) EXPECT_EQ(w.batch_idx, 0);
    EXPECT_EQ(make_plan_plain(p, pol), plan);
  }
}

TEST(EdgeCases, MiddleZeroKvTileIsEmittedEmpty) {
  // kv = [0, 300]: the zero-KV tiles of sequence 0 come first and are emitted with kv_start == kv_end.
  const Problem p = Problem::from_lengths({300, 300}, {0, 300}, 1, false, 4);
  const Plan plan = make_plan(p, policy_named("aiter"));
  ASSERT_GE(plan.num_works(), 2);
  EXPECT_EQ(plan.work_info[0], (WorkInfo{0, 0, 0, 256, 0, 0, 0, heads(0, 1)}));
  EXPECT_EQ(plan.work_info[1], (WorkInfo{0, 256, 256, 300, 0, 0, 0, heads(0, 1)}));
}

TEST(EdgeCases, NegativeUnitsInflateCapacity) {
  // Contract 2.5.3: qo = 1024, kv = 512, causal, 4 TGs. total units = -1 + 4 + 0 + 2 = 5: average 1,
  // reminder 1. TG0 (cap 256 blocks): tile [0,256) has eff -256 <= cap -> consumes -128 blocks: kv [0,-128),
  // cap 384.
  Problem p = Problem::from_lengths({1024}, {512}, 1, true, 4);
  p.allow_causal_qo_gt_kv = true;
  const Plan plan = make_plan(p, policy_named("aiter"));
  ASSERT_GE(plan.num_works(), 2);
  EXPECT_EQ(plan.work_info[0], (WorkInfo{0, 0, 0, 256, 0, -128, 0, heads(0, 1)}));
  // Then tile [768,1024) (eff 512): 512 > 384 -> cut at 384 pages.
  EXPECT_EQ(plan.work_info[1], (WorkInfo{0, 256, 768, 1024, 0, 384, 128, heads(0, 1)}));
  EXPECT_EQ(make_plan_plain(p, policy_named("aiter")), plan);
}

TEST(EdgeCases, NothingScheduledWhenTotalUnitsNonPositive) {
  // qo = 1000, kv = 100, causal: units per tile (ping-pong) -4, 1, -2, 0 -> total -5, average -1: no work at
  // all.
  Problem p = Problem::from_lengths({1000}, {100}, 1, true, 4);
  p.allow_causal_qo_gt_kv = true;
  const Plan plan = make_plan(p, policy_named("aiter"));
  EXPECT_EQ(plan.num_works(), 0);
  EXPECT_EQ(plan.work_indptr, (std::vector<int32_t>{0, 0, 0, 0, 0}));
  EXPECT_EQ(plan.num_reduce_entries(), 0);
}

TEST(EdgeCases, FewUnitsFragmentIntoSingleUnitPieces) {
  // Contract 2.5.4: total units (3) < TGs (8): TGs 0-2 take one unit each, TGs 3-7 are empty.
  const Problem p = Problem::from_lengths({10}, {300}, 1, false, 8);
  const Plan plan = make_plan(p, policy_named("aiter"));
  EXPECT_EQ(plan.work_indptr, (std::vector<int32_t>{0, 1, 2, 3, 3, 3, 3, 3, 3}));
  EXPECT_EQ(plan.work_info[0], (WorkInfo{0, 0, 0, 10, 0, 128, 172, heads(0, 1)}));
  EXPECT_EQ(plan.work_info[1], (WorkInfo{0, 256, 0, 10, 128, 256, 44, heads(0, 1)}));
  EXPECT_EQ(plan.work_info[2], (WorkInfo{0, 512, 0, 10, 256, 300, 0, heads(0, 1)}));
  EXPECT_EQ(plan.reduce_partial_map, (std::vector<int32_t>{0, 256, 512}));
}

TEST(EdgeCases, BlockSizeGreaterThanOne) {
  // block 16: kvg = 128 = 8 pages per unit. kv 300 -> 19 pages; one tile, 3 units = 24 blocks; 2 TGs: cap 2
  // units (16 pages) for TG0 (reminder 1), 1 unit for TG1. TG0: rem_kv 300 > 256 -> cut at 16 pages,
  // kv_offset 300 - 16*16 = 44. TG1: rem 44 <= 128 -> finishes: kv [16, min(24, 19)) = [16,19).
  const Problem p = Problem::from_lengths({10}, {300}, 1, false, 2, 1, 16);
  const Plan plan = make_plan(p, policy_named("aiter"));
  const std::vector<WorkInfo> works = {{0, 0, 0, 10, 0, 16, 44, heads(0, 1)},
                                       {0, 256, 0, 10, 16, 19, 0, heads(0, 1)}};
  EXPECT_EQ(plan.work_info, works);
  EXPECT_EQ(make_plan_plain(p, policy_named("aiter")), plan);
}

TEST(Policy, NamesRoundTrip) {
  for (const PolicyDef& d : policies()) EXPECT_EQ(policy_named(d.name).name(), d.name);
  EXPECT_EQ(policy_named("aiter-legacy").traits().reduce, ReduceVersion::kLegacy);
  EXPECT_EQ(default_policy(), Policy());
  EXPECT_EQ(default_policy().name(), "aiter");
  try {
    policy_named("fast", "--policy");
    ADD_FAILURE() << "no throw";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "--policy");
    for (const PolicyDef& d : policies())
      EXPECT_NE(std::string(e.what()).find(d.name), std::string::npos) << e.what();
  }
}

TEST(MakePlan, RejectsInvalidProblem) {
  Problem p = test::worked_example();
  p.num_cu = 0;
  EXPECT_THROW(make_plan(p, policy_named("aiter")), InputError);
  EXPECT_THROW(make_plan_plain(p, policy_named("aiter")), InputError);
}

// A work item's and a reduce entry's range lengths: 0 for an empty or inverted range, 64-bit at the int32
// extremes (a dump's fields are untrusted), and usable in constant expressions.
TEST(WorkInfoRanges, LengthsClampAtZeroAndDoNotOverflow) {
  constexpr int32_t kMin = std::numeric_limits<int32_t>::min(), kMax = std::numeric_limits<int32_t>::max();
  auto work = [](int32_t qs, int32_t qe, int32_t ks, int32_t ke) {
    return WorkInfo{0, -1, qs, qe, ks, ke, 0, 0};
  };
  static_assert(WorkInfo{0, -1, 3, 10, 5, 7, 0, 0}.qo_rows() == 7);
  static_assert(WorkInfo{0, -1, 3, 10, 5, 7, 0, 0}.kv_len() == 2);
  static_assert(FinalLoc{4, 9}.rows() == 5);
  EXPECT_EQ(work(8, 8, 8, 8).qo_rows(), 0);  // empty
  EXPECT_EQ(work(8, 8, 8, 8).kv_len(), 0);
  EXPECT_EQ(work(9, 2, 9, 2).qo_rows(), 0);  // inverted
  EXPECT_EQ(work(9, 2, 9, 2).kv_len(), 0);
  EXPECT_EQ(work(kMin, kMax, kMin, kMax).qo_rows(), int64_t{kMax} - kMin);
  EXPECT_EQ(work(kMin, kMax, kMin, kMax).kv_len(), int64_t{0xFFFFFFFF});  // 2^32 - 1: no int32 wrap
  EXPECT_EQ(work(kMax, kMin, kMax, kMin).qo_rows(), 0);
  EXPECT_EQ(work(kMax, kMin, kMax, kMin).kv_len(), 0);
  EXPECT_EQ(work(-5, 3, -5, 3).kv_len(), 8);  // negative starts are lengths too
  EXPECT_EQ((FinalLoc{7, 7}.rows()), 0);
  EXPECT_EQ((FinalLoc{7, 1}.rows()), 0);
  EXPECT_EQ((FinalLoc{kMin, kMax}.rows()), int64_t{kMax} - kMin);
  EXPECT_EQ((FinalLoc{kMax, kMin}.rows()), 0);
}

}  // namespace
}  // namespace mlaps
