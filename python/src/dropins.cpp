// Drop-ins for AITER's get_ps_metadata_info_v1 / get_ps_metadata_v1: upstream's names, argument order,
// defaults and buffer shapes, the CU count a keyword (never a device query), writing into caller arrays.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <fmt/format.h>

#include <chrono>
#include <iterator>
#include <limits>
#include <optional>

#include "arrays.h"
#include "bindings.h"
#include "scheduler/policy.h"
#include "scheduler/sizing.h"

namespace mlaps::py {

namespace pyb = pybind11;
using namespace pybind11::literals;

namespace {

// Problem fields -> the drop-in's argument names, for messages.
constexpr const char* kRename[][2] = {
    {"qo_indptr", "seqlens_qo_indptr"}, {"kv_indptr", "pages_kv_indptr"}, {"gqa_ratio", "qhead_granularity"},
    {"tile_q", "qlen_granularity"},     {"tile_kv", "kvlen_granularity"}, {"num_heads_k", "num_heads_k"},
};

pyb::tuple info_v1(int64_t batch_size, int64_t num_head_k, int64_t max_qlen, int64_t qlen_granularity,
                   int64_t num_cu, std::optional<int64_t> max_kvlen, int64_t kvlen_granularity,
                   const std::string& policy) {
  SizingInputs in;
  in.batch_size = int_arg("batch_size", batch_size, 1);
  in.num_heads_k = int_arg("num_head_k", num_head_k, 1);
  in.max_qlen = int_arg("max_qlen", max_qlen, 0);
  in.qlen_granularity = int_arg("qlen_granularity", qlen_granularity, 1);
  in.num_cu = int_arg("num_cu", num_cu, 1);
  if (max_kvlen) in.max_kvlen = int_arg("max_kvlen", *max_kvlen, 0);
  in.kvlen_granularity = int_arg("kvlen_granularity", kvlen_granularity, 1);
  Capacity cap;
  try {
    cap = compute_capacity(in, policy_named(policy).traits().sizing);
  } catch (const InputError& e) {
    throw_value_error(e);
  }
  auto i32 = [](std::vector<pyb::ssize_t> shape) {
    pyb::array_t<int32_t> a(shape);
    std::fill_n(a.mutable_data(), a.size(), 0);
    return a;
  };
  pyb::array_t<uint64_t> ptrs(std::vector<pyb::ssize_t>{2});
  std::fill_n(ptrs.mutable_data(), 2, 0);
  return pyb::make_tuple(ptrs, i32({cap.work_indptr}), i32({cap.work_info, 8}), i32({cap.reduce_indptr}),
                         i32({cap.reduce_final_map, 2}), i32({cap.reduce_partial_map}));
}

// get_ps_metadata_v1; with timed_calls > 0 (the timing helper below), make_plan_into is then run that many
// more times on the same problem and buffers and the mean time per call is returned, else 0. With
// timed_with_arguments, each of the timed calls is the whole of this function (argument checks, the problem
// refilled, make_plan_into): what a call costs on the C++ side of pybind11's dispatch.
double metadata_v1_timed(pyb::handle seqlens_qo_indptr, pyb::handle pages_kv_indptr, pyb::handle context_lens,
                         int64_t gqa_ratio, int64_t num_heads_k, pyb::handle work_metadata_ptrs,
                         pyb::handle work_indptr, pyb::handle work_info, pyb::handle reduce_indptr,
                         pyb::handle reduce_final_map, pyb::handle reduce_partial_map,
                         int64_t qhead_granularity, int64_t qlen_granularity, int64_t kvlen_granularity,
                         int64_t block_size, bool is_causal, int64_t num_cu, const std::string& policy,
                         bool need_lse, bool allow_causal_qo_gt_kv, int64_t timed_calls,
                         bool timed_with_arguments) {
  if (timed_with_arguments && timed_calls > 0) {  // the whole C++ side of a call, argument checks included
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < timed_calls; ++i)
      metadata_v1_timed(seqlens_qo_indptr, pages_kv_indptr, context_lens, gqa_ratio, num_heads_k,
                        work_metadata_ptrs, work_indptr, work_info, reduce_indptr, reduce_final_map,
                        reduce_partial_map, qhead_granularity, qlen_granularity, kvlen_granularity,
                        block_size, is_causal, num_cu, policy, need_lse, allow_causal_qo_gt_kv, 0, false);
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
           static_cast<double>(timed_calls);
  }
  // Every argument is checked before anything is written.
  const auto qo = array_arg<const int32_t>("seqlens_qo_indptr", seqlens_qo_indptr, {-1}, false);
  const auto kv = array_arg<const int32_t>("pages_kv_indptr", pages_kv_indptr, {-1}, false);
  const auto ctx = array_arg<const int32_t>("context_lens", context_lens, {-1}, false);
  const int64_t nb = ctx.extent(0);
  if (qo.extent(0) != nb + 1)
    throw ArgError(fmt::format("seqlens_qo_indptr: shape ({},) must be (len(context_lens) + 1,) = ({},)",
                               qo.extent(0), nb + 1));
  if (kv.extent(0) != nb + 1)
    throw ArgError(fmt::format("pages_kv_indptr: shape ({},) must be (len(context_lens) + 1,) = ({},)",
                               kv.extent(0), nb + 1));
  // One Problem per thread, refilled: after a thread's first call its vectors allocate only to grow.
  static thread_local Problem p;
  p = Problem{.qo_indptr = std::move(p.qo_indptr),
              .kv_indptr = std::move(p.kv_indptr),
              .context_lens = std::move(p.context_lens)};
  int_arg("gqa_ratio", gqa_ratio, 1);  // unused upstream (v1_2_host.cuh:275), as here
  p.num_heads_k = int_arg("num_heads_k", num_heads_k, 1);
  p.gqa_ratio = int_arg("qhead_granularity", qhead_granularity, 1);
  const int32_t qlen_g = int_arg("qlen_granularity", qlen_granularity, 1);
  p.tile_kv = int_arg("kvlen_granularity", kvlen_granularity, 1);
  p.block_size = int_arg("block_size", block_size, 1);
  p.num_cu = int_arg("num_cu", num_cu, 1);
  p.causal = is_causal;
  p.allow_causal_qo_gt_kv = allow_causal_qo_gt_kv;
  if (int64_t{qlen_g} * p.gqa_ratio > std::numeric_limits<int32_t>::max())
    throw ArgError("qlen_granularity: qlen_granularity * qhead_granularity overflows int32");
  p.tile_q =
      qlen_g * p.gqa_ratio;  // the problem's tile is qlen_granularity query rows of qhead_granularity heads
  if (p.tile_kv % p.block_size != 0)
    throw ArgError(
        fmt::format("kvlen_granularity: {} must be a multiple of block_size {}", p.tile_kv, p.block_size));
  Policy pol;
  try {
    pol = policy_named(policy);
  } catch (const InputError& e) {
    throw_value_error(e);
  }
  p.need_lse = need_lse;  // the merged #3606 form's flag (Problem::need_lse)

