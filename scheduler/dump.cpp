// Upstream metadata dumps: raw little-endian uint32 files, one per buffer, padded to capacity.
#include "scheduler/dump.h"

#include <algorithm>
#include <bit>
#include <climits>
#include <cstring>
#include <fstream>
#include <system_error>

#include <nlohmann/json.hpp>

#include "scheduler/error.h"
#include "scheduler/limits.h"
#include "scheduler/policy.h"
#include "scheduler/version.h"

namespace mlaps {
namespace {

static_assert(std::endian::native == std::endian::little, "dump I/O assumes a little-endian host");
namespace fs = std::filesystem;

template <typename T>
std::vector<T> padded(const std::vector<T>& v, int64_t cap, const T& fill) {
  std::vector<T> out(v);
  out.resize(static_cast<size_t>(std::max<int64_t>(cap, static_cast<int64_t>(v.size()))), fill);
  return out;
}

template <typename T>
Blob blob_of(const std::vector<T>& v) {
  return Blob::copy(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)));
}

// Size of a dump file in bytes, checked before anything is read: present and regular, a multiple of
// `unit` bytes, at most `max_bytes`.
uint64_t checked_size(const fs::path& path, uint64_t unit, uint64_t max_bytes, const char* what) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw InputError(path.string(), "missing (not a regular file)");
  const uint64_t bytes = fs::file_size(path, ec);
  if (ec) throw InputError(path.string(), "cannot read its size: " + ec.message());
  if (bytes % 4 != 0) {
    throw InputError(path.string(),
                     "size " + std::to_string(bytes) + " bytes is not a multiple of 4 (misaligned)");
  }
  if (bytes % unit != 0) {
    throw InputError(path.string(), "size " + std::to_string(bytes) + " bytes is not a multiple of " +
                                        std::to_string(unit) + " (" + what + ")");
  }
  if (bytes > max_bytes) {
    throw InputError(path.string(),
                     "size " + std::to_string(bytes) + " bytes is more than a real problem needs (" +
                         std::to_string(max_bytes) + " bytes at most); refused before reading");
  }
  return bytes;
}

std::vector<int32_t> read_words(const fs::path& path, uint64_t bytes) {
  std::vector<int32_t> v(static_cast<size_t>(bytes / 4));
  std::ifstream f(path, std::ios::binary);
  if (!f || !f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes))) {
    throw InputError(path.string(), "cannot read");
  }
  return v;
}

std::vector<int32_t> read_words(const fs::path& dir, const char* name, uint64_t max_bytes = kMaxDumpFileBytes,
                                uint64_t unit = 4, const char* what = "") {
  const fs::path path = dir / name;
  return read_words(path, checked_size(path, unit, max_bytes, what));
}

}  // namespace

std::string dump_record_json(const DumpRecord& r) {
  nlohmann::json j;
  j["mlaps_version"] = std::string(kVersion);
  j["policy"] = std::string(r.policy.name());
  j["sizing"] = std::string(sizing_name(r.sizing));
  if (r.max_kvlen) j["max_kvlen"] = *r.max_kvlen;
  if (r.batch_size) j["batch_size"] = *r.batch_size;
  j["problem"] = nlohmann::json::parse(problem_to_json_text(r.problem));
  return j.dump(2) + "\n";
}

DumpRecord parse_dump_record(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw InputError("problem.json", std::string("invalid JSON: ") + e.what());
  }
  if (!j.is_object()) throw InputError("problem.json", "must be a JSON object");
  for (const auto& item : j.items()) {
    const std::string& k = item.key();
    if (k != "mlaps_version" && k != "policy" && k != "sizing" && k != "max_kvlen" && k != "batch_size" &&
        k != "problem") {
      throw InputError("problem.json: " + k, "unknown key");
    }
  }
  DumpRecord r;
  if (!j.contains("problem") || !j["problem"].is_object()) {
    throw InputError("problem.json: problem", "missing (the problem as --problem takes it)");
  }
  try {
    r.problem = problem_from_json_text(j["problem"].dump());
  } catch (const InputError& e) {
    throw InputError("problem.json: problem." + e.field(), e.what() + e.field().size() + 2);
  }
  auto str = [&](const char* k) -> std::string {
    if (!j[k].is_string()) throw InputError(std::string("problem.json: ") + k, "must be a string");
    return j[k].get<std::string>();
  };
  auto pos = [&](const char* k) -> int32_t {
    const auto& v = j[k];
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > INT32_MAX) {
      throw InputError(std::string("problem.json: ") + k, "must be an integer in [1, 2^31)");
    }
    return static_cast<int32_t>(v.get<int64_t>());
  };
  if (j.contains("policy")) r.policy = policy_named(str("policy"), "problem.json: policy");
  if (j.contains("sizing")) r.sizing = parse_sizing_formula(str("sizing"), "problem.json: sizing");
  if (j.contains("max_kvlen")) r.max_kvlen = pos("max_kvlen");
  if (j.contains("batch_size")) r.batch_size = pos("batch_size");
  return r;
}

