// The practical FMA peak of this machine: Eigen's single-precision GEMM, square and large enough to be
// compute bound (1024^3 and 2048^3: 2 and 17 GFLOP per call), on the same thread counts as the emulator.
//
// Names: sgemm/t<threads>/<n>.
// GCC 12 reports false -Wmaybe-uninitialized inside its own AVX-512 intrinsics when Eigen's GEMM kernels
// are inlined with -march=native (GCC bug 105593); the warning is about the compiler's headers, not Eigen.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#include <string>
#include <vector>

#include "bench/common.h"

namespace mlaps::bench {
namespace {

void bm_sgemm(benchmark::State& state, int threads, int n) {
  Eigen::setNbThreads(threads);
  const Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n);
  const Eigen::MatrixXf b = Eigen::MatrixXf::Random(n, n);
  Eigen::MatrixXf c = Eigen::MatrixXf::Zero(n, n);
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = gflops(2.0 * n * n * static_cast<double>(n));
  state.counters["threads"] = Eigen::nbThreads();
  Eigen::setNbThreads(0);
}

}  // namespace

const char* sgemm_isa() {
  // Eigen's own choice of packet (Eigen/src/Core/util/ConfigureVectorization.h), from this unit's flags.
#if defined(EIGEN_VECTORIZE_AVX512)
  return "avx512";
#elif defined(EIGEN_VECTORIZE_AVX2) || (defined(EIGEN_VECTORIZE_AVX) && defined(EIGEN_VECTORIZE_FMA))
  return "avx2";
#elif defined(EIGEN_VECTORIZE_AVX)
  return "avx";
#elif defined(EIGEN_VECTORIZE_SSE2)
  return "sse2";
#else
  return "none";
#endif
}

void register_gemm_benchmarks() {
  // Two compute-bound sizes, five repetitions each: on this shared virtual machine the same GEMM measures
  // anywhere from 55 to 120 GFLOP/s on one core from one minute to the next, and Eigen's blocking favours
  // different sizes at different times. The report takes the best as the peak.
  const std::vector<int> sizes = g_quick ? std::vector<int>{256} : std::vector<int>{1024, 2048};
  for (int t : {1, 2}) {
    for (int n : sizes) {
      benchmark::RegisterBenchmark(bench_name({"sgemm", threads_part(t), std::to_string(n)}).c_str(),
                                   bm_sgemm, t, n)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->Repetitions(g_quick ? 1 : 5);
    }
  }
}

}  // namespace mlaps::bench
