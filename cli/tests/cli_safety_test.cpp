// Issue 11, "nothing lost, nothing crashes": every case of the hostile run, reproduced through the binary.
// Data-loss cases check that the other files and the device node / FIFO / socket / folder are untouched.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/tests/cli_util.h"

namespace {

using namespace mlaps_cli_test;

bool has(const std::string& out, const std::string& s) {
  return out.find(s) != std::string::npos;
}

bool is_char_device(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode);
}

// A device node of the test's own (the null device's numbers, made with mknod as root), so that a regression
// could only ever replace this node, never the system's /dev/null or /dev/full. "" when mknod is not allowed.
std::string own_device_node(const fs::path& dir) {
  fs::create_directories(dir);
  const fs::path node = dir / "devnode";
  if (::mknod(node.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) return "";
  return node.string();
}

// A user's folder: a source tree with a note; returns its contents' fingerprint.
struct UserFolder {
  fs::path dir;
  explicit UserFolder(const std::string& name) : dir(temp_dir(name)) {
    fs::create_directories(dir / "src");
    spit(dir / "src" / "main.cpp", "int main() {}\n");
    spit(dir / "NOTES.md", "my notes\n");
  }
  ~UserFolder() { fs::remove_all(dir); }
  void expect_untouched() const {
    EXPECT_EQ(slurp(dir / "NOTES.md"), "my notes\n");
    EXPECT_EQ(slurp(dir / "src" / "main.cpp"), "int main() {}\n");
  }
  std::set<std::string> names() const {
    std::set<std::string> s;
    for (const auto& e : fs::directory_iterator(dir)) s.insert(e.path().filename().string());
    return s;
  }
};

// --- Data loss -------------------------------------------------------------------------------------------

TEST(CliDataLoss, WriteAiterDumpRefusesAFolderWithForeignFiles) {
  UserFolder u("foreign");
  const auto r = mlaps(std::string("plan ") + kSmallSeed + " --write-aiter-dump " + u.dir.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "--write-aiter-dump")) << r.out;
  EXPECT_TRUE(has(r.out, "NOTES.md")) << r.out;
  EXPECT_TRUE(has(r.out, "--force")) << r.out;
  u.expect_untouched();
  EXPECT_EQ(u.names(), (std::set<std::string>{"NOTES.md", "src"}));
}

TEST(CliDataLoss, WriteAiterDumpDotInsideASourceTree) {
  UserFolder u("dot");
  const auto r =
      mlaps(std::string("plan ") + kSmallSeed + " --write-aiter-dump .", "cd " + u.dir.string() + " &&");
  EXPECT_EQ(r.code, 2) << r.out;
  u.expect_untouched();
  EXPECT_EQ(u.names(), (std::set<std::string>{"NOTES.md", "src"}));
  // With --force: the dump's nine files beside the user's, which stay as they were.
  const auto f = mlaps(std::string("plan ") + kSmallSeed + " --write-aiter-dump . --force",
                       "cd " + u.dir.string() + " &&");
  ASSERT_EQ(f.code, 0) << f.out;
  u.expect_untouched();
  std::set<std::string> want = {"NOTES.md", "src", "problem.json"};
  for (const char* n :
       {"qo_indptr.bin", "kv_indptr.bin", "seq_lens_kv.bin", "work_indptr.bin", "work_info.bin",
        "reduce_indptr.bin", "reduce_final_map.bin", "reduce_partial_map.bin"}) {
    want.insert(n);
  }
  EXPECT_EQ(u.names(), want);
  // The dump reads back from there and checks clean (problem.json records --no-causal).
  const auto c = mlaps("check --from-aiter-dump " + u.dir.string());
  EXPECT_EQ(c.code, 0) << c.out;
}