std::vector<DirFile> aiter_dump_files(const Problem& p, const Plan& plan, const Capacity& cap,
                                      const DumpRecord* record) {
  auto need = [&](const char* name, int64_t used, int64_t have) {
    if (used > have) {
      throw InputError(name,
                       "plan needs " + std::to_string(used) + " entries, capacity " + std::to_string(have));
    }
  };
  if (static_cast<int64_t>(plan.work_indptr.size()) != cap.work_indptr) {
    throw InputError("work_indptr",
                     "capacity " + std::to_string(cap.work_indptr) +
                         " must equal the plan's num_cu + 1 = " + std::to_string(plan.work_indptr.size()));
  }
  need("work_info", plan.num_works(), cap.work_info);
  need("reduce_indptr", static_cast<int64_t>(plan.reduce_indptr.size()), cap.reduce_indptr);
  need("reduce_final_map", plan.num_reduce_entries(), cap.reduce_final_map);
  need("reduce_partial_map", static_cast<int64_t>(plan.reduce_partial_map.size()), cap.reduce_partial_map);
  if (plan.reduce_indptr.empty()) throw InputError("reduce_indptr", "must have at least one entry");

  const int32_t total = plan.reduce_indptr.back();
  std::vector<DirFile> files;
  files.push_back({"qo_indptr.bin", blob_of(p.qo_indptr)});
  files.push_back({"kv_indptr.bin", blob_of(p.kv_indptr)});
  files.push_back({"seq_lens_kv.bin", blob_of(p.context_lens)});
  files.push_back({"work_indptr.bin", blob_of(plan.work_indptr)});
  files.push_back({"work_info.bin", blob_of(padded(plan.work_info, cap.work_info, WorkInfo{}))});
  files.push_back({"reduce_indptr.bin", blob_of(padded(plan.reduce_indptr, cap.reduce_indptr, total))});
  files.push_back(
      {"reduce_final_map.bin", blob_of(padded(plan.reduce_final_map, cap.reduce_final_map, FinalLoc{}))});
  files.push_back(
      {"reduce_partial_map.bin", blob_of(padded(plan.reduce_partial_map, cap.reduce_partial_map, 0))});
  if (record) files.push_back({kDumpProblemFile, Blob::copy(dump_record_json(*record))});
  return files;
}

void write_aiter_dump(const fs::path& dir, const Problem& p, const Plan& plan, const Capacity& cap,
                      bool force, const DumpRecord* record) {
  const Policy pol = find_policy(plan.policy).value_or(default_policy());
  DumpRecord def{p, pol, pol.traits().sizing, std::nullopt, std::nullopt};
  OutputSet out;
  out.add_dir(dir.string(), dir, aiter_dump_files(p, plan, cap, record ? record : &def), force);
  out.commit();
}

