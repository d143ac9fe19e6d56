#pragma once
// Host-side owning tensors: the attention inputs (fp8 codes + per-tensor scales), random generation with
// upstream's per-tensor quantization, and the poisoned output buffers of a run.
#include <cmath>
#include <cstdint>
#include <vector>

#include "scheduler/plan.h"
#include "scheduler/problem.h"
#include "sim/model.h"
#include "sim/params.h"

namespace mlaps {

// The softmax scale of a run, resolved in this one place: 0 (AttnInputs' and InputOptions' default) means
// 1/sqrt(qk_head_dim) = 1/sqrt(192); any other value is used as given. The emulator's lowering
// (make_prefill_params, which the GPU launcher uses too), the float64 reference and the input generator all
// call it, so a hand-built input with the default means the same scale to every executor.
inline float resolve_softmax_scale(float softmax_scale) {
  return softmax_scale != 0.0f ? softmax_scale : 1.0f / std::sqrt(static_cast<float>(kQkHeadDim));
}

struct AttnInputs {
  num::Fp8Encoding encoding = num::Fp8Encoding::kE4M3FN;
  int32_t num_tokens = 0, num_heads_q = 0, num_heads_k = 0, num_pages = 0;
  std::vector<uint8_t> q;                // [num_tokens, num_heads_q, 192]
  std::vector<uint8_t> k;                // [num_pages, num_heads_k, 192]
  std::vector<uint8_t> v;                // [num_pages, num_heads_k, 128]
  std::vector<int32_t> kv_page_indices;  // [problem.num_used_pages()], values in [0, num_pages)
  float q_scale = 1, k_scale = 1, v_scale = 1;
  float softmax_scale = 0;  // 0: 1/sqrt(192) (resolve_softmax_scale)
};

struct InputOptions {
  uint64_t seed = 0;
  num::Fp8Encoding encoding = num::Fp8Encoding::kE4M3FN;
  float softmax_scale = 0;    // 0: 1/sqrt(qk_head_dim) (resolve_softmax_scale)
  bool v_from_k = false;      // V = first 128 dims of K (upstream's test), quantized with its own scale
  bool shuffle_pages = true;  // random kv_page_indices (repeats allowed); false: identity
  float value_range = 1.0f;   // bf16-range values drawn from N(0, value_range), as upstream's randn
};

// n bytes for an input tensor of codes (Q, K, V): a copy of src[0, n), or zeros where src is null. A buffer
// of kHugePageAdviseBytes or more is advised
// as transparent huge pages before its first touch (Linux madvise(MADV_HUGEPAGE) on its 2 MiB-aligned
// interior; THP's usual "madvise" mode then backs it with 2 MiB pages): the page table scatters K/V rows
// over tens of MB, and with 4 KiB pages each key costs a TLB miss. Only speed depends on it (measured in
// README, "Benchmarks"); elsewhere, or where the kernel refuses the advice, it is a plain vector.
inline constexpr size_t kHugePageBytes = size_t{2} << 20;
inline constexpr size_t kHugePageAdviseBytes = 2 * kHugePageBytes;
std::vector<uint8_t> code_buffer(size_t n, const uint8_t* src = nullptr);

// Per-tensor quantization as upstream's per_tensor_quant: scale = amax / fp8_max, code = fp8(x / scale)
// (RNE, saturating). amax == 0 gives scale 1.
struct Quantized {
  std::vector<uint8_t> codes;
  float scale = 1;
};
Quantized per_tensor_quant(const std::vector<float>& x, num::Fp8Encoding enc);

// Random inputs for a problem (deterministic in seed).
AttnInputs make_random_inputs(const Problem& p, const InputOptions& opt);

// Output buffers of one run, all poisoned on creation.
struct RunBuffers {
  int32_t num_tokens = 0, num_heads_q = 0, partial_rows = 0;
  std::vector<uint16_t> out;       // [num_tokens, num_heads_q, 128] bf16
  std::vector<float> final_lse;    // [num_tokens, num_heads_q]
  std::vector<float> partial_o;    // [partial_rows, num_heads_q, 128]
  std::vector<float> partial_lse;  // [partial_rows, num_heads_q]
  void allocate(int32_t tokens, int32_t heads_q, int32_t partial_rows);
  void poison();
};

// Rows of the partial buffers a plan needs: max(partial_o_loc) + tile_q, at least tile_q.
int32_t partial_rows_for(const Plan& plan, int32_t tile_q);

// Lowering, done once: the parameter structs both executors consume (host pointers here).
PrefillParams make_prefill_params(const Problem& p, const Plan& plan, const AttnInputs& in, RunBuffers& buf,
                                  const NumericModel& model);
ReduceParams make_reduce_params(const Plan& plan, RunBuffers& buf);

}  // namespace mlaps
