#include "cli/inspect.h"

#include <algorithm>

#include <fmt/format.h>

#include "ledger/ledger.h"
#include "scheduler/error.h"

namespace mlaps::cli {

std::string flag_for_field(const std::string& field) {
  const std::string key = field.substr(0, field.find('['));
  static const std::pair<const char*, const char*> kMap[] = {
      {"num_heads_k", "--heads"},
      {"heads", "--heads"},
      {"gqa_ratio", "--gqa"},
      {"gqa", "--gqa"},
      {"block_size", "--block-size"},
      {"num_cu", "--num-cu"},
      {"tile_q", "--tile-q"},
      {"tile_kv", "--tile-kv"},
      {"kvlen_granularity", "--tile-kv/--block-size"},
      {"causal", "--causal"},
      {"qo_lens", "--qo-lens"},
      {"qo_indptr", "--qo-lens"},
      {"kv_lens", "--kv-lens"},
      {"context_lens", "--kv-lens"},
      {"kv_indptr", "--kv-lens"},
      {"allow_causal_qo_gt_kv", "--allow-causal-qo-gt-kv"},
      {"need_lse", "--need-lse"},
  };
  for (const auto& [f, flag] : kMap) {
    if (key == f) return flag;
  }
  return "";
}

LoadedDump load_dump(const std::string& dir, const DumpOverrides& o) {
  AiterDump d = read_aiter_dump(dir);
  LoadedDump l;
  l.capacity = d.capacity;
  l.record = d.record;
  l.plan = std::move(d.plan);
  Problem& p = l.problem;
  p = std::move(d.problem);
  const bool rec = l.record.has_value();
  auto note = [&](bool given, const std::string& what) {
    if (!given && !rec) l.notes.push_back(what);
  };
  if (o.num_cu && *o.num_cu != p.num_cu) {
    throw InputError("--num-cu",
                     fmt::format("{} disagrees with the dump: work_indptr.bin has {} entries, so {} "
                                 "thread groups",
                                 *o.num_cu, p.num_cu + 1, p.num_cu));
  }
  if (o.gqa) p.gqa_ratio = *o.gqa;
  note(o.gqa.has_value(), "gqa 1 (the default; --gqa)");
  if (o.heads) {
    p.num_heads_k = *o.heads;
  } else if (!rec) {
    int32_t max_hi = 0;
    for (const auto& w : l.plan.work_info) max_hi = std::max(max_hi, w.q_head_hi());
    p.num_heads_k = std::max(1, (max_hi + p.gqa_ratio - 1) / p.gqa_ratio);
    l.notes.push_back(
        fmt::format("{} K heads, inferred from the largest q_head_range end {} and gqa {} (--heads)",
                    p.num_heads_k, max_hi, p.gqa_ratio));
  }
  if (o.causal) p.causal = *o.causal;
  note(o.causal.has_value(), "causal (the default; --no-causal)");
  if (o.block_size) p.block_size = *o.block_size;
  note(o.block_size.has_value(), "block_size 1 (the default; --block-size)");
  if (o.tile_q) p.tile_q = *o.tile_q;
  note(o.tile_q.has_value(), "tile_q 256 (the default; --tile-q)");
  if (o.tile_kv) p.tile_kv = *o.tile_kv;
  note(o.tile_kv.has_value(), "tile_kv 128 (the default; --tile-kv)");
  if (o.allow_causal_qo_gt_kv) p.allow_causal_qo_gt_kv = *o.allow_causal_qo_gt_kv;
  if (o.need_lse) p.need_lse = *o.need_lse;
  note(o.need_lse.has_value() || d.direct_write_works == 0,
       "need_lse true (the default: -1 direct writes break the contract; --no-need-lse holds them to the "
       "merged #3606 form's)");
  if (o.policy) {
    l.plan.policy = std::string(o.policy->name());
    l.plan.reduce = o.policy->traits().reduce;
  } else if (!rec) {
    const std::string name = l.plan.policy.empty() ? "unknown" : l.plan.policy;
    l.notes.push_back(
        d.direct_write_works > 0
            ? fmt::format("policy {}, inferred from {} work(s) with partial_o_loc -1 (--policy)", name,
                          d.direct_write_works)
            : fmt::format(
                  "policy {}, inferred from no work having partial_o_loc -1 (a legacy plan in which no "
                  "tile is absorbed whole looks the same; --policy)",
                  name));
  }
  try {
    validate_problem(p);
  } catch (const InputError& e) {
    const std::string& f = e.field();
    const char* constraint = e.what() + f.size() + 2;
    std::string field = flag_for_field(f);
    const bool option = field.rfind("--qo", 0) != 0 && field.rfind("--kv", 0) != 0 && !field.empty();
    if (!option || (rec && !o.heads && !o.gqa && !o.block_size && !o.tile_q && !o.tile_kv && !o.num_cu)) {
      field = (std::filesystem::path(dir) / (rec ? kDumpProblemFile : "qo_indptr.bin")).string() + ": " + f;
    }
    std::string msg = constraint;
    if (!l.notes.empty())
      msg += fmt::format(" (the dump has no {}; assumed {})", kDumpProblemFile, fmt::join(l.notes, "; "));
    throw InputError(field, msg);
  }
  return l;
}

void require_safe_structure(const Plan& plan, int32_t num_cu, const std::string& source) {
  auto name = [&](const char* buf) {
    return source.empty() ? std::string(buf)
                          : (std::filesystem::path(source) / (std::string(buf) + ".bin")).string();
  };
  const char* hint = source.empty() ? "" : "; `mlaps check --from-aiter-dump` lists every violation";
  const auto& wi = plan.work_indptr;
  const int64_t nworks = static_cast<int64_t>(plan.work_info.size());
  if (static_cast<int64_t>(wi.size()) != int64_t{num_cu} + 1) {
    throw InputError(name("work_indptr"),
                     fmt::format("has {} entries, num_cu + 1 = {}{}", wi.size(), num_cu + 1, hint));
  }
  if (wi[0] != 0)
    throw InputError(name("work_indptr"), fmt::format("entry 0 is {}, must be 0{}", wi[0], hint));
  for (size_t i = 1; i < wi.size(); ++i) {
    if (wi[i] < wi[i - 1] || wi[i] > nworks) {
      throw InputError(
          name("work_indptr"),
          fmt::format("entry {} is {}: entries must be non-decreasing within [0, {}] (entry {} is {}){}", i,
                      wi[i], nworks, i - 1, wi[i - 1], hint));
    }
  }
  if (wi.back() != nworks) {
    throw InputError(name("work_indptr"),
                     fmt::format("ends at {}, work_info has {} works{}", wi.back(), nworks, hint));
  }
  const auto& ri = plan.reduce_indptr;
  const int64_t nparts = static_cast<int64_t>(plan.reduce_partial_map.size());
  if (ri.size() != plan.reduce_final_map.size() + 1) {
    throw InputError(name("reduce_indptr"),
                     fmt::format("has {} entries, reduce_final_map has {} rows (+1 expected){}", ri.size(),
                                 plan.reduce_final_map.size(), hint));
  }
  if (ri[0] != 0)
    throw InputError(name("reduce_indptr"), fmt::format("entry 0 is {}, must be 0{}", ri[0], hint));
  for (size_t i = 1; i < ri.size(); ++i) {
    if (ri[i] < ri[i - 1] || ri[i] > nparts) {
      throw InputError(
          name("reduce_indptr"),
          fmt::format("entry {} is {}: entries must be non-decreasing within [0, {}] (entry {} is {}){}", i,
                      ri[i], nparts, i - 1, ri[i - 1], hint));
    }
  }
  if (ri.back() != nparts) {
    throw InputError(name("reduce_indptr"),
                     fmt::format("ends at {}, reduce_partial_map has {} entries{}", ri.back(), nparts, hint));
  }
}

std::string ledger_lookup(const Problem& p, const Plan& plan, const std::vector<Violation>& v) {
  if (v.empty()) return "";
  const auto m = match_ledger(p, v);
  if (!m) return "";
  // The ledger recognises a defect class from the problem; its symptom must be in the plan too.
  if (m->id == "legacy_minus1_fast_path" &&
      std::none_of(plan.work_info.begin(), plan.work_info.end(),
                   [](const WorkInfo& w) { return w.partial_o_loc == -1; })) {
    return "";
  }
  std::string s = fmt::format("{}: {} ({}; contract {})", m->id, m->title, m->upstream, m->contract);
  if (m->exact) s += fmt::format(" [recorded case '{}']", m->case_name);
  if (m->unexplained > 0) {
    s += fmt::format(" - explains {} of the violations; {} are NOT explained by any ledger entry",
                     m->explained, m->unexplained);
  }
  return s;
}

}  // namespace mlaps::cli
