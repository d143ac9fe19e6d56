// libFuzzer target (c): arbitrary metadata dumps through the entry points of `mlaps plan --from-aiter-dump`
// and `mlaps check --from-aiter-dump` (cli/inspect.h): the dump reader with problem.json and the explicit
// options, validate() under both contracts with the ledger lookup (check), and the structural checks
// followed by the text table, the SVG picture and the JSON rendering (plan). Bad input must give a clean
// InputError, never a crash, a sanitizer report, another exception type or a runaway allocation.
//
// Input layout: byte 0 = which options are given explicitly (bit 0: problem.json present, 1: --causal/
// --no-causal (bit 2 the value), 3: --heads, 4: --gqa, 5: --tile-q, 6: --tile-kv, 7: --policy), then one byte
// per given option, then upstream's eight *.bin files, each with a u16 length prefix, then problem.json
// (the remainder).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli/inspect.h"
#include "cli/render.h"
#include "scheduler/dump.h"
#include "scheduler/error.h"
#include "scheduler/plan_json.h"
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
    std::string tmpl = std::string(base) + "/mlaps_fuzz_dump_XXXXXX";
    if (!mkdtemp(tmpl.data())) std::abort();
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

struct Cursor {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
  uint8_t u8() { return pos < size ? data[pos++] : 0; }
  uint32_t u16() { return u8() | (uint32_t{u8()} << 8); }
  std::string take(size_t n) {
    n = std::min(n, size - pos);
    std::string s(reinterpret_cast<const char*>(data + pos), n);
    pos += n;
    return s;
  }
};

void write(const std::filesystem::path& f, const std::string& bytes) {
  std::ofstream out(f, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void run(const uint8_t* data, size_t size) {
  Cursor c{data, size};
  const uint8_t given = c.u8();
  cli::DumpOverrides o;
  if (given & 2) o.causal = (given & 4) != 0;
  if (given & 8) o.heads = 1 + c.u8() % 16;
  if (given & 16) o.gqa = 1 + c.u8() % 4;
  if (given & 32) o.tile_q = 64 << (c.u8() % 3);
  if (given & 64) o.tile_kv = 16 << (c.u8() % 5);
  if (given & 128) o.policy = Policy(policies()[c.u8() % policies().size()]);
  const auto& dir = temp_dir();
  for (const char* name : kDumpFiles) write(dir / name, c.take(c.u16()));
  std::error_code ec;
  if (given & 1) {
    write(dir / kDumpProblemFile, c.take(size));
  } else {
    std::filesystem::remove(dir / kDumpProblemFile, ec);
  }

  cli::LoadedDump l;
  try {
    l = cli::load_dump(dir.string(), o);
  } catch (const InputError&) {
    return;
  }
  // Keep each input cheap: the checker is linear in (query tiles x K heads) and the works, the renderers in
  // the works. A dump whose q_head_range reaches 65535 heads (the packing's limit) is legal, but its check
  // lists hundreds of thousands of violations: ~1 s in a release build, over a minute under ASan + coverage.
  const int64_t tiles = validate_problem(l.problem).num_tiles;
  if (tiles > (1 << 16) || tiles * l.problem.num_heads_k > (1 << 16) ||
      l.plan.work_info.size() > (1u << 16)) {
    return;
  }
  // `mlaps check --from-aiter-dump`: validate never throws on a malformed plan.
  std::vector<std::optional<Policy>> contracts = {std::nullopt};  // the plan's own, then each row's
  for (const PolicyDef& def : policies()) contracts.emplace_back(Policy(def));
  for (const auto& contract : contracts) {
    ValidateOptions vo;
    vo.contract = contract;
    vo.capacity = l.capacity;
    const auto violations = validate(l.problem, l.plan, vo);
    (void)cli::ledger_lookup(l.problem, l.plan, violations);
  }
  // `mlaps plan --from-aiter-dump`: drawn only once the index arrays are safe to walk.
  try {
    cli::require_safe_structure(l.plan, l.problem.num_cu, dir.string());
  } catch (const InputError&) {
    return;
  }
  const SizingFormula f =
      l.record ? l.record->sizing : find_policy(l.plan.policy).value_or(default_policy()).traits().sizing;
  (void)cli::plan_text(l.problem, l.plan, l.capacity);
  (void)cli::plan_svg(l.problem, l.plan);
  (void)plan_to_json_text(l.plan, l.capacity, f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  try {
    run(data, size);
  } catch (const InputError& e) {
    finding("load_dump/validate/render",
            (std::string("InputError escaped where the CLI does not expect one: ") + e.what()).c_str());
  } catch (const std::exception& e) {
    finding("load_dump/validate/render", (std::string("non-InputError exception: ") + e.what()).c_str());
  }
  return 0;
}
