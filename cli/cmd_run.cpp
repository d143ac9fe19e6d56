// `mlaps run`: random inputs -> plan -> emulated prefill + reduce on poisoned buffers -> float64 reference.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bridge/reference_bridge.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/inspect.h"
#include "cli/progress.h"
#include "cli/render.h"
#include "scheduler/dump.h"
#include "scheduler/error.h"
#include "scheduler/files.h"
#include "scheduler/limits.h"
#include "scheduler/sizing.h"
#include "scheduler/validate.h"
#include "scheduler/version.h"
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
Blob view_of(const std::vector<T>& v) {
  return Blob::view(v.data(), v.size() * sizeof(T));
}

nlohmann::json shape_entry(std::vector<int64_t> shape, const char* dtype) {
  return {{"shape", shape}, {"dtype", dtype}};
}

// Everything that decides a run: recorded in --json, in the --dump manifest, and read back by --replay.
struct RunConfig {
  Problem problem;
  Policy policy;
  InputOptions io;
  NumericModel model;
  bool ref_exact_p = false;
  float softmax_scale_option = 0;  // as given (0: the default 1/sqrt(192))
  float ref_softmax_scale = 0;     // the reference's, when not the kernel's (0: the kernel's)
};

nlohmann::json config_json(const RunConfig& c) {
  return {{"mlaps_version", std::string(kVersion)},
          {"problem", nlohmann::json::parse(problem_to_json_text(c.problem))},
          {"policy", std::string(c.policy.name())},
          {"seed", c.io.seed},
          {"encoding", encoding_name(c.io.encoding)},
          {"softmax_scale_option", c.softmax_scale_option},
          {"v_from_k", c.io.v_from_k},
          {"exact_p", !c.model.round_p_fp8},
          {"ref_exact_p", c.ref_exact_p},
          {"ref_softmax_scale_option", c.ref_softmax_scale}};
}

// The --dump folder: inputs, plan (upstream's metadata/ with problem.json), outputs and manifest.json.
std::vector<DirFile> run_dump_files(const RunConfig& c, const Plan& plan, const Capacity& cap,
                                    const AttnInputs& in, const RunBuffers& buf,
                                    const std::vector<Violation>& violations) {
  const Problem& p = c.problem;
  std::vector<DirFile> files;
  files.push_back({"q.bin", view_of(in.q)});
  files.push_back({"k.bin", view_of(in.k)});
  files.push_back({"v.bin", view_of(in.v)});
  files.push_back({"kv_page_indices.bin", view_of(in.kv_page_indices)});
  files.push_back({"qo_indptr.bin", view_of(p.qo_indptr)});
  files.push_back({"kv_indptr.bin", view_of(p.kv_indptr)});
  files.push_back({"seq_lens_kv.bin", view_of(p.context_lens)});
  files.push_back({"out.bin", view_of(buf.out)});
  files.push_back({"lse.bin", view_of(buf.final_lse)});
  const DumpRecord rec{p, c.policy, c.policy.traits().sizing, std::nullopt, std::nullopt};
  for (DirFile& f : aiter_dump_files(p, plan, cap, &rec)) {
    f.name = "metadata/" + f.name;
    files.push_back(std::move(f));
  }
  const int64_t T = p.num_tokens(), HQ = p.num_heads_q(), HK = p.num_heads_k, NP = in.num_pages;
  nlohmann::json m = config_json(c);
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
  m["block_size"] = p.block_size;
  m["num_cu"] = p.num_cu;
  m["num_pages"] = NP;
  m["plan_violations"] = violations.size();
  m["lse_base"] = "e";
  m["layout_note"] =
      "raw little-endian; kv_indptr indexes kv_page_indices; out/lse hold the final (reduced) state; "
      "metadata/ is upstream's --load_metadata format; `mlaps run --replay DIR` re-runs it";
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
  files.push_back({"manifest.json", Blob::copy(m.dump(2) + "\n")});
  return files;
}