TEST(CliDataLoss, ForceNeverReplacesAFolderOrDeviceUnderADumpName) {
  UserFolder u("ownname");
  fs::create_directories(u.dir / "work_info.bin");
  spit(u.dir / "work_info.bin" / "keep", "x");
  const auto r =
      mlaps(std::string("plan ") + kSmallSeed + " --write-aiter-dump " + u.dir.string() + " --force");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "work_info.bin")) << r.out;
  EXPECT_EQ(slurp(u.dir / "work_info.bin" / "keep"), "x");
  EXPECT_FALSE(fs::exists(u.dir / "qo_indptr.bin"));  // checked before anything was written
  u.expect_untouched();
}

TEST(CliDataLoss, RewritingItsOwnDumpNeedsNoForce) {
  const auto d = temp_dir("rewrite");
  ASSERT_EQ(mlaps(std::string("plan ") + kSmallSeed + " --write-aiter-dump " + d.string()).code, 0);
  const auto r =
      mlaps(std::string("plan ") + kSmallSeed + " --policy aiter-legacy --write-aiter-dump " + d.string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(std::distance(fs::directory_iterator(d), fs::directory_iterator()), 9);
  const auto c = mlaps("check --from-aiter-dump " + d.string() + " --contract aiter-legacy");
  EXPECT_EQ(c.code, 0) << c.out;
  EXPECT_TRUE(has(c.out, "policy aiter-legacy")) << c.out;
  fs::remove_all(d);
}

TEST(CliDataLoss, SvgAndHeatmapRefuseNonRegularFiles) {
  const auto d = temp_dir("nonregular");
  fs::create_directories(d / "folder");
  spit(d / "folder" / "keep", "x");
  ASSERT_EQ(::mkfifo((d / "fifo").c_str(), 0644), 0);
  // A socket.
  const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string sock = (d / "sock").string();
  ASSERT_LT(sock.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, sock.c_str(), sock.size() + 1);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  struct Case {
    std::string path, kind;
  };
  const std::string dev = own_device_node(d);
  std::vector<Case> cases = {
      {(d / "fifo").string(), "FIFO"}, {sock, "socket"}, {(d / "folder").string(), "folder"}};
  if (!dev.empty()) cases.push_back({dev, "device node"});
  for (const auto& c : cases) {
    const auto p = mlaps(std::string("plan ") + kSmallSeed + " --svg " + c.path);
    EXPECT_EQ(p.code, 2) << c.path << ": " << p.out;
    EXPECT_TRUE(has(p.out, "--svg")) << p.out;
    EXPECT_TRUE(has(p.out, c.kind)) << p.out;
    const auto h = mlaps(std::string("run --quiet ") + kSmallSeed + " --heatmap " + c.path);
    EXPECT_EQ(h.code, 2) << c.path << ": " << h.out;
    EXPECT_TRUE(has(h.out, "--heatmap")) << h.out;
  }
  if (!dev.empty()) {
    EXPECT_TRUE(is_char_device(dev));
  }
  EXPECT_EQ(fs::status(d / "fifo").type(), fs::file_type::fifo);
  EXPECT_EQ(fs::symlink_status(d / "sock").type(), fs::file_type::socket);
  EXPECT_EQ(slurp(d / "folder" / "keep"), "x");
  ::close(s);
  fs::remove_all(d);
}

TEST(CliDataLoss, SecondOutputFailingLeavesTheFirstUnwritten) {
  const auto d = temp_dir("second");
  const auto devdir = temp_dir("second_dev");
  std::string dev = own_device_node(devdir);
  if (dev.empty()) {  // no mknod: a FIFO is refused the same way
    dev = (devdir / "fifo").string();
    ASSERT_EQ(::mkfifo(dev.c_str(), 0644), 0);
  }
  // The SVG target is refused: the dump is not written either.
  auto r = mlaps(std::string("plan ") + kSmallSeed + " --write-aiter-dump " + d.string() + " --svg " + dev);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_FALSE(fs::exists(d));
  // The SVG's folder does not exist.
  r = mlaps(std::string("plan ") + kSmallSeed + " --write-aiter-dump " + d.string() + " --svg " +
            (d.string() + "_missing/x.svg"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "--svg")) << r.out;
  EXPECT_FALSE(fs::exists(d));
  // run: --dump then --heatmap.
  r = mlaps(std::string("run --quiet ") + kSmallSeed + " --dump " + d.string() + " --heatmap " + dev);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_FALSE(fs::exists(d));
  fs::remove_all(devdir);
}

TEST(CliDataLoss, RunDumpFollowsTheSameRule) {
  UserFolder u("rundump");
  auto r = mlaps(std::string("run --quiet ") + kSmallSeed + " --dump " + u.dir.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "--dump")) << r.out;
  u.expect_untouched();
  EXPECT_EQ(u.names(), (std::set<std::string>{"NOTES.md", "src"}));
  r = mlaps(std::string("run --quiet ") + kSmallSeed + " --dump " + u.dir.string() + " --force");
  EXPECT_EQ(r.code, 0) << r.out;
  u.expect_untouched();
  EXPECT_TRUE(fs::exists(u.dir / "manifest.json"));
  EXPECT_TRUE(fs::exists(u.dir / "metadata" / "work_info.bin"));
  // Its own dump is rewritten without --force.
  r = mlaps(std::string("run --quiet --seed 3 ") + kSmallSeed + " --dump " + (u.dir / "metadata").string() +
            "/..");
  EXPECT_EQ(r.code, 2) << r.out;  // the folder still holds the user's files
}

