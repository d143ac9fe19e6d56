#pragma once
// The packed argument block of upstream's PS prefill code objects (contract 6.1; asm_mla.cu PsKernelArgs):
// 19 fields of 16 bytes each, 304 bytes. A pointer is 8 bytes followed by 8 bytes of padding; a scalar is
// 4 bytes followed by 12 bytes of padding. Passed to hipModuleLaunchKernel through
// HIP_LAUNCH_PARAM_BUFFER_POINTER / HIP_LAUNCH_PARAM_BUFFER_SIZE. Plain C++: the layout test runs anywhere.
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace mlaps::vendor {

#pragma pack(push, 1)
struct PsPtrSlot {
  const void* ptr;
  uint32_t pad[2];
};
struct PsF32Slot {
  float value;
  uint32_t pad[3];
};
struct PsI32Slot {
  int32_t value;
  uint32_t pad[3];
};

struct PsKernelArgs {
  PsPtrSlot q;                // fp8 [num_q_tokens, num_head_q, 192]
  PsPtrSlot k;                // fp8 [num_page, num_head_k, 192]
  PsPtrSlot v;                // fp8 [num_page, num_head_k, 128], contiguous
  PsPtrSlot o;                // bf16 [num_q_tokens, num_head_q, 128] (partial_o_loc == -1 rows)
  PsPtrSlot partial_o;        // fp32 [partial rows, num_head_q, 128]
  PsPtrSlot partial_lse;      // fp32 [partial rows, num_head_q]
  PsPtrSlot work_indptr;      // int32 [num_cu + 1]
  PsPtrSlot work_info;        // 8 x int32 per work
  PsPtrSlot qo_indptr;        // int32 [B + 1]
  PsPtrSlot kv_indptr;        // int32 [B + 1], indices into kv_page_indices
  PsPtrSlot kv_page_indices;  // int32 [num_used_page]
  PsPtrSlot q_scale;          // fp32 [1], device
  PsPtrSlot k_scale;          // fp32 [1], device
  PsPtrSlot v_scale;          // fp32 [1], device
  PsF32Slot softmax_scale;    // upstream's "scalar"
  PsI32Slot num_q_tokens;     // Q.size(0)
  PsI32Slot num_head_q;       // Q.size(1)
  PsI32Slot num_page;         // K.size(0)
  PsI32Slot num_used_page;    // kv_page_indices.size(0)
};
#pragma pack(pop)

static_assert(sizeof(void*) == 8, "the vendor argument block assumes 64-bit pointers");
static_assert(sizeof(PsPtrSlot) == 16 && sizeof(PsF32Slot) == 16 && sizeof(PsI32Slot) == 16);
static_assert(sizeof(PsKernelArgs) == 304, "contract 6.1: 19 fields x 16 bytes");
static_assert(std::is_standard_layout_v<PsKernelArgs> && std::is_trivially_copyable_v<PsKernelArgs>);
static_assert(offsetof(PsKernelArgs, q) == 0);
static_assert(offsetof(PsKernelArgs, k) == 16);
static_assert(offsetof(PsKernelArgs, v) == 32);
static_assert(offsetof(PsKernelArgs, o) == 48);
static_assert(offsetof(PsKernelArgs, partial_o) == 64);
static_assert(offsetof(PsKernelArgs, partial_lse) == 80);
static_assert(offsetof(PsKernelArgs, work_indptr) == 96);
static_assert(offsetof(PsKernelArgs, work_info) == 112);
static_assert(offsetof(PsKernelArgs, qo_indptr) == 128);
static_assert(offsetof(PsKernelArgs, kv_indptr) == 144);
static_assert(offsetof(PsKernelArgs, kv_page_indices) == 160);
static_assert(offsetof(PsKernelArgs, q_scale) == 176);
static_assert(offsetof(PsKernelArgs, k_scale) == 192);
static_assert(offsetof(PsKernelArgs, v_scale) == 208);
static_assert(offsetof(PsKernelArgs, softmax_scale) == 224);
static_assert(offsetof(PsKernelArgs, num_q_tokens) == 240);
static_assert(offsetof(PsKernelArgs, num_head_q) == 256);
static_assert(offsetof(PsKernelArgs, num_page) == 272);
static_assert(offsetof(PsKernelArgs, num_used_page) == 288);

// Kernel launch shape of upstream's PS prefill (contract 6.1): one block of 8 wave64s per thread group.
inline constexpr int kPsBlockThreads = 512;
inline constexpr const char* kPsCodeObjectCausal = "mla_pfl_qh192_vh128_m32x8_n128x1_causal1.co";
inline constexpr const char* kPsCodeObjectNonCausal = "mla_pfl_qh192_vh128_m32x8_n128x1_causal0.co";

}  // namespace mlaps::vendor
