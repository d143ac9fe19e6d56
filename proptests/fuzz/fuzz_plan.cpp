// libFuzzer target (a): bytes -> problem -> make_plan (every policy of the table) -> validate (+ emulate and
// compare with the float64 reference when tiny). Crashes and sanitizer reports are failures; so is any
// violation that the upstream-defects ledger does not explain (abort with the reproducing command line).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bridge/reference_bridge.h"
#include "cli/flags.h"
#include "ledger/ledger.h"
#include "proptests/fuzz/fuzz_codec.h"
#include "scheduler/error.h"
#include "scheduler/sizing.h"
#include "scheduler/validate.h"
#include "sim/emulate.h"
#include "sim/tensors.h"

namespace {

using namespace mlaps;

constexpr int64_t kMaxWorks = 1024;  // keeps an input around a millisecond under ASan
constexpr int64_t kMaxEmulatePairs = 4000;
constexpr int64_t kMaxEmulateCodes = 1 << 16;  // fp8 codes of Q, K and V (input generation dominates)

[[noreturn]] void finding(const char* what, const Problem& p, Policy policy,
                          const std::vector<Violation>& v) {
  std::fprintf(stderr, "\n==== mlaps fuzz finding: %s\n  reproduce: %s\n", what,
               cli::cli_command("check", p, policy).c_str());
  for (size_t i = 0; i < v.size() && i < 5; ++i)
    std::fprintf(stderr, "  %s\n", format_violation(v[i]).c_str());
  std::fprintf(stderr, "  problem json: %s\n", problem_to_json_text(p).c_str());
  std::abort();
}

// The plan's violations under `opt` that no ledger entry explains abort the run.
std::vector<Violation> check(const Problem& p, const Plan& plan, Policy policy, const ValidateOptions& opt,
                             const char* what) {
  auto all = validate(p, plan, opt);
  const auto v = unexplained_violations(p, all);
  if (!v.empty()) finding(what, p, policy, v);
  return all;
}

void emulate_and_compare(const Problem& p, const Plan& plan, Policy policy, int64_t expect) {
  InputOptions io;
  io.seed = static_cast<uint64_t>(p.num_tokens()) * 7919u + static_cast<uint64_t>(p.num_used_pages());
  const AttnInputs in = make_random_inputs(p, io);
  const NumericModel model{};
  const SimRun run = simulate(p, plan, in, model, 1);
  if (run.unwritten.output != expect || run.unwritten.lse != expect) {
    std::fprintf(stderr, "  unwritten output %lld, lse %lld; the plan leaves %lld (row, head) pairs\n",
                 static_cast<long long>(run.unwritten.output), static_cast<long long>(run.unwritten.lse),
                 static_cast<long long>(expect));
    finding("unwritten rows differ from the plan's unscheduled tiles", p, policy, {});
  }
  if (expect != 0) return;
  // As the end-to-end property (proptests/prop_e2e_test.cpp): strict against the reference that rounds P as
  // the model does; against upstream's unrounded reference, upstream's own band (rows with few visible keys
  // legitimately differ by fp8 P there: a mismatch fraction up to 0.05 is upstream's "warning", not a
  // failure).
  RefOptions ro;
  ro.num_threads = 1;
  ro.round_p_fp8 = model.round_p_fp8;
  const CompareResult same_p = compare_run(reference_attention(reference_inputs(p, in), ro), run.buffers);
  if (!same_p.pass) {
    std::fprintf(stderr, "  vs the reference with the model's P rounding: %s\n", same_p.summary().c_str());
    finding("emulator vs reference outside the model's bounds", p, policy, {});
  }
  ro.round_p_fp8 = false;
  const CompareResult up = compare_run(reference_attention(reference_inputs(p, in), ro), run.buffers);
  if (!up.within_warning_band) {
    std::fprintf(stderr, "  vs upstream's unrounded reference: %s\n", up.summary().c_str());
    finding("emulator vs upstream's unrounded reference beyond upstream's warning band", p, policy, {});
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Decoded d;
  try {
    d = fuzz::decode_problem(data, size);
    validate_problem(d.problem);
  } catch (const InputError&) {
    return 0;  // not a problem upstream can take
  }
  const Problem& p = d.problem;
  if (fuzz::estimated_works(p) > kMaxWorks) return 0;
  const bool emulate = d.emulate && p.block_size == 1 && p.gqa_ratio == 1 && !p.allow_causal_qo_gt_kv &&
                       fuzz::estimated_pairs(p) <= kMaxEmulatePairs &&
                       (int64_t{p.num_tokens()} * p.num_heads_q() * 192 +
                        int64_t{p.num_used_pages()} * p.num_heads_k * 320) <= kMaxEmulateCodes;
  Policy current;
  try {
    for (const PolicyDef& def : policies()) {  // every policy of the table
      const Policy policy(def);
      current = policy;
      const Plan plan = make_plan(p, policy);
      // Its own contract (the pre-fix one for a legacy-reduce policy) and deployed buffers.
      ValidateOptions own;
      own.contract = policy;
      check(p, plan, policy, own, "plan violates its policy's own contract");
      // The #3606 contract (every tile a reduce entry) in the PR #3606 buffers: only recorded defects may
      // show (a legacy policy's -1 tiles).
      ValidateOptions fixed;
      fixed.capacity = compute_capacity(SizingInputs::from_problem(p), SizingFormula::kPr3606);
      const auto v =
          check(p, plan, policy, fixed, "plan breaks the #3606 contract beyond the recorded defects");
      // Upstream's fixed row in the pre-#3606 buffers: only the recorded sizing defect may show.
      if (def.traits.upstream_shape && def.traits.reduce == ReduceVersion::kFixed) {
        ValidateOptions old = own;
        old.capacity = compute_capacity(SizingInputs::from_problem(p), SizingFormula::kLegacy);
        check(p, plan, policy, old, "plan overflows the pre-#3606 buffers beyond the recorded sizing defect");
      }
      if (emulate && def.traits.reduce == ReduceVersion::kFixed)
        emulate_and_compare(p, plan, policy, unscheduled_row_heads(p, v));
    }
  } catch (const InputError& e) {
    // A problem validate_problem accepted must plan and run.
    std::fprintf(stderr, "InputError after validate_problem accepted the problem: %s\n", e.what());
    finding("make_plan/simulate rejected a valid problem", p, current, {});
  }
  return 0;
}
