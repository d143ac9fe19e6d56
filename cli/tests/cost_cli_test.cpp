// `mlaps cost`, `mlaps compare`, `mlaps trace gen` and the plan table's modelled times, as a user runs them.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_util.h"

namespace fs = std::filesystem;

namespace {

using mlaps_cli_test::Result;

Result run(const std::string& args, bool with_stderr = true) {
  return mlaps_cli_test::run_shell(std::string(MLAPS_BIN) + " " + args +
                                   (with_stderr ? " 2>&1" : " 2>/dev/null"));
}

std::string tmp(const std::string& name) {
  return (fs::temp_directory_path() / ("mlaps_cost_cli_" + std::to_string(getpid()) + "_" + name)).string();
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

std::set<std::string> keys(const nlohmann::json& j) {
  std::set<std::string> k;
  for (auto it = j.begin(); it != j.end(); ++it) k.insert(it.key());
  return k;
}

const std::set<std::string> kCostKeys = {"policy",   "profile",        "prefill_us",     "reduce_us",
                                         "total_us", "lower_bound_us", "imbalance",      "idle_fraction",
                                         "works",    "partial_slots",  "reduce_entries", "partial_bytes"};

TEST(CliCost, JsonHasTheIssueKeys) {
  const auto r = run("cost --workload causal_1x8192_h16 --format json", false);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  auto expected = kCostKeys;
  expected.insert("tg_us");
  EXPECT_EQ(keys(j), expected);
  EXPECT_EQ(j["tg_us"].size(), 256u);
  EXPECT_EQ(j["profile"], "mi355x-asm");
  EXPECT_NEAR(j["imbalance"].get<double>(), 1.0, 1e-12);  // ping-pong: one pair of whole tiles per TG
  EXPECT_LE(j["lower_bound_us"].get<double>(), j["total_us"].get<double>() + 1e-9);
  EXPECT_NEAR(j["total_us"].get<double>(), j["prefill_us"].get<double>() + j["reduce_us"].get<double>(),
              1e-9);
}

TEST(CliCost, TextAndGanttSvg) {
  const std::string svg = tmp("gantt.svg");
  const auto r = run("cost --qo-lens 600 --kv-lens 600 --heads 1 --num-cu 4 --svg " + svg);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("imbalance"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lower bound"), std::string::npos) << r.out;
  const std::string s = slurp(svg);
  EXPECT_NE(s.find("<svg"), std::string::npos);
  EXPECT_NE(s.find("prefill makespan"), std::string::npos);
  EXPECT_NE(s.find("split piece"), std::string::npos);
  EXPECT_NE(s.find("time (us)"), std::string::npos);
  EXPECT_NE(s.find("</svg>"), std::string::npos);
  fs::remove(svg);
  // 16 heads on 256 CUs: 16 clusters; one is drawn and the chart says so.
  const auto r2 = run("cost --workload causal_1x8192_h16 --svg " + svg);
  ASSERT_EQ(r2.code, 0) << r2.out;
  EXPECT_NE(slurp(svg).find("the other 15 clusters repeat it"), std::string::npos);
  fs::remove(svg);
}

TEST(CliCost, ProfilesBuiltinFileAndBad) {
  // The built-in H200 profile is fitted (no warning); a user's uncalibrated profile is warned about.
  const auto h = run("cost --workload noncausal_1x8192_h1 --profile h200-mlaps");
  ASSERT_EQ(h.code, 0) << h.out;
  EXPECT_EQ(h.out.find("uncalibrated"), std::string::npos) << h.out;
  const std::string unc = tmp("uncalibrated.json");
  {
    auto j = nlohmann::json::parse(slurp(std::string(MLAPS_SOURCE_DIR) + "/cost/profiles/h200-mlaps.json"));
    j["status"] = "uncalibrated";
    std::ofstream(unc) << j.dump();
  }
  const auto u = run("cost --workload noncausal_1x8192_h1 --profile " + unc);
  ASSERT_EQ(u.code, 0) << u.out;
  EXPECT_NE(u.out.find("uncalibrated"), std::string::npos) << u.out;
  fs::remove(unc);
  const auto bad = run("cost --workload noncausal_1x8192_h1 --profile nosuch");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("--profile"), std::string::npos) << bad.out;
  const std::string file = tmp("profile.json");
  std::ofstream(file) << "{\"name\": \"x\"}";
  const auto bad2 = run("cost --workload noncausal_1x8192_h1 --profile " + file);
  EXPECT_EQ(bad2.code, 2);
  EXPECT_NE(bad2.out.find("--profile.device"), std::string::npos) << bad2.out;
  fs::remove(file);
  const auto fmt = run("cost --workload noncausal_1x8192_h1 --format yaml");
  EXPECT_EQ(fmt.code, 2);
  EXPECT_NE(fmt.out.find("--format"), std::string::npos);
}

TEST(CliPlan, TextTableShowsModelledTgTimes) {
  const auto r = run("plan --qo-lens 600 --kv-lens 600 --heads 1 --num-cu 4");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("TG us"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("modelled on profile mi355x-asm"), std::string::npos) << r.out;
}

TEST(CliCompare, JsonSchemaAndRatios) {
  const auto r = run(
      "compare --policies aiter,aiter-legacy --set vllm-chunked-8k --batches 6 --format json --quiet", false);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(keys(j), (std::set<std::string>{"profile", "rows", "summary"}));
  ASSERT_EQ(j["rows"].size(), 12u);
  for (const auto& row : j["rows"]) {
    auto expected = kCostKeys;
    expected.insert("batch");
    expected.insert("calls");
    expected.insert("tg_us");
    EXPECT_EQ(keys(row), expected);
  }
  EXPECT_EQ(keys(j["summary"]), (std::set<std::string>{"aiter", "aiter-legacy"}));
  for (const auto& [pol, s] : j["summary"].items()) {
    EXPECT_EQ(keys(s),
              (std::set<std::string>{"geomean_total_ratio", "worst_total_ratio", "best_total_ratio"}));
    EXPECT_LE(s["best_total_ratio"].get<double>(), s["geomean_total_ratio"].get<double>() + 1e-12);
    EXPECT_LE(s["geomean_total_ratio"].get<double>(), s["worst_total_ratio"].get<double>() + 1e-12);
  }
  EXPECT_DOUBLE_EQ(j["summary"]["aiter"]["geomean_total_ratio"].get<double>(), 1.0);
}

TEST(CliCompare, TraceRoundTripTextAndSvg) {
  const std::string trace = tmp("t.jsonl"), svg = tmp("bars.svg");
  const auto g = run("trace gen --set decode-like --seed 3 --batches 5 --out " + trace);
  ASSERT_EQ(g.code, 0) << g.out;
  // Deterministic in the seed.
  const auto again = run("trace gen --set decode-like --seed 3 --batches 5", false);
  EXPECT_EQ(again.out, slurp(trace));
  const auto r = run("compare --policies aiter,aiter-legacy --trace " + trace + " --svg " + svg + " --quiet");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("geomean ratio"), std::string::npos) << r.out;
  EXPECT_NE(slurp(svg).find("</svg>"), std::string::npos);
  fs::remove(trace);
  fs::remove(svg);
}

TEST(CliCompare, BadInputNamesTheFlagOrLine) {
  const std::string trace = tmp("bad.jsonl");
  std::ofstream(trace) << "{\"heads\": 16, \"num_cu\": 256, \"seqs\": [[8, 100, true]]}\n{\"heads\": 0}\n";
  const auto r = run("compare --policies aiter --trace " + trace + " --quiet");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("trace:2"), std::string::npos) << r.out;
  fs::remove(trace);
  EXPECT_EQ(run("compare --policies aiter,nosuch --workload causal_1x8192_h1").code, 2);
  const auto two = run("compare --policies aiter --workload causal_1x8192_h1 --set many-short");
  EXPECT_EQ(two.code, 2);
  EXPECT_NE(two.out.find("exactly one"), std::string::npos) << two.out;
  const auto set = run("compare --policies aiter --set nosuch");
  EXPECT_EQ(set.code, 2);
  EXPECT_NE(set.out.find("--set"), std::string::npos);
}

