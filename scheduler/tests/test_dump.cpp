// Upstream metadata dumps: round trips and every bad-dump class.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <functional>

#include "scheduler/dump.h"
#include "scheduler/error.h"
#include "scheduler/limits.h"
#include "scheduler/plan.h"
#include "scheduler/policy.h"
#include "scheduler/sizing.h"
#include "test_util.h"

namespace mlaps {
namespace {

namespace fs = std::filesystem;

class Dump : public ::testing::Test {
 protected:
  fs::path root;
  void SetUp() override {
    root = fs::temp_directory_path() /
           ("mlaps_dump_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    fs::create_directories(root);
  }
  void TearDown() override { fs::remove_all(root); }

  static std::vector<int32_t> words(const fs::path& f) {
    std::ifstream in(f, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<int32_t> v(bytes.size() / 4);
    std::memcpy(v.data(), bytes.data(), v.size() * 4);
    return v;
  }
  static std::string slurp(const fs::path& f) {
    std::ifstream in(f, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  static void put(const fs::path& f, const std::vector<int32_t>& v, size_t extra_bytes = 0) {
    std::ofstream out(f, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
    for (size_t i = 0; i < extra_bytes; ++i) out.put('\0');
  }
  // Writes a good dump of the worked example (legacy) and returns its directory.
  fs::path good(Policy pol = policy_named("aiter-legacy")) {
    const Problem p = test::worked_example();
    const fs::path d = root / "good";
    write_aiter_dump(d, p, make_plan(p, pol),
                     compute_capacity(SizingInputs::from_problem(p), pol.traits().sizing));
    return d;
  }
  std::string read_error(const fs::path& d) {
    try {
      read_aiter_dump(d);
    } catch (const InputError& e) {
      return e.field();
    }
    return "";
  }
};

TEST_F(Dump, WritesPaddedBuffersAsUpstream) {
  const fs::path d = good();
  // Legacy sizing of the worked example: work_info 12 rows, reduce_indptr 4, final map 3 rows, partials 12.
  EXPECT_EQ(words(d / "qo_indptr.bin"), (std::vector<int32_t>{0, 600}));
  EXPECT_EQ(words(d / "kv_indptr.bin"), (std::vector<int32_t>{0, 600}));
  EXPECT_EQ(words(d / "seq_lens_kv.bin"), (std::vector<int32_t>{600}));
  EXPECT_EQ(words(d / "work_indptr.bin"), (std::vector<int32_t>{0, 2, 3, 5, 6}));
  const auto wi = words(d / "work_info.bin");
  ASSERT_EQ(wi.size(), 12u * 8);
  EXPECT_EQ(std::vector<int32_t>(wi.begin(), wi.begin() + 8),
            (std::vector<int32_t>{0, -1, 0, 256, 0, 256, 0, 65536}));
  EXPECT_TRUE(std::all_of(wi.begin() + 6 * 8, wi.end(), [](int32_t v) { return v == 0; }));
  EXPECT_EQ(words(d / "reduce_indptr.bin"), (std::vector<int32_t>{0, 2, 5, 5}));  // contract 2.4
  EXPECT_EQ(words(d / "reduce_final_map.bin"), (std::vector<int32_t>{256, 512, 512, 600, 0, 0}));
  EXPECT_EQ(words(d / "reduce_partial_map.bin"),
            (std::vector<int32_t>{768, 1024, 0, 256, 512, 0, 0, 0, 0, 0, 0, 0}));
  // Nothing but the eight files and problem.json, no temporary left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(d), fs::directory_iterator()), 9);
  const DumpRecord rec = parse_dump_record(slurp(d / kDumpProblemFile));
  EXPECT_EQ(rec.policy.name(), "aiter-legacy");
  EXPECT_EQ(rec.sizing, SizingFormula::kLegacy);
  EXPECT_EQ(rec.problem.qo_indptr, test::worked_example().qo_indptr);
  EXPECT_EQ(std::distance(fs::directory_iterator(root), fs::directory_iterator()), 1);
}

TEST_F(Dump, RoundTripBothPolicies) {
  const std::vector<Problem> problems = {test::worked_example(), test::seed_scenario(),
                                         Problem::from_lengths({300, 0, 1000}, {300, 50, 4000}, 3, true, 16)};
  for (const Problem& p : problems) {
    for (Policy pol : {policy_named("aiter"), policy_named("aiter-legacy")}) {
      const Plan plan = make_plan(p, pol);
      const Capacity cap = compute_capacity(SizingInputs::from_problem(p), SizingFormula::kPr3606);
      const fs::path d = root / "rt";
      write_aiter_dump(d, p, plan, cap);
      const AiterDump back = read_aiter_dump(d);
      EXPECT_EQ(back.plan, plan);
      EXPECT_EQ(back.capacity, cap);
      EXPECT_EQ(back.problem.qo_indptr, p.qo_indptr);
      EXPECT_EQ(back.problem.kv_indptr, p.kv_indptr);
      EXPECT_EQ(back.problem.context_lens, p.context_lens);
      EXPECT_EQ(back.problem.num_cu, p.num_cu);
      EXPECT_EQ(back.problem.num_heads_k, p.num_heads_k);
    }
  }
}

TEST_F(Dump, OverwritesAnExistingDumpFileByFile) {
  const fs::path d = good(policy_named("aiter-legacy"));
  const Problem p = test::seed_scenario();
  const Plan plan = make_plan(p, policy_named("aiter"));
  write_aiter_dump(d, p, plan, compute_capacity(SizingInputs::from_problem(p), SizingFormula::kPr3606));
  EXPECT_EQ(read_aiter_dump(d).plan, plan);
  EXPECT_EQ(std::distance(fs::directory_iterator(root), fs::directory_iterator()), 1);
  // A trailing slash names the same directory.
  const Plan legacy = make_plan(p, policy_named("aiter-legacy"));
  write_aiter_dump(d.string() + "/", p, legacy,
                   compute_capacity(SizingInputs::from_problem(p), SizingFormula::kPr3606));
  EXPECT_EQ(read_aiter_dump(d).plan, legacy);
  EXPECT_EQ(std::distance(fs::directory_iterator(root), fs::directory_iterator()), 1);
}

TEST_F(Dump, OverflowingPlanWritesNothing) {
  const Problem p =
      Problem::from_lengths(std::vector<int32_t>(16, 1024), std::vector<int32_t>(16, 1024), 128, true);
  const Plan plan = make_plan(p, policy_named("aiter"));  // 64 partials > legacy capacity 8
  const fs::path d = root / "over";
  try {
    write_aiter_dump(d, p, plan, compute_capacity(SizingInputs::from_problem(p), SizingFormula::kLegacy));
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "reduce_partial_map");
  }
  EXPECT_FALSE(fs::exists(d));
  EXPECT_EQ(std::distance(fs::directory_iterator(root), fs::directory_iterator()), 0);
}

TEST_F(Dump, TargetIsAFile) {
  const fs::path f = root / "file";
  std::ofstream(f) << "x";
  const Problem p = test::worked_example();
  EXPECT_THROW(write_aiter_dump(f, p, make_plan(p, policy_named("aiter")),
                                compute_capacity(SizingInputs::from_problem(p), SizingFormula::kPr3606)),
               InputError);
}

TEST_F(Dump, MissingFile) {
  for (const char* name : kDumpFiles) {
    const fs::path d = good();
    fs::remove(d / name);
    EXPECT_EQ(read_error(d), (d / name).string()) << name;
    fs::remove_all(d);
  }
  EXPECT_EQ(read_error(root / "nowhere"), (root / "nowhere" / "qo_indptr.bin").string());
}

TEST_F(Dump, MisalignedFiles) {
  for (const char* name : kDumpFiles) {
    const fs::path d = good();
    put(d / name, words(d / name), 2);  // 2 stray bytes
    EXPECT_EQ(read_error(d), (d / name).string()) << name;
    fs::remove_all(d);
  }
  fs::path d = good();
  put(d / "work_info.bin", std::vector<int32_t>(12 * 8 - 1, 0));  // whole dwords, but not whole rows
  EXPECT_EQ(read_error(d), (d / "work_info.bin").string());
  put(d / "work_info.bin", std::vector<int32_t>(12 * 8, 0));
  put(d / "reduce_final_map.bin", std::vector<int32_t>(5, 0));
  EXPECT_EQ(read_error(d), (d / "reduce_final_map.bin").string());
}

TEST_F(Dump, TruncatedFiles) {
  fs::path d = good();
  put(d / "work_info.bin", std::vector<int32_t>(5 * 8, 0));  // work_indptr ends at 6 works
  EXPECT_EQ(read_error(d), (d / "work_info.bin").string());
  fs::remove_all(d);
  d = good();
  put(d / "reduce_partial_map.bin", {768, 1024, 0, 256});  // reduce_indptr ends at 5
  EXPECT_EQ(read_error(d), (d / "reduce_partial_map.bin").string());
  fs::remove_all(d);
  d = good();
  put(d / "qo_indptr.bin", {0});
  EXPECT_EQ(read_error(d), (d / "qo_indptr.bin").string());
  fs::remove_all(d);
  d = good();
  put(d / "work_indptr.bin", {0});
  EXPECT_EQ(read_error(d), (d / "work_indptr.bin").string());
  fs::remove_all(d);
  d = good();
  put(d / "reduce_indptr.bin", {});
  EXPECT_EQ(read_error(d), (d / "reduce_indptr.bin").string());
}

TEST_F(Dump, InconsistentFiles) {
  fs::path d = good();
  put(d / "kv_indptr.bin", {0, 600, 700});
  EXPECT_EQ(read_error(d), (d / "kv_indptr.bin").string());
  fs::remove_all(d);
  d = good();
  put(d / "seq_lens_kv.bin", {600, 3});
  EXPECT_EQ(read_error(d), (d / "seq_lens_kv.bin").string());
  fs::remove_all(d);
  d = good();
  put(d / "reduce_final_map.bin", {256, 512, 512, 600});  // 2 rows, reduce_indptr implies qtc = 3
  EXPECT_EQ(read_error(d), (d / "reduce_final_map.bin").string());
  fs::remove_all(d);
  d = good();
  put(d / "work_indptr.bin", {0, 2, 3, 5, -6});
  EXPECT_EQ(read_error(d), (d / "work_indptr.bin").string());
  fs::remove_all(d);
  d = good();
  put(d / "reduce_indptr.bin", {0, 2, 5, -1});
  EXPECT_EQ(read_error(d), (d / "reduce_indptr.bin").string());
}

TEST_F(Dump, ForeignFilesAreRefusedAndNeverTouched) {
  const fs::path d = root / "user";
  fs::create_directories(d / "src");
  std::ofstream(d / "NOTES.md") << "notes";
  const Problem p = test::worked_example();
  const Plan plan = make_plan(p, policy_named("aiter"));
  const Capacity cap = compute_capacity(SizingInputs::from_problem(p), SizingFormula::kPr3606);
  EXPECT_THROW(write_aiter_dump(d, p, plan, cap), InputError);
  EXPECT_EQ(std::distance(fs::directory_iterator(d), fs::directory_iterator()), 2);
  write_aiter_dump(d, p, plan, cap, /*force=*/true);
  EXPECT_EQ(std::distance(fs::directory_iterator(d), fs::directory_iterator()), 11);
  EXPECT_EQ(slurp(d / "NOTES.md"), "notes");
  EXPECT_TRUE(fs::is_directory(d / "src"));
  EXPECT_EQ(read_aiter_dump(d).plan, plan);
}

TEST_F(Dump, ProblemJsonRecordsEveryOptionAndMustAgree) {
  Problem p = Problem::from_lengths({300, 100}, {700, 500}, 2, false, 8, 2);
  p.tile_q = 128;
  p.tile_kv = 64;
  const Plan plan = make_plan(p, policy_named("aiter"));
  const fs::path d = root / "rec";
  write_aiter_dump(d, p, plan, compute_capacity(SizingInputs::from_problem(p), SizingFormula::kPr3606));
  const AiterDump back = read_aiter_dump(d);
  ASSERT_TRUE(back.record.has_value());
  EXPECT_EQ(back.problem.tile_q, 128);
  EXPECT_EQ(back.problem.tile_kv, 64);
  EXPECT_EQ(back.problem.gqa_ratio, 2);
  EXPECT_FALSE(back.problem.causal);
  EXPECT_EQ(back.plan.policy, "aiter");
  // The buffers changed after the record was written: refused, naming problem.json.
  put(d / "seq_lens_kv.bin", {700, 400});
  EXPECT_EQ(read_error(d), (d / kDumpProblemFile).string());
  std::ofstream(d / kDumpProblemFile) << "{\"problem\": 3}";
  EXPECT_EQ(read_error(d), (d / kDumpProblemFile).string());
}

TEST_F(Dump, OversizedFilesAreRefusedBeforeReading) {
  fs::path d = good();
  fs::resize_file(d / "work_info.bin", kMaxDumpFileBytes + 32);  // sparse
  EXPECT_EQ(read_error(d), (d / "work_info.bin").string());
  fs::remove_all(d);
  d = good();
  fs::resize_file(d / "reduce_partial_map.bin", kMaxDumpFileBytes + 4);
  EXPECT_EQ(read_error(d), (d / "reduce_partial_map.bin").string());
  fs::remove_all(d);
  d = good();
  fs::resize_file(d / "qo_indptr.bin", (uint64_t{kMaxSequences} + 2) * 4);
  EXPECT_EQ(read_error(d), (d / "qo_indptr.bin").string());
}

TEST_F(Dump, TrimsAtFirstEntryEqualToTotal) {
  // Legacy worked example: reduce_indptr [0,2,5,5] -> n_final = 2.
  const AiterDump back = read_aiter_dump(good());
  EXPECT_EQ(back.plan.reduce_indptr, (std::vector<int32_t>{0, 2, 5}));
  EXPECT_EQ(back.plan.reduce_final_map.size(), 2u);
  EXPECT_EQ(back.plan.reduce_partial_map.size(), 5u);
  EXPECT_EQ(back.plan.policy, "aiter-legacy");
  EXPECT_EQ(back.plan.reduce, ReduceVersion::kLegacy);
  EXPECT_EQ(back.capacity, (Capacity{5, 12, 4, 3, 12}));
}

}  // namespace
}  // namespace mlaps
