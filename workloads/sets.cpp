#include "workloads/sets.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "scheduler/error.h"
#include "scheduler/files.h"

namespace mlaps {
namespace {

using nlohmann::json;

// A portable generator (splitmix64): the same stream on every platform and standard library.
class Rng {
 public:
  Rng(uint64_t seed, int64_t index)
      : s_(seed * 0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(index) + 1) * 0xBF58476D1CE4E5B9ull) {
    next();
  }
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  int32_t uniform(int32_t lo, int32_t hi) {                                // [lo, hi]
    return lo + static_cast<int32_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  }
  int32_t log_uniform(int32_t lo, int32_t hi) {  // [lo, hi], log-uniform
    const double v = std::exp(std::log(lo) + unit() * (std::log(hi + 1.0) - std::log(lo)));
    return std::clamp(static_cast<int32_t>(v), lo, hi);
  }
  bool chance(double p) { return unit() < p; }

 private:
  uint64_t s_;
};

// vLLM's chunked-context workspace (tokens): min(max(8 * max_num_batched_tokens, ...), 64 Ki); 64 Ki for the
// budgets used here.
constexpr int32_t kContextWorkspace = 64 * 1024;
constexpr int32_t kMaxNumSeqs = 64;

struct Request {
  int32_t new_tokens, context;
};

// One engine step under a token budget: requests of n new tokens (70%: log-uniform [16, 2048]; 30%: a long
// prompt's chunk, log-uniform [2048, budget]) until the budget or max_num_seqs is reached; half of the
// requests carry context, log-uniform [256, 65536] tokens (prefix cache hits and earlier chunks).
std::vector<Request> vllm_requests(Rng& r, int32_t budget) {
  std::vector<Request> reqs;
  int32_t left = budget;
  while (left > 0 && static_cast<int32_t>(reqs.size()) < kMaxNumSeqs) {
    int32_t n = r.chance(0.7) ? r.log_uniform(16, 2048) : r.log_uniform(2048, budget);
    n = std::min(n, left);
    const int32_t ctx = r.chance(0.5) ? r.log_uniform(256, 65536) : 0;
    reqs.push_back({n, ctx});
    left -= n;
  }
  return reqs;
}

// vLLM's MLA prefill as kernel calls: one causal call over every request's new tokens (kv = qo), then the
// context in chunks, non-causal, each chunk one call with the new tokens of its requests as queries.
//   unpacked (before vllm#50613): chunk size = workspace / (requests with context), the same for every
//     request; every chunk call carries every request with context, kv = 0 once its context is used up;
//   packed (vllm#50613): each request's context goes into the current chunk up to the workspace, whole
//     requests packed together; a chunk call carries only the requests with tokens in it.
// 1 x 60k + 31 x 16-token contexts: 30 chunk calls unpacked (chunk 2048), 1 packed.
TraceBatch vllm_batch(const std::vector<Request>& reqs, bool packed, int32_t heads, int32_t num_cu) {
  TraceBatch b;
  b.heads = heads;
  b.num_cu = num_cu;
  for (const Request& q : reqs) b.seqs.push_back({q.new_tokens, q.new_tokens, true});
  b.calls.push_back(static_cast<int32_t>(reqs.size()));
  std::vector<const Request*> with_ctx;
  for (const Request& q : reqs) {
    if (q.context > 0) with_ctx.push_back(&q);
  }
  if (with_ctx.empty()) return b;
  if (!packed) {
    const int32_t chunk = std::max<int32_t>(1, kContextWorkspace / static_cast<int32_t>(with_ctx.size()));
    int32_t max_ctx = 0;
    for (const Request* q : with_ctx) max_ctx = std::max(max_ctx, q->context);
    const int32_t chunks = (max_ctx + chunk - 1) / chunk;
    for (int32_t c = 0; c < chunks; ++c) {
      for (const Request* q : with_ctx) {
        const int32_t kv = std::clamp(q->context - c * chunk, 0, chunk);
        b.seqs.push_back({q->new_tokens, kv, false});
      }
      b.calls.push_back(static_cast<int32_t>(with_ctx.size()));
    }
    return b;
  }
  int32_t room = kContextWorkspace, in_call = 0;
  for (const Request* q : with_ctx) {
    int32_t left = q->context;
    while (left > 0) {
      const int32_t take = std::min(left, room);
      b.seqs.push_back({q->new_tokens, take, false});
      ++in_call;
      left -= take;
      room -= take;
      if (room == 0) {
        b.calls.push_back(in_call);
        in_call = 0;
        room = kContextWorkspace;
      }
    }
  }
  if (in_call > 0) b.calls.push_back(in_call);
  return b;
}

std::vector<Request> example_50613() {
  std::vector<Request> reqs{{16, 60000}};
  for (int i = 0; i < 31; ++i) reqs.push_back({16, 16});
  return reqs;
}

// Fresh causal prefills (qo = kv) under a token budget: n log-uniform in [lo, hi].
TraceBatch causal_prefills(Rng& r, int32_t heads, int32_t budget, int32_t lo, int32_t hi) {
  TraceBatch b;
  b.heads = heads;
  int32_t left = budget;
  while (left > 0 && static_cast<int32_t>(b.seqs.size()) < kMaxNumSeqs) {
    const int32_t n = std::min(r.log_uniform(lo, hi), left);
    b.seqs.push_back({n, n, true});
    left -= n;
  }
  return b;
}

std::vector<WorkloadSet> build_sets() {
  std::vector<WorkloadSet> s;
  for (const int32_t budget : {8192, 16384}) {
    for (const bool packed : {false, true}) {
      s.push_back(
          {fmt::format("vllm-chunked-{}k{}", budget / 1024, packed ? "-packed" : ""),
           fmt::format(
               "vLLM chunked prefill, max_num_batched_tokens {}, DeepSeek-V3 at TP 8 (16 heads): "
               "new tokens 70% log-uniform [16, 2048], 30% [2048, {}], half the requests with "
               "context log-uniform [256, 65536]; context chunks {}",
               budget, budget,
               packed ? "packed per request (vllm#50613)" : "of workspace / requests (before #50613)"),
           [budget, packed](uint64_t seed, int64_t i) {
             Rng r(seed, i);
             return vllm_batch(vllm_requests(r, budget), packed, 16, 256);
           }});
    }
  }
  for (const bool packed : {false, true}) {
    s.push_back(
        {packed ? "vllm50613-example-packed" : "vllm50613-example",
         fmt::format("vllm#50613's batch: 1 x (16 new, 60000 context) + 31 x (16 new, 16 context), 16 heads: "
                     "{}",
                     packed ? "packed, 1 context chunk" : "unpacked, 30 context chunks"),
         [packed](uint64_t, int64_t) { return vllm_batch(example_50613(), packed, 16, 256); }, 1});
  }
  for (const auto& [tp, heads] : std::vector<std::pair<int, int>>{{1, 128}, {2, 64}, {4, 32}, {8, 16}}) {
    s.push_back(
        {fmt::format("deepseek-tp{}", tp),
         fmt::format("DeepSeek-V3/R1 MLA at TP {} ({} heads): fresh causal prefills, 8192-token budget, "
                     "lengths log-uniform [128, 8192]",
                     tp, heads),
         [heads](uint64_t seed, int64_t i) {
           Rng r(seed, i);
           return causal_prefills(r, heads, 8192, 128, 8192);
         }});
  }
  s.push_back(
      {"kimi-h16",
       "Kimi's 12 heads per rank padded to 16 (vllm#51040): fresh causal prefills, 8192-token budget, "
       "lengths log-uniform [128, 8192]",
       [](uint64_t seed, int64_t i) {
         Rng r(seed, i);
         return causal_prefills(r, 16, 8192, 128, 8192);
       }});
  s.push_back({"mixed-long-short",
               "1-2 long causal prompts (log-uniform [8192, 32768]) + 8-32 short ones ([16, 512]), 16 heads",
               [](uint64_t seed, int64_t i) {
                 Rng r(seed, i);
                 TraceBatch b;
                 const int32_t longs = r.uniform(1, 2), shorts = r.uniform(8, 32);
                 for (int k = 0; k < longs; ++k) {
                   const int32_t n = r.log_uniform(8192, 32768);
                   b.seqs.push_back({n, n, true});
                 }
                 for (int k = 0; k < shorts; ++k) {
                   const int32_t n = r.log_uniform(16, 512);
                   b.seqs.push_back({n, n, true});
                 }
                 return b;
               }});
  s.push_back({"many-short", "64-256 causal prompts of log-uniform [16, 256] tokens, 16 heads",
               [](uint64_t seed, int64_t i) {
                 Rng r(seed, i);
                 TraceBatch b;
                 const int32_t n = r.uniform(64, 256);
                 for (int k = 0; k < n; ++k) {
                   const int32_t l = r.log_uniform(16, 256);
                   b.seqs.push_back({l, l, true});
                 }
                 return b;
               }});
  s.push_back({"one-long", "one causal prompt of log-uniform [16384, 131072] tokens, 16 heads",
               [](uint64_t seed, int64_t i) {
                 Rng r(seed, i);
                 TraceBatch b;
                 const int32_t n = r.log_uniform(16384, 131072);
                 b.seqs.push_back({n, n, true});
                 return b;
               }});
  s.push_back(
      {"decode-like",
       "32-256 tiny prefills of 1-8 new tokens (uniform) over contexts log-uniform [512, 32768], causal "
       "(kv = context + new), 16 heads",
       [](uint64_t seed, int64_t i) {
         Rng r(seed, i);
         TraceBatch b;
         const int32_t n = r.uniform(32, 256);
         for (int k = 0; k < n; ++k) {
           const int32_t q = r.uniform(1, 8);
           b.seqs.push_back({q, q + r.log_uniform(512, 32768), true});
         }
         return b;
       }});
  return s;
}

int32_t get_int(const json& j, const char* key, int64_t lo, int64_t hi, const std::string& field) {
  if (!j.contains(key) || !j[key].is_number_integer() || j[key].get<int64_t>() < lo ||
      j[key].get<int64_t>() > hi) {
    throw InputError(field, fmt::format("\"{}\" must be an integer in [{}, {}]", key, lo, hi));
  }
  return static_cast<int32_t>(j[key].get<int64_t>());
}

}  // namespace

