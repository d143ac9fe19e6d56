// `mlaps run`: random inputs -> plan -> emulated prefill + reduce on poisoned buffers -> float64 reference.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/render.h"
#include "reference/compare.h"
#include "reference/reference.h"
#include "scheduler/dump.h"
#include "scheduler/error.h"
#include "scheduler/sizing.h"
#include "sim/emulate.h"
#include "sim/tensors.h"

namespace mlaps::cli {

namespace fs = std::filesystem;

num::Fp8Encoding parse_encoding(const std::string& s) {
  num::Fp8Encoding e{};
  if (num::fp8_encoding_from_name(s, &e)) return e;
  throw InputError("--encoding", fmt::format("'{}' is not one of {} (gfx950), {} (gfx942)", s,
                                             num::fp8_encoding_name(num::Fp8Encoding::kE4M3FN),
                                             num::fp8_encoding_name(num::Fp8Encoding::kE4M3FNUZ)));
}
const char* encoding_name(num::Fp8Encoding e) {
  return num::fp8_encoding_name(e);
}

namespace {

template <typename T>
void write_raw(const fs::path& path, const std::vector<T>& v) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw InputError(path.string(), "cannot open for writing");
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
  if (!f) throw InputError(path.string(), "write failed");
}

nlohmann::json shape_entry(std::vector<int64_t> shape, const char* dtype) {
  return {{"shape", shape}, {"dtype", dtype}};
}

// Everything needed to reproduce the run outside the project (issue 3), staged then renamed into place.
void write_run_dump(const fs::path& dir, const Problem& p, const Plan& plan, const Capacity& cap,
                    const AttnInputs& in, const RunBuffers& buf, Policy policy) {
  if (fs::exists(dir) && !fs::is_empty(dir)) {
    throw InputError("--dump", fmt::format("'{}' exists and is not empty", dir.string()));
  }
  const fs::path stage = dir.string() + ".tmp-mlaps";
  std::error_code ec;
  fs::remove_all(stage, ec);
  fs::create_directories(stage);
  try {
    write_raw(stage / "q.bin", in.q);
    write_raw(stage / "k.bin", in.k);
    write_raw(stage / "v.bin", in.v);
    write_raw(stage / "kv_page_indices.bin", in.kv_page_indices);
    write_raw(stage / "qo_indptr.bin", p.qo_indptr);
    write_raw(stage / "kv_indptr.bin", p.kv_indptr);
    write_raw(stage / "seq_lens_kv.bin", p.context_lens);
    write_raw(stage / "out.bin", buf.out);
    write_raw(stage / "lse.bin", buf.final_lse);
    write_aiter_dump(stage / "metadata", p, plan, cap);
    const int64_t T = p.num_tokens(), HQ = p.num_heads_q(), HK = p.num_heads_k, NP = in.num_pages;
    nlohmann::json m;
    m["encoding"] = encoding_name(in.encoding);
    m["num_heads_q"] = HQ;
    m["num_heads_k"] = HK;
    m["qk_head_dim"] = kQkHeadDim;
    m["v_head_dim"] = kVHeadDim;
    m["q_scale"] = in.q_scale;
    m["k_scale"] = in.k_scale;
    m["v_scale"] = in.v_scale;
    m["softmax_scale"] = in.softmax_scale;
    m["causal"] = p.causal;
    m["policy"] = policy.name();
    m["block_size"] = p.block_size;
    m["num_cu"] = p.num_cu;
    m["lse_base"] = "e";
    m["layout_note"] =
        "raw little-endian; kv_indptr indexes kv_page_indices; out/lse hold the final (reduced) state; "
        "metadata/ is upstream's --load_metadata format";
    m["files"] = {
        {"q.bin", shape_entry({T, HQ, kQkHeadDim}, "uint8 (fp8 codes)")},
        {"k.bin", shape_entry({NP, HK, kQkHeadDim}, "uint8 (fp8 codes)")},
        {"v.bin", shape_entry({NP, HK, kVHeadDim}, "uint8 (fp8 codes)")},
        {"kv_page_indices.bin", shape_entry({static_cast<int64_t>(in.kv_page_indices.size())}, "int32")},
        {"qo_indptr.bin", shape_entry({static_cast<int64_t>(p.qo_indptr.size())}, "int32")},
        {"kv_indptr.bin", shape_entry({static_cast<int64_t>(p.kv_indptr.size())}, "int32")},
        {"seq_lens_kv.bin", shape_entry({static_cast<int64_t>(p.context_lens.size())}, "int32")},
        {"out.bin", shape_entry({T, HQ, kVHeadDim}, "bfloat16")},
        {"lse.bin", shape_entry({T, HQ}, "float32 (natural log)")},
    };
    std::ofstream(stage / "manifest.json") << m.dump(2) << "\n";
    fs::rename(stage, dir);
  } catch (...) {
    fs::remove_all(stage, ec);
    throw;
  }
}

// Max |out error| per (row bucket, head); NaN where anything of the bucket is unwritten.
std::vector<double> error_grid(const RefResult& ref, const FinalState& got, int buckets, int& rows_out) {
  const int32_t T = got.num_tokens, H = got.num_heads;
  const int rows = std::max(1, std::min<int>(buckets, T));
  rows_out = rows;
  std::vector<double> g(static_cast<size_t>(rows) * H, 0.0);
  for (int32_t r = 0; r < T; ++r) {
    const int rb = static_cast<int>(static_cast<int64_t>(r) * rows / std::max(1, T));
    for (int32_t h = 0; h < H; ++h) {
      double& cell = g[static_cast<size_t>(rb) * H + h];
      if (std::isnan(cell)) continue;
      const size_t lh = static_cast<size_t>(r) * H + h;
      if (got.lse_unwritten[lh]) {
        cell = std::nan("");
        continue;
      }
      for (int d = 0; d < kVHeadDim; ++d) {
        const size_t i = lh * kVHeadDim + d;
        if (got.out_unwritten[i]) {
          cell = std::nan("");
          break;
        }
        const double e = std::fabs(got.out[i] - ref.out[i]);
        if (std::isfinite(e)) cell = std::max(cell, e);
      }
    }
  }
  return g;
}

}  // namespace