// --- Crashes, unbounded reads, paths
// -------------------------------------------------------------------------

TEST(CliCrash, ThreadsAreBounded) {
  const auto r = mlaps(std::string("run --quiet --threads 100000 ") + kSmallSeed);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "--threads")) << r.out;
  EXPECT_TRUE(has(r.out, "hardware threads")) << r.out;
  const auto c = mlaps("chunked --new-lens 8 --ctx-lens 600 --chunk-size 256 --threads 100000");
  EXPECT_EQ(c.code, 2) << c.out;
}

// A valid dump, then one inner index entry broken.
class CliBrokenDump : public ::testing::TestWithParam<std::pair<const char*, int32_t>> {};

TEST_P(CliBrokenDump, PlanRefusesCheckReports) {
  const auto d = temp_dir(std::string("broken_") + GetParam().first + std::to_string(GetParam().second < 0));
  ASSERT_EQ(mlaps(std::string("plan ") + kSmallSeed + " --write-aiter-dump " + d.string()).code, 0);
  const fs::path f = d / GetParam().first;
  std::string bytes = slurp(f);
  const int32_t v = GetParam().second;
  std::memcpy(bytes.data() + 4 * 2, &v, 4);  // entry 2 of 9 (work_indptr) / 5 (reduce_indptr)
  spit(f, bytes);
  const std::string svg = d.string() + ".svg";
  for (const std::string& extra : std::vector<std::string>{"", " --format json", " --svg " + svg}) {
    const auto r = mlaps("plan --from-aiter-dump " + d.string() + extra);
    EXPECT_EQ(r.code, 2) << extra << ": " << r.out;
    EXPECT_TRUE(has(r.out, GetParam().first)) << r.out;
    EXPECT_FALSE(has(r.out, "work -")) << r.out;
  }
  EXPECT_FALSE(fs::exists(svg));
  const auto c = mlaps("check --from-aiter-dump " + d.string());
  EXPECT_EQ(c.code, 1) << c.out;
  EXPECT_TRUE(has(c.out, "monotone") || has(c.out, "shape")) << c.out;
  fs::remove_all(d);
}

INSTANTIATE_TEST_SUITE_P(Cases, CliBrokenDump,
                         ::testing::Values(std::make_pair("work_indptr.bin", -50),
                                           std::make_pair("work_indptr.bin", 1000),
                                           std::make_pair("reduce_indptr.bin", -50),
                                           std::make_pair("reduce_indptr.bin", 1000)));

