// Drives the built `mlaps` binary the way a user does and checks exit codes, messages and outputs.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/tests/cli_util.h"

namespace {

using namespace mlaps_cli_test;

TEST(CliPlan, JsonHasExactlyUpstreamKeysTrimmed) {
  const auto r = mlaps(std::string("plan --format json ") + kSmallSeed);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  std::set<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.insert(it.key());
  EXPECT_EQ(keys, (std::set<std::string>{"work_indptr", "work_info", "reduce_indptr", "reduce_final_map",
                                         "reduce_partial_map", "capacity"}));
  ASSERT_EQ(j["work_indptr"].size(), 9u);
  EXPECT_EQ(j["work_info"].size(), j["work_indptr"].back().get<size_t>());
  for (const auto& w : j["work_info"]) EXPECT_EQ(w.size(), 8u);
  EXPECT_EQ(j["reduce_indptr"].size(), j["reduce_final_map"].size() + 1);
  EXPECT_EQ(j["reduce_partial_map"].size(), j["reduce_indptr"].back().get<size_t>());
  // aiter: every one of the 4 tiles has a reduce entry.
  EXPECT_EQ(j["reduce_final_map"].size(), 4u);
}

TEST(CliPlan, WorkedExampleTextTable) {
  const auto r = mlaps("plan --qo-lens 600 --kv-lens 600 --heads 1 --num-cu 4 --policy aiter-legacy");
  ASSERT_EQ(r.code, 0) << r.out;
  // Contract 2.4: TG0 takes tile [0,256) whole (pol -1), reduce covers only the two split tiles.
  EXPECT_NE(r.out.find("[0,256)           [0,256)        0      -1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[256,512) <- {768,1024}"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[512,600) <- {0,256,512}"), std::string::npos) << r.out;
}

TEST(CliPlan, SvgAndDumpWritten) {
  const auto dir = temp_dir("dump");
  const auto svg = dir.string() + ".svg";
  const auto r =
      mlaps(std::string("plan ") + kSmallSeed + " --svg " + svg + " --write-aiter-dump " + dir.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir / "work_info.bin"));
  std::ifstream f(svg);
  std::string s((std::istreambuf_iterator<char>(f)), {});
  EXPECT_NE(s.find("<svg"), std::string::npos);
  EXPECT_NE(s.find("</svg>"), std::string::npos);
  // The dump reads back and checks clean under the aiter contract.
  const auto c = mlaps("check --from-aiter-dump " + dir.string() + " --no-causal");
  EXPECT_EQ(c.code, 0) << c.out;
  fs::remove_all(dir);
  fs::remove(svg);
}

TEST(CliCheck, LegacyFailsReduceEntryAndNamesLedger) {
  const auto legacy =
      mlaps("check --qo-lens 8x16 --kv-lens 1200x16 --heads 16 --no-causal --policy aiter-legacy");
  EXPECT_EQ(legacy.code, 1) << legacy.out;
  EXPECT_NE(legacy.out.find("reduce.entry x16"), std::string::npos) << legacy.out;
  EXPECT_NE(legacy.out.find("known upstream defect"), std::string::npos) << legacy.out;
  const auto fixed = mlaps("check --qo-lens 8x16 --kv-lens 1200x16 --heads 16 --no-causal --policy aiter");
  EXPECT_EQ(fixed.code, 0) << fixed.out;
}

TEST(CliCheck, MaxViolationsBoundsTheListNotTheCounts) {
  // aiter-legacy's seed plan breaks 272 invariants (16 reduce.entry, 256 slot.policy).
  const std::string cmd =
      "check --qo-lens 8x16 --kv-lens 1200x16 --heads 16 --no-causal --policy aiter-legacy";
  auto lines_starting = [](const std::string& out, const std::string& prefix) {
    size_t n = 0;
    for (size_t at = 0; at < out.size();) {
      const size_t end = std::min(out.find('\n', at), out.size());
      n += out.compare(at, prefix.size(), prefix) == 0;
      at = end + 1;
    }
    return n;
  };
  const auto d = mlaps(cmd);  // default: the first 100
  EXPECT_EQ(d.code, 1) << d.out;
  EXPECT_EQ(lines_starting(d.out, "[execution]") + lines_starting(d.out, "[upstream-shape]"), 100u) << d.out;
  EXPECT_NE(d.out.find("... and 172 more not listed (--max-violations 0 lists all)"), std::string::npos);
  EXPECT_NE(d.out.find("272 violation(s)"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("reduce.entry x16; slot.policy x256;"), std::string::npos) << d.out;
  const auto all = mlaps(cmd + " --max-violations 0");
  EXPECT_EQ(all.code, 1);
  EXPECT_EQ(lines_starting(all.out, "[execution]") + lines_starting(all.out, "[upstream-shape]"), 272u);
  EXPECT_EQ(all.out.find("more not listed"), std::string::npos);
  const auto j = mlaps(cmd + " --max-violations 5 --format json");
  EXPECT_EQ(j.code, 1);
  const auto parsed = nlohmann::json::parse(j.out);
  EXPECT_EQ(parsed["violations_total"].get<int>(), 272);
  EXPECT_EQ(parsed["violations"].size(), 5u);
  const auto bad = mlaps(cmd + " --max-violations -1");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("--max-violations"), std::string::npos) << bad.out;
}

TEST(CliRun, LegacyLeavesLseUnwrittenAiterPasses) {
  const auto legacy = mlaps(std::string("run --json --quiet --policy aiter-legacy ") + kSmallSeed);
  ASSERT_EQ(legacy.code, 1) << legacy.out;
  const auto jl = nlohmann::json::parse(legacy.out);
  EXPECT_FALSE(jl["pass"].get<bool>());
  EXPECT_EQ(jl["unwritten_lse"].get<int>(), 32 * 2);  // every (row, head) of the 4 x 8 rows, 2 heads
  EXPECT_EQ(jl["unwritten_output"].get<int>(), 0);
  const auto fixed = mlaps(std::string("run --json --quiet --policy aiter ") + kSmallSeed);
  ASSERT_EQ(fixed.code, 0) << fixed.out;
  const auto jf = nlohmann::json::parse(fixed.out);
  EXPECT_TRUE(jf["pass"].get<bool>());
  EXPECT_EQ(jf["unwritten_lse"].get<int>(), 0);
  EXPECT_EQ(jf["output"]["mismatch_fraction"].get<double>(), 0.0);
  EXPECT_LE(jf["lse"]["max_abs_err"].get<double>(), 0.03);
  // The emulator's ISA path (sim/emulate.h) is named.
  const std::string isa = jf["isa_path"].get<std::string>();
  EXPECT_TRUE(isa == "generic" || isa == "avx2" || isa == "avx512") << isa;
}

// MLAPS_ISA_PATH picks the emulator's path: `run --json` names it and the bits are those of the default path;
// a bad value stops the command before it writes anything (exit 2, naming the variable).
TEST(CliRun, IsaPathEnvPicksThePathAndBadValuesStopFirst) {
  const auto dir = temp_dir("isaenv");
  const auto best =
      mlaps(std::string("run --json --quiet --dump ") + (dir / "best").string() + " " + kSmallSeed);
  ASSERT_EQ(best.code, 0) << best.out;
  const auto gen =
      mlaps(std::string("run --json --quiet --dump ") + (dir / "generic").string() + " " + kSmallSeed,
            "MLAPS_ISA_PATH=generic");
  ASSERT_EQ(gen.code, 0) << gen.out;
  EXPECT_EQ(nlohmann::json::parse(gen.out)["isa_path"].get<std::string>(), "generic");
  for (const char* f : {"out.bin", "lse.bin"}) {
    EXPECT_FALSE(slurp(dir / "best" / f).empty()) << f;
    EXPECT_EQ(slurp(dir / "best" / f), slurp(dir / "generic" / f)) << f;
  }
  const auto bad =
      mlaps(std::string("run --json --quiet --dump ") + (dir / "bad").string() + " " + kSmallSeed,
            "MLAPS_ISA_PATH=avx3");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("MLAPS_ISA_PATH: 'avx3' is not an ISA path"), std::string::npos) << bad.out;
  EXPECT_FALSE(fs::exists(dir / "bad"));
  fs::remove_all(dir);
}

TEST(CliRun, DumpHasManifestAndFiles) {
  const auto dir = temp_dir("rundump");
  const auto r = mlaps(std::string("run --quiet --dump ") + dir.string() + " " + kSmallSeed);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"q.bin", "k.bin", "v.bin", "kv_page_indices.bin", "qo_indptr.bin", "kv_indptr.bin",
                        "out.bin", "lse.bin", "manifest.json", "metadata/work_info.bin"}) {
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  }
  std::ifstream mf(dir / "manifest.json");
  const auto m = nlohmann::json::parse(mf);
  for (const char* k : {"encoding", "num_heads_q", "num_heads_k", "qk_head_dim", "v_head_dim", "q_scale",
                        "k_scale", "v_scale", "softmax_scale", "causal", "policy", "files"}) {
    EXPECT_TRUE(m.contains(k)) << k;
  }
  EXPECT_EQ(fs::file_size(dir / "q.bin"), 32u * 2 * 192);
  EXPECT_EQ(fs::file_size(dir / "lse.bin"), 32u * 2 * 4);
  fs::remove_all(dir);
}