// What a run will take, estimated before it starts from the problem and the plan.
struct Estimate {
  double flops = 0;  // prefill FLOPs (2 per multiply-add over QK^T and PV), once for the emulator
  double bytes = 0;  // peak memory of inputs, buffers, reference and comparison
  double seconds = 0;
};

// Rates measured on the 2-core AMD EPYC (Zen 3) development box (bench/README.md, 2026-11-27): the emulator
// runs at 17-103% of Eigen SGEMM (~15-85 GFLOP/s per thread), the float64 reference at 1.3-3.1x the
// emulator's time. The estimate takes rates from the slow end of those ranges.
constexpr double kEmulatorFlopsPerThread = 20e9;
constexpr double kReferenceFlopsPerThread = 10e9;

Estimate estimate_run(const Problem& p, const Plan& plan, int threads) {
  double pairs = 0;  // visible (query row, key) pairs per q head
  for (int32_t b = 0; b < p.batch(); ++b) {
    const double qo = p.qo_len(b), kv = p.kv_len(b);
    if (!p.causal) {
      pairs += qo * kv;
      continue;
    }
    // Row i sees min(kv, max(0, i + 1 + kv - qo)) keys.
    for (int64_t i = 0; i < static_cast<int64_t>(qo);) {
      const double seen = static_cast<double>(i) + 1 + kv - qo;
      if (seen <= 0) {  // rows that see nothing: skip to the first that sees a key
        i = static_cast<int64_t>(qo - kv);
        continue;
      }
      // From here on each row sees one more key, up to kv: an arithmetic series.
      const double rows = qo - static_cast<double>(i);
      const double last = std::min(kv, seen + rows - 1);
      const double full_from = kv - seen;  // rows until the count saturates at kv
      const double ramp = std::min(rows, full_from + 1);
      pairs += ramp * (seen + std::min(last, seen + ramp - 1)) / 2 + (rows - ramp) * kv;
      break;
    }
  }
  const double hq = p.num_heads_q(), t = p.num_tokens(), pages = p.num_used_pages(), hk = p.num_heads_k;
  Estimate e;
  e.flops = pairs * hq * 2.0 * (kQkHeadDim + kVHeadDim);
  const double prow = partial_rows_for(plan, p.tile_q);
  const double inputs = t * hq * kQkHeadDim + pages * hk * (kQkHeadDim + kVHeadDim) + pages * 4;
  const double quant_scratch = std::max(t * hq * kQkHeadDim, pages * hk * kQkHeadDim) * 4;
  const double buffers = t * hq * (kVHeadDim * 2 + 4) + prow * hq * (kVHeadDim + 1) * 4;
  const double reference = t * hq * (kVHeadDim + 1) * 8;
  const double compare = t * hq * (kVHeadDim + 1) * 9;
  const double plan_bytes = static_cast<double>(plan.work_info.size()) * sizeof(WorkInfo);
  e.bytes = inputs + quant_scratch + buffers + reference + compare + plan_bytes;
  const double th = std::max(1, threads);
  e.seconds = e.flops / (kEmulatorFlopsPerThread * th) + e.flops / (kReferenceFlopsPerThread * th);
  return e;
}

double machine_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? static_cast<double>(pages) * static_cast<double>(size) : 0.0;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  return fmt::format("{:.3g} {}", b, units[u]);
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

namespace {

// Reads a raw input file of a --replay folder, of exactly the size its manifest implies.
template <typename T>
std::vector<T> read_exact(const fs::path& dir, const char* name, size_t count) {
  const fs::path path = dir / name;
  const uint64_t want = uint64_t{count} * sizeof(T);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw InputError(path.string(), "missing (not a regular file)");
  const uint64_t have = fs::file_size(path, ec);
  if (ec || have != want) {
    throw InputError(path.string(), fmt::format("is {} bytes; the manifest's problem needs {}", have, want));
  }
  std::vector<T> v(count);
  std::ifstream f(path, std::ios::binary);
  if (!f || !f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(want))) {
    throw InputError(path.string(), "cannot read");
  }
  return v;
}