// A sparse file of `bytes` (its size is checked before anything is read).
std::string sparse(const std::string& name, uintmax_t bytes) {
  const std::string f = tmp(name);
  std::ofstream(f) << "x";
  fs::resize_file(f, bytes);
  return f;
}

TEST(CliCompare, OversizedInputsAndBadSeedsAreRefusedNamingTheFlag) {
  const std::string big_profile = sparse("big_profile.json", (uintmax_t{1} << 20) + 1);
  const auto p = run("cost --workload causal_1x8192_h1 --profile " + big_profile);
  EXPECT_EQ(p.code, 2);
  EXPECT_NE(p.out.find("--profile"), std::string::npos) << p.out;
  const auto pc = run("compare --policies aiter --workload causal_1x8192_h1 --profile " + big_profile);
  EXPECT_EQ(pc.code, 2);
  EXPECT_NE(pc.out.find("--profile"), std::string::npos) << pc.out;
  fs::remove(big_profile);
  const std::string big_trace = sparse("big_trace.jsonl", (uintmax_t{1} << 30) + 1);
  const auto t = run("compare --policies aiter --trace " + big_trace + " --quiet");
  EXPECT_EQ(t.code, 2);
  EXPECT_NE(t.out.find("--trace"), std::string::npos) << t.out;
  fs::remove(big_trace);
  for (const char* seed : {"-1", "1e3", "18446744073709551616", "x"}) {
    const auto g = run(std::string("trace gen --set decode-like --batches 1 --seed ") + seed);
    EXPECT_EQ(g.code, 2) << seed << ": " << g.out;
    EXPECT_NE(g.out.find("--seed"), std::string::npos) << seed << ": " << g.out;
    const auto c =
        run(std::string("compare --policies aiter --set decode-like --batches 1 --quiet --seed ") + seed);
    EXPECT_EQ(c.code, 2) << seed << ": " << c.out;
    EXPECT_NE(c.out.find("--seed"), std::string::npos) << seed << ": " << c.out;
  }
  // The largest seed is a seed.
  EXPECT_EQ(run("trace gen --set decode-like --batches 1 --seed 18446744073709551615").code, 0);
}

