// mlaps-vendor-loader: runs upstream's gfx950 PS prefill code object on a plan and compares with the
// emulator.
//
//   mlaps-vendor-loader --co-dir DIR [--kernel-name SYM] [--qo-lens 8x16] [--kv-lens 1200x16] [--heads 16]
//                       [--causal|--no-causal] [--policy NAME (mlaps policies)] [--cu N] [--seed N]
//
// DIR holds mla_pfl_qh192_vh128_m32x8_n128x1_causal{0,1}.co from a user's AITER install (hsa/gfx950/mla/).
// The kernel is launched through hipModuleLoad / hipModuleLaunchKernel with the packed 304-byte argument
// block of contract 6.1 (gpu/vendor_loader/ps_kernel_args.h), grid = the plan's thread groups, 512 threads.
// The reduce is ours (upstream's mla_reduce_v1 semantics, gpu/reduce.hip). The final output and LSE are
// compared with simulate() by tolerance (upstream's atol = rtol = 0.05 fraction, LSE max abs error <= 0.03)
// and the distance is reported in ulps: the vendor kernel sums in its own order with its own exp, so bits
// differ.
//
// AMD only: it needs ROCm's module API and a gfx950 GPU. It cannot run on the project's NVIDIA CI machine;
// there, only the argument layout is tested (gpu/tests/ps_kernel_args_test.cpp).
#include "gpu/vendor/gpu_vendor.h"

#if !MLAPS_GPU_HIP
#error \
    "the vendor code-object loader needs ROCm (hipModuleLoad / hipModuleLaunchKernel); build the HIP flavour"
#else

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "gpu/device_run.h"
#include "gpu/kernels.h"
#include "gpu/launcher.h"
#include "gpu/vendor_loader/ps_kernel_args.h"
#include "scheduler/error.h"
#include "scheduler/policy.h"
#include "sim/emulate.h"
#include "sim/numerics.h"