// The run configuration a --dump manifest records.
RunConfig config_from_manifest(const fs::path& dir, const nlohmann::json& m) {
  const std::string field = (dir / "manifest.json").string();
  RunConfig c;
  try {
    if (!m.contains("problem")) {
      throw InputError("problem", "missing: the dump was written by an mlaps older than --replay");
    }
    c.problem = problem_from_json_text(m.at("problem").dump());
    c.policy = policy_named(m.at("policy").get<std::string>(), "policy");
    c.io.seed = m.at("seed").get<uint64_t>();
    c.io.encoding = parse_encoding(m.at("encoding").get<std::string>());
    c.softmax_scale_option = m.at("softmax_scale_option").get<float>();
    c.io.softmax_scale = c.softmax_scale_option;
    c.io.v_from_k = m.at("v_from_k").get<bool>();
    c.model.round_p_fp8 = !m.at("exact_p").get<bool>();
    c.model.encoding = c.io.encoding;
    c.ref_exact_p = m.at("ref_exact_p").get<bool>();
    c.ref_softmax_scale = m.value("ref_softmax_scale_option", 0.0f);  // absent before issue 13
  } catch (const InputError& e) {
    throw InputError(field, e.what());
  } catch (const nlohmann::json::exception& e) {
    throw InputError(field, std::string("missing or mistyped key: ") + e.what());
  }
  return c;
}

// Prints a phase's start and end (with its time) on a terminal; silent otherwise.
class Phase {
 public:
  Phase(const char* name, bool enabled) : name_(name), enabled_(enabled) {
    if (enabled_) std::fprintf(stderr, "mlaps: %s ...\n", name_);
    start_ = std::chrono::steady_clock::now();
  }
  ~Phase() {
    if (enabled_) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      std::fprintf(stderr, "mlaps: %s done in %.2f s\n", name_, s);
    }
  }

 private:
  const char* name_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

