#pragma once
// The trivially-copyable parameter structs that sim/ and gpu/ both consume. User-facing inputs are lowered
// to these once (see sim/tensors.h). Pointers are host pointers for sim/, device pointers for gpu/.
#include <cstdint>
#include <type_traits>

#include "scheduler/work_info.h"
#include "sim/model.h"

namespace mlaps {

struct PrefillParams {
  const uint8_t* q;                // [num_tokens, num_heads_q, 192] fp8 codes
  const uint8_t* k;                // [num_pages, num_heads_k, 192] fp8 codes
  const uint8_t* v;                // [num_pages, num_heads_k, 128] fp8 codes
  const int32_t* kv_page_indices;  // [num_used_pages]
  const int32_t* qo_indptr;        // [batch + 1]
  const int32_t* kv_indptr;        // [batch + 1], indices into kv_page_indices
  const int32_t* work_indptr;      // [num_tg + 1]
  const WorkInfo* work_info;       // [work_indptr[num_tg]]
  uint16_t* out;                   // [num_tokens, num_heads_q, 128] bf16 (written for partial_o_loc == -1)
  float* partial_o;                // [partial_rows, num_heads_q, 128] fp32
  float* partial_lse;              // [partial_rows, num_heads_q] fp32, natural log
  int32_t batch;
  int32_t num_tg;
  int32_t num_tokens;
  int32_t num_heads_q;
  int32_t num_heads_k;
  int32_t num_pages;
  int32_t num_used_pages;
  int32_t partial_rows;
  float q_scale, k_scale, v_scale, softmax_scale;
  bool causal;
  NumericModel model;
};
static_assert(std::is_trivially_copyable_v<PrefillParams>);

struct ReduceParams {
  const float* partial_o;             // [partial_rows, num_heads, 128]
  const float* partial_lse;           // [partial_rows, num_heads]
  const int32_t* reduce_indptr;       // [num_reduce_tiles + 1]
  const FinalLoc* reduce_final_map;   // [num_reduce_tiles]
  const int32_t* reduce_partial_map;  // [reduce_indptr[num_reduce_tiles]]
  uint16_t* final_out;                // [num_tokens, num_heads, 128] bf16
  float* final_lse;                   // [num_tokens, num_heads] natural log
  int32_t num_reduce_tiles;
  int32_t num_heads;
  int32_t num_tokens;
  int32_t partial_rows;
  bool fixed_version;  // true: post-#3606 n == 1 rule; false: legacy (n == 1 skipped)
};
static_assert(std::is_trivially_copyable_v<ReduceParams>);

}  // namespace mlaps
