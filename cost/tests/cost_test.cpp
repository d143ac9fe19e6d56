// The cost model by hand: contract 2.4's worked example, the uniform causal case, the reduce, placement of
// more TGs than slots, the sub-tile classes against a brute-force count, and the profiles.
#include <gtest/gtest.h>

#include <random>

#include "cost/model.h"
#include "cost/profile.h"
#include "scheduler/error.h"
#include "scheduler/policy.h"

namespace mlaps::cost {
namespace {

const Policy kAiter = policy_named("aiter");
const Policy kLegacy = policy_named("aiter-legacy");

// The toy profile of model.h's worked example.
CostProfile toy() {
  CostProfile p;
  p.name = "toy";
  p.status = "derived";
  p.slots = 4;
  p.reduce_slots = 2;
  p.rows_per_pass = 256;
  p.row_quantum = 256;
  p.c[kItem] = 1;
  p.c[kPassFull] = 2;
  p.c[kPassMasked] = 2;
  p.c[kPassEmpty] = 0.5;
  p.c[kWritePartialRow] = 0.01;
  p.c[kReduceBlock] = 1;
  p.c[kReduceSimpleRead] = 0.001;
  p.c[kReduceMassiveRead] = 0.002;
  p.c[kReduceWriteRow] = 0.01;
  return p;
}

TEST(CostModel, WorkedExampleContract24) {
  const Problem p = Problem::from_lengths({600}, {600}, 1, true, 4);
  const Plan plan = make_plan(p, kAiter);
  const PlanCost c = evaluate(p, plan, toy());
  ASSERT_EQ(c.tg_us.size(), 4u);
  EXPECT_NEAR(c.tg_us[0], 7.56 + 3.88, 1e-9);
  EXPECT_NEAR(c.tg_us[1], 7.88, 1e-9);
  EXPECT_NEAR(c.tg_us[2], 3.88 + 7.56, 1e-9);
  EXPECT_NEAR(c.tg_us[3], 7.56, 1e-9);
  EXPECT_NEAR(c.prefill_us, 11.44, 1e-9);
  EXPECT_NEAR(c.imbalance, 11.44 / 9.58, 1e-9);
  EXPECT_NEAR(c.max_piece_us, 7.88, 1e-9);
  // Reduce (fixed): entries (0,256) n=1 [256 rows], (256,512) n=2 [256 rows], (512,600) n=3 [88 rows]; all
  // simple. Blocks: 1 + 256*(1*0.001 + 0.01) = 3.816; 1 + 256*(2*0.001+0.01) = 4.072; 1 + 88*(0.003+0.01)
  // = 2.144. Sum 10.032 / 2 slots = 5.016 > max 4.072.
  EXPECT_EQ(c.reduce_processed, 3);
  EXPECT_NEAR(c.reduce_us, 5.016, 1e-9);
  EXPECT_NEAR(c.total_us, 11.44 + 5.016, 1e-9);
  EXPECT_NEAR(c.lower_bound_us, 9.58 + 5.016, 1e-9);
  EXPECT_NEAR(c.idle_fraction, 1 - 38.32 / (4 * 11.44), 1e-9);
  EXPECT_EQ(c.works, 6);
  EXPECT_EQ(c.partial_slots, 6);
  EXPECT_EQ(c.reduce_entries, 3);
  // Written: 256 + 88*3 + 256*2 rows; read: the same rows again (every piece is reduced).
  EXPECT_EQ(c.partial_bytes, 2 * (256 + 88 * 3 + 256 * 2) * kPartialRowBytes);

  // Legacy: TG0's first piece writes bf16 directly (write_direct_row_us = 0 here) and tile (0,256) has no
  // reduce entry.
  const Plan legacy = make_plan(p, kLegacy);
  const PlanCost l = evaluate(p, legacy, toy());
  EXPECT_NEAR(l.tg_us[0], 5.0 + 3.88, 1e-9);
  EXPECT_EQ(l.direct_writes, 1);
  EXPECT_EQ(l.reduce_processed, 2);
}

TEST(CostModel, UniformCausalPingPongIsBalanced) {
  // 16 heads, qo = kv = 8192, 256 CUs: every TG takes exactly one pair of whole tiles (j, 31 - j).
  const Problem p = Problem::from_lengths({8192}, {8192}, 16, true, 256);
  const CostProfile prof = *find_builtin_profile("mi355x-asm");
  for (Policy pol : {kAiter, kLegacy}) {
    const Plan plan = make_plan(p, pol);
    const PlanCost c = evaluate(p, plan, prof);
    EXPECT_EQ(c.works, 512);
    EXPECT_NEAR(c.imbalance, 1.0, 1e-12);
    EXPECT_NEAR(c.idle_fraction, 0.0, 1e-12);
    // Every TG: 62 full + 4 masked sub-tiles, 2 items, 512 rows written.
    const double write = pol == kAiter ? prof.c[kWritePartialRow] : prof.c[kWriteDirectRow];
    const double tg = prof.c[kTg] + 2 * prof.c[kItem] + 62 * prof.c[kPassFull] + 4 * prof.c[kPassMasked] +
                      512 * write + 512 * prof.c[kQRow];
    for (double t : c.tg_us) EXPECT_NEAR(t, tg, 1e-9);
    EXPECT_NEAR(c.prefill_us, prof.c[kLaunch] + tg, 1e-9);
    EXPECT_NEAR(c.lower_bound_us, c.total_us, 1e-9);  // balanced: the bound is reached
    EXPECT_EQ(c.direct_writes, pol == kAiter ? 0 : 512);
  }
}

TEST(CostModel, SeedScenarioMatchesTheDerivation) {
  // The #3606 timing the mi355x-asm profile is derived from: 1 x 8192 non-causal, 1 head, 256 CUs.
  const Problem p = Problem::from_lengths({8192}, {8192}, 1, false, 256);
  const PlanCost c = evaluate(p, make_plan(p, kAiter), *find_builtin_profile("mi355x-asm"));
  EXPECT_NEAR(c.prefill_us, 49.88, 0.01);
  EXPECT_NEAR(c.imbalance, 1.0, 1e-12);
}

TEST(CostProfiles, WhatIf32RowKernelIsMi355xOnFullTilesAndCheaperOnShortOnes) {
  // cost/profiles/what-if/mi355x-asm-rows32.json (README, issue 15): the per-tile terms spread over 256 rows,
  // a 32-row quantum. A full 256-row tile costs what it does on mi355x-asm; an 8-row one a 32-row share.
  const CostProfile w =
      load_profile(std::string(MLAPS_SOURCE_DIR) + "/cost/profiles/what-if/mi355x-asm-rows32.json");
  const CostProfile& m = *find_builtin_profile("mi355x-asm");
  EXPECT_EQ(w.status, "uncalibrated");
  EXPECT_FALSE(w.calibrated());
  EXPECT_EQ(w.row_quantum, 32);
  const Problem full = Problem::from_lengths({8192}, {8192}, 1, false, 256);
  const Plan fp = make_plan(full, kAiter);
  EXPECT_NEAR(evaluate(full, fp, w).total_us, evaluate(full, fp, m).total_us, 1e-9);
  const Problem seed =
      Problem::from_lengths(std::vector<int32_t>(16, 8), std::vector<int32_t>(16, 1200), 16, false, 256);
  const Plan sp = make_plan(seed, kAiter);
  const PlanCost cw = evaluate(seed, sp, w), cm = evaluate(seed, sp, m);
  EXPECT_LT(cw.prefill_us, cm.prefill_us);
  // The non-empty sub-tile and Q terms scale by 32 / 256; the empty sub-tiles' K/V load, writes, launch stay.
  EXPECT_GT(cw.prefill_us, m.c[kLaunch] + (cm.prefill_us - m.c[kLaunch]) * 32.0 / 256.0);
}

TEST(CostModel, MoreTgsThanSlotsPlaceInLaunchOrder) {
  CostProfile prof = toy();
  prof.slots = 2;
  const Problem p = Problem::from_lengths({600}, {600}, 1, true, 4);
  const PlanCost c = evaluate(p, make_plan(p, kAiter), prof);
  // T = [11.44, 7.88, 11.44, 7.56]: TG0, TG1 start at 0; TG2 on TG1's slot at 7.88; TG3 on TG0's at 11.44.
  EXPECT_DOUBLE_EQ(c.tg_start_us[0], 0);
  EXPECT_DOUBLE_EQ(c.tg_start_us[1], 0);
  EXPECT_NEAR(c.tg_start_us[2], 7.88, 1e-9);
  EXPECT_NEAR(c.tg_start_us[3], 11.44, 1e-9);
  EXPECT_NEAR(c.prefill_us, 7.88 + 11.44, 1e-9);
  EXPECT_NEAR(c.lower_bound_us - c.reduce_us, 38.32 / 2, 1e-9);
  EXPECT_NEAR(c.idle_fraction, 1 - 38.32 / (2 * 19.32), 1e-9);
}

TEST(CostModel, MassiveReducePath) {
  // 1 x 8192 non-causal, 1 head on 256 CUs: 32 tiles of 8 pieces each, all massive (n = 8 >= 4).
  const Problem p = Problem::from_lengths({8192}, {8192}, 1, false, 256);
  const CostProfile prof = toy();
  const PlanCost c = evaluate(p, make_plan(p, kAiter), prof);
  EXPECT_EQ(c.reduce_processed, 32);
  const double block = 1 + 256 * (8 * 0.002 + 0.01);
  EXPECT_NEAR(c.reduce_us, std::max(32 * block / 2, block), 1e-9);
}

// Brute force: classify each sub-tile by checking every (row, key) pair.
SubTileCounts brute(const Problem& p, const WorkInfo& w) {
  SubTileCounts s;
  const int32_t b = w.batch_idx;
  const int32_t qo_len = p.qo_len(b), kv_len = p.kv_indptr[b + 1] - p.kv_indptr[b];
  for (int32_t k0 = w.kv_start; k0 < w.kv_end; k0 += kSubTileKeys) {
    const int32_t k1 = std::min(k0 + kSubTileKeys, w.kv_end);
    int64_t vis = 0, all = 0;
    for (int32_t r = w.qo_start; r < w.qo_end; ++r) {
      for (int32_t k = k0; k < k1; ++k) {
        const int32_t i = r - p.qo_indptr[b], j = k - p.kv_indptr[b];
        vis += !p.causal || j <= i + kv_len - qo_len;
        ++all;
      }
    }
    (vis == all ? s.full : vis == 0 ? s.empty : s.masked)++;
  }
  return s;
}

TEST(CostModel, SubTileClassesMatchBruteForce) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int32_t kv = std::uniform_int_distribution<int32_t>(1, 900)(rng);
    const int32_t qo = std::uniform_int_distribution<int32_t>(1, kv)(rng);
    const bool causal = trial % 4 != 0;
    const Problem p =
        Problem::from_lengths({qo}, {kv}, 1, causal, std::uniform_int_distribution<int>(1, 9)(rng));
    const Plan plan = make_plan(p, kAiter);
    for (const WorkInfo& w : plan.work_info) {
      const SubTileCounts a = sub_tiles(p, w), e = brute(p, w);
      ASSERT_EQ(a.full, e.full) << "qo " << qo << " kv " << kv << " kv [" << w.kv_start << "," << w.kv_end
                                << ")";
      ASSERT_EQ(a.masked, e.masked) << "qo " << qo << " kv " << kv;
      ASSERT_EQ(a.empty, e.empty) << "qo " << qo << " kv " << kv;
    }
    // Hand-made pieces anywhere in the sequence, including past the diagonal.
    for (int t = 0; t < 20; ++t) {
      WorkInfo w{};
      w.qo_start = std::uniform_int_distribution<int32_t>(0, qo - 1)(rng);
      w.qo_end = std::uniform_int_distribution<int32_t>(w.qo_start + 1, qo)(rng);
      w.kv_start = std::uniform_int_distribution<int32_t>(0, kv - 1)(rng);
      w.kv_end = std::uniform_int_distribution<int32_t>(w.kv_start, kv)(rng);
      w.q_head_range = WorkInfo::pack_heads(0, 1);
      const SubTileCounts a = sub_tiles(p, w), e = brute(p, w);
      ASSERT_EQ(a.full, e.full);
      ASSERT_EQ(a.masked, e.masked);
      ASSERT_EQ(a.empty, e.empty);
    }
  }
}

