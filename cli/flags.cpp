#include "cli/flags.h"

#include <charconv>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "scheduler/error.h"
#include "scheduler/limits.h"

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
    if (static_cast<int64_t>(out.size()) + count > kMaxSequences) {
      throw InputError(field, fmt::format("more than {} sequences", kMaxSequences));
    }
    out.insert(out.end(), static_cast<size_t>(count), static_cast<int32_t>(len));
  }
  if (!text.empty() && text.back() == ',') throw InputError(field, "has an empty item after the last comma");
  return out;
}

std::string format_lengths(std::span<const int32_t> lens) {
  std::string s;
  for (size_t i = 0; i < lens.size();) {
    size_t j = i;
    while (j < lens.size() && lens[j] == lens[i]) ++j;
    if (!s.empty()) s += ',';
    s += std::to_string(lens[i]);
    if (j - i > 1) s += 'x' + std::to_string(j - i);
    i = j;
  }
  return s;
}

std::vector<int32_t> qo_lengths(const Problem& p) {
  std::vector<int32_t> v;
  for (int32_t b = 0; b + 1 < static_cast<int32_t>(p.qo_indptr.size()); ++b) v.push_back(p.qo_len(b));
  return v;
}

std::vector<int32_t> kv_lengths(const Problem& p) {
  return p.context_lens;
}

bool is_cli_representable(const Problem& p) {
  if (p.qo_indptr.size() != p.context_lens.size() + 1) return false;
  Problem q = Problem::from_lengths(qo_lengths(p), kv_lengths(p), p.num_heads_k, p.causal, p.num_cu,
                                    p.gqa_ratio, p.block_size);
  q.allow_causal_qo_gt_kv = p.allow_causal_qo_gt_kv;
  q.need_lse = p.need_lse;
  return q.qo_indptr == p.qo_indptr && q.kv_indptr == p.kv_indptr && q.tile_q == p.tile_q &&
         q.tile_kv == p.tile_kv;
}

std::string cli_flags(const Problem& p) {
  std::ostringstream os;
  const std::vector<int32_t> qo =
      p.qo_indptr.size() == p.context_lens.size() + 1 ? qo_lengths(p) : std::vector<int32_t>{};
  os << "--qo-lens " << format_lengths(qo) << " --kv-lens " << format_lengths(p.context_lens) << " --heads "
     << p.num_heads_k;
  if (p.gqa_ratio != 1) os << " --gqa " << p.gqa_ratio;
  os << " --num-cu " << p.num_cu << (p.causal ? " --causal" : " --no-causal");
  if (p.block_size != 1) os << " --block-size " << p.block_size;
  if (p.allow_causal_qo_gt_kv) os << " --allow-causal-qo-gt-kv";
  if (!p.need_lse) os << " " << kNoNeedLseFlag;
  return os.str();
}

std::string cli_command(std::string_view verb, const Problem& p, Policy policy) {
  return "mlaps " + std::string(verb) + " " + cli_flags(p) + " --policy " + std::string(policy.name());
}

}  // namespace mlaps::cli
