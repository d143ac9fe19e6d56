// Writes the fuzzers' seed corpora from the named workload table and the ledger:
//   make_seeds <out_dir>  ->  <out_dir>/plan/*  (fuzz_plan), <out_dir>/inputs/*  (fuzz_inputs) and
//                             <out_dir>/dump/*  (fuzz_dump)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ledger/ledger.h"
#include "proptests/fuzz/fuzz_codec.h"
#include "scheduler/dump.h"
#include "scheduler/sizing.h"
#include "workloads/workloads.h"

namespace fs = std::filesystem;
using namespace mlaps;

namespace {

void write(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void put_u16(std::vector<uint8_t>& out, size_t v) {
  out.push_back(static_cast<uint8_t>(v & 0xFF));
  out.push_back(static_cast<uint8_t>((v >> 8) & 0xFF));
}

template <typename T>
void put_array(std::vector<uint8_t>& out, const std::vector<T>& v, bool with_count) {
  if (with_count) put_u16(out, v.size());
  const auto* b = reinterpret_cast<const uint8_t*>(v.data());
  out.insert(out.end(), b, b + v.size() * sizeof(T));
}

int seeds_for(const std::string& name, const Problem& p, const fs::path& out, bool small) {
  int n = 0;
  if (auto enc = fuzz::encode_problem(p, small)) {
    write(out / "plan" / (name + ".bin"), *enc);
    ++n;
    // Raw-plan mode of fuzz_inputs: the problem, then its own plan's buffers (small plans only).
    if (fuzz::estimated_works(p) <= 4096) {
      try {
        const Plan plan = make_plan(p, default_policy());
        if (plan.work_info.size() < 65536 && plan.work_indptr.size() < 65536 &&
            plan.reduce_indptr.size() < 65536) {
          std::vector<uint8_t> raw = {2};
          raw.insert(raw.end(), enc->begin(), enc->end());
          put_array(raw, plan.work_indptr, true);
          put_array(raw, plan.work_info, true);
          put_array(raw, plan.reduce_indptr, true);
          put_array(raw, plan.reduce_final_map, true);
          put_array(raw, plan.reduce_partial_map, false);
          write(out / "inputs" / ("raw_" + name + ".bin"), raw);
          ++n;
        }
      } catch (const std::exception&) {
      }
    }
  }
  const std::string json = problem_to_json_text(p);
  std::vector<uint8_t> j = {0};
  j.insert(j.end(), json.begin(), json.end());
  write(out / "inputs" / ("json_" + name + ".bin"), j);
  ++n;
  // Dump mode: upstream's 8 files, each with a u16 length prefix (the last takes the remainder).
  if (small) {
    try {
      const Plan plan = make_plan(p, default_policy());
      const Capacity cap = compute_capacity(SizingInputs::from_problem(p), SizingFormula::kPr3606);
      const fs::path dir = out / ".dump_tmp";
      fs::remove_all(dir);
      write_aiter_dump(dir, p, plan, cap);
      auto slurp = [&](const char* file) {
        std::ifstream f(dir / file, std::ios::binary);
        return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      };
      std::vector<uint8_t> d = {1};
      // fuzz_dump: header (problem.json present; or absent with the causal flag given), the eight files
      // each length-prefixed, then problem.json.
      std::vector<uint8_t> with_record = {1}, without = {static_cast<uint8_t>(2 | (p.causal ? 4 : 0))};
      bool fits = true;
      for (size_t i = 0; i < std::size(kDumpFiles); ++i) {
        const std::vector<uint8_t> bytes = slurp(kDumpFiles[i]);
        if (bytes.size() > 0xFFFF) fits = false;
        if (i + 1 < std::size(kDumpFiles)) put_u16(d, bytes.size());
        d.insert(d.end(), bytes.begin(), bytes.end());
        for (auto* s : {&with_record, &without}) {
          put_u16(*s, bytes.size());
          s->insert(s->end(), bytes.begin(), bytes.end());
        }
      }
      const std::vector<uint8_t> record = slurp(kDumpProblemFile);
      with_record.insert(with_record.end(), record.begin(), record.end());
      fs::remove_all(dir);
      if (fits && d.size() < (1u << 20)) {
        write(out / "inputs" / ("dump_" + name + ".bin"), d);
        write(out / "dump" / (name + ".bin"), with_record);
        write(out / "dump" / (name + "_norecord.bin"), without);
        n += 3;
      }
    } catch (const std::exception&) {
    }
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus_dir>\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  fs::create_directories(out / "plan");
  fs::create_directories(out / "inputs");
  fs::create_directories(out / "dump");
  int n = 0;
  for (const Workload& w : workloads()) n += seeds_for(w.name, w.problem, out, w.small);
  for (const LedgerEntry& e : ledger()) {
    for (const LedgerCase& c : e.cases) n += seeds_for("ledger_" + e.id + "_" + c.name, c.problem, out, true);
  }
  std::printf("wrote %d seed files to %s\n", n, out.c_str());
  return 0;
}