void add_run_command(CLI::App& root, CommandRunner& runner) {
  auto* app = root.add_subcommand(
      "run",
      "random fp8 inputs -> plan -> emulated prefill + reduce (poisoned buffers) -> compare with float64");
  struct Opts {
    ProblemArgs a;
    uint64_t seed = 0;
    std::string encoding = num::fp8_encoding_name(num::Fp8Encoding::kE4M3FN), dump, heatmap;
    float softmax_scale = 0;
    bool v_from_k = false, json = false, quiet = false, exact_p = false, ref_exact_p = false;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  o->a.add_to(*app, false);
  app->add_option("--seed", o->seed, "random seed of the inputs")->capture_default_str();
  app->add_option("--encoding", o->encoding, "fp8 encoding: e4m3fn (gfx950) | e4m3fnuz (gfx942)")
      ->capture_default_str();
  app->add_option("--softmax-scale", o->softmax_scale, "softmax scale (default 1/sqrt(192))");
  app->add_flag("--v-from-k", o->v_from_k, "V = first 128 dims of K, as upstream's test builds it");
  app->add_flag("--exact-p", o->exact_p, "model: keep P in fp32 for P.V (default: P rounded to fp8)");
  app->add_flag(
      "--ref-exact-p", o->ref_exact_p,
      "reference: never round P (default: round P to fp8 whenever the model does, as upstream's fp8 "
      "reference branch can; rows that see few keys otherwise miss 0.05 by fp8 P alone)");
  app->add_option("--threads", o->threads, "emulator threads (default: OpenMP's)");
  app->add_flag("--json", o->json, "print one JSON object instead of the table");
  app->add_flag("--quiet", o->quiet, "no progress lines");
  app->add_option("--dump", o->dump,
                  "write inputs, plan, outputs and manifest.json into DIR (must not exist)");
  app->add_option("--heatmap", o->heatmap, "draw max |output error| per (row bucket, head) into FILE.svg");
  runner.on(app, [o, app]() -> int {
    const Problem p = o->a.problem(*app);
    const Policy policy = o->a.parsed_policy();
    InputOptions io;
    io.seed = o->seed;
    io.encoding = parse_encoding(o->encoding);
    if (app->count("--softmax-scale") && !(o->softmax_scale > 0 && std::isfinite(o->softmax_scale))) {
      throw InputError("--softmax-scale", "must be a positive finite number");
    }
    io.softmax_scale = o->softmax_scale;
    io.v_from_k = o->v_from_k;
    if (o->threads < 0) throw InputError("--threads", "must be >= 0");
    if (!o->dump.empty() && fs::exists(o->dump) && !fs::is_empty(o->dump)) {
      throw InputError("--dump", fmt::format("'{}' exists and is not empty", o->dump));
    }
    NumericModel model;
    model.encoding = io.encoding;
    model.round_p_fp8 = !o->exact_p;

    const Plan plan = make_plan(p, policy);
    const Capacity cap = policy_capacity(policy, SizingInputs::from_problem(p));
    const AttnInputs in = make_random_inputs(p, io);

    RunBuffers buf;
    buf.allocate(p.num_tokens(), p.num_heads_q(), partial_rows_for(plan, p.tile_q));
    buf.poison();
    {
      Progress prog("prefill", o->quiet || o->json);
      const PrefillParams pp = make_prefill_params(p, plan, in, buf, model);
      emulate_prefill(pp, o->threads, prog.enabled() ? &Progress::callback : nullptr, &prog);
    }
    const ReduceParams rp = make_reduce_params(plan, buf);
    emulate_reduce(rp, o->threads);

    RefOptions ro;
    ro.round_p_fp8 = model.round_p_fp8 && !o->ref_exact_p;
    ro.num_threads = o->threads;
    const RefResult ref = reference_attention(p, in, ro);
    const FinalState fin = final_state_from_buffers(buf);
    const CompareResult cmp = compare_final(ref, fin);

    int32_t direct = 0;
    for (const auto& w : plan.work_info) direct += w.partial_o_loc == -1;
    std::string heat;
    if (!o->heatmap.empty()) {
      int rows = 0;
      const auto grid = error_grid(ref, fin, 128, rows);
      double vmax = 0;
      for (double v : grid) {
        if (std::isfinite(v)) vmax = std::max(vmax, v);
      }
      heat = heatmap_svg(fmt::format("mlaps run: max |output error| vs float64, policy {}", policy.name()),
                         grid, rows, p.num_heads_q(), "query-row bucket", "q head", std::max(vmax, 1e-6));
    }
    if (!o->dump.empty()) write_run_dump(o->dump, p, plan, cap, in, buf, policy);
    if (!heat.empty()) write_file_atomic(o->heatmap, heat);

    if (o->json) {
      nlohmann::json j;
      j["pass"] = cmp.pass;
      j["policy"] = policy.name();
      j["encoding"] = encoding_name(io.encoding);
      j["seed"] = o->seed;
      j["reference_p"] = ro.round_p_fp8 ? "fp8" : "exact";
      j["isa_path"] = isa_path_name(best_isa_path());  // the emulator's instruction-set path (sim/emulate.h)
      j["unwritten_output"] = cmp.unwritten.output;
      j["unwritten_lse"] = cmp.unwritten.lse;
      j["output"] = {
          {"max_abs_err", cmp.output.max_abs_err}, {"mismatch_fraction", cmp.output.mismatch_fraction},
          {"mismatches", cmp.output.mismatches},   {"elements", cmp.output.elements},
          {"atol", cmp.options.out_atol},          {"rtol", cmp.options.out_rtol}};
      j["lse"] = {{"max_abs_err", cmp.lse.max_abs_err},
                  {"compared", cmp.lse.compared},
                  {"mask_mismatch", cmp.lse.mask_mismatch},
                  {"bound", cmp.options.lse_atol}};
      j["plan"] = {{"works", plan.num_works()},
                   {"direct_write_works", direct},
                   {"reduce_entries", plan.num_reduce_entries()},
                   {"query_tiles", make_query_tiles(p).size()}};
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << fmt::format("mlaps run: policy {}, {} sequences, {} q heads, {} CUs, {}, {}, seed {}\n",
                               policy.name(), p.batch(), p.num_heads_q(), p.num_cu,
                               p.causal ? "causal" : "non-causal", encoding_name(io.encoding), o->seed);
      std::cout << fmt::format(
          "  plan        {} works ({} direct-write, pol -1), {} reduce entries, {} query tiles\n",
          plan.num_works(), direct, plan.num_reduce_entries(), make_query_tiles(p).size());
      std::cout << fmt::format("  unwritten   output {} (row, head) pairs, final LSE {} (row, head) pairs\n",
                               cmp.unwritten.output, cmp.unwritten.lse);
      const CompareOptions& tol = cmp.options;
      const std::string out_tol = tol.out_atol == tol.out_rtol
                                      ? fmt::format("atol = rtol = {:g}", tol.out_atol)
                                      : fmt::format("atol = {:g}, rtol = {:g}", tol.out_atol, tol.out_rtol);
      std::cout << fmt::format("  output      max |err| {:.3g}, mismatch fraction {:.3g} ({})\n",
                               cmp.output.max_abs_err, cmp.output.mismatch_fraction, out_tol);
      std::cout << fmt::format(
          "  final LSE   max |err| {:.3g} over {} finite entries (bound {:g}), {} anomaly-mask "
          "mismatches\n",
          cmp.lse.max_abs_err, cmp.lse.compared, tol.lse_atol, cmp.lse.mask_mismatch);
      std::cout << (cmp.pass ? std::string("PASS") : cmp.summary()) << "\n";
    }
    return cmp.pass ? 0 : 1;
  });
}

}  // namespace mlaps::cli
