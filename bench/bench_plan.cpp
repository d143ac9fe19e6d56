// Scheduler suites: make_plan (fast, returns a Plan), make_plan_into (caller buffers: `into` zeroes the
// unused tails as upstream does, `into_prefix` writes the used prefix only), make_plan_plain (the
// obviously-correct baseline), validate, and the floor any scheduler has: writing the plan's bytes.
//
// Names: plan/<impl>/<policy>/<workload>, validate/<policy>/<workload>,
// write_bytes/<how>/<policy>/<workload>.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "bench/common.h"
#include "cost/model.h"
#include "cost/profile.h"
#include "scheduler/policy.h"
#include "scheduler/sizing.h"
#include "scheduler/validate.h"

namespace mlaps::bench {
namespace {

void set_plan_counters(benchmark::State& state, const Plan& plan, const BenchWorkload* w = nullptr) {
  if (w && w->upstream_us) state.counters["upstream_us"] = *w->upstream_us;  // quoted, not measured here
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * plan_bytes(plan));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * plan.num_works());
  state.counters["works"] = plan.num_works();
  state.counters["plan_bytes"] = static_cast<double>(plan_bytes(plan));
}

void bm_plan_fast(benchmark::State& state, const BenchWorkload* w, Policy policy) {
  Plan plan;
  for (auto _ : state) {
    plan = make_plan(w->problem, policy);
    benchmark::DoNotOptimize(plan.work_info.data());
    benchmark::ClobberMemory();
  }
  set_plan_counters(state, plan, w);
}

void bm_plan_plain(benchmark::State& state, const BenchWorkload* w, Policy policy) {
  Plan plan;
  for (auto _ : state) {
    plan = make_plan_plain(w->problem, policy);
    benchmark::DoNotOptimize(plan.work_info.data());
    benchmark::ClobberMemory();
  }
  set_plan_counters(state, plan);
}

// Upstream's calling convention: output buffers allocated once, refilled on every step. Each buffer is sized
// by upstream's pre-#3606 get_ps_metadata_info_v1 formula (what upstream's timing used), or exactly where
// that is too small (the post-#3606 plan can outgrow it; the PR #3606 formula can be 100x larger still).
struct PlanBuffers {
  std::vector<int32_t> work_indptr, reduce_indptr, reduce_partial_map;
  std::vector<WorkInfo> work_info;
  std::vector<FinalLoc> reduce_final_map;
  PlanBuffers(const Problem& p, const Plan& need) {
    const Capacity cap = compute_capacity(SizingInputs::from_problem(p), SizingFormula::kLegacy);
    auto size = [](int64_t cap_n, size_t need_n) {
      return std::max<size_t>(static_cast<size_t>(cap_n), need_n);
    };
    work_indptr.assign(size(cap.work_indptr, need.work_indptr.size()), 0);
    work_info.assign(size(cap.work_info, need.work_info.size()), WorkInfo{});
    reduce_indptr.assign(size(cap.reduce_indptr, need.reduce_indptr.size()), 0);
    reduce_final_map.assign(size(cap.reduce_final_map, need.reduce_final_map.size()), FinalLoc{});
    reduce_partial_map.assign(size(cap.reduce_partial_map, need.reduce_partial_map.size()), 0);
  }
  PlanSpans spans() { return {work_indptr, work_info, reduce_indptr, reduce_final_map, reduce_partial_map}; }
  int64_t bytes() const {
    return static_cast<int64_t>((work_indptr.size() + reduce_indptr.size() + reduce_partial_map.size()) * 4 +
                                work_info.size() * sizeof(WorkInfo) +
                                reduce_final_map.size() * sizeof(FinalLoc));
  }
};

// opt.zero_tails: true writes every buffer entry as upstream does (unused tails zeroed); false writes the
// used prefix only (the plan's bytes: the figure to hold against write_bytes/memcpy). opt.num_threads > 1:
// the parallel work_info writer (plan/into_t2).
void bm_plan_into(benchmark::State& state, const BenchWorkload* w, Policy policy, PlanIntoOptions opt) {
  const Plan need = make_plan(w->problem, policy);
  PlanBuffers buf(w->problem, need);
  const PlanSpans spans = buf.spans();
  PlanWorkspace ws;
  for (auto _ : state) {
    PlanSizes sizes = make_plan_into(w->problem, policy, spans, ws, opt);
    benchmark::DoNotOptimize(sizes);
    benchmark::ClobberMemory();
  }
  set_plan_counters(state, need, w);
  state.counters["buffer_bytes"] = static_cast<double>(buf.bytes());
}

// The cost model's evaluation of the same plan (mi355x-asm): one pass over work_info; issue 14 asks it to
// take no longer than making the plan (plan/into beside it). Both reuse their outputs across iterations:
// make_plan_into its buffers and workspace, evaluate_into its PlanCost's vectors.
void bm_cost_eval(benchmark::State& state, const BenchWorkload* w, Policy policy) {
  const Plan plan = make_plan(w->problem, policy);
  const cost::CostProfile& prof = *cost::find_builtin_profile(cost::kDefaultProfile);
  cost::PlanCost c;
  for (auto _ : state) {
    cost::evaluate_into(w->problem, plan, prof, c);
    // The whole result (an "m" operand): benchmark 1.7's DoNotOptimize(double&) takes GCC's "+m,r" path,
    // after which the total_us counter read 6.9e-310 (a pointer's bits).
    benchmark::DoNotOptimize(c);
    benchmark::ClobberMemory();
  }
  set_plan_counters(state, plan);
  state.counters["total_us"] = c.total_us;
}