TEST(CliChunked, LegacyGarbageShowsAiterDoesNot) {
  const char* shape = "--new-lens 8x4 --ctx-lens 600x4 --chunk-size 256 --heads 2 --num-cu 4";
  const auto legacy = mlaps(std::string("chunked --json --policy aiter-legacy ") + shape);
  EXPECT_EQ(legacy.code, 1) << legacy.out;
  EXPECT_TRUE(nlohmann::json::parse(legacy.out)["garbage_changed_output"].get<bool>());
  const auto fixed = mlaps(std::string("chunked --json --policy aiter ") + shape);
  EXPECT_EQ(fixed.code, 0) << fixed.out;
  EXPECT_FALSE(nlohmann::json::parse(fixed.out)["garbage_changed_output"].get<bool>());
}

struct BadInput {
  const char* name;  // the test's name: which bad input
  const char* args;
  const char* must_mention;
};

class CliBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(CliBadInput, ExitsTwoNamingTheField) {
  const auto r = mlaps(GetParam().args);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(GetParam().must_mention), std::string::npos) << r.out;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CliBadInput,
    ::testing::Values(
        BadInput{"negative_qo_len", "plan --qo-lens -5 --kv-lens 10", "--qo-lens"},
        BadInput{"non_numeric_qo_len", "plan --qo-lens abc --kv-lens 10", "--qo-lens"},
        BadInput{"qo_kv_count_mismatch", "plan --qo-lens 8x2 --kv-lens 10", "--kv-lens"},
        BadInput{"zero_cus", "plan --qo-lens 8 --kv-lens 10 --num-cu 0", "--num-cu"},
        BadInput{"zero_heads", "plan --qo-lens 8 --kv-lens 10 --heads 0", "--heads"},
        BadInput{"tile_q_not_divisible_by_gqa", "plan --qo-lens 8 --kv-lens 10 --tile-q 100 --gqa 3", "gqa"},
        BadInput{"causal_qo_gt_kv", "plan --qo-lens 1024 --kv-lens 512", "qo"},
        BadInput{"unknown_policy", "plan --qo-lens 8 --kv-lens 10 --policy fastest", "policy"},
        BadInput{"unknown_format", "plan --qo-lens 8 --kv-lens 10 --format xml", "--format"},
        BadInput{"missing_dump_dir", "check --from-aiter-dump /nonexistent/dir", "/nonexistent/dir"},
        BadInput{"unknown_encoding", "run --qo-lens 8 --kv-lens 10 --encoding e5m2", "--encoding"},
        BadInput{"missing_problem_file", "plan --problem /nonexistent.json", "--problem"},
        BadInput{"unknown_flag", "plan --bogus-flag", "bogus"},
        BadInput{"unknown_workload", "plan --workload no_such_workload", "workload"},
        BadInput{"workload_with_lengths", "plan --workload worked_example_qo600_cu4 --qo-lens 8 --kv-lens 8",
                 "--workload"}),
    [](const ::testing::TestParamInfo<BadInput>& i) { return std::string(i.param.name); });

