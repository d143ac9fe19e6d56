// The emulator, the float64 reference and the comparison on numpy arrays; upstream's per-tensor quantization.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <utility>

#include "arrays.h"
#include "bindings.h"
#include "bridge/reference_bridge.h"
#include "sim/emulate.h"
#include "sim/tensors.h"

namespace mlaps::py {

namespace pyb = pybind11;
using namespace pybind11::literals;

namespace {

num::Fp8Encoding encoding_arg(const std::string& s) {
  num::Fp8Encoding e{};
  if (num::fp8_encoding_from_name(s, &e)) return e;
  throw ArgError(fmt::format("encoding: '{}' is not one of e4m3fn (gfx950), e4m3fnuz (gfx942)", s));
}

// A numpy array that owns a moved-in vector (no copy).
template <typename T>
pyb::array_t<T> owning_array(std::vector<T>&& v, std::vector<pyb::ssize_t> shape) {
  auto* heap = new std::vector<T>(std::move(v));
  pyb::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return pyb::array_t<T>(shape, heap->data(), owner);
}

template <typename T>
std::vector<T> copy_of(const T* p, int64_t n) {
  return std::vector<T>(p, p + n);
}

// The inputs as the emulator and the reference take them (fp8 codes, copied once into AttnInputs).
AttnInputs inputs_arg(const Problem& p, pyb::handle q, pyb::handle k, pyb::handle v, pyb::handle pages,
                      float q_scale, float k_scale, float v_scale, std::optional<float> softmax_scale,
                      const std::string& encoding) {
  AttnInputs in;
  in.encoding = encoding_arg(encoding);
  in.num_tokens = p.num_tokens();
  in.num_heads_q = p.num_heads_q();
  in.num_heads_k = p.num_heads_k;
  const auto qa = array_arg<const uint8_t>("q", q, {in.num_tokens, in.num_heads_q, 192}, false);
  const auto ka = array_arg<const uint8_t>("k", k, {-1, in.num_heads_k, 192}, false);
  in.num_pages = static_cast<int32_t>(ka.extent(0));
  const auto va = array_arg<const uint8_t>("v", v, {in.num_pages, in.num_heads_k, 128}, false);
  const auto pa = array_arg<const int32_t>("kv_page_indices", pages, {-1}, false);
  const std::pair<const char*, float> scales[] = {
      {"q_scale", q_scale}, {"k_scale", k_scale}, {"v_scale", v_scale}};
  for (const auto& [name, s] : scales)
    if (!(s > 0 && std::isfinite(s)))
      throw ArgError(fmt::format("{}: must be a positive finite number", name));
  if (softmax_scale && !(*softmax_scale > 0 && std::isfinite(*softmax_scale)))
    throw ArgError("softmax_scale: must be a positive finite number");
  // The codes go into code_buffer's buffers (huge pages where large), copied once.
  in.q = code_buffer(static_cast<size_t>(qa.size()), qa.data);
  in.k = code_buffer(static_cast<size_t>(ka.size()), ka.data);
  in.v = code_buffer(static_cast<size_t>(va.size()), va.data);
  in.kv_page_indices = copy_of(pa.data, pa.size());
  in.q_scale = q_scale;
  in.k_scale = k_scale;
  in.v_scale = v_scale;
  in.softmax_scale =
      resolve_softmax_scale(softmax_scale.value_or(0.0f));  // the same fp32 scale for both executors
  return in;
}

pyb::tuple emulate_py(pyb::handle q, pyb::handle k, pyb::handle v, pyb::handle pages, const PyPlan& plan,
                      const Problem& problem, float q_scale, float k_scale, float v_scale,
                      std::optional<float> softmax_scale, const std::string& encoding, bool exact_p,
                      const std::string& out, int threads) {
  if (out != "bf16" && out != "float32")
    throw ArgError(fmt::format("out: '{}' is not one of bf16, float32", out));
  if (threads < 0) throw ArgError("threads: must be >= 0");
  const AttnInputs in =
      inputs_arg(problem, q, k, v, pages, q_scale, k_scale, v_scale, softmax_scale, encoding);
  NumericModel model;
  model.encoding = in.encoding;
  model.round_p_fp8 = !exact_p;
  SimRun run;
  try {
    pyb::gil_scoped_release nogil;
    run = simulate(problem, plan.plan, in, model, threads);
  } catch (const InputError& e) {
    throw_value_error(e);
  }
  const pyb::ssize_t T = in.num_tokens, H = in.num_heads_q;
  pyb::array o;
  if (out == "bf16") {
    o = owning_array(std::move(run.buffers.out), {T, H, 128});
  } else {
    std::vector<float> f(run.buffers.out.size());
    for (size_t i = 0; i < f.size(); ++i) f[i] = num::bf16_decode(run.buffers.out[i]);
    o = owning_array(std::move(f), {T, H, 128});
  }
  return pyb::make_tuple(o, owning_array(std::move(run.buffers.final_lse), {T, H}));
}

pyb::tuple reference_py(pyb::handle q, pyb::handle k, pyb::handle v, pyb::handle pages,
                        const Problem& problem, float q_scale, float k_scale, float v_scale,
                        std::optional<float> softmax_scale, const std::string& encoding, bool round_p,
                        int threads) {
  if (threads < 0) throw ArgError("threads: must be >= 0");
  const AttnInputs in =
      inputs_arg(problem, q, k, v, pages, q_scale, k_scale, v_scale, softmax_scale, encoding);
  RefOptions ro;
  ro.round_p_fp8 = round_p;
  ro.num_threads = threads;
  RefResult r;
  try {
    pyb::gil_scoped_release nogil;
    r = reference_attention(reference_inputs(problem, in), ro);
  } catch (const InputError& e) {
    throw_value_error(e);
  }
  const pyb::ssize_t T = r.num_tokens, H = r.num_heads_q;
  return pyb::make_tuple(owning_array(std::move(r.out), {T, H, 128}),
                         owning_array(std::move(r.lse_ln), {T, H}));
}

pyb::dict compare_py(pyb::handle ref_out, pyb::handle ref_lse, pyb::handle out, pyb::handle lse,
                     double out_atol, double out_rtol, double lse_atol) {
  const auto ro = array_arg<const double>("ref_out", ref_out, {-1, -1, 128}, false);
  const int64_t T = ro.extent(0), H = ro.extent(1);
  const auto rl = array_arg<const double>("ref_lse", ref_lse, {T, H}, false);
  const auto o = array_arg<const uint16_t>("out", out, {T, H, 128}, false);
  const auto l = array_arg<const float>("lse", lse, {T, H}, false);
  RefResult ref;
  ref.num_tokens = static_cast<int32_t>(T);
  ref.num_heads_q = static_cast<int32_t>(H);
  ref.out = copy_of(ro.data, ro.size());
  ref.lse_ln = copy_of(rl.data, rl.size());
  RunBuffers buf;  // the final buffers only: bf16 bits and fp32 LSE, poison patterns mark unwritten entries
  buf.num_tokens = ref.num_tokens;
  buf.num_heads_q = ref.num_heads_q;
  buf.out = copy_of(o.data, o.size());
  buf.final_lse = copy_of(l.data, l.size());
  CompareOptions co;
  co.out_atol = out_atol;
  co.out_rtol = out_rtol;
  co.lse_atol = lse_atol;
  CompareResult c;
  try {
    c = compare_run(ref, buf, co);
  } catch (const InputError& e) {
    throw_value_error(e);
  }
  // The fields of `mlaps run --json`.
  return pyb::dict(
      "pass"_a = c.pass, "within_warning_band"_a = c.within_warning_band,
      "unwritten_output"_a = c.unwritten.output, "unwritten_lse"_a = c.unwritten.lse,
      "output"_a =
          pyb::dict("max_abs_err"_a = c.output.max_abs_err,
                    "mismatch_fraction"_a = c.output.mismatch_fraction, "mismatches"_a = c.output.mismatches,
                    "elements"_a = c.output.elements, "atol"_a = out_atol, "rtol"_a = out_rtol),
      "lse"_a = pyb::dict("max_abs_err"_a = c.lse.max_abs_err, "compared"_a = c.lse.compared,
                          "mask_mismatch"_a = c.lse.mask_mismatch, "bound"_a = lse_atol),
      "summary"_a = c.summary());
}

pyb::tuple quant_py(pyb::handle x, const std::string& encoding) {
  const num::Fp8Encoding enc = encoding_arg(encoding);
  pyb::array a = as_array("x", x, false);
  std::vector<int64_t> shape;
  std::vector<pyb::ssize_t> pshape;
  for (pyb::ssize_t d = 0; d < a.ndim(); ++d) {
    shape.push_back(a.shape(d));
    pshape.push_back(a.shape(d));
  }
  const float* p = static_cast<const float*>(check_array("x", a, 'f', 4, shape, false));
  Quantized qz = per_tensor_quant(copy_of(p, a.size()), enc);
  return pyb::make_tuple(owning_array(std::move(qz.codes), pshape), qz.scale);
}

}  // namespace

void add_run(pyb::module_& m) {
  m.def(
      "emulate", &emulate_py, "q"_a, "k"_a, "v"_a, "kv_page_indices"_a, "plan"_a, "problem"_a, "q_scale"_a,
      "k_scale"_a, "v_scale"_a, "softmax_scale"_a = pyb::none(), "encoding"_a = "e4m3fn", pyb::kw_only(),
      "exact_p"_a = false, "out"_a = "bf16", "threads"_a = 0,
      "the bit-faithful CPU emulation of the fp8 prefill + reduce (sim/) on poisoned buffers: q (T, Hq, "
      "192), "
      "k (P, Hk, 192), v (P, Hk, 128) uint8 fp8 codes, kv_page_indices int32; returns (out, final_lse): out "
      "(T, Hq, 128) as bf16 bits in uint16 (out='bf16') or decoded float32, final_lse (T, Hq) float32, "
      "natural log; never-written entries keep the poison pattern");
  m.def("reference", &reference_py, "q"_a, "k"_a, "v"_a, "kv_page_indices"_a, "problem"_a, "q_scale"_a,
        "k_scale"_a, "v_scale"_a, "softmax_scale"_a = pyb::none(), "encoding"_a = "e4m3fn", pyb::kw_only(),
        "round_p"_a = false, "threads"_a = 0,
        "float64 attention over the dequantized fp8 inputs (reference/): (out (T, Hq, 128), lse (T, Hq)) "
        "float64; round_p rounds P to fp8 as the model does (`mlaps run`'s default reference)");
  m.def("compare", &compare_py, "ref_out"_a, "ref_lse"_a, "out"_a, "lse"_a, pyb::kw_only(),
        "out_atol"_a = 0.05, "out_rtol"_a = 0.05, "lse_atol"_a = 0.03,
        "an executor's final state (bf16 bits, fp32 LSE) against the reference: upstream's checkAllclose on "
        "the output, the #3606 LSE bound, unwritten and anomaly counts; the fields of `mlaps run --json`");
  m.def(
      "isa_path", [] { return std::string(isa_path_name(selected_isa_path())); },
      "the emulator's instruction-set path: 'generic', 'avx2' or 'avx512', the best this CPU has unless the "
      "environment variable MLAPS_ISA_PATH named another before the first call (read once; a bad name "
      "raises ValueError)");
  m.def("per_tensor_quant", &quant_py, "x"_a, "encoding"_a = "e4m3fn",
        "upstream's per_tensor_quant: (fp8 codes as uint8, scale) with scale = max|x| / fp8_max, codes = "
        "fp8(x / scale), RNE, saturating; x float32, any shape");
}

}  // namespace mlaps::py
