#pragma once
// Device-side buffers of one plan run (HIP-dialect translation units only): uploads the inputs and the plan,
// poisons the outputs with sim/'s patterns, and lowers PrefillParams / ReduceParams to device pointers.
// Shared by the launcher (our kernels) and the vendor code-object loader (upstream's prefill kernel).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "gpu/launcher.h"
#include "gpu/vendor/gpu_vendor.h"
#include "sim/params.h"
#include "sim/tensors.h"

namespace mlaps::gpu {

[[noreturn]] inline void fail(const std::string& what, hipError_t e) {
  throw GpuError(what + ": " + hipGetErrorName(e) + " (" + hipGetErrorString(e) + ")");
}
inline void check(hipError_t e, const std::string& what) {
  if (e != hipSuccess) fail(what, e);
}

// A named device allocation, freed on scope exit. Every call is checked; errors name the buffer.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr_ != nullptr) (void)hipFree(ptr_);
  }
  template <class T>
  void upload(const std::vector<T>& host, const std::string& name) {
    name_ = name;
    const size_t bytes = host.size() * sizeof(T);
    check(hipMalloc(&ptr_, std::max<size_t>(bytes, 16)),
          "hipMalloc(" + name + ", " + std::to_string(bytes) + " B)");
    if (bytes > 0)
      check(hipMemcpy(ptr_, host.data(), bytes, hipMemcpyHostToDevice), "hipMemcpy(" + name + " H2D)");
  }
  template <class T>
  void download(std::vector<T>& host) const {
    if (host.empty()) return;
    check(hipMemcpy(host.data(), ptr_, host.size() * sizeof(T), hipMemcpyDeviceToHost),
          "hipMemcpy(" + name_ + " D2H)");
  }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  std::string name_;
};

class Event {
 public:
  Event() { check(hipEventCreate(&e_), "hipEventCreate"); }
  ~Event() { (void)hipEventDestroy(e_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  hipEvent_t get() const { return e_; }

 private:
  hipEvent_t e_{};
};

inline float elapsed_ms(const Event& a, const Event& b) {
  float ms = 0;
  check(hipEventElapsedTime(&ms, a.get(), b.get()), "hipEventElapsedTime");
  return ms;
}

// All device buffers of one run. `host` keeps the poisoned host-side outputs (the download target).
struct DeviceRun {
  RunBuffers host;
  PrefillParams prefill{};  // device pointers
  ReduceParams reduce{};    // device pointers
  DeviceBuffer q, k, v, pages, qo, kv, wptr, winfo, out, po, plse, flse, rptr, rfin, rpart;

  DeviceRun(const Problem& problem, const Plan& plan, const AttnInputs& inputs, const NumericModel& model) {
    host.allocate(problem.num_tokens(), problem.num_heads_q(), partial_rows_for(plan, problem.tile_q));
    host.poison();
    // Lower once on the host (the same scalars as sim/), then swap in device pointers.
    prefill = make_prefill_params(problem, plan, inputs, host, model);
    reduce = make_reduce_params(plan, host);
    q.upload(inputs.q, "q");
    k.upload(inputs.k, "k");
    v.upload(inputs.v, "v");
    pages.upload(inputs.kv_page_indices, "kv_page_indices");
    qo.upload(problem.qo_indptr, "qo_indptr");
    kv.upload(problem.kv_indptr, "kv_indptr");
    wptr.upload(plan.work_indptr, "work_indptr");
    winfo.upload(plan.work_info, "work_info");
    rptr.upload(plan.reduce_indptr, "reduce_indptr");
    rfin.upload(plan.reduce_final_map, "reduce_final_map");
    rpart.upload(plan.reduce_partial_map, "reduce_partial_map");
    // Outputs start poisoned with sim/'s patterns: the poisoned host buffers are copied over.
    out.upload(host.out, "out");
    po.upload(host.partial_o, "partial_o");
    plse.upload(host.partial_lse, "partial_lse");
    flse.upload(host.final_lse, "final_lse");

    prefill.q = q.as<const uint8_t>();
    prefill.k = k.as<const uint8_t>();
    prefill.v = v.as<const uint8_t>();
    prefill.kv_page_indices = pages.as<const int32_t>();
    prefill.qo_indptr = qo.as<const int32_t>();
    prefill.kv_indptr = kv.as<const int32_t>();
    prefill.work_indptr = wptr.as<const int32_t>();
    prefill.work_info = winfo.as<const WorkInfo>();
    prefill.out = out.as<uint16_t>();
    prefill.partial_o = po.as<float>();
    prefill.partial_lse = plse.as<float>();

    reduce.partial_o = po.as<const float>();
    reduce.partial_lse = plse.as<const float>();
    reduce.reduce_indptr = rptr.as<const int32_t>();
    reduce.reduce_final_map = rfin.as<const FinalLoc>();
    reduce.reduce_partial_map = rpart.as<const int32_t>();
    reduce.final_out = out.as<uint16_t>();
    reduce.final_lse = flse.as<float>();
  }

  void download() {
    out.download(host.out);
    flse.download(host.final_lse);
    po.download(host.partial_o);
    plse.download(host.partial_lse);
  }
};

}  // namespace mlaps::gpu
