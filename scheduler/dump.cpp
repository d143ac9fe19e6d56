// Upstream metadata dumps: raw little-endian uint32 files, one per buffer, padded to capacity.
#include "scheduler/dump.h"

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <fstream>
#include <system_error>

#include "scheduler/error.h"
#include "scheduler/policy.h"

namespace mlaps {
namespace {

static_assert(std::endian::native == std::endian::little, "dump I/O assumes a little-endian host");
namespace fs = std::filesystem;

void write_words(const fs::path& path, const void* data, size_t bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (f) f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  f.close();
  if (!f) throw InputError(path.string(), "cannot write");
}

template <typename T>
std::vector<T> padded(const std::vector<T>& v, int64_t cap, const T& fill) {
  std::vector<T> out(v);
  out.resize(static_cast<size_t>(std::max<int64_t>(cap, static_cast<int64_t>(v.size()))), fill);
  return out;
}

std::vector<int32_t> read_words(const fs::path& dir, const char* name) {
  const fs::path path = dir / name;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw InputError(path.string(), "missing (not a regular file)");
  const auto bytes = fs::file_size(path, ec);
  if (ec) throw InputError(path.string(), "cannot read its size: " + ec.message());
  if (bytes % 4 != 0) {
    throw InputError(path.string(),
                     "size " + std::to_string(bytes) + " bytes is not a multiple of 4 (misaligned)");
  }
  std::vector<int32_t> v(bytes / 4);
  std::ifstream f(path, std::ios::binary);
  if (!f || !f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes))) {
    throw InputError(path.string(), "cannot read");
  }
  return v;
}

}  // namespace