std::vector<Problem> TraceBatch::problems() const {
  std::vector<int32_t> sizes = calls;
  if (sizes.empty()) {
    for (size_t i = 0; i < seqs.size();) {
      size_t j = i;
      while (j < seqs.size() && seqs[j].causal == seqs[i].causal) ++j;
      sizes.push_back(static_cast<int32_t>(j - i));
      i = j;
    }
  }
  std::vector<Problem> out;
  size_t pos = 0;
  for (const int32_t n : sizes) {
    if (n < 1 || pos + n > seqs.size())
      throw InputError("batch.calls", "call sizes must be >= 1 and sum to the sequences");
    std::vector<int32_t> qo, kv;
    for (int32_t k = 0; k < n; ++k) {
      const TraceSeq& s = seqs[pos + k];
      if (s.causal != seqs[pos].causal)
        throw InputError("batch.calls", "the sequences of a call must share the causal flag");
      qo.push_back(s.qo);
      kv.push_back(s.kv);
    }
    Problem p = Problem::from_lengths(qo, kv, heads, seqs[pos].causal, num_cu);
    validate_problem(p);
    out.push_back(std::move(p));
    pos += n;
  }
  if (pos != seqs.size()) throw InputError("batch.calls", "call sizes must sum to the number of sequences");
  return out;
}