void bm_validate(benchmark::State& state, const BenchWorkload* w, Policy policy) {
  const Plan plan = make_plan(w->problem, policy);
  ValidateOptions opt;
  opt.contract = policy;
  size_t violations = 0;
  for (auto _ : state) {
    auto v = validate(w->problem, plan, opt);
    violations = v.size();
    benchmark::DoNotOptimize(v.data());
  }
  set_plan_counters(state, plan);
  state.counters["violations"] = static_cast<double>(violations);
}

// The floor: copy a finished plan's arrays into preallocated buffers of the same sizes (memcpy), or fill
// them with a constant (memset, write-only traffic). A scheduler cannot be faster than writing its output.
void bm_write_bytes(benchmark::State& state, const BenchWorkload* w, Policy policy, bool copy) {
  const Plan plan = make_plan(w->problem, policy);
  Plan dst = plan;  // same sizes, pages touched
  for (auto _ : state) {
    if (copy) {
      std::memcpy(dst.work_indptr.data(), plan.work_indptr.data(), plan.work_indptr.size() * sizeof(int32_t));
      std::memcpy(dst.work_info.data(), plan.work_info.data(), plan.work_info.size() * sizeof(WorkInfo));
      std::memcpy(dst.reduce_indptr.data(), plan.reduce_indptr.data(),
                  plan.reduce_indptr.size() * sizeof(int32_t));
      std::memcpy(dst.reduce_final_map.data(), plan.reduce_final_map.data(),
                  plan.reduce_final_map.size() * sizeof(FinalLoc));
      std::memcpy(dst.reduce_partial_map.data(), plan.reduce_partial_map.data(),
                  plan.reduce_partial_map.size() * sizeof(int32_t));
    } else {
      std::memset(dst.work_indptr.data(), 0, dst.work_indptr.size() * sizeof(int32_t));
      std::memset(static_cast<void*>(dst.work_info.data()), 0, dst.work_info.size() * sizeof(WorkInfo));
      std::memset(dst.reduce_indptr.data(), 0, dst.reduce_indptr.size() * sizeof(int32_t));
      std::memset(static_cast<void*>(dst.reduce_final_map.data()), 0,
                  dst.reduce_final_map.size() * sizeof(FinalLoc));
      std::memset(dst.reduce_partial_map.data(), 0, dst.reduce_partial_map.size() * sizeof(int32_t));
    }
    benchmark::DoNotOptimize(dst.work_info.data());
    benchmark::ClobberMemory();
  }
  set_plan_counters(state, plan);
}

}  // namespace

void register_plan_benchmarks() {
  for (const BenchWorkload& w : workloads()) {
    if (!w.plan || (g_quick && !w.quick)) continue;
    for (const PolicyDef& def : policies()) {
      const Policy policy(def);
      const std::string_view pol = policy.name();
      // The figures the targets are read from (workloads with an upstream time, the default policy,
      // and their write-bytes floors) run 10 short repetitions, and the report takes the fastest: microsecond
      // timings on a shared virtual machine move by 10-50% from one second to the next, always upwards.
      const bool target = !g_quick && w.upstream_us && policy == default_policy();
      auto timed = [target](benchmark::internal::Benchmark* b) {
        b->Unit(benchmark::kMicrosecond);
        if (target) b->Repetitions(10)->MinTime(0.03);
      };
      timed(benchmark::RegisterBenchmark(bench_name({"plan/fast", pol, w.name}).c_str(), bm_plan_fast, &w,
                                         policy));
      timed(benchmark::RegisterBenchmark(bench_name({"plan/into", pol, w.name}).c_str(), bm_plan_into, &w,
                                         policy, PlanIntoOptions{}));
      timed(benchmark::RegisterBenchmark(bench_name({"plan/into_prefix", pol, w.name}).c_str(), bm_plan_into,
                                         &w, policy, PlanIntoOptions{.zero_tails = false}));
      timed(benchmark::RegisterBenchmark(bench_name({"cost/eval", pol, w.name}).c_str(), bm_cost_eval, &w,
                                         policy));
      if (w.upstream_us) {  // the opt-in two-thread writer, beside the one-thread figure upstream is held to
        timed(benchmark::RegisterBenchmark(bench_name({"plan/into_t2", pol, w.name}).c_str(), bm_plan_into,
                                           &w, policy, PlanIntoOptions{.num_threads = 2}));
      }
      if (policy.traits().upstream_shape) {  // the plain transcription models upstream's loop only
        benchmark::RegisterBenchmark(bench_name({"plan/plain", pol, w.name}).c_str(), bm_plan_plain, &w,
                                     policy)
            ->Unit(benchmark::kMicrosecond);
      }
      benchmark::RegisterBenchmark(bench_name({"validate", pol, w.name}).c_str(), bm_validate, &w, policy)
          ->Unit(benchmark::kMicrosecond);
      timed(benchmark::RegisterBenchmark(bench_name({"write_bytes/memcpy", pol, w.name}).c_str(),
                                         bm_write_bytes, &w, policy, true));
      timed(benchmark::RegisterBenchmark(bench_name({"write_bytes/memset", pol, w.name}).c_str(),
                                         bm_write_bytes, &w, policy, false));
    }
  }
}

}  // namespace mlaps::bench
