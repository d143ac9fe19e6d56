// Problem construction, validation and JSON I/O.
#include "scheduler/problem.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/error.h"
#include "scheduler/geometry.h"

namespace mlaps {
namespace {

constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();

std::string idx(const char* name, size_t i) {
  return std::string(name) + "[" + std::to_string(i) + "]";
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

bool is_pow2(int64_t v) {
  return v > 0 && (v & (v - 1)) == 0;
}

void check_positive(const char* field, int64_t v) {
  if (v <= 0) throw InputError(field, "must be > 0 (got " + std::to_string(v) + ")");
}

// Shape of an indptr array: B+1 entries, [0] = 0 (monotonicity is checked in the per-sequence pass).
void check_indptr_shape(const char* field, const std::vector<int32_t>& v, size_t expect_size) {
  if (v.size() != expect_size) {
    throw InputError(field, "must have B+1 = " + std::to_string(expect_size) + " entries (got " +
                                std::to_string(v.size()) + ")");
  }
  if (v[0] != 0) throw InputError(idx(field, 0), "must be 0 (got " + std::to_string(v[0]) + ")");
}

[[noreturn]] void throw_not_monotone(const char* field, const std::vector<int32_t>& v, size_t i,
                                     const char* what) {
  throw InputError(idx(field, i + 1), "not monotone: " + std::to_string(v[i + 1]) + " < " +
                                          std::to_string(v[i]) + " (negative " + what + " of sequence " +
                                          std::to_string(i) + ")");
}

// validate_problem's per-sequence checks and totals for a non-causal problem with a power-of-two
// qlen_granularity, without a branch per check and without an early exit, so that the compiler vectorises it
// (see validate_problem's fast path). Returns false, leaving the outputs meaningless, when any check fails or
// a total leaves the range the precise pass accepts; true guarantees the precise pass would accept every
// sequence and compute the same totals. Units are >= 0 here (kv >= 0), so |units| sums equal the signed sums;
// every term is bounded before it is summed (n * units <= kI32Max / kvg), so with B < 2^31 terms nothing
// overflows int64.
bool fast_sequence_pass(const Problem& p, int64_t G, int g_shift, int64_t kvg, int kvg_shift, int64_t bpu,
                        int64_t& ntiles_out, int64_t& total_units_out) {
  const size_t B = p.context_lens.size();
  const int32_t* qi = p.qo_indptr.data();
  const int32_t* ki = p.kv_indptr.data();
  const int32_t* ctx = p.context_lens.data();
  const int64_t bs = p.block_size;
  const int64_t unit_limit = kI32Max / kvg;
  int64_t ntiles = 0, units_total = 0, bad_any = 0;
  for (size_t b = 0; b < B; ++b) {
    const int64_t qo = int64_t{qi[b + 1]} - qi[b];
    const int64_t pages = int64_t{ki[b + 1]} - ki[b];
    const int64_t kv = ctx[b];
    const int64_t n = (qo + G - 1) >> g_shift;
    const int64_t units = (kv + kvg - 1) >> kvg_shift;  // KvUnits for kv >= 0, branch-free to vectorise
    const int64_t work = n * units;
    bad_any |= (qo < 0) | (pages < 0) | (kv < 0) | (pages * bs < kv) | (kv + kvg - 1 > kI32Max) |
               (int64_t{ki[b]} + units * bpu > kI32Max) | (work > unit_limit);
    ntiles += n;
    units_total += work;
  }
  if (bad_any != 0 || units_total + 1 > unit_limit) return false;
  ntiles_out = ntiles;
  total_units_out = units_total;
  return true;
}

}  // namespace

int32_t Problem::max_qo_len() const {
  int32_t m = 0;
  for (size_t b = 0; b + 1 < qo_indptr.size(); ++b) m = std::max(m, qo_indptr[b + 1] - qo_indptr[b]);
  return m;
}

int32_t Problem::max_kv_len() const {
  int32_t m = 0;
  for (int32_t v : context_lens) m = std::max(m, v);
  return m;
}

ClusterGeometry cluster_geometry(int32_t num_heads_k, int32_t num_cu) {
  const int32_t nc = std::gcd(num_heads_k, num_cu);
  return ClusterGeometry{nc, num_cu / nc, num_heads_k / nc};
}

Problem Problem::from_lengths(const std::vector<int32_t>& qo_lens, const std::vector<int32_t>& kv_lens,
                              int32_t num_heads_k, bool causal, int32_t num_cu, int32_t gqa_ratio,
                              int32_t block_size) {
  if (kv_lens.size() != qo_lens.size()) {
    throw InputError("kv_lens", "has " + std::to_string(kv_lens.size()) + " entries, qo_lens has " +
                                    std::to_string(qo_lens.size()));
  }
  check_positive("block_size", block_size);
  Problem p;
  p.num_heads_k = num_heads_k;
  p.gqa_ratio = gqa_ratio;
  p.block_size = block_size;
  p.causal = causal;
  p.num_cu = num_cu;
  p.qo_indptr.reserve(qo_lens.size() + 1);
  p.kv_indptr.reserve(qo_lens.size() + 1);
  p.qo_indptr.push_back(0);
  p.kv_indptr.push_back(0);
  int64_t qo = 0, kv = 0;
  for (size_t b = 0; b < qo_lens.size(); ++b) {
    if (qo_lens[b] < 0)
      throw InputError(idx("qo_lens", b), "must be >= 0 (got " + std::to_string(qo_lens[b]) + ")");
    if (kv_lens[b] < 0)
      throw InputError(idx("kv_lens", b), "must be >= 0 (got " + std::to_string(kv_lens[b]) + ")");
    qo += qo_lens[b];
    kv += ceil_div(kv_lens[b], block_size);
    if (qo > kI32Max) throw InputError("qo_lens", "total query length overflows int32");
    if (kv > kI32Max) throw InputError("kv_lens", "total page count overflows int32");
    p.qo_indptr.push_back(static_cast<int32_t>(qo));
    p.kv_indptr.push_back(static_cast<int32_t>(kv));
  }
  p.context_lens = kv_lens;
  return p;
}

ProblemTotals validate_problem(const Problem& p) {
  check_positive("num_heads_k", p.num_heads_k);
  check_positive("gqa_ratio", p.gqa_ratio);
  check_positive("block_size", p.block_size);
  check_positive("num_cu", p.num_cu);
  check_positive("tile_q", p.tile_q);
  check_positive("tile_kv", p.tile_kv);
  if (p.num_cu == kI32Max) throw InputError("num_cu", "num_cu + 1 overflows int32");
  if (p.tile_q % p.gqa_ratio != 0) {
    throw InputError("tile_q", "must be a multiple of gqa_ratio (tile_q " + std::to_string(p.tile_q) +
                                   ", gqa_ratio " + std::to_string(p.gqa_ratio) + ")");
  }
  const int64_t nhq = int64_t{p.num_heads_k} * p.gqa_ratio;
  if (nhq > 0xFFFF) {
    throw InputError("num_heads_k", "num_heads_k * gqa_ratio = " + std::to_string(nhq) +
                                        " q heads does not fit the 16-bit q_head_range packing (max 65535)");
  }
  const int64_t kvg = p.kvlen_granularity();
  if (!is_pow2(kvg)) {
    throw InputError("kvlen_granularity",
                     "max(tile_kv, block_size) = " + std::to_string(kvg) + " must be a power of two");
  }
  if (kvg % p.block_size != 0) {
    throw InputError("block_size", "kvlen_granularity " + std::to_string(kvg) +
                                       " must be a multiple of block_size " + std::to_string(p.block_size));
  }

  if (p.qo_indptr.size() < 2) {
    throw InputError("qo_indptr",
                     "must have B+1 >= 2 entries (got " + std::to_string(p.qo_indptr.size()) + ")");
  }
  const size_t B = p.qo_indptr.size() - 1;
  if (p.context_lens.size() != B) {
    throw InputError("context_lens", "has " + std::to_string(p.context_lens.size()) +
                                         " entries, qo_indptr describes B = " + std::to_string(B) +
                                         " sequences");
  }
  check_indptr_shape("qo_indptr", p.qo_indptr, B + 1);
  check_indptr_shape("kv_indptr", p.kv_indptr, B + 1);

  // One pass over the sequences (this runs on every make_plan call): monotone indptrs, lengths, page counts,
  // causality, and int32 overflow guards for the scheduler's arithmetic (upstream computes it all in int32).
  const int64_t G = p.qlen_granularity();
  const int64_t bpu = kvg / p.block_size;
  const int kvg_shift = std::countr_zero(static_cast<uint64_t>(kvg));
  const KvUnits units_of(p);  // truncating division, as upstream (the fast path's shift takes kv >= 0 only)
  const int g_shift = is_pow2(G) ? std::countr_zero(static_cast<uint64_t>(G)) : -1;
  const bool check_causal = p.causal && !p.allow_causal_qo_gt_kv;
  int64_t abs_units = 0;
  int64_t total_units = 0;
  int64_t ntiles = 0;
  // Fast path (non-causal, power-of-two qlen_granularity): the same per-sequence checks, vectorised. It
  // proves the problem valid or gives up; the precise pass below, which names the first failing entry, runs
  // only then. (A causal sequence's per-tile unit sums keep the precise pass: its branches predict well.)
  const bool fast_ok = g_shift >= 0 && !p.causal &&
                       fast_sequence_pass(p, G, g_shift, kvg, kvg_shift, bpu, ntiles, total_units);
  if (fast_ok) abs_units = total_units;
  for (size_t b = 0; b < B && !fast_ok; ++b) {
    if (p.qo_indptr[b + 1] < p.qo_indptr[b]) throw_not_monotone("qo_indptr", p.qo_indptr, b, "qo length");
    if (p.kv_indptr[b + 1] < p.kv_indptr[b]) throw_not_monotone("kv_indptr", p.kv_indptr, b, "page count");
    const int64_t qo = int64_t{p.qo_indptr[b + 1]} - p.qo_indptr[b];
    const int64_t kv = p.context_lens[b];
    if (kv < 0) throw InputError(idx("context_lens", b), "must be >= 0 (got " + std::to_string(kv) + ")");
    const int64_t pages = int64_t{p.kv_indptr[b + 1]} - p.kv_indptr[b];
    if (pages * p.block_size < kv) {  // pages < ceil(kv_len / block_size), without a division
      throw InputError(idx("kv_indptr", b + 1),
                       "sequence " + std::to_string(b) + " has " + std::to_string(pages) +
                           " pages, context_lens " + std::to_string(kv) + " with block_size " +
                           std::to_string(p.block_size) +
                           " needs >= " + std::to_string(ceil_div(kv, p.block_size)));
    }
    if (check_causal && qo > kv) {
      throw InputError(idx("qo_indptr", b + 1),
                       "causal sequence " + std::to_string(b) + " has qo_len " + std::to_string(qo) +
                           " > kv_len " + std::to_string(kv) +
                           " (no valid prefill; set allow_causal_qo_gt_kv to study upstream's behaviour)");
    }
    if (kv + kvg - 1 > kI32Max) {
      throw InputError(idx("context_lens", b), "kv_len + kvlen_granularity overflows int32");
    }
    const int64_t n = g_shift >= 0 ? (qo + G - 1) >> g_shift : ceil_div(qo, G);
    ntiles += n;
    int64_t max_blocks = 0;
    if (!p.causal) {  // every tile of a non-causal sequence sees the whole context
      const int64_t units = units_of(kv);
      abs_units += n * units;
      total_units += n * units;
      max_blocks = units * bpu;
    } else {
      for (int64_t r = 0; r < n; ++r) {
        const int64_t units = units_of(std::min(kv - qo + std::min(r * G + G, qo), kv));
        abs_units += units < 0 ? -units : units;
        total_units += units;
        max_blocks = std::max(max_blocks, units * bpu);
      }
    }
    if (int64_t{p.kv_indptr[b]} + max_blocks > kI32Max) {
      throw InputError(idx("kv_indptr", b), "page index + tile blocks overflows int32");
    }
    if ((abs_units + 1) * kvg > kI32Max) {
      throw InputError("context_lens",
                       "total KV work (sum of |units| * kvlen_granularity over query tiles) overflows int32");
    }
  }
  if (int64_t{p.qo_indptr[B]} + G > kI32Max) {
    throw InputError("qo_indptr", "total query length + qlen_granularity overflows int32");
  }
  const int64_t tpc = cluster_geometry(p).tgs_per_cluster;
  if (G * (ntiles + tpc) > kI32Max) {
    throw InputError("qo_indptr",
                     "partial slot rows (qlen_granularity * (tiles + TGs per cluster)) overflow int32");
  }
  if (int64_t{p.num_heads_k} * (ntiles + tpc) > kI32Max) {
    throw InputError("num_heads_k", "work item count (heads * (tiles + TGs per cluster)) overflows int32");
  }
  // Both fit: |total_units| <= abs_units < kI32Max / kvg, and ntiles < kI32Max / num_heads_k.
  return ProblemTotals{static_cast<int32_t>(ntiles), static_cast<int32_t>(total_units)};
}

// ---------------------------------------------------------------------------------------------------------------
// JSON
namespace {

using nlohmann::json;

int32_t get_i32(const json& v, const std::string& key) {
  if (!v.is_number_integer())
    throw InputError(key, "must be an integer (got " + std::string(v.type_name()) + ")");
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(kI32Max))
      throw InputError(key, "value " + std::to_string(u) + " overflows int32");
    return static_cast<int32_t>(u);
  }
  const auto s = v.get<int64_t>();
  if (s > kI32Max || s < std::numeric_limits<int32_t>::min()) {
    throw InputError(key, "value " + std::to_string(s) + " overflows int32");
  }
  return static_cast<int32_t>(s);
}

bool get_bool(const json& v, const std::string& key) {
  if (!v.is_boolean())
    throw InputError(key, "must be true or false (got " + std::string(v.type_name()) + ")");
  return v.get<bool>();
}

std::vector<int32_t> get_list(const json& v, const std::string& key) {
  if (!v.is_array())
    throw InputError(key, "must be an array of integers (got " + std::string(v.type_name()) + ")");
  std::vector<int32_t> out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) out.push_back(get_i32(v[i], key + "[" + std::to_string(i) + "]"));
  return out;
}

}  // namespace

