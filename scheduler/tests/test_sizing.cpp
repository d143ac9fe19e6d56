// get_ps_metadata_info_v1 capacities (contract 1.3) and capacity_overflows.
#include <gtest/gtest.h>

#include "scheduler/error.h"
#include "scheduler/plan.h"
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
  const Plan fixed = make_plan(p, Policy::kAiter);
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
  const Plan legacy = make_plan(p, Policy::kAiterLegacy);
  EXPECT_TRUE(legacy.reduce_partial_map.empty());
  EXPECT_TRUE(capacity_overflows(legacy, old_cap, p.tile_q).empty());
}

TEST(Sizing, OverflowMessagesForEveryBuffer) {
  const Plan plan = make_plan(test::worked_example(), Policy::kAiter);  // 5 / 6 works / 4 / 3 / 6 partials
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