namespace mlaps::vendor {
namespace {

using gpu::check;

// "8x16" -> sixteen 8s; "600,900" -> {600, 900}.
std::vector<int32_t> parse_lengths(const std::string& s) {
  std::vector<int32_t> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    const std::string item = s.substr(pos, end - pos);
    const size_t x = item.find('x');
    if (x == std::string::npos) {
      out.push_back(std::stoi(item));
    } else {
      const int32_t v = std::stoi(item.substr(0, x));
      const int32_t n = std::stoi(item.substr(x + 1));
      for (int32_t i = 0; i < n; ++i) out.push_back(v);
    }
    pos = end + 1;
  }
  return out;
}

// Upstream's asm kernels are exported as `aiter::<name>` (mangled); override with --kernel-name if not.
std::string default_symbol(const std::string& name) {
  return "_ZN5aiter" + std::to_string(name.size()) + name + "E";
}

// Distance in units in the last place between two floats of the same sign class (ordered-integer mapping).
int64_t ulps_f32(float a, float b) {
  auto ord = [](float x) {
    const int32_t i = static_cast<int32_t>(num::f2u(x));
    return i < 0 ? int64_t{INT32_MIN} - i : int64_t{i};
  };
  return std::llabs(ord(a) - ord(b));
}
int64_t ulps_bf16(uint16_t a, uint16_t b) {
  auto ord = [](uint16_t x) { return (x & 0x8000) ? -int64_t{x & 0x7FFF} : int64_t{x}; };
  return std::llabs(ord(a) - ord(b));
}

int run(int argc, char** argv) {
  std::string co_dir, symbol, policy = std::string(mlaps::default_policy().name());
  std::vector<int32_t> qo = {8192}, kv = {8192};
  int32_t heads = 1, cu = 0;
  bool causal = true;
  uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) throw InputError(a, "needs a value");
      return argv[++i];
    };
    if (a == "--co-dir")
      co_dir = val();
    else if (a == "--kernel-name")
      symbol = val();
    else if (a == "--qo-lens")
      qo = parse_lengths(val());
    else if (a == "--kv-lens")
      kv = parse_lengths(val());
    else if (a == "--heads")
      heads = std::stoi(val());
    else if (a == "--causal")
      causal = true;
    else if (a == "--no-causal")
      causal = false;
    else if (a == "--policy")
      policy = val();
    else if (a == "--cu")
      cu = std::stoi(val());
    else if (a == "--seed")
      seed = std::stoull(val());
    else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  if (co_dir.empty()) {
    std::cerr << "--co-dir DIR (hsa/gfx950/mla of an AITER install) is required\n";
    return 2;
  }
  const gpu::DeviceInfo dev = gpu::query_device();
  if (!dev.available) {
    std::cerr << "no GPU: " << dev.reason << "\n";
    return 2;
  }
  if (cu <= 0) cu = dev.multiprocessors;
  const Problem p = Problem::from_lengths(qo, kv, heads, causal, cu);
  const Plan plan = make_plan(p, policy_named(policy, "--policy"));
  InputOptions io;
  io.seed = seed;
  io.encoding = num::Fp8Encoding::kE4M3FN;  // gfx950's fp8
  io.v_from_k = true;                       // as upstream's test
  const AttnInputs in = make_random_inputs(p, io);
  NumericModel model;
  model.encoding = io.encoding;

  const std::string co_name = causal ? kPsCodeObjectCausal : kPsCodeObjectNonCausal;
  const std::string co_path = co_dir + "/" + co_name;
  if (symbol.empty()) symbol = default_symbol(co_name.substr(0, co_name.size() - 3));
  hipModule_t module{};
  check(hipModuleLoad(&module, co_path.c_str()), "hipModuleLoad(" + co_path + ")");
  hipFunction_t fn{};
  check(hipModuleGetFunction(&fn, module, symbol.c_str()), "hipModuleGetFunction(" + symbol + ")");

  gpu::DeviceRun run(p, plan, in, model);
  const std::vector<float> scales = {in.q_scale, in.k_scale, in.v_scale};
  gpu::DeviceBuffer d_scales;
  d_scales.upload(scales, "scales");

  PsKernelArgs args;
  std::memset(&args, 0, sizeof args);
  args.q.ptr = run.prefill.q;
  args.k.ptr = run.prefill.k;
  args.v.ptr = run.prefill.v;
  args.o.ptr = run.prefill.out;
  args.partial_o.ptr = run.prefill.partial_o;
  args.partial_lse.ptr = run.prefill.partial_lse;
  args.work_indptr.ptr = run.prefill.work_indptr;
  args.work_info.ptr = run.prefill.work_info;
  args.qo_indptr.ptr = run.prefill.qo_indptr;
  args.kv_indptr.ptr = run.prefill.kv_indptr;
  args.kv_page_indices.ptr = run.prefill.kv_page_indices;
  args.q_scale.ptr = d_scales.as<float>() + 0;
  args.k_scale.ptr = d_scales.as<float>() + 1;
  args.v_scale.ptr = d_scales.as<float>() + 2;
  args.softmax_scale.value = run.prefill.softmax_scale;
  args.num_q_tokens.value = run.prefill.num_tokens;
  args.num_head_q.value = run.prefill.num_heads_q;
  args.num_page.value = run.prefill.num_pages;
  args.num_used_page.value = run.prefill.num_used_pages;
  size_t arg_size = sizeof args;
  void* config[] = {HIP_LAUNCH_PARAM_BUFFER_POINTER, &args, HIP_LAUNCH_PARAM_BUFFER_SIZE, &arg_size,
                    HIP_LAUNCH_PARAM_END};
  check(hipModuleLaunchKernel(fn, static_cast<unsigned>(plan.num_tg()), 1, 1, kPsBlockThreads, 1, 1, 0,
                              nullptr, nullptr, config),
        "hipModuleLaunchKernel(" + symbol + ")");
  check(hipDeviceSynchronize(), "vendor prefill execution");
  check(gpu::launch_reduce(run.reduce, nullptr), "launch reduce_kernel");
  check(hipDeviceSynchronize(), "reduce_kernel execution");
  run.download();
  (void)hipModuleUnload(module);

  const SimRun sim = simulate(p, plan, in, model);
  const RunBuffers& g = run.host;
  int64_t not_close = 0, out_ulps_max = 0, lse_ulps_max = 0, nan_or_poison = 0;
  double out_max_abs = 0, lse_max_abs = 0;
  for (size_t i = 0; i < g.out.size(); ++i) {
    if (num::is_poison_bf16(g.out[i]) || num::is_poison_bf16(sim.buffers.out[i])) {
      nan_or_poison += num::is_poison_bf16(g.out[i]) != num::is_poison_bf16(sim.buffers.out[i]);
      continue;
    }
    const float a = num::bf16_decode(g.out[i]), b = num::bf16_decode(sim.buffers.out[i]);
    const double d = std::fabs(static_cast<double>(a) - b);
    if (!(d <= 0.05 + 0.05 * std::fabs(static_cast<double>(a)))) ++not_close;
    out_max_abs = std::max(out_max_abs, d);
    out_ulps_max = std::max(out_ulps_max, ulps_bf16(g.out[i], sim.buffers.out[i]));
  }
  for (size_t i = 0; i < g.final_lse.size(); ++i) {
    const float a = g.final_lse[i], b = sim.buffers.final_lse[i];
    if (!std::isfinite(a) || !std::isfinite(b)) continue;
    lse_max_abs = std::max(lse_max_abs, std::fabs(static_cast<double>(a) - b));
    lse_ulps_max = std::max(lse_ulps_max, ulps_f32(a, b));
  }
  const double frac =
      g.out.empty() ? 0.0 : static_cast<double>(not_close) / static_cast<double>(g.out.size());
  const bool pass = frac == 0.0 && lse_max_abs <= 0.03 && nan_or_poison == 0;
  std::printf(
      "vendor %s on %s: out not-close fraction %.3g (max abs %.3g, max %lld bf16 ulps), "
      "LSE max abs %.3g (max %lld ulps), written-pattern differences %lld: %s\n",
      co_name.c_str(), dev.name.c_str(), frac, out_max_abs, static_cast<long long>(out_ulps_max), lse_max_abs,
      static_cast<long long>(lse_ulps_max), static_cast<long long>(nan_or_poison), pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}

}  // namespace
}  // namespace mlaps::vendor

int main(int argc, char** argv) {
  try {
    return mlaps::vendor::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "mlaps-vendor-loader: " << e.what() << "\n";
    return 1;
  }
}

#endif  // MLAPS_GPU_HIP
