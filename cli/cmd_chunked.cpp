// `mlaps chunked`: vLLM's chunked prefill with cached context on the emulated kernels (chunked/chunked.h).
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "chunked/chunked.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "scheduler/error.h"
#include "scheduler/limits.h"

namespace mlaps::cli {

num::Fp8Encoding parse_encoding(const std::string& s);
const char* encoding_name(num::Fp8Encoding e);

void add_chunked_command(CLI::App& root, CommandRunner& runner) {
  auto* app = root.add_subcommand(
      "chunked", "vLLM chunked prefill: context chunks (non-causal) + new tokens (causal), merged by LSE");
  struct Opts {
    std::string new_lens, ctx_lens, policy = std::string(default_policy().name()),
                                    encoding = num::fp8_encoding_name(num::Fp8Encoding::kE4M3FN);
    int chunk_size = 0, heads = 1, gqa = 1, num_cu = 256, threads = 0;
    std::string seed = "0";
    double garbage_lse = 0.0;
    bool json = false, need_lse = true;
  };
  auto o = std::make_shared<Opts>();
  app->add_option("--new-lens", o->new_lens, "new tokens per sequence (LEN or LENxCOUNT list)")->required();
  app->add_option("--ctx-lens", o->ctx_lens, "cached context tokens per sequence (same form)")->required();
  app->add_option("--chunk-size", o->chunk_size, "context tokens per chunk (vLLM's max_context_chunk)")
      ->required();
  app->add_option("--heads", o->heads, "K heads")->capture_default_str();
  app->add_option("--gqa", o->gqa, "q heads per K head")->capture_default_str();
  app->add_option("--num-cu", o->num_cu, "CU count")->capture_default_str();
  app->add_option("--policy", o->policy, "scheduling policy: " + policy_names(" | ") + " (`mlaps policies`)")
      ->capture_default_str();
  app->add_option("--seed", o->seed, "random seed, in [0, 2^64)")->capture_default_str();
  app->add_option("--encoding", o->encoding, "e4m3fn | e4m3fnuz")->capture_default_str();
  app->add_option("--garbage-lse", o->garbage_lse,
                  "what an unwritten final_lse entry reads as (torch.empty; default 0)")
      ->capture_default_str();
  app->add_option("--threads", o->threads, "emulator threads (default: OpenMP's)");
  add_need_lse_flags(*app, o->need_lse);
  app->add_flag("--json", o->json, "print one JSON object");
  runner.on(app, [o]() -> int {
    ChunkedProblem cp;
    cp.new_lens = parse_length_list("--new-lens", o->new_lens);
    cp.context_lens = parse_length_list("--ctx-lens", o->ctx_lens);
    if (cp.new_lens.size() != cp.context_lens.size()) {
      throw InputError("--ctx-lens", fmt::format("has {} sequences but --new-lens has {}; they must match",
                                                 cp.context_lens.size(), cp.new_lens.size()));
    }
    check_range("--chunk-size", o->chunk_size, 1, INT32_MAX);
    check_range("--heads", o->heads, 1, 0xFFFF);
    check_range("--gqa", o->gqa, 1, 0xFFFF);
    check_range("--num-cu", o->num_cu, 1, kMaxNumCu);
    checked_threads("--threads", o->threads);
    cp.chunk_size = o->chunk_size;
    cp.num_heads_k = o->heads;
    cp.gqa_ratio = o->gqa;
    cp.num_cu = o->num_cu;
    cp.need_lse = o->need_lse;
    try {
      chunked_num_chunks(cp);  // the problem's own checks, before any input is made
    } catch (const InputError& e) {
      if (e.field() != "need_lse") throw;
      throw InputError(kNoNeedLseFlag, e.what() + e.field().size() + 2);
    }
    ChunkedOptions opt;
    opt.policy = policy_named(o->policy, "--policy");
    opt.inputs.seed = parse_seed("--seed", o->seed);
    opt.inputs.encoding = parse_encoding(o->encoding);
    opt.model.encoding = opt.inputs.encoding;
    opt.garbage_lse = o->garbage_lse;
    opt.num_threads = o->threads;
    const ChunkedResult r = run_chunked(cp, opt);
    if (o->json) {
      nlohmann::json j;
      j["pass"] = r.pass;
      j["policy"] = o->policy;
      j["need_lse"] = cp.need_lse;
      j["garbage_changed_output"] = r.garbage_changed_output();
      j["garbage_entries"] = r.garbage_entries;
      j["garbage_max_abs_change"] = r.garbage_max_abs_change;
      j["output"] = {{"max_abs_err", r.merged.output.max_abs_err},
                     {"mismatch_fraction", r.merged.output.mismatch_fraction}};
      j["lse"] = {{"max_abs_err", r.merged.lse.max_abs_err}};
      j["output_if_written"] = {{"max_abs_err", r.merged_clean.output.max_abs_err},
                                {"mismatch_fraction", r.merged_clean.output.mismatch_fraction}};
      auto& parts = j["parts"] = nlohmann::json::array();
      for (const auto& part : r.parts) {
        parts.push_back({{"name", part.name},
                         {"works", part.num_works},
                         {"direct_write_works", part.num_direct_works},
                         {"reduce_entries", part.num_reduce_entries},
                         {"unwritten_output", part.unwritten.output},
                         {"unwritten_lse", part.unwritten.lse},
                         {"lse_not_promised", part.lse_not_promised},
                         {"trailing_zero_kv_rows", part.trailing_zero_kv_rows}});
      }
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << fmt::format("mlaps chunked: policy {}, {} sequences, chunk {} tokens, {} parts\n",
                               o->policy, cp.new_lens.size(), cp.chunk_size, r.parts.size());
      std::cout << fmt::format("  {:<18} {:>7} {:>8} {:>8} {:>16} {:>14} {:>10}\n", "part", "works", "pol -1",
                               "reduce", "unwritten out", "unwritten lse", "zero-kv");
      for (const auto& part : r.parts) {
        std::cout << fmt::format("  {:<18} {:>7} {:>8} {:>8} {:>16} {:>14} {:>10}\n", part.name,
                                 part.num_works, part.num_direct_works, part.num_reduce_entries,
                                 part.unwritten.output, part.unwritten.lse, part.trailing_zero_kv_rows);
      }
      std::cout << fmt::format(
          "  merged vs float64: output max |err| {:.3g}, mismatch fraction {:.3g}; LSE max "
          "|err| {:.3g}\n",
          r.merged.output.max_abs_err, r.merged.output.mismatch_fraction, r.merged.lse.max_abs_err);
      std::cout << fmt::format(
          "  had every entry been written: output max |err| {:.3g}, mismatch fraction {:.3g}\n",
          r.merged_clean.output.max_abs_err, r.merged_clean.output.mismatch_fraction);
      std::cout << fmt::format(
          "  garbage: {} unwritten entries read as LSE {}, changed {} output elements (max "
          "change {:.3g})\n",
          r.garbage_entries, o->garbage_lse, r.garbage_changed_elements, r.garbage_max_abs_change);
      std::cout << (r.pass ? std::string("PASS") : r.summary()) << "\n";
    }
    return r.pass ? 0 : 1;
  });
}

}  // namespace mlaps::cli
