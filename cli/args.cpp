#include "cli/args.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "proptests/workloads.h"
#include "scheduler/error.h"

namespace mlaps::cli {
namespace {

int64_t parse_int(const std::string& field, std::string_view tok, const std::string& item) {
  int64_t v = 0;
  const char* b = tok.data();
  const char* e = tok.data() + tok.size();
  auto [ptr, ec] = std::from_chars(b, e, v);
  if (tok.empty() || ec != std::errc() || ptr != e) {
    throw InputError(field,
                     fmt::format("'{}' is not a non-negative integer (items are LEN or LENxCOUNT)", item));
  }
  if (v < 0) throw InputError(field, fmt::format("'{}' is negative; lengths must be >= 0", item));
  if (v > std::numeric_limits<int32_t>::max()) {
    throw InputError(field, fmt::format("'{}' does not fit in int32", item));
  }
  return v;
}

}  // namespace

std::vector<int32_t> parse_length_list(const std::string& field, const std::string& text) {
  std::vector<int32_t> out;
  if (text.empty()) throw InputError(field, "is empty; give a comma list like 8x16 or 300,0");
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    // Trim spaces.
    const auto first = item.find_first_not_of(" \t");
    const auto last = item.find_last_not_of(" \t");
    const std::string it = first == std::string::npos ? "" : item.substr(first, last - first + 1);
    if (it.empty()) throw InputError(field, "has an empty item; give a comma list like 8x16 or 300,0");
    const auto x = it.find('x');
    int64_t len, count = 1;
    if (x == std::string::npos) {
      len = parse_int(field, it, it);
    } else {
      len = parse_int(field, std::string_view(it).substr(0, x), it);
      count = parse_int(field, std::string_view(it).substr(x + 1), it);
      if (count == 0) throw InputError(field, fmt::format("'{}' repeats 0 times; COUNT must be >= 1", it));
    }
    if (static_cast<int64_t>(out.size()) + count > (1 << 20)) {
      throw InputError(field, "more than 1048576 sequences");
    }
    out.insert(out.end(), static_cast<size_t>(count), static_cast<int32_t>(len));
  }
  if (!text.empty() && text.back() == ',') throw InputError(field, "has an empty item after the last comma");
  return out;
}

void ProblemArgs::add_to(CLI::App& app, bool with_dump) {
  app.add_option("--qo-lens", qo_lens,
                 "query lengths per sequence: comma list, LENxCOUNT repeats (e.g. 8x16)");
  app.add_option("--kv-lens", kv_lens, "KV (context) lengths per sequence, same form (e.g. 1200x16)");
  app.add_option("--heads", heads, "K heads (num_heads_k)")->capture_default_str();
  app.add_option("--gqa", gqa, "q heads per K head (gqa_ratio)")->capture_default_str();
  app.add_option("--num-cu", num_cu, "CU count = thread groups (MI355X: 256)")->capture_default_str();
  app.add_flag("--causal,!--no-causal", causal, "bottom-right causal mask (default) or none");
  app.add_option("--block-size", block_size, "tokens per KV page")->capture_default_str();
  app.add_option("--tile-q", tile_q, "query rows per tile")->capture_default_str();
  app.add_option("--tile-kv", tile_kv, "keys per KV tile")->capture_default_str();
  app.add_flag(
      "--allow-causal-qo-gt-kv", allow_causal_qo_gt_kv,
      "let causal qo_len > kv_len through (invalid prefill; studies upstream's behaviour, contract 2.5.3)");
  app.add_option("--policy", policy, "scheduling policy: aiter (post-#3606) | aiter-legacy (pre-#3606)")
      ->capture_default_str();
  app.add_option("--problem", problem_file, "problem as a JSON file instead of the length options");
  app.add_option("--workload", workload,
                 "a named workload (see `mlaps workloads`) instead of the length options");
  if (with_dump) {
    app.add_option("--from-aiter-dump", aiter_dump_dir,
                   "read upstream's metadata dump (test_mla_prefill_ps.py --dump_metadata) from DIR");
  }
}

Problem ProblemArgs::problem(const CLI::App& app) const {
  Problem p;
  if (!problem_file.empty() || !workload.empty()) {
    const char* field = workload.empty() ? "--problem" : "--workload";
    if (app.count("--qo-lens") || app.count("--kv-lens") || (!workload.empty() && !problem_file.empty())) {
      throw InputError(field, "cannot be combined with --qo-lens/--kv-lens/--problem");
    }
    if (!workload.empty()) {
      p = mlaps::workload(workload).problem;
    } else {
      std::ifstream f(problem_file, std::ios::binary);
      if (!f) throw InputError("--problem", fmt::format("cannot read '{}'", problem_file));
      std::stringstream ss;
      ss << f.rdbuf();
      p = problem_from_json_text(ss.str());
    }
    // Command-line options given explicitly override the file.
    if (app.count("--heads")) p.num_heads_k = heads;
    if (app.count("--gqa")) p.gqa_ratio = gqa;
    if (app.count("--num-cu")) p.num_cu = num_cu;
    if (app.count("--causal") || app.count("--no-causal")) p.causal = causal;
    if (app.count("--allow-causal-qo-gt-kv")) p.allow_causal_qo_gt_kv = allow_causal_qo_gt_kv;
  } else {
    if (qo_lens.empty()) throw InputError("--qo-lens", "is required (or give --problem FILE.json)");
    if (kv_lens.empty()) throw InputError("--kv-lens", "is required (or give --problem FILE.json)");
    const auto qo = parse_length_list("--qo-lens", qo_lens);
    const auto kv = parse_length_list("--kv-lens", kv_lens);
    if (qo.size() != kv.size()) {
      throw InputError("--kv-lens", fmt::format("has {} sequences but --qo-lens has {}; they must match",
                                                kv.size(), qo.size()));
    }
    if (heads <= 0) throw InputError("--heads", "must be >= 1");
    if (gqa <= 0) throw InputError("--gqa", "must be >= 1");
    if (num_cu <= 0) throw InputError("--num-cu", "must be >= 1");
    if (block_size <= 0) throw InputError("--block-size", "must be >= 1");
    p = Problem::from_lengths(qo, kv, heads, causal, num_cu, gqa, block_size);
    p.tile_q = tile_q;
    p.tile_kv = tile_kv;
    p.allow_causal_qo_gt_kv = allow_causal_qo_gt_kv;
  }
  validate_problem(p);
  return p;
}

void write_file_atomic(const std::string& path, const std::string& text) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path tmp = target.string() + ".tmp-mlaps";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw InputError(path, "cannot open for writing");
    f << text;
    f.flush();
    if (!f) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw InputError(path, "write failed");
    }
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw InputError(path, "cannot move the finished file into place");
  }
}

}  // namespace mlaps::cli