// `mlaps cost fit` on the committed H200 data writes what the GPU runner's calibration wrote: the committed
// profile and holdout table, byte for byte (exit 0: the held-out goal is met; 1 when it is not).
// Equal JSON, except that floating-point numbers need only agree to 1e-9 relative.
void expect_same_json_but_rounding(const nlohmann::json& a, const nlohmann::json& b, const std::string& at) {
  if (a.is_number_float() || b.is_number_float()) {
    ASSERT_TRUE(a.is_number() && b.is_number()) << at;
    const double x = a.get<double>(), y = b.get<double>();
    EXPECT_NEAR(x, y, 1e-9 * std::max(1.0, std::abs(y))) << at;
    return;
  }
  ASSERT_EQ(a.type(), b.type()) << at;
  if (a.is_object()) {
    ASSERT_EQ(a.size(), b.size()) << at;
    for (auto it = a.begin(); it != a.end(); ++it) {
      ASSERT_TRUE(b.contains(it.key())) << at << "." << it.key();
      expect_same_json_but_rounding(it.value(), b.at(it.key()), at + "." + it.key());
    }
  } else if (a.is_array()) {
    ASSERT_EQ(a.size(), b.size()) << at;
    for (size_t i = 0; i < a.size(); ++i)
      expect_same_json_but_rounding(a[i], b[i], at + "[" + std::to_string(i) + "]");
  } else {
    EXPECT_EQ(a, b) << at;
  }
}

