// The command line's problem syntax (cli/flags.h): the one length-list parser, its inverse, and the flags
// that rebuild a problem.
#include <gtest/gtest.h>

#include "cli/flags.h"
#include "scheduler/error.h"
#include "workloads/workloads.h"

namespace mlaps::cli {
namespace {

TEST(Lengths, FormatRunLength) {
  EXPECT_EQ(format_lengths(std::vector<int32_t>{8, 8, 8}), "8x3");
  EXPECT_EQ(format_lengths(std::vector<int32_t>{300, 300, 0}), "300x2,0");
  EXPECT_EQ(format_lengths(std::vector<int32_t>{1, 2, 1}), "1,2,1");
  EXPECT_EQ(format_lengths(std::vector<int32_t>{}), "");
}

TEST(Lengths, Parse) {
  EXPECT_EQ(parse_length_list("kv", "1200x3,0,5"), (std::vector<int32_t>{1200, 1200, 1200, 0, 5}));
  EXPECT_EQ(parse_length_list("kv", "7"), (std::vector<int32_t>{7}));
  EXPECT_EQ(parse_length_list("kv", " 8x2 , 3"), (std::vector<int32_t>{8, 8, 3}));
  for (const char* bad :
       {"", "x3", "5x0", "-1", "a", "1,,2", "1,", "1x", "99999999999", "3x2x1", "1x1048577", "7 7"}) {
    EXPECT_THROW(parse_length_list("kv", bad), InputError) << bad;
  }
  try {
    parse_length_list("--kv-lens", "5x0");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "--kv-lens");
  }
}

TEST(Lengths, ParseInvertsFormat) {
  for (const std::vector<int32_t>& v :
       {std::vector<int32_t>{8, 8, 8, 0, 1200}, std::vector<int32_t>{0}, std::vector<int32_t>{1, 2, 1, 1}}) {
    EXPECT_EQ(parse_length_list("qo", format_lengths(v)), v);
  }
}

TEST(CliFlags, SeedScenario) {
  const Problem& p = workload("seed_ctx1200_qo8_b16_h16_noncausal").problem;
  EXPECT_EQ(cli_flags(p), "--qo-lens 8x16 --kv-lens 1200x16 --heads 16 --num-cu 256 --no-causal");
  EXPECT_EQ(cli_command("run", p, policy_named("aiter")),
            "mlaps run --qo-lens 8x16 --kv-lens 1200x16 --heads 16 --num-cu 256 --no-causal --policy aiter");
}

TEST(CliFlags, OptionalFlags) {
  Problem p = Problem::from_lengths({300}, {100}, 2, true, 4, /*gqa=*/2, /*block_size=*/16);
  p.allow_causal_qo_gt_kv = true;
  EXPECT_EQ(cli_flags(p),
            "--qo-lens 300 --kv-lens 100 --heads 2 --gqa 2 --num-cu 4 --causal --block-size 16 "
            "--allow-causal-qo-gt-kv");
}

TEST(CliFlags, NoNeedLse) {
  Problem p = Problem::from_lengths({8}, {300}, 2, false, 8);
  p.need_lse = false;
  EXPECT_EQ(cli_flags(p),
            std::string("--qo-lens 8 --kv-lens 300 --heads 2 --num-cu 8 --no-causal ") + kNoNeedLseFlag);
  EXPECT_TRUE(is_cli_representable(p));
  EXPECT_EQ(std::string(kNoNeedLseFlag), "--no-need-lse");
  EXPECT_EQ(std::string(kNeedLseFlag), "--need-lse");
}

TEST(CliFlags, EveryWorkloadIsRepresentable) {
  for (const Workload& w : workloads()) EXPECT_TRUE(is_cli_representable(w.problem)) << w.name;
  Problem tiled = Problem::from_lengths({8}, {8}, 1, false, 1);
  tiled.tile_q = 128;
  EXPECT_FALSE(is_cli_representable(tiled));
}

}  // namespace
}  // namespace mlaps::cli