AiterDump read_aiter_dump(const fs::path& dir) {
  auto file = [&](const char* name) { return (dir / name).string(); };
  AiterDump d;
  // Sizes first, each bounded by what the files read before it imply, so nothing large is read in vain.
  auto qo = read_words(dir, "qo_indptr.bin", (uint64_t{kMaxSequences} + 1) * 4);
  if (qo.size() < 2)
    throw InputError(file("qo_indptr.bin"), "needs B+1 >= 2 entries, has " + std::to_string(qo.size()));
  const size_t B = qo.size() - 1;
  auto exact = [&](const char* name, uint64_t entries, const char* what) {
    const fs::path path = dir / name;
    const uint64_t bytes = checked_size(path, 4, UINT64_MAX, "");
    if (bytes != entries * 4) {
      throw InputError(path.string(), "has " + std::to_string(bytes / 4) + " entries, qo_indptr.bin " + what +
                                          " " + std::to_string(entries));
    }
    return read_words(path, bytes);
  };
  auto kv = exact("kv_indptr.bin", B + 1, "has B+1 =");
  auto seq = exact("seq_lens_kv.bin", B, "implies B =");
  auto wip = read_words(dir, "work_indptr.bin", (uint64_t{kMaxNumCu} + 1) * 4);
  if (wip.size() < 2) {
    throw InputError(file("work_indptr.bin"),
                     "needs num_cu+1 >= 2 entries, has " + std::to_string(wip.size()));
  }
  const int64_t nworks = wip.back();
  if (nworks < 0)
    throw InputError(file("work_indptr.bin"), "last entry " + std::to_string(nworks) + " is negative");
  const uint64_t wi_bytes =
      checked_size(dir / "work_info.bin", sizeof(WorkInfo), kMaxDumpFileBytes, "32-byte rows of 8 dwords");
  const int64_t rows = static_cast<int64_t>(wi_bytes / sizeof(WorkInfo));
  if (nworks > rows) {
    throw InputError(file("work_info.bin"), "truncated: work_indptr.bin ends at " + std::to_string(nworks) +
                                                " works, the file holds " + std::to_string(rows));
  }
  auto rip = read_words(dir, "reduce_indptr.bin");
  if (rip.empty()) throw InputError(file("reduce_indptr.bin"), "empty (needs qtc+1 >= 1 entries)");
  const size_t qtc = rip.size() - 1;
  {
    const fs::path path = dir / "reduce_final_map.bin";
    const uint64_t bytes = checked_size(path, sizeof(FinalLoc), UINT64_MAX, "8-byte rows of 2 dwords");
    if (bytes != qtc * sizeof(FinalLoc)) {
      throw InputError(path.string(), "has " + std::to_string(bytes / sizeof(FinalLoc)) +
                                          " rows, reduce_indptr.bin implies qtc = " + std::to_string(qtc));
    }
  }
  const int64_t total = rip.back();
  if (total < 0)
    throw InputError(file("reduce_indptr.bin"), "last entry " + std::to_string(total) + " is negative");
  const uint64_t rpm_bytes = checked_size(dir / "reduce_partial_map.bin", 4, kMaxDumpFileBytes, "");
  if (static_cast<uint64_t>(total) > rpm_bytes / 4) {
    throw InputError(file("reduce_partial_map.bin"),
                     "truncated: reduce_indptr.bin ends at " + std::to_string(total) +
                         " partials, the file holds " + std::to_string(rpm_bytes / 4));
  }
  auto wi = read_words(dir / "work_info.bin", wi_bytes);
  auto rfm = read_words(dir / "reduce_final_map.bin", qtc * sizeof(FinalLoc));
  auto rpm = read_words(dir / "reduce_partial_map.bin", rpm_bytes);

  size_t n_final = 0;
  while (rip[n_final] != total) ++n_final;  // first j with reduce_indptr[j] == reduce_indptr[last]

  d.capacity.work_indptr = static_cast<int64_t>(wip.size());
  d.capacity.work_info = rows;
  d.capacity.reduce_indptr = static_cast<int64_t>(rip.size());
  d.capacity.reduce_final_map = static_cast<int64_t>(qtc);
  d.capacity.reduce_partial_map = static_cast<int64_t>(rpm.size());

  Plan& plan = d.plan;
  plan.work_indptr = std::move(wip);
  plan.work_info.resize(static_cast<size_t>(nworks));
  if (nworks > 0)
    std::memcpy(plan.work_info.data(), wi.data(), static_cast<size_t>(nworks) * sizeof(WorkInfo));
  plan.reduce_indptr.assign(rip.begin(), rip.begin() + static_cast<std::ptrdiff_t>(n_final) + 1);
  plan.reduce_final_map.resize(n_final);
  if (n_final > 0) std::memcpy(plan.reduce_final_map.data(), rfm.data(), n_final * sizeof(FinalLoc));
  plan.reduce_partial_map.assign(rpm.begin(), rpm.begin() + total);
  d.direct_write_works = static_cast<int32_t>(std::count_if(
      plan.work_info.begin(), plan.work_info.end(), [](const WorkInfo& w) { return w.partial_o_loc == -1; }));
  // Upstream wrote it: the upstream row of the policy table whose reduce version the -1 works imply.
  plan.reduce = d.direct_write_works > 0 ? ReduceVersion::kLegacy : ReduceVersion::kFixed;
  if (const auto up = upstream_policy(plan.reduce)) plan.policy = std::string(up->name());

  Problem& p = d.problem;
  const int32_t num_cu = static_cast<int32_t>(plan.work_indptr.size() - 1);
  const fs::path record_path = dir / kDumpProblemFile;
  std::error_code ec;
  if (fs::exists(fs::symlink_status(record_path, ec))) {
    // problem.json holds three lists of B (+1) integers of at most 11 characters, and a few options.
    const std::string text = read_file_bounded(record_path.string(), record_path, 4096 + 3 * 13 * (B + 1));
    try {
      d.record = parse_dump_record(text);
    } catch (const InputError& e) {
      throw InputError(record_path.string(), e.what());
    }
    const Problem& r = d.record->problem;
    auto differs = [&](const char* bin, const char* what) {
      throw InputError(record_path.string(), std::string("records a problem whose ") + what +
                                                 " differs from " + bin +
                                                 "; the *.bin files were changed after mlaps wrote it "
                                                 "(remove problem.json to read the buffers alone)");
    };
    if (r.qo_indptr != qo) differs("qo_indptr.bin", "qo_indptr");
    if (r.kv_indptr != kv) differs("kv_indptr.bin", "kv_indptr");
    if (r.context_lens != seq) differs("seq_lens_kv.bin", "kv lengths");
    if (r.num_cu != num_cu) differs("work_indptr.bin", "num_cu");
    p = r;
    plan.policy = std::string(d.record->policy.name());
    plan.reduce = d.record->policy.traits().reduce;
    return d;
  }
  p.qo_indptr = std::move(qo);
  p.kv_indptr = std::move(kv);
  p.context_lens = std::move(seq);
  p.num_cu = num_cu;
  int32_t max_hi = 0;
  for (const WorkInfo& w : plan.work_info) max_hi = std::max(max_hi, w.q_head_hi());
  p.num_heads_k = std::max(1, max_hi);  // a guess for gqa 1; the caller overrides heads/gqa/causal/block_size
  return d;
}

}  // namespace mlaps