Problem problem_from_json_text(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers like 1e999
    throw InputError("problem", std::string("invalid JSON: ") + e.what());
  }
  if (!j.is_object())
    throw InputError("problem", "must be a JSON object (got " + std::string(j.type_name()) + ")");
  static const char* const kKeys[] = {"qo_lens",
                                      "qo_indptr",
                                      "kv_lens",
                                      "context_lens",
                                      "kv_indptr",
                                      "heads",
                                      "gqa",
                                      "block_size",
                                      "causal",
                                      "num_cu",
                                      "tile_q",
                                      "tile_kv",
                                      "allow_causal_qo_gt_kv",
                                      "need_lse"};
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    if (std::find_if(std::begin(kKeys), std::end(kKeys), [&key](const char* k) { return key == k; }) ==
        std::end(kKeys)) {
      throw InputError(key, "unknown key");
    }
  }
  Problem p;
  if (j.contains("gqa")) p.gqa_ratio = get_i32(j["gqa"], "gqa");
  if (j.contains("block_size")) p.block_size = get_i32(j["block_size"], "block_size");
  if (j.contains("causal")) p.causal = get_bool(j["causal"], "causal");
  if (j.contains("num_cu")) p.num_cu = get_i32(j["num_cu"], "num_cu");
  if (j.contains("tile_q")) p.tile_q = get_i32(j["tile_q"], "tile_q");
  if (j.contains("tile_kv")) p.tile_kv = get_i32(j["tile_kv"], "tile_kv");
  if (j.contains("allow_causal_qo_gt_kv")) {
    p.allow_causal_qo_gt_kv = get_bool(j["allow_causal_qo_gt_kv"], "allow_causal_qo_gt_kv");
  }
  if (j.contains("need_lse")) p.need_lse = get_bool(j["need_lse"], "need_lse");
  if (!j.contains("heads")) throw InputError("heads", "missing (number of K heads)");
  p.num_heads_k = get_i32(j["heads"], "heads");

  if (j.contains("qo_lens") && j.contains("qo_indptr"))
    throw InputError("qo_indptr", "give qo_lens or qo_indptr, not both");
  if (j.contains("kv_lens") && j.contains("context_lens")) {
    throw InputError("context_lens", "give kv_lens or context_lens, not both");
  }
  const char* kv_key = j.contains("kv_lens") ? "kv_lens" : "context_lens";
  if (!j.contains(kv_key)) throw InputError("kv_lens", "missing (KV length of each sequence)");
  p.context_lens = get_list(j[kv_key], kv_key);
  if (j.contains("qo_lens")) {
    const auto lens = get_list(j["qo_lens"], "qo_lens");
    if (lens.size() != p.context_lens.size()) {
      throw InputError("qo_lens", "has " + std::to_string(lens.size()) + " entries, " + kv_key + " has " +
                                      std::to_string(p.context_lens.size()));
    }
    p.qo_indptr.assign(1, 0);
    int64_t acc = 0;
    for (size_t b = 0; b < lens.size(); ++b) {
      if (lens[b] < 0)
        throw InputError(idx("qo_lens", b), "must be >= 0 (got " + std::to_string(lens[b]) + ")");
      acc += lens[b];
      if (acc > kI32Max) throw InputError("qo_lens", "total query length overflows int32");
      p.qo_indptr.push_back(static_cast<int32_t>(acc));
    }
  } else if (j.contains("qo_indptr")) {
    p.qo_indptr = get_list(j["qo_indptr"], "qo_indptr");
  } else {
    throw InputError("qo_lens", "missing (query length of each sequence, or qo_indptr)");
  }
  if (j.contains("kv_indptr")) {
    p.kv_indptr = get_list(j["kv_indptr"], "kv_indptr");
  } else {
    if (p.block_size <= 0)
      throw InputError("block_size", "must be > 0 (got " + std::to_string(p.block_size) + ")");
    p.kv_indptr.assign(1, 0);
    int64_t acc = 0;
    for (size_t b = 0; b < p.context_lens.size(); ++b) {
      if (p.context_lens[b] < 0) {
        throw InputError(idx(kv_key, b), "must be >= 0 (got " + std::to_string(p.context_lens[b]) + ")");
      }
      acc += ceil_div(p.context_lens[b], p.block_size);
      if (acc > kI32Max) throw InputError(kv_key, "total page count overflows int32");
      p.kv_indptr.push_back(static_cast<int32_t>(acc));
    }
  }
  try {
    validate_problem(p);
  } catch (const InputError& e) {
    // Name the JSON key where it differs from the Problem field.
    const std::string& f = e.field();
    if (f == "num_heads_k") throw InputError("heads", e.what() + f.size() + 2);
    if (f == "gqa_ratio") throw InputError("gqa", e.what() + f.size() + 2);
    throw;
  }
  return p;
}