TEST(CliCostFit, RefitsTheCommittedDataAsTheGpuRunDid) {
  const std::string src = std::string(MLAPS_SOURCE_DIR) + "/cost/profiles/";
  const std::string out = tmp("fit");
  const auto r = run("cost fit --data " + src + "h200-mlaps/calibration_data.json --out " + out, false);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("goal met"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reduce_massive_read_us"), std::string::npos) << r.out;
  // The coefficients are least-squares solutions: their last bits depend on the host's vector code (the
  // committed fit and the H200 host's differ in the 15th digit), so they are compared to 1e-9 relative.
  expect_same_json_but_rounding(nlohmann::json::parse(slurp(out + "/profile.json")),
                                nlohmann::json::parse(slurp(src + "h200-mlaps.json")), "profile");
  EXPECT_EQ(slurp(out + "/holdout.md"), slurp(src + "h200-mlaps/holdout.md"));
  EXPECT_EQ(slurp(out + "/timeline.svg"), slurp(src + "h200-mlaps/timeline.svg"));
  // Our own files are replaced on a second run; a folder with someone else's file is refused without --force.
  EXPECT_EQ(run("cost fit --data " + src + "h200-mlaps/calibration_data.json --out " + out).code, 0);
  std::ofstream(out + "/notes.txt") << "mine";
  const auto refused = run("cost fit --data " + src + "h200-mlaps/calibration_data.json --out " + out);
  EXPECT_EQ(refused.code, 2);
  EXPECT_NE(refused.out.find("--out"), std::string::npos) << refused.out;
  EXPECT_EQ(run("cost fit --force --data " + src + "h200-mlaps/calibration_data.json --out " + out).code, 0);
  EXPECT_EQ(slurp(out + "/notes.txt"), "mine");
  fs::remove_all(out);
  // Exit 1 when the goal is missed: the same fit with the reduce bound over the 528 resident block slots.
  auto base = nlohmann::json::parse(slurp(src + "h200-mlaps.json"));
  base["reduce_slots"] = 528;
  const std::string base528 = tmp("base528.json");
  std::ofstream(base528) << base.dump();
  const auto missed =
      run("cost fit --data " + src + "h200-mlaps/calibration_data.json --base-profile " + base528);
  EXPECT_EQ(missed.code, 1) << missed.out;
  EXPECT_NE(missed.out.find("GOAL NOT MET"), std::string::npos) << missed.out;
  fs::remove(base528);
}

TEST(CliCostFit, BadInputNamesTheFlag) {
  auto expect_2 = [](const std::string& args, const std::string& needle) {
    const auto r = run(args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << args << ": " << r.out;
  };
  expect_2("cost fit", "--data");
  expect_2("cost fit --data " + tmp("nosuch.json"), "--data");
  const std::string bad = tmp("bad.json");
  std::ofstream(bad) << "{\"cases\": [{\"name\": \"x\"}]}";
  expect_2("cost fit --data " + bad, "--data: calibration.cases[0]");
  std::ofstream(bad) << "not json";
  expect_2("cost fit --data " + bad, "--data");
  std::ofstream(bad) << "{\"cases\": []}";
  expect_2("cost fit --data " + bad, "no calibration case");
  fs::remove(bad);
  const std::string big = sparse("big_data.json", (uintmax_t{256} << 20) + 1);
  expect_2("cost fit --data " + big, "--data");
  fs::remove(big);
  const std::string data = std::string(MLAPS_SOURCE_DIR) + "/cost/profiles/h200-mlaps/calibration_data.json";
  expect_2("cost fit --data " + data + " --base-profile nosuch", "--base-profile");
}

TEST(CliWorkloads, SetsAreListed) {
  const auto r = run("workloads --sets --json", false);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  std::set<std::string> names;
  for (const auto& s : j) names.insert(s["name"]);
  for (const char* n :
       {"vllm-chunked-8k", "vllm-chunked-16k-packed", "vllm50613-example", "deepseek-tp1", "deepseek-tp8",
        "kimi-h16", "mixed-long-short", "many-short", "one-long", "decode-like"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
}

}  // namespace

namespace {

const char* kInvarianceBatch =
    "invariance --qo-lens 300,40,16,90 --kv-lens 2000,700,300,1100 --heads 2 --num-cu 8 --no-causal "
    "--threads 2 --quiet";

TEST(CliInvariance, JsonPerPolicyAndRequest) {
  const auto r = run(std::string(kInvarianceBatch) + " --policies whole-tiles,aiter --format json", false);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(keys(j), (std::set<std::string>{"source", "seed", "profile", "policies"}));
  ASSERT_EQ(j["policies"].size(), 2u);
  for (const auto& p : j["policies"]) {
    EXPECT_EQ(keys(p), (std::set<std::string>{"policy", "requests", "requests_changed", "max_output_diff",
                                              "max_lse_diff", "rows"}));
    EXPECT_EQ(p["requests"], 4);
    ASSERT_EQ(p["rows"].size(), 4u);
    EXPECT_EQ(keys(p["rows"][0]),
              (std::set<std::string>{"batch", "call", "seq", "qo", "kv", "pieces_batched", "pieces_alone",
                                     "output_bits_changed", "lse_bits_changed", "max_output_diff",
                                     "max_lse_diff", "invariant"}));
  }
  EXPECT_EQ(j["policies"][0]["policy"], "whole-tiles");
  EXPECT_EQ(j["policies"][0]["requests_changed"], 0);
  EXPECT_EQ(j["policies"][1]["policy"], "aiter");
  EXPECT_GT(j["policies"][1]["requests_changed"].get<int>(), 0);
}

TEST(CliInvariance, RequireInvariantExitCodes) {
  EXPECT_EQ(run(std::string(kInvarianceBatch) + " --policy fixed-split --require-invariant").code, 0);
  const auto r = run(std::string(kInvarianceBatch) + " --policy aiter --require-invariant");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("policy aiter:"), std::string::npos) << r.out;
  const auto bad = run(std::string(kInvarianceBatch) + " --policies aiter,nope");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("--policies"), std::string::npos) << bad.out;
  EXPECT_EQ(run("invariance --set nope").code, 2);
}

TEST(CliInvariance, SetCallsAreEmulated) {
  const auto r =
      run("invariance --set decode-like --batches 1 --heads 1 --num-cu 16 --policy whole-tiles "
          "--threads 2 --quiet --format json",
          false);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GE(j["policies"][0]["requests"].get<int>(), 32);
  EXPECT_EQ(j["policies"][0]["requests_changed"], 0);
}

}  // namespace