TEST(CliCrash, UnboundedInputsAreRefusedBeforeReading) {
  auto r = mlaps("plan --problem /dev/zero");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "--problem")) << r.out;
  const auto d = temp_dir("sparse");
  ASSERT_EQ(mlaps(std::string("plan ") + kSmallSeed + " --write-aiter-dump " + d.string()).code, 0);
  fs::resize_file(d / "work_info.bin", uint64_t{2} << 30);  // 2 GiB, sparse
  r = mlaps("check --from-aiter-dump " + d.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "work_info.bin")) << r.out;
  EXPECT_TRUE(has(r.out, "refused before reading")) << r.out;
  fs::remove_all(d);
  const fs::path big = temp_dir("bigproblem");
  spit(big, "{");
  fs::resize_file(big, uint64_t{1} << 30);
  r = mlaps("plan --problem " + big.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "--problem")) << r.out;
  fs::remove(big);
}

TEST(CliCrash, RunDumpPathsAreUserErrors) {
  const auto d = temp_dir("slash");
  auto r = mlaps(std::string("run --quiet ") + kSmallSeed + " --dump " + d.string() + "/");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(d / "manifest.json"));
  fs::remove_all(d);
  r = mlaps(std::string("run --quiet ") + kSmallSeed + " --dump /proc/rd");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "/proc/rd")) << r.out;
  EXPECT_FALSE(has(r.out, "internal error")) << r.out;
  r = mlaps(std::string("run --quiet ") + kSmallSeed + " --dump " + d.string() + "/a/b/");
  EXPECT_EQ(r.code, 0) << r.out;
  fs::remove_all(d);
  // A failing write removes the folders it created.
  r = mlaps(std::string("plan ") + kSmallSeed + " --write-aiter-dump /proc/self/nope/dump");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_FALSE(has(r.out, "internal error")) << r.out;
}

#if !defined(__SANITIZE_ADDRESS__)
TEST(CliCrash, AllocationFailureIsAUserError) {
  // 1 GB of virtual memory: the inputs of this problem (~5 GB of fp32 before quantization) do not fit.
  const auto r = mlaps("run --quiet --force --qo-lens 100000 --kv-lens 100000 --heads 64 --num-cu 8",
                       "ulimit -v 1000000;");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "out of memory")) << r.out;
}
#endif

// --- Silent acceptance
// -----------------------------------------------------------------------------------------

class CliDumpRecordsOptions : public ::testing::TestWithParam<const char*> {};

TEST_P(CliDumpRecordsOptions, OwnDumpChecksClean) {
  const auto d = temp_dir("record");
  const std::string shape =
      std::string("--qo-lens 300,200 --kv-lens 700,500 --heads 2 --num-cu 8 ") + GetParam();
  ASSERT_EQ(mlaps("plan " + shape + " --write-aiter-dump " + d.string()).code, 0);
  const auto c = mlaps("check --from-aiter-dump " + d.string());
  EXPECT_EQ(c.code, 0) << c.out;
  EXPECT_FALSE(has(c.out, "assumed")) << c.out;
  // Without problem.json the assumptions are said (and a non-default option then fails).
  fs::remove(d / "problem.json");
  const auto a = mlaps("check --from-aiter-dump " + d.string());
  EXPECT_TRUE(has(a.out, "has no problem.json; assumed")) << a.out;
  EXPECT_TRUE(has(a.out, "tile_q 256")) << a.out;
  // ... and the explicit flags make it pass again, the tiles too.
  const auto f = mlaps("check --from-aiter-dump " + d.string() + " " + GetParam());
  EXPECT_EQ(f.code, 0) << f.out;
  fs::remove_all(d);
}

INSTANTIATE_TEST_SUITE_P(Options, CliDumpRecordsOptions,
                         ::testing::Values("--no-causal", "--tile-q 128 --no-causal", "--tile-kv 64",
                                           "--gqa 2"));

TEST(CliSilent, ExplicitFlagsOverrideTheRecord) {
  const auto d = temp_dir("override");
  ASSERT_EQ(
      mlaps("plan --qo-lens 600,200 --kv-lens 700,500 --heads 2 --num-cu 8 --no-causal --write-aiter-dump " +
            d.string())
          .code,
      0);
  // Recorded non-causal; --causal overrides: the non-causal plan breaks the causal coverage.
  const auto c = mlaps("check --from-aiter-dump " + d.string() + " --causal");
  EXPECT_EQ(c.code, 1) << c.out;
  const auto t = mlaps("check --from-aiter-dump " + d.string() + " --tile-q 128");
  EXPECT_EQ(t.code, 1) << t.out;
  const auto n = mlaps("check --from-aiter-dump " + d.string() + " --num-cu 4");
  EXPECT_EQ(n.code, 2) << n.out;
  EXPECT_TRUE(has(n.out, "--num-cu")) << n.out;
  fs::remove_all(d);
}