std::string problem_to_json_text(const Problem& p) {
  json j = json::object();
  std::vector<int32_t> qo_lens;
  for (size_t b = 0; b + 1 < p.qo_indptr.size(); ++b) qo_lens.push_back(p.qo_indptr[b + 1] - p.qo_indptr[b]);
  j["qo_lens"] = qo_lens;
  j["kv_lens"] = p.context_lens;
  // kv_indptr only when it differs from the default back-to-back page layout.
  bool default_layout = p.block_size > 0 && p.kv_indptr.size() == p.context_lens.size() + 1 &&
                        !p.kv_indptr.empty() && p.kv_indptr[0] == 0;
  for (size_t b = 0; default_layout && b < p.context_lens.size(); ++b) {
    default_layout =
        int64_t{p.kv_indptr[b + 1]} - p.kv_indptr[b] == ceil_div(p.context_lens[b], p.block_size);
  }
  if (!default_layout) j["kv_indptr"] = p.kv_indptr;
  j["heads"] = p.num_heads_k;
  j["gqa"] = p.gqa_ratio;
  j["block_size"] = p.block_size;
  j["causal"] = p.causal;
  j["num_cu"] = p.num_cu;
  j["tile_q"] = p.tile_q;
  j["tile_kv"] = p.tile_kv;
  if (p.allow_causal_qo_gt_kv) j["allow_causal_qo_gt_kv"] = true;
  j["need_lse"] = p.need_lse;
  return j.dump();
}

}  // namespace mlaps
