#pragma once
// `mlaps chunked`: vLLM's chunked prefill with cached context (contract 7), on the emulated kernels.
//
// Per sequence b: new_lens[b] new tokens (the queries) after context_lens[b] cached tokens. vLLM computes
//   suffix  = attention(new tokens -> new tokens, causal)                       run_prefill_new_tokens
//   chunk c = attention(new tokens -> context[c*chunk, (c+1)*chunk), non-causal) run_prefill_context_chunk
// each as plan -> emulated prefill -> emulated reduce (bf16 out, fp32 final LSE), merges the chunks in order
// with merge_attn_states, then merges the context state with the suffix. The truth is float64 attention of
// the new tokens over context + new tokens (causal, bottom-right). K/V come from one pool per sequence:
// the full problem's inputs, whose kv_page_indices are sliced for each part, so every part and the
// reference see the same keys.
//
// What the consumer reads where the kernels wrote nothing: vLLM allocates final_lse (and the output) with
// torch.empty, so an unwritten entry holds whatever was there. This emulation reads every unwritten final
// LSE entry as `garbage_lse` (default 0.0, the typical value of fresh device memory; the #3606 report saw
// garbage 0 against true LSEs of ~2..7) and every unwritten output element as `garbage_out` (0.0).
//
// Exhausted context: a sequence whose context ends before chunk c gets kv_len 0 in chunk c, as vLLM
// passes it (chunk_seq_lens clamped at 0). Upstream's scheduler emits such a zero-KV tile when it sits
// between scheduled tiles (the emulated kernel writes the empty state, O = 0, LSE = -inf, and the merge
// treats it as the identity), but never schedules trailing zero-KV tiles (contract 2.5.2): their rows are
// left unwritten under both policies and read as garbage. Such rows are counted per part
// (`trailing_zero_kv_rows`) so this defect is told apart from the #3606 one; they are not patched.
#include <cstdint>
#include <string>
#include <vector>

#include "reference/compare.h"
#include "reference/reference.h"
#include "scheduler/policy.h"
#include "scheduler/problem.h"
#include "sim/emulate.h"
#include "sim/model.h"
#include "sim/tensors.h"

namespace mlaps {

struct ChunkedProblem {
  std::vector<int32_t> new_lens;      // [B] new tokens per sequence (queries; causal among themselves)
  std::vector<int32_t> context_lens;  // [B] cached context tokens per sequence
  int32_t chunk_size = 0;             // context tokens per sequence per chunk (vLLM's max_context_chunk)
  int32_t num_heads_k = 1;
  int32_t gqa_ratio = 1;
  int32_t num_cu = 256;
  int32_t tile_q = 256;
  int32_t tile_kv = 128;
  // Problem::need_lse of every call. Context chunks are merged by their LSE, so false is refused when any
  // sequence has context (InputError "need_lse": with need_lse = false the tiles taken whole by one TG get
  // no LSE and merge_attn_states reads garbage, the #3606 garbage-LSE merge; ledger need_lse_false_merge).
  // Without context the new-token call is the output and false is allowed: its direct-write rows' LSE is
  // not promised (lse_not_promised), not garbage.
  bool need_lse = true;
};

struct ChunkedOptions {
  Policy policy = default_policy();
  InputOptions inputs;  // seed, encoding, softmax_scale, ... of the shared pool (full problem)
  // The emulated kernel's numerics; its encoding is taken from `inputs`. Default here: P kept in fp32
  // (round_p_fp8 = false), so the comparison isolates the merge at bf16-level error. With fp8 P, rows with a
  // few visible keys differ from any float64 truth by up to ~2^-4 |v| (beyond checkAllclose's
  // 0.05 + 0.05|o|), and each part rounds P against its own row max, the full problem against another, so
  // no truth reproduces the rounding (e.g. new 7, ctx 3: |err| 0.12 at row 0). Set round_p_fp8 = true to
  // see the kernel's P rounding on top; `mlaps run` covers it on single problems.
  NumericModel model = [] {
    NumericModel m;
    m.round_p_fp8 = false;
    return m;
  }();
  RefOptions ref;  // the float64 truth
  // The truth rounds P to fp8 iff the model does (overrides ref.round_p_fp8). Rows with a handful of visible
  // keys carry fp8's 2^-4 relative rounding of P straight into O (|err| ~0.06 at |v| ~ 3, beyond
  // checkAllclose's 0.05 + 0.05|o|), so only the same rounding rule gives a mismatch-free comparison.
  bool ref_p_like_model = true;
  CompareOptions compare;  // tolerances of the final comparison
  // vLLM keeps each merged state as bf16 output + fp32 LSE between merges; false: keep doubles.
  bool store_like_vllm = true;
  double garbage_lse = 0.0;  // what an unwritten final_lse entry reads as (torch.empty)
  double garbage_out = 0.0;  // what an unwritten output element reads as
  int num_threads = 0;
};

struct ChunkedPart {
  std::string name;  // "context_chunk_<c>" (non-causal) or "new_tokens" (causal)
  Problem problem;
  int32_t num_works = 0;
  int32_t num_direct_works = 0;  // works with partial_o_loc == -1 (bf16 O straight out, no LSE)
  int32_t num_reduce_entries = 0;
  UnwrittenCounts unwritten;     // (row, head) pairs of this part left unwritten (read as garbage)
  int64_t lse_not_promised = 0;  // unwritten LSE entries the plan does not promise (need_lse = false)
  // (row, head) pairs with neither O nor LSE written in sequences with kv_len 0 here: zero-KV tiles never
  // scheduled (contract 2.5.2), as opposed to the #3606 fast path, which writes O but no LSE.
  int64_t trailing_zero_kv_rows = 0;
};

struct ChunkedResult {
  Problem full;                    // new tokens over context + new tokens, causal: the reference problem
  std::vector<ChunkedPart> parts;  // context chunks in order, then the new-token part
  CompareResult merged;            // the consumer's merged state (garbage as read) vs the reference
  CompareResult merged_clean;      // the same with every unwritten entry replaced by its part's float64
                                   // reference value: what a correct kernel would have given
  int64_t garbage_entries = 0;     // unwritten output (row, head) pairs + LSE entries over all parts
  int64_t garbage_changed_elements = 0;  // output elements where merged != merged_clean
  double garbage_max_abs_change = 0;     // max |merged - merged_clean| over output elements
  bool garbage_changed_output() const { return garbage_changed_elements > 0; }
  // merged.pass && garbage_entries == 0: reading unwritten memory is a failure whatever the garbage
  // happened to be (on a GPU it can be anything; 0.0 often hides it, e.g. a trailing zero-KV part merged
  // as LSE 0 against a true LSE of ~5 moves the output by < 1e-2). `merged` shows how much it mattered.
  bool pass = false;
  std::string summary() const;
};

// Throws InputError on bad input (sizes, negative lengths, chunk_size < 1 while some context exists,
// need_lse = false while some context exists).
ChunkedResult run_chunked(const ChunkedProblem& cp, const ChunkedOptions& opt);

// The pieces, exposed for tests and for the CLI's own plumbing.
Problem chunked_full_problem(const ChunkedProblem& cp);
int32_t chunked_num_chunks(const ChunkedProblem& cp);
// kv_len of each sequence in context chunk c (0 once its context is exhausted).
std::vector<int32_t> chunk_kv_lens(const ChunkedProblem& cp, int32_t c);

}  // namespace mlaps