std::string batch_to_json_line(const TraceBatch& b) {
  json seqs = json::array();
  for (const TraceSeq& s : b.seqs) seqs.push_back({s.qo, s.kv, s.causal});
  json j = {{"heads", b.heads}, {"num_cu", b.num_cu}, {"seqs", std::move(seqs)}};
  if (!b.calls.empty()) j["calls"] = b.calls;
  return j.dump();
}

TraceBatch batch_from_json_line(std::string_view line, int64_t line_no) {
  const std::string field = fmt::format("trace:{}", line_no);
  json j;
  try {
    j = json::parse(line);
  } catch (const json::parse_error& e) {
    throw InputError(field, std::string("is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw InputError(field, "must be a JSON object");
  TraceBatch b;
  b.heads = get_int(j, "heads", 1, 1024, field);
  b.num_cu = get_int(j, "num_cu", 1, 65536, field);
  if (!j.contains("seqs") || !j["seqs"].is_array() || j["seqs"].empty() || j["seqs"].size() > (1u << 20)) {
    throw InputError(field, "\"seqs\" must be a non-empty array of [qo, kv, causal] (at most 2^20)");
  }
  for (const auto& s : j["seqs"]) {
    if (!s.is_array() || s.size() != 3 || !s[0].is_number_integer() || !s[1].is_number_integer() ||
        !s[2].is_boolean() || s[0].get<int64_t>() < 0 || s[1].get<int64_t>() < 0 ||
        s[0].get<int64_t>() > (1 << 24) || s[1].get<int64_t>() > (1 << 24)) {
      throw InputError(field, "each of \"seqs\" must be [qo, kv, causal] with 0 <= qo, kv <= 2^24");
    }
    b.seqs.push_back({static_cast<int32_t>(s[0].get<int64_t>()), static_cast<int32_t>(s[1].get<int64_t>()),
                      s[2].get<bool>()});
  }
  if (j.contains("calls")) {
    if (!j["calls"].is_array()) throw InputError(field, "\"calls\" must be an array of counts");
    int64_t sum = 0;
    for (const auto& c : j["calls"]) {
      if (!c.is_number_integer() || c.get<int64_t>() < 1)
        throw InputError(field, "\"calls\" counts must be >= 1");
      sum += c.get<int64_t>();
      b.calls.push_back(static_cast<int32_t>(std::min<int64_t>(c.get<int64_t>(), INT32_MAX)));
    }
    if (sum != static_cast<int64_t>(b.seqs.size())) {
      throw InputError(field, fmt::format("\"calls\" sum to {} but there are {} seqs", sum, b.seqs.size()));
    }
  }
  return b;
}

std::vector<TraceBatch> read_trace(const std::string& path) {
  // Bounded before anything is read (scheduler/files.h): a larger file, /dev/zero or a FIFO that never ends
  // is refused naming --trace.
  const std::string text = read_file_bounded("--trace", path, kMaxTraceBytes);
  std::vector<TraceBatch> out;
  int64_t no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++no;
    if (no > kMaxTraceLines)
      throw InputError("--trace", fmt::format("has more than {} lines", kMaxTraceLines));
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    out.push_back(batch_from_json_line(line, no));
  }
  if (out.empty()) throw InputError("--trace", fmt::format("'{}' holds no batch", path));
  return out;
}

const std::vector<WorkloadSet>& workload_sets() {
  static const std::vector<WorkloadSet> sets = build_sets();
  return sets;
}

const WorkloadSet& workload_set(std::string_view name) {
  for (const WorkloadSet& s : workload_sets()) {
    if (s.name == name) return s;
  }
  std::string known;
  for (const WorkloadSet& s : workload_sets()) known += (known.empty() ? "" : ", ") + s.name;
  throw InputError("--set", fmt::format("unknown set '{}'; known: {}", name, known));
}

std::vector<TraceBatch> generate_set(const WorkloadSet& s, uint64_t seed, int64_t batches) {
  std::vector<TraceBatch> out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(0, batches)));
  for (int64_t i = 0; i < batches; ++i) out.push_back(s.batch(seed, i));
  return out;
}

}  // namespace mlaps