void write_aiter_dump(const fs::path& dir, const Problem& p, const Plan& plan, const Capacity& cap) {
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
  const auto work_info = padded(plan.work_info, cap.work_info, WorkInfo{});
  const auto reduce_indptr = padded(plan.reduce_indptr, cap.reduce_indptr, total);
  const auto final_map = padded(plan.reduce_final_map, cap.reduce_final_map, FinalLoc{});
  const auto partial_map = padded(plan.reduce_partial_map, cap.reduce_partial_map, 0);

  std::error_code ec;
  fs::path target = fs::absolute(dir, ec).lexically_normal();
  if (ec) throw InputError(dir.string(), "bad path: " + ec.message());
  if (!target.has_filename()) target = target.parent_path();  // "out/" names the directory "out"
  const fs::path parent = target.parent_path();
  fs::create_directories(parent, ec);
  if (ec) throw InputError(parent.string(), "cannot create: " + ec.message());
  if (fs::exists(target, ec) && !fs::is_directory(target, ec)) {
    throw InputError(target.string(), "exists and is not a directory");
  }
  static std::atomic<int> counter{0};
  const std::string stem = "." + target.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                           std::to_string(counter++);
  const fs::path tmp = parent / stem;
  const fs::path old = parent / (stem + "-old");
  try {
    fs::remove_all(tmp);
    fs::create_directory(tmp);
    write_words(tmp / "qo_indptr.bin", p.qo_indptr.data(), p.qo_indptr.size() * 4);
    write_words(tmp / "kv_indptr.bin", p.kv_indptr.data(), p.kv_indptr.size() * 4);
    write_words(tmp / "seq_lens_kv.bin", p.context_lens.data(), p.context_lens.size() * 4);
    write_words(tmp / "work_indptr.bin", plan.work_indptr.data(), plan.work_indptr.size() * 4);
    write_words(tmp / "work_info.bin", work_info.data(), work_info.size() * sizeof(WorkInfo));
    write_words(tmp / "reduce_indptr.bin", reduce_indptr.data(), reduce_indptr.size() * 4);
    write_words(tmp / "reduce_final_map.bin", final_map.data(), final_map.size() * sizeof(FinalLoc));
    write_words(tmp / "reduce_partial_map.bin", partial_map.data(), partial_map.size() * 4);
    const bool replace = fs::exists(target);
    if (replace) fs::rename(target, old);
    try {
      fs::rename(tmp, target);
    } catch (...) {
      if (replace) fs::rename(old, target);  // put the previous dump back
      throw;
    }
    if (replace) fs::remove_all(old);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    throw InputError(target.string(), std::string("cannot write the dump: ") + e.what());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

AiterDump read_aiter_dump(const fs::path& dir) {
  auto file = [&](const char* name) { return (dir / name).string(); };
  AiterDump d;
  auto qo = read_words(dir, "qo_indptr.bin");
  auto kv = read_words(dir, "kv_indptr.bin");
  auto seq = read_words(dir, "seq_lens_kv.bin");
  auto wip = read_words(dir, "work_indptr.bin");
  auto wi = read_words(dir, "work_info.bin");
  auto rip = read_words(dir, "reduce_indptr.bin");
  auto rfm = read_words(dir, "reduce_final_map.bin");
  auto rpm = read_words(dir, "reduce_partial_map.bin");

  if (qo.size() < 2)
    throw InputError(file("qo_indptr.bin"), "needs B+1 >= 2 entries, has " + std::to_string(qo.size()));
  const size_t B = qo.size() - 1;
  if (kv.size() != B + 1) {
    throw InputError(file("kv_indptr.bin"), "has " + std::to_string(kv.size()) +
                                                " entries, qo_indptr.bin has B+1 = " + std::to_string(B + 1));
  }
  if (seq.size() != B) {
    throw InputError(file("seq_lens_kv.bin"), "has " + std::to_string(seq.size()) +
                                                  " entries, qo_indptr.bin implies B = " + std::to_string(B));
  }
  if (wip.size() < 2) {
    throw InputError(file("work_indptr.bin"),
                     "needs num_cu+1 >= 2 entries, has " + std::to_string(wip.size()));
  }
  if (wi.size() % 8 != 0) {
    throw InputError(file("work_info.bin"), "size " + std::to_string(wi.size() * 4) +
                                                " bytes is not a multiple of 32 (8-dword rows)");
  }
  if (rfm.size() % 2 != 0) {
    throw InputError(file("reduce_final_map.bin"), "size " + std::to_string(rfm.size() * 4) +
                                                       " bytes is not a multiple of 8 (2-dword rows)");
  }
  const int64_t rows = static_cast<int64_t>(wi.size() / 8);
  const int64_t nworks = wip.back();
  if (nworks < 0)
    throw InputError(file("work_indptr.bin"), "last entry " + std::to_string(nworks) + " is negative");
  if (nworks > rows) {
    throw InputError(file("work_info.bin"), "truncated: work_indptr.bin ends at " + std::to_string(nworks) +
                                                " works, the file holds " + std::to_string(rows));
  }
  if (rip.empty()) throw InputError(file("reduce_indptr.bin"), "empty (needs qtc+1 >= 1 entries)");
  const size_t qtc = rip.size() - 1;
  if (rfm.size() / 2 != qtc) {
    throw InputError(file("reduce_final_map.bin"),
                     "has " + std::to_string(rfm.size() / 2) +
                         " rows, reduce_indptr.bin implies qtc = " + std::to_string(qtc));
  }
  const int64_t total = rip.back();
  if (total < 0)
    throw InputError(file("reduce_indptr.bin"), "last entry " + std::to_string(total) + " is negative");
  if (total > static_cast<int64_t>(rpm.size())) {
    throw InputError(file("reduce_partial_map.bin"),
                     "truncated: reduce_indptr.bin ends at " + std::to_string(total) +
                         " partials, the file holds " + std::to_string(rpm.size()));
  }
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
  const bool any_direct = std::any_of(plan.work_info.begin(), plan.work_info.end(),
                                      [](const WorkInfo& w) { return w.partial_o_loc == -1; });
  // Upstream wrote it: the upstream row of the policy table whose reduce version the -1 works imply.
  plan.reduce = any_direct ? ReduceVersion::kLegacy : ReduceVersion::kFixed;
  if (const auto up = upstream_policy(plan.reduce)) plan.policy = std::string(up->name());

  Problem& p = d.problem;
  p.qo_indptr = std::move(qo);
  p.kv_indptr = std::move(kv);
  p.context_lens = std::move(seq);
  p.num_cu = static_cast<int32_t>(plan.work_indptr.size() - 1);
  int32_t max_hi = 0;
  for (const WorkInfo& w : plan.work_info) max_hi = std::max(max_hi, w.q_head_hi());
  p.num_heads_k = std::max(1, max_hi);  // a guess for gqa 1; the caller overrides heads/gqa/causal/block_size
  return d;
}

}  // namespace mlaps