// item_head_us is the dot product of the coefficients with item_head_features, bit for bit (model.cpp's
// cost_of skips the zero terms), for both built-in profiles and a profile without power-of-two row sizes.
TEST(CostModel, ItemCostIsTheDotProductOfItsFeatures) {
  std::mt19937 rng(11);
  std::vector<CostProfile> profiles = {*find_builtin_profile("mi355x-asm"),
                                       *find_builtin_profile("h200-mlaps")};
  profiles.push_back(profiles[0]);
  profiles.back().rows_per_pass = 48;
  profiles.back().row_quantum = 24;
  for (int trial = 0; trial < 200; ++trial) {
    const int32_t kv = std::uniform_int_distribution<int32_t>(1, 3000)(rng);
    const int32_t qo = std::uniform_int_distribution<int32_t>(1, kv)(rng);
    const Problem p = Problem::from_lengths({qo}, {kv}, 2, trial % 3 != 0, 7);
    for (int t = 0; t < 20; ++t) {
      WorkInfo w{};
      w.qo_start = std::uniform_int_distribution<int32_t>(0, qo - 1)(rng);
      w.qo_end = std::uniform_int_distribution<int32_t>(w.qo_start, qo)(rng);
      w.kv_start = std::uniform_int_distribution<int32_t>(0, kv - 1)(rng);
      w.kv_end = std::uniform_int_distribution<int32_t>(w.kv_start, kv)(rng);
      w.partial_o_loc = t % 2 ? -1 : 0;
      w.q_head_range = WorkInfo::pack_heads(0, 2);
      for (const CostProfile& prof : profiles) {
        const Features f = item_head_features(p, w, prof);
        double dot = 0;
        for (int k = kItem; k <= kWriteDirectRow; ++k) dot += prof.c[k] * f[k];
        ASSERT_EQ(item_head_us(p, w, prof), dot)
            << prof.name << " qo [" << w.qo_start << "," << w.qo_end << ")";
        const int64_t rows = w.qo_rows();
        ASSERT_EQ(f[kQRow],
                  static_cast<double>((rows + prof.row_quantum - 1) / prof.row_quantum * prof.row_quantum));
      }
    }
  }
}

