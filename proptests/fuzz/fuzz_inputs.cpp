// libFuzzer target (b): arbitrary bytes to the readers of untrusted input. Bad input must give a clean
// InputError, never a crash, a sanitizer report, another exception type or a runaway allocation.
//   byte 0 % 3 == 0: the rest is JSON text for problem_from_json_text (then planned when small)
//   byte 0 % 3 == 1: the rest is split into upstream's 8 dump files (u16 length prefix each, the last file
//                    takes the remainder), written to a temp dir, read back with read_aiter_dump, and the
//                    plan validated (validate must take any plan without throwing)
//   byte 0 % 3 == 2: a fuzz-codec problem followed by raw plan buffers for validate and build_reduce_info
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "proptests/fuzz/fuzz_codec.h"
#include "scheduler/dump.h"
#include "scheduler/error.h"
#include "scheduler/policy.h"
#include "scheduler/validate.h"

namespace {

using namespace mlaps;

[[noreturn]] void finding(const char* where, const char* what) {
  std::fprintf(stderr, "\n==== mlaps fuzz finding in %s: %s\n", where, what);
  std::abort();
}

const std::filesystem::path& temp_dir() {
  static const std::filesystem::path dir = [] {
    const char* base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string tmpl = std::string(base) + "/mlaps_fuzz_XXXXXX";
    if (!mkdtemp(tmpl.data())) std::abort();
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

struct Cursor {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
  uint32_t u16() {
    uint32_t v = 0;
    for (int i = 0; i < 2; ++i) v |= (pos < size ? data[pos++] : 0u) << (8 * i);
    return v;
  }
  std::string take(size_t n) {
    n = std::min(n, size - pos);
    std::string s(reinterpret_cast<const char*>(data + pos), n);
    pos += n;
    return s;
  }
  template <typename T>
  std::vector<T> take_array(size_t max_bytes) {
    const size_t n = std::min(max_bytes, size - pos) / sizeof(T);
    std::vector<T> v(n);
    if (n) std::memcpy(v.data(), data + pos, n * sizeof(T));
    pos += n * sizeof(T);
    return v;
  }
};

void plan_if_small(const Problem& p) {
  if (p.batch() > 256 || fuzz::estimated_works(p) > 2048) return;
  for (const PolicyDef& def : policies()) {  // every policy of the table
    const Plan plan = make_plan(p, Policy(def));
    (void)validate(p, plan);
  }
}

void json_mode(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Problem p;
  try {
    p = problem_from_json_text(text);
  } catch (const InputError&) {
    return;
  }
  // Accepted: it must survive a round trip and plan.
  try {
    const Problem back = problem_from_json_text(problem_to_json_text(p));
    if (back.qo_indptr != p.qo_indptr || back.kv_indptr != p.kv_indptr ||
        back.context_lens != p.context_lens) {
      finding("problem JSON", "round trip changed the problem");
    }
    validate_problem(p);
    plan_if_small(p);
  } catch (const InputError& e) {
    finding("problem JSON", (std::string("accepted problem then rejected: ") + e.what()).c_str());
  }
}

void dump_mode(const uint8_t* data, size_t size) {
  Cursor c{data, size};
  const auto& dir = temp_dir();
  for (size_t i = 0; i < std::size(kDumpFiles); ++i) {
    const size_t n = i + 1 < std::size(kDumpFiles) ? c.u16() : size;
    std::ofstream f(dir / kDumpFiles[i], std::ios::binary | std::ios::trunc);
    const std::string bytes = c.take(n);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  AiterDump d;
  try {
    d = read_aiter_dump(dir);
  } catch (const InputError&) {
    return;
  }
  try {
    validate_problem(d.problem);
  } catch (const InputError&) {
    return;
  }
  (void)validate(d.problem, d.plan);
}

void raw_plan_mode(const uint8_t* data, size_t size) {
  size_t used = 0;
  Problem p;
  try {
    p = fuzz::decode_problem(data, size, &used).problem;
    validate_problem(p);
  } catch (const InputError&) {
    return;
  }
  if (fuzz::estimated_works(p) > 2048) return;
  Cursor c{data, size, used};
  Plan plan;
  plan.work_indptr = c.take_array<int32_t>(4 * c.u16());
  plan.work_info = c.take_array<WorkInfo>(32 * c.u16());
  plan.reduce_indptr = c.take_array<int32_t>(4 * c.u16());
  plan.reduce_final_map = c.take_array<FinalLoc>(8 * c.u16());
  plan.reduce_partial_map = c.take_array<int32_t>(size);
  (void)validate(p, plan);  // the #3606 contract, then every policy's own
  for (const PolicyDef& def : policies()) {
    ValidateOptions opt;
    opt.contract = Policy(def);
    (void)validate(p, plan, opt);
  }
  Plan rebuilt;
  rebuilt.work_indptr = plan.work_indptr;
  rebuilt.work_info = plan.work_info;
  try {
    build_reduce_info(ReduceVersion::kFixed, plan.work_info, rebuilt);
  } catch (const InputError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const char* where = "?";
  try {
    switch (data[0] % 3) {
      case 0:
        where = "problem_from_json_text";
        json_mode(data + 1, size - 1);
        break;
      case 1:
        where = "read_aiter_dump/validate";
        dump_mode(data + 1, size - 1);
        break;
      default:
        where = "validate(raw plan)";
        raw_plan_mode(data + 1, size - 1);
        break;
    }
  } catch (const InputError&) {
    finding(where, "InputError escaped where the caller does not expect one");
  } catch (const std::exception& e) {
    finding(where, (std::string("non-InputError exception: ") + e.what()).c_str());
  }
  return 0;
}
