#include "workloads/workloads.h"

#include "scheduler/error.h"

namespace mlaps {
namespace {

std::vector<int32_t> repeat(int32_t len, int32_t count) {
  return std::vector<int32_t>(count, len);
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Workload make(std::string name, std::string description, Problem p) {
  Workload w;
  w.name = std::move(name);
  w.description = std::move(description);
  w.problem = std::move(p);
  return w;
}

std::vector<Workload> build_table() {
  std::vector<Workload> t;
  auto add = [&](Workload w) -> Workload& { return t.emplace_back(std::move(w)); };

  // The seed scenario: a vLLM context chunk. 16 requests of 8 new tokens each against a 1200-token context,
  // non-causal, on a 256-CU MI355X (16 heads: 16 clusters of 16 TGs).
  add(make("seed_ctx1200_qo8_b16_h16_noncausal",
           "vLLM context chunk: 16 x (qo 8, kv 1200), 16 heads, non-causal, 256 CUs",
           Problem::from_lengths(repeat(8, 16), repeat(1200, 16), 16, false, 256)))
      .small = true;
  {
    // The same requests end to end: attention of the 8 new tokens over context (1200) + themselves, causal;
    // the chunked pipeline splits it into the non-causal context chunk above and a causal 8 x 8 suffix.
    Workload& w = add(make("chunked_qo8_ctx1200_b16_h16",
                           "chunked prefill: 16 x (8 new tokens, 1200 context), 16 heads; problem = causal "
                           "qo 8 / kv 1208, chunk_context = 1200",
                           Problem::from_lengths(repeat(8, 16), repeat(1208, 16), 16, true, 256)));
    w.chunk_context = 1200;
    w.small = true;
  }
  add(make("worked_example_qo600_cu4",
           "contract 2.4: one sequence qo = kv = 600, causal, 1 head, 4 TGs (legacy: tile [0,256) takes -1)",
           Problem::from_lengths({600}, {600}, 1, true, 4)))
      .small = true;
  add(make("causal_1x8192_h1",
           "1 x qo = kv = 8192, 1 head, causal, 256 CUs (bug report: 2/32 zero-split tiles)",
           Problem::from_lengths({8192}, {8192}, 1, true, 256)));
  add(make("causal_1x8192_h16",
           "1 x qo = kv = 8192, 16 heads, causal, 256 CUs (bug report: 32/32 zero-split tiles; ping-pong "
           "balances exactly: average 66 units, one whole tile pair per TG)",
           Problem::from_lengths({8192}, {8192}, 16, true, 256)));
  add(make("noncausal_1x8192_h1", "1 x qo = kv = 8192, 1 head, non-causal, 256 CUs",
           Problem::from_lengths({8192}, {8192}, 1, false, 256)));
  add(make("causal_1x16384_h1",
           "1 x qo = kv = 16384, 1 head, causal, 256 CUs (bug report: 4/64 zero-split tiles)",
           Problem::from_lengths({16384}, {16384}, 1, true, 256)));
  {
    // Contract 2.5.2: the second sequence's tiles have 0 KV blocks and come after the last block is
    // consumed, so no TG reaches them: rows 300..599 get no work at all (neither O nor LSE).
    Workload& w = add(make("trailing_empty_kv",
                           "contract 2.5.2: qo [300, 300], kv [300, 0], non-causal, 1 head, 4 TGs: the "
                           "second sequence is never scheduled",
                           Problem::from_lengths({300, 300}, {300, 0}, 1, false, 4)));
    w.valid_for_aiter = false;
    w.ledger_id = "trailing_empty_kv";
    w.small = true;
  }
  add(make("one_long_many_short",
           "1 x qo = kv = 8192 followed by 63 x qo = kv = 100, 16 heads, causal, 256 CUs",
           Problem::from_lengths(concat({8192}, repeat(100, 63)), concat({8192}, repeat(100, 63)), 16, true,
                                 256)));
  // total_units = 4 < 256 TGs: average = 0, reminder = 4; TGs 4..255 get cap 0 and every unit is a piece.
  add(make("average_zero_many_cus",
           "2 x qo = kv = 200, 1 head, causal, 256 CUs: total_units 4 < TGs, average 0 (contract 2.5.4)",
           Problem::from_lengths({200, 200}, {200, 200}, 1, true, 256)))
      .small = true;
  // gcd(3, 132) = 3: 3 clusters of 44 TGs, one head each (an odd cluster count that is not 1).
  add(make("heads3_odd_gcd", "qo = kv = [700, 300], 3 heads, causal, 132 CUs: gcd 3 -> 3 clusters x 44 TGs",
           Problem::from_lengths({700, 300}, {700, 300}, 3, true, 132)))
      .small = true;
  {
    // Contract 1.3: 128 heads on 256 CUs -> 128 clusters x 2 TGs; every piece gets a slot post-fix, 64
    // needed, while the pre-#3606 formula allocates min(B + cpc - 1, 2 (cpc - 1)) * mq = 2 * 4 = 8.
    Workload& w = add(make("h128_b16_L1024",
                           "16 x qo = kv = 1024, 128 heads, causal, 256 CUs: the post-fix plan needs 64 "
                           "partial slots, the pre-#3606 formula gives 8",
                           Problem::from_lengths(repeat(1024, 16), repeat(1024, 16), 128, true, 256)));
    w.ledger_id = "legacy_sizing_overflow";
  }
  // Issue 6 scheduler-speed set (the first two are causal_1x8192_h16 and the seed scenario).
  add(make("noncausal_b256_qo256_kv16384_h16", "256 x (qo 256, kv 16384), 16 heads, non-causal, 256 CUs",
           Problem::from_lengths(repeat(256, 256), repeat(16384, 256), 16, false, 256)));
  add(make("causal_b64_qo2048_kv16384_h128", "64 x (qo 2048, kv 16384), 128 heads, causal, 256 CUs",
           Problem::from_lengths(repeat(2048, 64), repeat(16384, 64), 128, true, 256)));
  add(make("noncausal_b256_qo256_kv16384_h128", "256 x (qo 256, kv 16384), 128 heads, non-causal, 256 CUs",
           Problem::from_lengths(repeat(256, 256), repeat(16384, 256), 128, false, 256)));
  // More corners.
  add(make("mi300_304cu_b4_h16", "4 x qo = kv = 4096, 16 heads, causal, 304 CUs: 16 clusters x 19 TGs",
           Problem::from_lengths(repeat(4096, 4), repeat(4096, 4), 16, true, 304)));
  add(make("paged_bs16_b4_h2", "4 x (qo 1000, kv 1000..4000), 2 heads, non-causal, 80 CUs, block_size 16",
           Problem::from_lengths({1000, 1000, 1000, 1000}, {1000, 2000, 3000, 4000}, 2, false, 80, 1, 16)));
  add(make("boundary_lengths_b8", "qo = kv = [1, 127, 128, 129, 255, 256, 257, 513], 2 heads, causal, 16 CUs",
           Problem::from_lengths({1, 127, 128, 129, 255, 256, 257, 513},
                                 {1, 127, 128, 129, 255, 256, 257, 513}, 2, true, 16)))
      .small = true;
  {
    // Contract 2.5.3: causal with qo > kv. eff <= -255 gives a negative unit count: tile [0, 256) gets
    // kv_end = kv_start - 128 and the TG's capacity grows by the negative consumption.
    Problem p = Problem::from_lengths({1024}, {512}, 1, true, 4);
    p.allow_causal_qo_gt_kv = true;
    Workload& w = add(make("causal_qo_gt_kv_1024_512",
                           "contract 2.5.3: qo 1024 > kv 512, causal, 1 head, 4 TGs (needs "
                           "allow_causal_qo_gt_kv): negative unit counts",
                           std::move(p)));
    w.valid_for_aiter = false;
    w.ledger_id = "causal_qo_gt_kv";
    w.small = true;
  }
  // GPU conformance's problems (conformance/ runs the first nine over the CU counts {4, 80, 132, 256} and
  // both policies, the san_ ones under compute-sanitizer); the CU count here is the first of the sweep.
  add(make("causal_1x1200_h2", "1 x qo = kv = 1200, 2 heads, causal, 4 CUs",
           Problem::from_lengths({1200}, {1200}, 2, true, 4)));
  add(make("noncausal_1x1200_h2", "1 x qo = kv = 1200, 2 heads, non-causal, 4 CUs",
           Problem::from_lengths({1200}, {1200}, 2, false, 4)));
  add(make("causal_varlen_600_900_37", "qo = kv = [600, 900, 37], 1 head, causal, 4 CUs",
           Problem::from_lengths({600, 900, 37}, {600, 900, 37}, 1, true, 4)));
  add(make("causal_chunk_qo300_kv2000", "qo 300 over kv 2000 (chunked regime), 1 head, causal, 4 CUs",
           Problem::from_lengths({300}, {2000}, 1, true, 4)));
  {
    // Contract 2.5.2 again: the two trailing zero-KV sequences are never scheduled.
    Workload& w =
        add(make("noncausal_trailing_empty_kv",
                 "qo [64, 100, 5], kv [500, 0, 0], 2 heads, non-causal, 4 CUs: the trailing zero-KV "
                 "sequences are never scheduled (contract 2.5.2)",
                 Problem::from_lengths({64, 100, 5}, {500, 0, 0}, 2, false, 4)));
    w.valid_for_aiter = false;
    w.ledger_id = "trailing_empty_kv";
  }
  // A zero-KV sequence in the middle: its tiles are emitted with an empty KV range (contract 2.5.2), so the
  // kernels' empty-row rule (O = 0, LSE = -inf) is exercised.
  add(make("noncausal_middle_empty_kv",
           "qo [64, 100, 5], kv [500, 0, 200], 2 heads, non-causal, 4 CUs: a zero-KV sequence between "
           "scheduled ones gets empty-KV works (O = 0, LSE = -inf)",
           Problem::from_lengths({64, 100, 5}, {500, 0, 200}, 2, false, 4)));
  {
    // Causal with qo > kv (no valid prefill; upstream emits empty-KV works for the first tiles, contract
    // 2.5.3), allowed on purpose.
    Problem p = Problem::from_lengths({300}, {100}, 1, true, 4);
    p.allow_causal_qo_gt_kv = true;
    // qo - kv = 200 < 255: no negative unit count, so the aiter plan validates clean (the ledger entry is
    // the related one, for larger gaps).
    Workload& w = add(make("causal_qo300_gt_kv100_allowed",
                           "contract 2.5.3: qo 300 > kv 100, causal, 1 head, 4 CUs (needs "
                           "allow_causal_qo_gt_kv; empty-KV works for the first rows)",
                           std::move(p)));
    w.ledger_id = "causal_qo_gt_kv";
  }
  add(make("gqa2_causal_2x700", "qo = kv = [700, 333], 2 K heads x gqa 2, causal, 4 CUs",
           Problem::from_lengths({700, 333}, {700, 333}, 2, true, 4, 2)));
  add(make("causal_1x3000_h4", "1 x qo = kv = 3000, 4 heads, causal, 4 CUs",
           Problem::from_lengths({3000}, {3000}, 4, true, 4)));
  {
    // Small but covering (several TGs, direct and partial writes, both reduce paths, causal masks): what
    // compute-sanitizer runs.
    Workload& w =
        add(make("san_causal_1x700_h2", "1 x qo = kv = 700, 2 heads, causal, 4 CUs, pre-#3606 policy",
                 Problem::from_lengths({700}, {700}, 2, true, 4)));
    w.policy_hint = *upstream_policy(ReduceVersion::kLegacy);  // direct writes
  }
  add(make("san_chunked_qo8x4_ctx300_h2", "4 x (qo 8, kv 300), 2 heads, non-causal, 8 CUs",
           Problem::from_lengths({8, 8, 8, 8}, {300, 300, 300, 300}, 2, false, 8)));
  add(make("san_noncausal_2x300_ctx1100", "qo [300, 40] over kv 1100 each, 1 head, non-causal, 16 CUs",
           Problem::from_lengths({300, 40}, {1100, 1100}, 1, false, 16)));
  return t;
}

}  // namespace

const std::vector<Workload>& workloads() {
  static const std::vector<Workload> table = build_table();
  return table;
}

const Workload* find_workload(std::string_view name) {
  for (const Workload& w : workloads()) {
    if (w.name == name) return &w;
  }
  return nullptr;
}

const Workload& workload(std::string_view name) {
  if (const Workload* w = find_workload(name)) return *w;
  std::string known;
  for (const Workload& w : workloads()) known += (known.empty() ? "" : ", ") + w.name;
  throw InputError("workload", "unknown name '" + std::string(name) + "'; known: " + known);
}

std::vector<std::string> scheduler_bench_workload_names() {
  return {"causal_1x8192_h16", "seed_ctx1200_qo8_b16_h16_noncausal", "noncausal_b256_qo256_kv16384_h16",
          "causal_b64_qo2048_kv16384_h128", "noncausal_b256_qo256_kv16384_h128"};
}

}  // namespace mlaps