TEST(CliSilent, FlagsBesideProblemOrWorkloadOverride) {
  const auto f = temp_dir("problemfile");
  spit(f, R"({"qo_lens":[300],"kv_lens":[600],"heads":1,"num_cu":4,"causal":false})");
  const auto base = nlohmann::json::parse(mlaps("plan --format json --problem " + f.string()).out);
  const auto tiled = mlaps("plan --format json --problem " + f.string() + " --tile-q 128");
  ASSERT_EQ(tiled.code, 0) << tiled.out;
  EXPECT_NE(nlohmann::json::parse(tiled.out)["reduce_final_map"], base["reduce_final_map"]);
  const auto kv = mlaps("plan --format json --problem " + f.string() + " --tile-kv 64");
  ASSERT_EQ(kv.code, 0) << kv.out;
  EXPECT_NE(nlohmann::json::parse(kv.out)["work_info"], base["work_info"]);
  // A block size changes the page layout of a problem without its own kv_indptr.
  const auto bs = mlaps("plan --format json --problem " + f.string() + " --block-size 16");
  ASSERT_EQ(bs.code, 0) << bs.out;
  EXPECT_NE(nlohmann::json::parse(bs.out)["work_info"], base["work_info"]);
  const auto wl = mlaps("plan --format json --workload worked_example_qo600_cu4 --tile-q 128");
  ASSERT_EQ(wl.code, 0) << wl.out;
  EXPECT_NE(nlohmann::json::parse(wl.out)["work_info"],
            nlohmann::json::parse(
                mlaps("plan --format json --workload worked_example_qo600_cu4").out)["work_info"]);
  // A bad override names the flag, not the file's field.
  const auto bad = mlaps("plan --problem " + f.string() + " --tile-q 100 --gqa 3");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_TRUE(has(bad.out, "--tile-q")) << bad.out;
  fs::remove(f);
}

struct RangeCase {
  const char* args;
  const char* flag;
};
class CliRange : public ::testing::TestWithParam<RangeCase> {};

TEST_P(CliRange, NumericFlagsAreRangeCheckedNamingTheFlag) {
  const auto r = mlaps(GetParam().args);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(r.out.rfind(std::string("mlaps: error: ") + GetParam().flag, 0) == 0) << r.out;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CliRange,
    ::testing::Values(RangeCase{"run --qo-lens 8 --kv-lens 8 --seed -1", "--seed"},
                      RangeCase{"run --qo-lens 8 --kv-lens 8 --seed 18446744073709551616", "--seed"},
                      RangeCase{"run --qo-lens 8 --kv-lens 8 --seed 1e3", "--seed"},
                      RangeCase{"chunked --new-lens 8 --ctx-lens 600 --chunk-size 256 --seed -1", "--seed"},
                      RangeCase{"plan --qo-lens 8 --kv-lens 8 --max-kvlen -5", "--max-kvlen"},
                      RangeCase{"plan --qo-lens 8 --kv-lens 8 --batch-size -5", "--batch-size"},
                      RangeCase{"check --qo-lens 8 --kv-lens 8 --batch-size 0", "--batch-size"},
                      RangeCase{"plan --qo-lens 8 --kv-lens 8 --num-cu 1000000000", "--num-cu"},
                      RangeCase{"plan --qo-lens 8 --kv-lens 8 --tile-q 1073741824", "--tile-q"},
                      RangeCase{"plan --qo-lens 8 --kv-lens 8 --tile-kv 1073741824", "--tile-kv"},
                      RangeCase{"plan --qo-lens 8 --kv-lens 8 --heads 70000", "--heads"},
                      RangeCase{"plan --qo-lens 8 --kv-lens 8 --block-size -3", "--block-size"},
                      RangeCase{"plan --qo-lens 8 --kv-lens 8 --tile-kv 100", "--tile-kv"},
                      RangeCase{"plan --workload worked_example_qo600_cu4 --num-cu 0", "--num-cu"},
                      RangeCase{"run --qo-lens 8 --kv-lens 8 --memory-limit -1", "--memory-limit"},
                      RangeCase{"check --qo-lens 8 --kv-lens 8 --contract fastest", "--contract"}));