  array_arg<uint64_t>("work_metadata_ptrs", work_metadata_ptrs, {2}, false);  // never written on the PS path
  const auto wi = array_arg<int32_t>("work_indptr", work_indptr, {int64_t{p.num_cu} + 1}, true);
  const auto winfo = array_arg<int32_t>("work_info", work_info, {-1, 8}, true);
  const auto ri = array_arg<int32_t>("reduce_indptr", reduce_indptr, {-1}, true);
  const auto rf = array_arg<int32_t>("reduce_final_map", reduce_final_map, {-1, 2}, true);
  const auto rp = array_arg<int32_t>("reduce_partial_map", reduce_partial_map, {-1}, true);

  p.qo_indptr.assign(qo.data, qo.data + nb + 1);
  p.kv_indptr.assign(kv.data, kv.data + nb + 1);
  p.context_lens.assign(ctx.data, ctx.data + nb);
  auto rows = [](const auto& a) { return static_cast<size_t>(a.extent(0)); };
  PlanSpans spans;
  spans.work_indptr = {wi.data, rows(wi)};
  spans.work_info = {reinterpret_cast<WorkInfo*>(winfo.data), rows(winfo)};
  spans.reduce_indptr = {ri.data, rows(ri)};
  spans.reduce_final_map = {reinterpret_cast<FinalLoc*>(rf.data), rows(rf)};
  spans.reduce_partial_map = {rp.data, rows(rp)};
  static thread_local PlanWorkspace ws;  // after the first call of a thread, no allocation
  try {
    make_plan_into(p, pol, spans, ws);  // validates the problem and the buffer sizes before writing
  } catch (const InputError& e) {
    throw_value_error(e, kRename, static_cast<int>(std::size(kRename)));
  }
  if (timed_calls <= 0) return 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < timed_calls; ++i) make_plan_into(p, pol, spans, ws);
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
         static_cast<double>(timed_calls);
}