TEST(CliWorkload, NamedWorkloadPlansAndChecks) {
  const auto list = mlaps("workloads");
  ASSERT_EQ(list.code, 0) << list.out;
  EXPECT_NE(list.out.find("seed_ctx1200_qo8_b16_h16_noncausal"), std::string::npos);
  const auto c = mlaps("check --workload seed_ctx1200_qo8_b16_h16_noncausal");
  EXPECT_EQ(c.code, 0) << c.out;
  const auto l = mlaps("check --workload seed_ctx1200_qo8_b16_h16_noncausal --policy aiter-legacy");
  EXPECT_EQ(l.code, 1) << l.out;
  EXPECT_NE(l.out.find("reduce.entry x16"), std::string::npos) << l.out;
}

TEST(CliBadInput, CausalQoGreaterThanKvAllowedByOptIn) {
  const auto r = mlaps("plan --qo-lens 1024 --kv-lens 512 --num-cu 4 --allow-causal-qo-gt-kv --format json");
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST(CliBadInput, NothingHalfWrittenOnError) {
  const auto dir = temp_dir("nohalf");
  const auto svg = dir.string() + ".svg";
  // A bad --format is detected before any file is produced.
  const auto r = mlaps("plan --qo-lens 8 --kv-lens 10 --format xml --svg " + svg + " --write-aiter-dump " +
                       dir.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_FALSE(fs::exists(svg));
}

// `mlaps sizing`: the JSON keys, the witness, the legacy overflow line that reproduces with `mlaps plan`.
TEST(CliSizing, JsonKeysBoundsAndWitness) {
  const auto r =
      mlaps("sizing --max-num-batched-tokens 8192 --max-num-seqs 256 --heads 16 --num-cu 256 --format json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  std::set<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.insert(it.key());
  EXPECT_EQ(keys, (std::set<std::string>{"tight", "upstream_legacy", "upstream_pr3606", "vllm", "witness"}));
  for (const char* k : {"tight", "upstream_legacy", "upstream_pr3606", "vllm"}) {
    for (const char* f : {"works", "partial_slots", "reduce_entries", "reduce_partial_map", "bytes"}) {
      EXPECT_TRUE(j[k].contains(f)) << k << "." << f;
    }
    for (const char* b : {"work_indptr", "work_info", "reduce_indptr", "reduce_final_map",
                          "reduce_partial_map", "partial_o", "partial_lse", "total"}) {
      EXPECT_TRUE(j[k]["bytes"].contains(b)) << k << ".bytes." << b;
    }
  }
  // n = 256 + 31 = 287 tiles, 16 clusters of 16 TGs: 15 cuts.
  EXPECT_EQ(j["tight"]["works"], 16 * 302);
  EXPECT_EQ(j["tight"]["partial_slots"], 302);
  EXPECT_EQ(j["tight"]["reduce_entries"], 287);
  EXPECT_EQ(j["tight"]["reduce_partial_map"], 302);
  EXPECT_EQ(j["tight"]["bytes"]["partial_o"], int64_t{302} * 256 * 16 * 128 * 4);
  EXPECT_EQ(j["vllm"]["partial_slots"], 32 + 255 + 256);
  EXPECT_TRUE(j["vllm"]["works"].is_null());
  EXPECT_TRUE(j["vllm"]["bytes"]["total"].is_null());
  EXPECT_EQ(j["upstream_legacy"]["overflow_status"], "none");
  // The witness is a batch within the limits that needs exactly the bound.
  EXPECT_TRUE(j["witness"]["attains_bound"].get<bool>());
  const auto qo = j["witness"]["qo_lens"].get<std::vector<int>>();
  const auto kv = j["witness"]["kv_lens"].get<std::vector<int>>();
  ASSERT_EQ(qo.size(), kv.size());
  EXPECT_LE(qo.size(), 256u);
  EXPECT_LE(std::accumulate(qo.begin(), qo.end(), 0), 8192);
  std::string q, k;
  for (size_t i = 0; i < qo.size(); ++i) {
    q += (i ? "," : "") + std::to_string(qo[i]);
    k += (i ? "," : "") + std::to_string(kv[i]);
  }
  const auto plan =
      mlaps("plan --format json --no-causal --heads 16 --num-cu 256 --qo-lens " + q + " --kv-lens " + k);
  ASSERT_EQ(plan.code, 0) << plan.out;
  const auto pj = nlohmann::json::parse(plan.out);
  EXPECT_EQ(pj["work_info"].size(), 16u * 302);
  EXPECT_EQ(pj["reduce_partial_map"].size(), 302u);
  EXPECT_EQ(pj["reduce_final_map"].size(), 287u);
}

TEST(CliSizing, LegacyOverflowReproducesWithPlan) {
  const auto r = mlaps("sizing --max-num-batched-tokens 8192 --max-num-seqs 256 --heads 128");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("tight: proven maximum"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("the smallest (fewest query tokens) batch"), std::string::npos) << r.out;
  const auto at = r.out.find("  mlaps plan ", r.out.find("upstream_legacy ("));
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string cmd = r.out.substr(at + 8, r.out.find('\n', at) - at - 8);
  EXPECT_NE(cmd.find("--qo-lens 1x64"), std::string::npos) << cmd;
  const auto plan = mlaps(cmd);
  ASSERT_EQ(plan.code, 0) << plan.out;
  // 65 partials against the legacy formula's capacity.
  EXPECT_NE(plan.out.find("partials 65 (capacity"), std::string::npos) << plan.out;
}

TEST(CliSizing, NoNeedLseAndLegacyGiveSlotsToCutTilesOnly) {
  for (const char* extra : {"--no-need-lse", "--policy aiter-legacy"}) {
    const auto r = mlaps(
        std::string("sizing --max-num-batched-tokens 8192 --max-num-seqs 256 --heads 16 --format json ") +
        extra);
    ASSERT_EQ(r.code, 0) << r.out;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["tight"]["partial_slots"], 30) << extra;
    EXPECT_EQ(j["tight"]["reduce_entries"], 15) << extra;
    EXPECT_EQ(j["tight"]["works"], 16 * 302) << extra;
    EXPECT_TRUE(j["witness"]["attains_bound"].get<bool>()) << extra;
  }
}

TEST(CliSizing, BadLimitsExitTwoNamingTheFlag) {
  const std::pair<const char*, const char*> cases[] = {
      {"sizing --max-num-batched-tokens 0 --max-num-seqs 256 --heads 16", "--max-num-batched-tokens"},
      {"sizing --max-num-batched-tokens 8192 --max-num-seqs -1 --heads 16", "--max-num-seqs"},
      {"sizing --max-num-batched-tokens 8192 --max-num-seqs 256 --heads 16 --max-kvlen 0", "--max-kvlen"},
      {"sizing --max-num-batched-tokens 8192 --max-num-seqs 256 --heads 16 --num-cu 0", "--num-cu"},
      {"sizing --max-num-batched-tokens 8192 --max-num-seqs 256 --heads 16 --tile-kv 96", "tile_kv"},
      {"sizing --max-num-batched-tokens 8192 --max-num-seqs 256 --heads 16 --format xml", "--format"},
      {"sizing --max-num-batched-tokens 8192 --max-num-seqs 256 --heads 16 --policy fastest", "policy"},
      {"sizing --max-num-seqs 256 --heads 16", "max-num-batched-tokens"},
  };
  for (const auto& [args, mention] : cases) {
    const auto r = mlaps(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
    EXPECT_NE(r.out.find(mention), std::string::npos) << args << "\n" << r.out;
  }
}

}  // namespace

// need_lse = false (the merged #3606 form) through plan, check, run, the dump and chunked.
TEST(CliNeedLse, PlanCheckRunWithoutLse) {
  const std::string seed = std::string(kSmallSeed) + " --no-need-lse";
  const auto plan = mlaps("plan --format json " + seed);
  ASSERT_EQ(plan.code, 0) << plan.out;
  const auto j = nlohmann::json::parse(plan.out);
  ASSERT_EQ(j["work_info"].size(), 8u);  // 4 tiles x 2 heads, each taken whole by one TG
  for (const auto& w : j["work_info"]) EXPECT_EQ(w[1].get<int>(), -1) << w;
  EXPECT_TRUE(j["reduce_final_map"].empty());
  // The checker's promise follows the flag: aiter and the pre-fix code both hold it without LSE.
  const auto check = mlaps("check " + seed);
  EXPECT_EQ(check.code, 0) << check.out;
  EXPECT_NE(check.out.find("need_lse = false"), std::string::npos) << check.out;
  EXPECT_EQ(mlaps("check --policy aiter-legacy " + seed).code, 0);
  EXPECT_EQ(mlaps(std::string("check --policy aiter-legacy ") + kSmallSeed).code, 1);
  const auto cj = nlohmann::json::parse(mlaps("check --format json " + seed).out);
  EXPECT_FALSE(cj["need_lse"].get<bool>());
  // run: every output right, the 64 direct-write (row, head) LSEs reported as not promised, not unwritten.
  const auto run = mlaps("run --json --quiet " + seed);
  ASSERT_EQ(run.code, 0) << run.out;
  const auto rj = nlohmann::json::parse(run.out);
  EXPECT_TRUE(rj["pass"].get<bool>());
  EXPECT_EQ(rj["unwritten_output"].get<int>(), 0);
  EXPECT_EQ(rj["unwritten_lse"].get<int>(), 0);
  EXPECT_EQ(rj["lse_not_promised"].get<int>(), 64);
  EXPECT_EQ(rj["output"]["mismatch_fraction"].get<double>(), 0.0);
  EXPECT_FALSE(rj["problem"]["need_lse"].get<bool>());
  const auto text = mlaps("run --quiet " + seed);
  EXPECT_EQ(text.code, 0) << text.out;
  EXPECT_NE(text.out.find("LSE not promised  64 (row, head) pairs"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("final LSE 0 (row, head) pairs"), std::string::npos) << text.out;
  // The same plan under need_lse: its 64 LSEs are unwritten, a failure.
  const auto legacy =
      nlohmann::json::parse(mlaps(std::string("run --json --quiet --policy aiter-legacy ") + kSmallSeed).out);
  EXPECT_EQ(legacy["unwritten_lse"].get<int>(), 64);
  EXPECT_EQ(legacy["lse_not_promised"].get<int>(), 0);
  // A policy that always gives slots writes every LSE anyway.
  const auto whole = nlohmann::json::parse(mlaps("run --json --quiet --policy whole-tiles " + seed).out);
  EXPECT_TRUE(whole["pass"].get<bool>());
  EXPECT_EQ(whole["lse_not_promised"].get<int>(), 0);
}

TEST(CliNeedLse, DumpRecordsTheFlag) {
  const auto dir = temp_dir("nolse_dump");
  const auto w =
      mlaps(std::string("plan --no-need-lse --write-aiter-dump ") + dir.string() + " " + kSmallSeed);
  ASSERT_EQ(w.code, 0) << w.out;
  const auto rec = nlohmann::json::parse(slurp(dir / "problem.json"));
  EXPECT_FALSE(rec["problem"]["need_lse"].get<bool>()) << rec.dump();
  // Read back: the recorded flag holds; --need-lse overrides it, and the direct writes then break the
  // contract.
  EXPECT_EQ(mlaps("check --from-aiter-dump " + dir.string()).code, 0);
  const auto over = mlaps("check --from-aiter-dump " + dir.string() + " --need-lse");
  EXPECT_EQ(over.code, 1) << over.out;
  EXPECT_NE(over.out.find("slot.policy"), std::string::npos) << over.out;
  fs::remove_all(dir);
  // run --dump / --replay carry it.
  const auto rd = temp_dir("nolse_run");
  ASSERT_EQ(mlaps(std::string("run --quiet --no-need-lse --dump ") + rd.string() + " " + kSmallSeed).code, 0);
  const auto replay = mlaps("run --quiet --replay " + rd.string());
  EXPECT_EQ(replay.code, 0) << replay.out;
  EXPECT_NE(replay.out.find("LSE not promised  64"), std::string::npos) << replay.out;
  EXPECT_EQ(mlaps("run --quiet --replay " + rd.string() + " --no-need-lse").code, 2);
  fs::remove_all(rd);
  // The flags are exclusive.
  EXPECT_EQ(mlaps(std::string("plan --need-lse --no-need-lse ") + kSmallSeed).code, 2);
}

TEST(CliNeedLse, ChunkedRefusesContextWithoutLse) {
  const char* shape = "--new-lens 8x4 --ctx-lens 600x4 --chunk-size 256 --heads 2 --num-cu 4";
  const auto r = mlaps(std::string("chunked --no-need-lse ") + shape);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("mlaps: error: --no-need-lse: must be true when there is context"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("num_partial_tiles > 0 or not need_lse"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("need_lse_false_merge"), std::string::npos) << r.out;
  // Without context the new-token call is the output: allowed, its direct-write LSE not promised.
  const auto none = mlaps(
      "chunked --json --no-need-lse --new-lens 8x4 --ctx-lens 0x4 --chunk-size 256 --heads 2 --num-cu 4");
  ASSERT_EQ(none.code, 0) << none.out;
  const auto j = nlohmann::json::parse(none.out);
  EXPECT_TRUE(j["pass"].get<bool>());
  EXPECT_FALSE(j["need_lse"].get<bool>());
  ASSERT_EQ(j["parts"].size(), 1u);
  EXPECT_GT(j["parts"][0]["lse_not_promised"].get<int>(), 0);
  EXPECT_EQ(j["parts"][0]["unwritten_lse"].get<int>(), 0);
  EXPECT_EQ(j["garbage_entries"].get<int>(), 0);
}

TEST(CliNeedLse, PoliciesStateTheirRule) {
  const auto r = mlaps("policies --format json");
  ASSERT_EQ(r.code, 0) << r.out;
  std::map<std::string, std::string> rule;
  for (const auto& p : nlohmann::json::parse(r.out)) rule[p["name"]] = p["need_lse"];
  EXPECT_EQ(rule["aiter"], "honours");
  EXPECT_EQ(rule["aiter-legacy"], "pre-fix");
  EXPECT_EQ(rule["whole-tiles"], "always-slots");
  for (const auto& [name, r2] : rule) EXPECT_NE(r2, "undeclared") << name;
}

TEST(CliSizing, WholeTilesHasItsOwnExactBound) {
  const auto r = mlaps(
      "sizing --max-num-batched-tokens 8192 --max-num-seqs 256 --heads 16 --causal --policy whole-tiles "
      "--format json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tight"]["works"], 16 * 287);
  EXPECT_EQ(j["tight"]["partial_slots"], 287);
  EXPECT_EQ(j["tight"]["reduce_entries"], 287);
  EXPECT_EQ(j["tight"]["reduce_partial_map"], 287);
  EXPECT_TRUE(j["witness"]["attains_bound"].get<bool>());
  // The witness, re-planned by `mlaps plan`, needs exactly that.
  std::string qo, kv;
  for (const auto& v : j["witness"]["qo_lens"]) qo += (qo.empty() ? "" : ",") + std::to_string(v.get<int>());
  for (const auto& v : j["witness"]["kv_lens"]) kv += (kv.empty() ? "" : ",") + std::to_string(v.get<int>());
  const auto plan = mlaps("plan --format json --policy whole-tiles --heads 16 --causal --qo-lens " + qo +
                          " --kv-lens " + kv);
  ASSERT_EQ(plan.code, 0) << plan.out;
  const auto pj = nlohmann::json::parse(plan.out);
  EXPECT_EQ(pj["work_info"].size(), 16u * 287);
  EXPECT_EQ(pj["reduce_final_map"].size(), 287u);
}