void add_run_command(CLI::App& root, CommandRunner& runner) {
  auto* app = root.add_subcommand(
      "run",
      "random fp8 inputs -> plan -> emulated prefill + reduce (poisoned buffers) -> compare with float64");
  struct Opts {
    ProblemArgs a;
    std::string seed = "0";
    std::string encoding = num::fp8_encoding_name(num::Fp8Encoding::kE4M3FN), dump, heatmap, replay;
    float softmax_scale = 0, ref_softmax_scale = 0;
    bool v_from_k = false, json = false, quiet = false, exact_p = false, ref_exact_p = false, force = false;
    int threads = 0;
    double memory_limit_gib = 0;
  };
  auto o = std::make_shared<Opts>();
  o->a.add_to(*app, false);
  app->add_option("--seed", o->seed, "random seed of the inputs, in [0, 2^64)")->capture_default_str();
  app->add_option("--encoding", o->encoding, "fp8 encoding: e4m3fn (gfx950) | e4m3fnuz (gfx942)")
      ->capture_default_str();
  app->add_option("--softmax-scale", o->softmax_scale, "softmax scale (default 1/sqrt(192))");
  app->add_option("--ref-softmax-scale", o->ref_softmax_scale,
                  "the float64 reference's softmax scale (default: the kernel's, --softmax-scale): a kernel "
                  "run at one scale against the truth at another (ledger softmax_scale_default)");
  app->add_flag("--v-from-k", o->v_from_k, "V = first 128 dims of K, as upstream's test builds it");
  app->add_flag("--exact-p", o->exact_p, "model: keep P in fp32 for P.V (default: P rounded to fp8)");
  app->add_flag(
      "--ref-exact-p", o->ref_exact_p,
      "reference: never round P (default: round P to fp8 whenever the model does, as upstream's fp8 "
      "reference branch can; rows that see few keys otherwise miss 0.05 by fp8 P alone)");
  app->add_option("--threads", o->threads,
                  "emulator threads (default 0: OpenMP's; at most 4x the hardware's)");
  app->add_flag("--json", o->json, "print one JSON object instead of the table");
  app->add_flag("--quiet", o->quiet, "no progress lines");
  app->add_option("--dump", o->dump,
                  "write inputs, plan, outputs and manifest.json into DIR (new or empty; see --force)");
  app->add_option("--heatmap", o->heatmap, "draw max |output error| per (row bucket, head) into FILE.svg");
  app->add_option(
      "--replay", o->replay,
      "re-run a --dump folder: the recorded problem, options and inputs; compares plan, inputs and "
      "outputs with the recorded ones");
  app->add_option("--memory-limit", o->memory_limit_gib,
                  "refuse a run estimated to need more GiB than this (default: the machine's memory)");
  app->add_flag(
      "--force", o->force,
      "run beyond the memory limit; write --dump into a folder holding other files (left untouched)");
  runner.on(app, [o, app]() -> int {
    const bool replay = !o->replay.empty();
    if (replay) {
      for (const char* f : {"--qo-lens",
                            "--kv-lens",
                            "--problem",
                            "--workload",
                            "--heads",
                            "--gqa",
                            "--num-cu",
                            "--causal",
                            "--no-causal",
                            "--block-size",
                            "--tile-q",
                            "--tile-kv",
                            "--policy",
                            "--seed",
                            "--encoding",
                            "--softmax-scale",
                            "--v-from-k",
                            "--exact-p",
                            "--ref-exact-p",
                            "--allow-causal-qo-gt-kv",
                            "--ref-softmax-scale",
                            kNeedLseFlag,
                            kNoNeedLseFlag}) {
        if (app->count(f)) {
          throw InputError(f, "cannot be combined with --replay (the dump's manifest records every option)");
        }
      }
    }
    const int threads = checked_threads("--threads", o->threads);
    if (app->count("--memory-limit") && !(o->memory_limit_gib > 0 && std::isfinite(o->memory_limit_gib))) {
      throw InputError("--memory-limit", "must be a positive number of GiB");
    }
    // Outputs first: every path is checked before anything runs or is written.
    OutputSet out_check;
    if (!o->dump.empty())
      out_check.add_dir("--dump", o->dump, {{"manifest.json", {}}, {"q.bin", {}}}, o->force);
    if (!o->heatmap.empty()) out_check.add_file("--heatmap", o->heatmap, {});
    out_check.check();

    RunConfig cfg;
    nlohmann::json manifest;
    if (replay) {
      const fs::path mpath = fs::path(o->replay) / "manifest.json";
      try {
        manifest = nlohmann::json::parse(read_file_bounded("--replay", mpath, kMaxProblemFileBytes));
      } catch (const nlohmann::json::exception& e) {
        throw InputError(mpath.string(), std::string("invalid JSON: ") + e.what());
      }
      cfg = config_from_manifest(o->replay, manifest);
    } else {
      cfg.problem = o->a.problem(*app);
      cfg.policy = o->a.parsed_policy();
      cfg.io.seed = parse_seed("--seed", o->seed);
      cfg.io.encoding = parse_encoding(o->encoding);
      if (app->count("--softmax-scale") && !(o->softmax_scale > 0 && std::isfinite(o->softmax_scale))) {
        throw InputError("--softmax-scale", "must be a positive finite number");
      }
      if (app->count("--ref-softmax-scale") &&
          !(o->ref_softmax_scale > 0 && std::isfinite(o->ref_softmax_scale))) {
        throw InputError("--ref-softmax-scale", "must be a positive finite number");
      }
      cfg.ref_softmax_scale = o->ref_softmax_scale;
      cfg.softmax_scale_option = o->softmax_scale;
      cfg.io.softmax_scale = o->softmax_scale;
      cfg.io.v_from_k = o->v_from_k;
      cfg.model.encoding = cfg.io.encoding;
      cfg.model.round_p_fp8 = !o->exact_p;
      cfg.ref_exact_p = o->ref_exact_p;
    }
    const Problem& p = cfg.problem;
    const Policy policy = cfg.policy;
    if (p.block_size != 1) {
      throw InputError(
          app->count("--block-size") ? "--block-size" : "block_size",
          fmt::format("{}: `mlaps run` emulates the kernel with one token per K/V page (block size "
                      "1); plan and check take any block size",
                      p.block_size));
    }
    const bool show = !o->quiet && !o->json && isatty(fileno(stderr)) != 0;

    Plan plan;
    {
      Phase ph("plan", show);
      plan = make_plan(p, policy);
    }
    const Capacity cap = policy_capacity(policy, SizingInputs::from_problem(p));
    ValidateOptions vo;
    vo.contract = policy;
    vo.capacity = cap;
    const std::vector<Violation> violations = validate(p, plan, vo);

    const int eff_threads =
        threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const Estimate est = estimate_run(p, plan, eff_threads);
    const double limit =
        app->count("--memory-limit") ? o->memory_limit_gib * 1073741824.0 : machine_memory_bytes();
    if (!o->quiet && !o->json) {
      std::fprintf(stderr,
                   "mlaps: estimate: %.3g GFLOP, %s of memory, ~%.2g s on %d thread(s) (emulator + float64 "
                   "reference; limit %s)\n",
                   est.flops / 1e9, human_bytes(est.bytes).c_str(), est.seconds, eff_threads,
                   human_bytes(limit).c_str());
    }
    if (limit > 0 && est.bytes > limit && !o->force) {
      throw InputError(
          app->count("--memory-limit") ? "--memory-limit" : "problem",
          fmt::format("the run needs ~{} of memory (inputs, buffers, float64 reference), more than the "
                      "{} limit ({}); give --force to run anyway, or a smaller problem",
                      human_bytes(est.bytes), human_bytes(limit),
                      app->count("--memory-limit") ? "--memory-limit" : "this machine's memory"));
    }

    AttnInputs in;
    {
      Phase ph("inputs", show);
      in = make_random_inputs(p, cfg.io);
    }
    // Replay: the recorded plan and inputs, compared with what the recorded options produce now.
    std::vector<std::string> replay_report;
    bool replay_ok = true;
    Plan run_plan = plan;
    if (replay) {
      const fs::path dir = o->replay;
      AiterDump d = read_aiter_dump(dir / "metadata");
      require_safe_structure(d.plan, p.num_cu, (dir / "metadata").string());
      d.plan.policy = std::string(policy.name());
      d.plan.reduce = policy.traits().reduce;
      const bool same_plan = d.plan == plan;
      replay_ok &= same_plan;
      replay_report.push_back(
          same_plan ? "plan        identical to the recorded metadata/"
                    : "plan        DIFFERS from the recorded metadata/ (running the recorded one)");
      run_plan = std::move(d.plan);
      AttnInputs rec = in;
      rec.q = read_exact<uint8_t>(dir, "q.bin", in.q.size());
      rec.k = read_exact<uint8_t>(dir, "k.bin", in.k.size());
      rec.v = read_exact<uint8_t>(dir, "v.bin", in.v.size());
      rec.kv_page_indices = read_exact<int32_t>(dir, "kv_page_indices.bin", in.kv_page_indices.size());
      try {
        rec.q_scale = manifest.at("q_scale").get<float>();
        rec.k_scale = manifest.at("k_scale").get<float>();
        rec.v_scale = manifest.at("v_scale").get<float>();
        rec.softmax_scale = manifest.at("softmax_scale").get<float>();
      } catch (const nlohmann::json::exception& e) {
        throw InputError((dir / "manifest.json").string(),
                         std::string("missing or mistyped scale: ") + e.what());
      }
      const bool same_inputs = rec.q == in.q && rec.k == in.k && rec.v == in.v &&
                               rec.kv_page_indices == in.kv_page_indices && rec.q_scale == in.q_scale &&
                               rec.k_scale == in.k_scale && rec.v_scale == in.v_scale &&
                               rec.softmax_scale == in.softmax_scale;
      replay_ok &= same_inputs;
      replay_report.push_back(
          same_inputs
              ? fmt::format("inputs      identical to seed {}'s", cfg.io.seed)
              : fmt::format("inputs      DIFFER from seed {}'s (running the recorded ones)", cfg.io.seed));
      in = std::move(rec);
    }

    RunBuffers buf;
    buf.allocate(p.num_tokens(), p.num_heads_q(), partial_rows_for(run_plan, p.tile_q));
    buf.poison();
    {
      Phase ph("prefill (emulated)", show);
      Progress prog("prefill", !show);
      const PrefillParams pp = make_prefill_params(p, run_plan, in, buf, cfg.model);
      emulate_prefill(pp, threads, prog.enabled() ? &Progress::callback : nullptr, &prog);
    }
    {
      Phase ph("reduce (emulated)", show);
      const ReduceParams rp = make_reduce_params(run_plan, buf);
      emulate_reduce(rp, threads);
    }
    if (replay) {
      const fs::path dir = o->replay;
      const auto out_rec = read_exact<uint16_t>(dir, "out.bin", buf.out.size());
      const auto lse_rec = read_exact<float>(dir, "lse.bin", buf.final_lse.size());
      size_t diff_out = 0, diff_lse = 0;
      for (size_t i = 0; i < out_rec.size(); ++i) diff_out += out_rec[i] != buf.out[i];
      for (size_t i = 0; i < lse_rec.size(); ++i) {
        diff_lse += std::memcmp(&lse_rec[i], &buf.final_lse[i], sizeof(float)) != 0;
      }
      replay_ok &= diff_out == 0 && diff_lse == 0;
      replay_report.push_back(
          diff_out == 0 && diff_lse == 0
              ? std::string("outputs     bit-identical to the recorded out.bin and lse.bin")
              : fmt::format("outputs     DIFFER: {} of {} out.bin and {} of {} lse.bin elements", diff_out,
                            out_rec.size(), diff_lse, lse_rec.size()));
    }

    RefOptions ro;
    ro.round_p_fp8 = cfg.model.round_p_fp8 && !cfg.ref_exact_p;
    ro.softmax_scale = cfg.ref_softmax_scale;
    ro.num_threads = threads;
    RefResult ref;
    {
      Phase ph("reference (float64)", show);
      ref = reference_attention(reference_inputs(p, in), ro);
    }
    const FinalState fin = final_state_from_buffers(buf);
    // need_lse = false: the direct-write tiles' LSE is not promised (validate.h); reported on its own line.
    const std::vector<uint8_t> not_promised = lse_not_promised(p, run_plan);
    const CompareResult cmp = compare_final(ref, fin, {}, not_promised);
    const bool pass = cmp.pass && violations.empty() && replay_ok;

    int32_t direct = 0;
    for (const auto& w : run_plan.work_info) direct += w.partial_o_loc == -1;
    OutputSet outputs;
    if (!o->dump.empty()) {
      outputs.add_dir("--dump", o->dump, run_dump_files(cfg, run_plan, cap, in, buf, violations), o->force);
    }
    if (!o->heatmap.empty()) {
      int rows = 0;
      const auto grid = error_grid(ref, fin, 128, rows);
      double vmax = 0;
      for (double v : grid) {
        if (std::isfinite(v)) vmax = std::max(vmax, v);
      }
      outputs.add_file("--heatmap", o->heatmap,
                       Blob::copy(heatmap_svg(
                           fmt::format("mlaps run: max |output error| vs float64, policy {}", policy.name()),
                           grid, rows, p.num_heads_q(), "query-row bucket", "q head", std::max(vmax, 1e-6))));
    }
    outputs.commit();
    const std::string ledger = ledger_lookup(p, run_plan, violations);

    if (o->json) {
      nlohmann::json j = config_json(cfg);
      j["pass"] = pass;
      j["reference_p"] = ro.round_p_fp8 ? "fp8" : "exact";
      j["isa_path"] =
          isa_path_name(selected_isa_path());  // the emulator's instruction-set path (sim/emulate.h)
      j["estimate"] = {{"gflop", est.flops / 1e9},
                       {"memory_bytes", est.bytes},
                       {"seconds", est.seconds},
                       {"threads", eff_threads}};
      j["unwritten_output"] = cmp.unwritten.output;
      j["unwritten_lse"] = cmp.unwritten.lse;
      j["lse_not_promised"] = cmp.lse_not_promised;
      j["output"] = {
          {"max_abs_err", cmp.output.max_abs_err}, {"mismatch_fraction", cmp.output.mismatch_fraction},
          {"mismatches", cmp.output.mismatches},   {"elements", cmp.output.elements},
          {"atol", cmp.options.out_atol},          {"rtol", cmp.options.out_rtol}};
      j["lse"] = {{"max_abs_err", cmp.lse.max_abs_err},
                  {"compared", cmp.lse.compared},
                  {"mask_mismatch", cmp.lse.mask_mismatch},
                  {"bound", cmp.options.lse_atol}};
      j["plan"] = {{"works", run_plan.num_works()},
                   {"direct_write_works", direct},
                   {"reduce_entries", run_plan.num_reduce_entries()},
                   {"query_tiles", make_query_tiles(p).size()}};
      auto& arr = j["violations"] = nlohmann::json::array();
      for (const auto& v : violations) arr.push_back({{"invariant", v.invariant}, {"detail", v.detail}});
      j["ledger"] = ledger.empty() ? nlohmann::json(nullptr) : nlohmann::json(ledger);
      if (replay) {
        j["replay"] = {{"dir", o->replay}, {"identical", replay_ok}, {"report", replay_report}};
      }
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << fmt::format("mlaps run: policy {}, {} sequences, {} q heads, {} CUs, {}, {}, seed {}{}\n",
                               policy.name(), p.batch(), p.num_heads_q(), p.num_cu,
                               p.causal ? "causal" : "non-causal", encoding_name(cfg.io.encoding),
                               cfg.io.seed, replay ? fmt::format(" (replay of {})", o->replay) : "");
      for (const auto& line : replay_report) std::cout << "  " << line << "\n";
      std::cout << fmt::format(
          "  plan        {} works ({} direct-write, pol -1), {} reduce entries, {} query tiles\n",
          run_plan.num_works(), direct, run_plan.num_reduce_entries(), make_query_tiles(p).size());
      if (!violations.empty()) {
        std::map<std::string, int> counts;
        for (const auto& v : violations) counts[v.invariant]++;
        std::string list;
        for (const auto& [k, n] : counts) list += fmt::format(" {} x{};", k, n);
        std::cout << fmt::format("  violations  {} of the {} contract:{} first: {}\n", violations.size(),
                                 policy.name(), list, format_violation(violations.front()));
        if (!ledger.empty()) std::cout << "  known upstream defect: " << ledger << "\n";
      }
      std::cout << fmt::format("  unwritten   output {} (row, head) pairs, final LSE {} (row, head) pairs\n",
                               cmp.unwritten.output, cmp.unwritten.lse);
      if (!p.need_lse) {
        std::cout << fmt::format(
            "  LSE not promised  {} (row, head) pairs of direct-write tiles left without final LSE "
            "(need_lse = false)\n",
            cmp.lse_not_promised);
      }
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
      std::string verdict = "PASS";
      if (!pass) {
        verdict = cmp.pass ? "FAIL:" : cmp.summary();
        if (!violations.empty())
          verdict += fmt::format(" plan breaks {} invariant(s) of its contract;", violations.size());
        if (!replay_ok) verdict += " replay differs from the recording;";
      }
      std::cout << verdict << "\n";
    }
    return pass ? 0 : 1;
  });
}

}  // namespace mlaps::cli