TEST(CliSilent, LegacyDumpIsLabelledWithWhatWasInferred) {
  const auto d = temp_dir("legacylabel");
  ASSERT_EQ(
      mlaps(std::string("plan ") + kSmallSeed + " --policy aiter-legacy --write-aiter-dump " + d.string())
          .code,
      0);
  fs::remove(d / "problem.json");
  const auto c = mlaps("check --from-aiter-dump " + d.string() + " --no-causal --contract aiter-legacy");
  EXPECT_EQ(c.code, 0) << c.out;
  EXPECT_TRUE(has(c.out, "ok: policy aiter-legacy plan")) << c.out;
  EXPECT_TRUE(has(c.out, "policy aiter-legacy, inferred from 8 work(s) with partial_o_loc -1")) << c.out;
  fs::remove_all(d);
}

TEST(CliSilent, LedgerEntryNamedOnlyWhereItsSymptomIsPresent) {
  // The fixed plan held to the legacy contract: violations, but no partial_o_loc -1 anywhere.
  const auto r = mlaps(std::string("check ") + kSmallSeed + " --policy aiter --contract aiter-legacy");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_FALSE(has(r.out, "legacy_minus1_fast_path")) << r.out;
  const auto l = mlaps(std::string("check ") + kSmallSeed + " --policy aiter-legacy --contract aiter");
  EXPECT_EQ(l.code, 1) << l.out;
  EXPECT_TRUE(has(l.out, "legacy_minus1_fast_path")) << l.out;
}

TEST(CliSilent, RunFailsOnThePlansViolations) {
  const auto r = mlaps("run --quiet --qo-lens 1024 --kv-lens 512 --num-cu 4 --allow-causal-qo-gt-kv");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(has(r.out, "violations")) << r.out;
  EXPECT_FALSE(has(r.out, "PASS")) << r.out;
  const auto j = mlaps("run --quiet --json --qo-lens 1024 --kv-lens 512 --num-cu 4 --allow-causal-qo-gt-kv");
  EXPECT_EQ(j.code, 1) << j.out;
  const auto jj = nlohmann::json::parse(j.out);
  EXPECT_FALSE(jj["pass"].get<bool>());
  EXPECT_GE(jj["violations"].size(), 1u);
}

TEST(CliSilent, HugeRunIsEstimatedAndRefused) {
  // An explicit limit below the problem's need (tens of GiB), so that the refusal does not depend on the
  // machine's memory (the default limit): on a 128 GiB host the run would otherwise start.
  const auto r = mlaps("run --qo-lens 65536 --kv-lens 65536 --heads 128 --memory-limit 4");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "mlaps: estimate:")) << r.out;
  EXPECT_TRUE(has(r.out, "GFLOP")) << r.out;
  EXPECT_TRUE(has(r.out, "--force")) << r.out;
  const auto small = mlaps(std::string("run --memory-limit 0.0001 ") + kSmallSeed);
  EXPECT_EQ(small.code, 2) << small.out;
  EXPECT_TRUE(has(small.out, "--memory-limit")) << small.out;
  const auto j = mlaps(std::string("run --quiet --json ") + kSmallSeed);
  ASSERT_EQ(j.code, 0) << j.out;
  const auto jj = nlohmann::json::parse(j.out);
  EXPECT_GT(jj["estimate"]["gflop"].get<double>(), 0.0);
  EXPECT_GT(jj["estimate"]["memory_bytes"].get<double>(), 0.0);
}