void metadata_v1(pyb::handle seqlens_qo_indptr, pyb::handle pages_kv_indptr, pyb::handle context_lens,
                 int64_t gqa_ratio, int64_t num_heads_k, pyb::handle work_metadata_ptrs,
                 pyb::handle work_indptr, pyb::handle work_info, pyb::handle reduce_indptr,
                 pyb::handle reduce_final_map, pyb::handle reduce_partial_map, int64_t qhead_granularity,
                 int64_t qlen_granularity, int64_t kvlen_granularity, int64_t block_size, bool is_causal,
                 int64_t num_cu, const std::string& policy, bool need_lse, bool allow_causal_qo_gt_kv) {
  metadata_v1_timed(seqlens_qo_indptr, pages_kv_indptr, context_lens, gqa_ratio, num_heads_k,
                    work_metadata_ptrs, work_indptr, work_info, reduce_indptr, reduce_final_map,
                    reduce_partial_map, qhead_granularity, qlen_granularity, kvlen_granularity, block_size,
                    is_causal, num_cu, policy, need_lse, allow_causal_qo_gt_kv, 0, false);
}

}  // namespace

void add_dropins(pyb::module_& m) {
  m.def(
      "get_ps_metadata_info_v1", &info_v1, "batch_size"_a, "num_head_k"_a, "max_qlen"_a,
      "qlen_granularity"_a = 256, pyb::kw_only(), "num_cu"_a = 256, "max_kvlen"_a = pyb::none(),
      "kvlen_granularity"_a = 128, "policy"_a = "aiter",
      "Upstream's buffers for get_ps_metadata_v1, zero-filled numpy arrays: work_metadata_ptrs (2,) uint64, "
      "work_indptr (num_cu+1,), work_info (max_works, 8), reduce_indptr (qo_tile_cnt+1,), reduce_final_map "
      "(qo_tile_cnt, 2), reduce_partial_map (max_partials,), int32; sized by the policy's formula "
      "(aiter: PR #3606's, aiter-legacy: the pre-fix one). num_cu is a keyword: no device is queried.");
  // get_ps_metadata_v1 itself is mlaps/_dropins.py: it holds the signature and the defaults and passes every
  // argument here by position (pybind11's keyword binding cost ~1.1 us per call, the wrapper ~0.1 us).
  m.def("_get_ps_metadata_v1", &metadata_v1, "seqlens_qo_indptr"_a, "pages_kv_indptr"_a, "context_lens"_a,
        "gqa_ratio"_a, "num_heads_k"_a, "work_metadata_ptrs"_a, "work_indptr"_a, "work_info"_a,
        "reduce_indptr"_a, "reduce_final_map"_a, "reduce_partial_map"_a, "qhead_granularity"_a,
        "qlen_granularity"_a, "kvlen_granularity"_a, "block_size"_a, "is_causal"_a, "num_cu"_a, "policy"_a,
        "need_lse"_a, "allow_causal_qo_gt_kv"_a,
        "get_ps_metadata_v1's C++ side, every argument by position (mlaps.get_ps_metadata_v1 says what they "
        "are).");
  m.def("_time_make_plan_into", &metadata_v1_timed, "seqlens_qo_indptr"_a, "pages_kv_indptr"_a,
        "context_lens"_a, "gqa_ratio"_a, "num_heads_k"_a, "work_metadata_ptrs"_a, "work_indptr"_a,
        "work_info"_a, "reduce_indptr"_a, "reduce_final_map"_a, "reduce_partial_map"_a, "qhead_granularity"_a,
        "qlen_granularity"_a, "kvlen_granularity"_a, "block_size"_a, "is_causal"_a, "num_cu"_a, "policy"_a,
        "need_lse"_a, "allow_causal_qo_gt_kv"_a, "calls"_a, "with_arguments"_a,
        "For python/tools/time_dropin.py, through mlaps._dropins._time_make_plan_into (which binds the "
        "drop-in's arguments): get_ps_metadata_v1 once, then make_plan_into `calls` more times in C++ on the "
        "same problem and buffers (no Python in the loop; with_arguments: the whole C++ side of "
        "get_ps_metadata_v1, argument checks included); returns the mean microseconds per call.");
}

}  // namespace mlaps::py
