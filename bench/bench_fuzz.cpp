// Fuzz throughput: plan + validate on small random problems, one core (the loop the property tests and the
// fuzzer spend their time in). items_per_second is cases/s; the target is >= 10,000.
//
// The problems reach the same corners as the property-test generators: batch 1..16, lengths at and around
// tile boundaries (0, 1, 127, 128, 129, 255, 256, 257, ...) and random ones, causal with qo <= kv, chunked
// shapes, head counts whose gcd with the CU count varies, CU counts of real devices and random ones,
// block sizes 1..128, both policies. The pool is generated once (fixed seed); the loop walks it.
//
// Name: fuzz/plan_validate/<pool size>.
#include <random>
#include <string>
#include <vector>

#include "bench/common.h"
#include "scheduler/validate.h"

namespace mlaps::bench {
namespace {

struct FuzzCase {
  Problem problem;
  Policy policy;
};

std::vector<FuzzCase> make_pool(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](auto const& v) { return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)]; };
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const std::vector<int32_t> edges = {0,   1,   2,   127, 128, 129, 255,  256, 257,
                                      383, 384, 511, 512, 513, 767, 1023, 1024};
  const std::vector<int32_t> heads = {1, 2, 3, 5, 16, 128};
  const std::vector<int32_t> cus = {1, 2, 4, 16, 80, 132, 256, 304};
  const std::vector<int32_t> blocks = {1, 1, 1, 1, 16, 64, 128};
  auto length = [&](int32_t max) { return uni(0, 2) == 0 ? uni(0, max) : pick(edges); };

  std::vector<FuzzCase> pool;
  pool.reserve(n);
  while (static_cast<int>(pool.size()) < n) {
    const int32_t batch = uni(0, 3) == 0 ? uni(1, 16) : uni(1, 4);
    const bool causal = uni(0, 1) == 1;
    const bool chunked = !causal && uni(0, 3) == 0;  // small qo, long context
    std::vector<int32_t> qo(batch), kv(batch);
    for (int32_t b = 0; b < batch; ++b) {
      qo[b] = chunked ? uni(0, 16) : length(1024);
      kv[b] = chunked ? uni(0, 4096) : length(2048);
      if (causal && qo[b] > kv[b]) std::swap(qo[b], kv[b]);
    }
    const int32_t cu = uni(0, 4) == 0 ? uni(1, 320) : pick(cus);
    Problem p = Problem::from_lengths(qo, kv, pick(heads), causal, cu, 1, pick(blocks));
    const Policy policy(policies()[static_cast<size_t>(uni(0, static_cast<int>(policies().size()) - 1))]);
    try {
      validate_problem(p);
    } catch (const std::exception&) {
      continue;  // keep only inputs the scheduler accepts
    }
    pool.push_back({std::move(p), policy});
  }
  return pool;
}

void bm_fuzz_plan_validate(benchmark::State& state, int pool_size) {
  const std::vector<FuzzCase> pool = make_pool(pool_size, 12345);
  size_t i = 0;
  int64_t violations = 0, works = 0;
  for (auto _ : state) {
    const FuzzCase& c = pool[i];
    i = i + 1 == pool.size() ? 0 : i + 1;
    const Plan plan = make_plan(c.problem, c.policy);
    ValidateOptions opt;
    opt.contract = c.policy;
    const auto v = validate(c.problem, plan, opt);
    violations += static_cast<int64_t>(v.size());
    works += plan.num_works();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["works_per_case"] =
      state.iterations() ? static_cast<double>(works) / static_cast<double>(state.iterations()) : 0.0;
  state.counters["violations"] = static_cast<double>(violations);
}

}  // namespace

void register_fuzz_benchmarks() {
  const int n = g_quick ? 256 : 4096;
  benchmark::RegisterBenchmark(bench_name({"fuzz/plan_validate", std::to_string(n)}).c_str(),
                               bm_fuzz_plan_validate, n)
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace mlaps::bench