TEST(CliSilent, ProgressForEveryPhaseOnATerminalQuietOtherwise) {
  // script(1) gives the command a terminal.
  const auto typescript = temp_dir("typescript");
  const std::string cmd =
      std::string("script -qec \"") + MLAPS_BIN + " run " + kSmallSeed + "\" " + typescript.string();
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  fs::remove(typescript);
  for (const char* phase :
       {"plan", "inputs", "prefill (emulated)", "reduce (emulated)", "reference (float64)"}) {
    EXPECT_TRUE(has(out, std::string("mlaps: ") + phase + " done in")) << phase << "\n" << out;
  }
  const auto q = mlaps(std::string("run ") + kSmallSeed);  // stderr is a pipe here
  EXPECT_FALSE(has(q.out, "done in")) << q.out;
}

// --- Replay and help --------------------------------------------------------------------------------------

TEST(CliReplay, JsonAndManifestCarryTheProblemSeedVersion) {
  const auto j = nlohmann::json::parse(mlaps(std::string("run --quiet --json --seed 7 ") + kSmallSeed).out);
  EXPECT_EQ(j["seed"].get<uint64_t>(), 7u);
  EXPECT_TRUE(j.contains("mlaps_version"));
  EXPECT_EQ(j["problem"]["kv_lens"], nlohmann::json::parse("[300,300,300,300]"));
  EXPECT_EQ(j["problem"]["causal"].get<bool>(), false);
  EXPECT_EQ(j["problem"]["tile_q"].get<int>(), 256);
  const auto d = temp_dir("replay");
  ASSERT_EQ(
      mlaps(std::string("run --quiet --seed 7 --v-from-k ") + kSmallSeed + " --dump " + d.string()).code, 0);
  const auto m = nlohmann::json::parse(slurp(d / "manifest.json"));
  EXPECT_EQ(m["seed"].get<uint64_t>(), 7u);
  EXPECT_TRUE(m["v_from_k"].get<bool>());
  EXPECT_EQ(m["problem"], j["problem"]);
  EXPECT_TRUE(fs::exists(d / "seq_lens_kv.bin"));
  EXPECT_TRUE(fs::exists(d / "metadata" / "problem.json"));
  // --replay re-runs it and finds everything identical.
  const auto r = mlaps("run --quiet --replay " + d.string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(has(r.out, "plan        identical")) << r.out;
  EXPECT_TRUE(has(r.out, "inputs      identical to seed 7's")) << r.out;
  EXPECT_TRUE(has(r.out, "bit-identical")) << r.out;
  // A changed output is found.
  std::string out = slurp(d / "out.bin");
  out[10] = static_cast<char>(out[10] ^ 1);
  spit(d / "out.bin", out);
  const auto changed = mlaps("run --quiet --replay " + d.string());
  EXPECT_EQ(changed.code, 1) << changed.out;
  EXPECT_TRUE(has(changed.out, "outputs     DIFFER: 1 of")) << changed.out;
  const auto both = mlaps("run --quiet --replay " + d.string() + " --seed 3");
  EXPECT_EQ(both.code, 2) << both.out;
  EXPECT_TRUE(has(both.out, "--seed")) << both.out;
  fs::remove_all(d);
}

TEST(CliHelp, CausalDefaultIsShownAsTheDefault) {
  const auto h = mlaps("plan --help");
  EXPECT_EQ(h.code, 0) << h.out;
  EXPECT_FALSE(has(h.out, "{false}")) << h.out;
  EXPECT_TRUE(has(h.out, "--causal")) << h.out;
}

TEST(CliHelp, WorkloadsSayWhichCannotRun) {
  const auto w = mlaps("workloads");
  ASSERT_EQ(w.code, 0) << w.out;
  const auto at = w.out.find("paged_bs16_b4_h2");
  ASSERT_NE(at, std::string::npos) << w.out;
  EXPECT_NE(w.out.find("not `mlaps run`", at), std::string::npos) << w.out;
  const auto r = mlaps("run --quiet --workload paged_bs16_b4_h2");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "block size 1")) << r.out;
}

}  // namespace