TEST(CostModel, RejectsPlansThatDoNotFitTheProblem) {
  const Problem p = Problem::from_lengths({600}, {600}, 1, true, 4);
  Plan plan = make_plan(p, kAiter);
  plan.work_info[1].batch_idx = 5;
  EXPECT_THROW(evaluate(p, plan, toy()), InputError);
  plan = make_plan(p, kAiter);
  plan.reduce_indptr.back() = 99;
  EXPECT_THROW(evaluate(p, plan, toy()), InputError);
}

TEST(CostProfiles, BuiltinsLoadAndSayWhereEveryValueCameFrom) {
  const auto names = builtin_profile_names();
  ASSERT_EQ(names, (std::vector<std::string>{"mi355x-asm", "h200-mlaps"}));
  for (const auto& n : names) {
    const CostProfile* p = find_builtin_profile(n);
    ASSERT_NE(p, nullptr);
    for (int k = 0; k < kNumCoeffs; ++k) EXPECT_FALSE(p->source[k].empty()) << n << " " << coeff_name(k);
    // Round trip.
    const CostProfile q = profile_from_json_text(profile_to_json_text(*p));
    EXPECT_EQ(q.c, p->c);
    EXPECT_EQ(q.source, p->source);
    EXPECT_EQ(q.slots, p->slots);
  }
  EXPECT_TRUE(find_builtin_profile("mi355x-asm")->calibrated());
  // The H200 profile is the fit of the first H200 calibration run (cost/profiles/h200-mlaps/): it says so,
  // with its device, date and residuals (fit_test.cpp refits it from the committed data).
  const CostProfile* h200 = find_builtin_profile("h200-mlaps");
  EXPECT_TRUE(h200->calibrated());
  EXPECT_EQ(h200->status, "fitted");
  EXPECT_NE(h200->device.find("H200"), std::string::npos) << h200->device;
  EXPECT_FALSE(h200->date.empty());
  EXPECT_NE(h200->fit_json.find("\"cases\""), std::string::npos);
}

TEST(CostProfiles, BadProfilesNameTheField) {
  std::string good = profile_to_json_text(*find_builtin_profile("mi355x-asm"));
  auto expect_field = [](const std::string& text, const std::string& field) {
    try {
      profile_from_json_text(text);
      FAIL() << "accepted: " << field;
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), field) << e.what();
    }
  };
  auto edit = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const auto pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    return s.replace(pos, from.size(), to);
  };
  expect_field("[1]", "profile");
  expect_field("{", "profile");
  expect_field(edit("\"slots\": 256", "\"slots\": 0"), "profile.slots");
  expect_field(edit("\"launch_us\"", "\"lunch_us\""), "profile.coefficients.launch_us");
  expect_field(edit("\"status\": \"derived\"", "\"status\": \"guessed\""), "profile.status");
  expect_field(edit("\"value\": 2.0", "\"value\": -2.0"), "profile.coefficients.launch_us.value");
  EXPECT_THROW(load_profile("/nonexistent/profile.json"), InputError);
}

}  // namespace
}  // namespace mlaps::cost
