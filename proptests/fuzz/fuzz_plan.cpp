// libFuzzer target (a): bytes -> problem -> make_plan (both policies) -> validate (+ emulate and compare with
// the float64 reference when tiny). Crashes and sanitizer reports are failures; so is any violation that
// the upstream-defects ledger does not explain (abort with the reproducing command line).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/flags.h"
#include "ledger/ledger.h"
#include "proptests/fuzz/fuzz_codec.h"
#include "reference/compare.h"
#include "reference/reference.h"
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

void check(const Problem& p, Policy policy, Policy contract, SizingFormula formula, const char* what) {
  ValidateOptions opt;
  opt.contract = contract;
  opt.capacity = compute_capacity(SizingInputs::from_problem(p), formula);
  const Plan plan = make_plan(p, policy);
  const auto v = unexplained_violations(p, validate(p, plan, opt));
  if (!v.empty()) finding(what, p, policy, v);
}

void emulate_and_compare(const Problem& p) {
  const Plan plan = make_plan(p, Policy::kAiter);
  InputOptions io;
  io.seed = static_cast<uint64_t>(p.num_tokens()) * 7919u + static_cast<uint64_t>(p.num_used_pages());
  const AttnInputs in = make_random_inputs(p, io);
  const NumericModel model{};
  const SimRun run = simulate(p, plan, in, model, 1);
  int64_t expect = 0;
  for (const QTile& t : predicted_unscheduled_tiles(p)) expect += t.qo_end - t.qo_start;
  expect *= p.num_heads_q();
  if (run.unwritten.output != expect || run.unwritten.lse != expect) {
    finding("unwritten rows differ from the ledger's prediction", p, Policy::kAiter, {});
  }
  if (expect != 0) return;
  // As the end-to-end property (proptests/prop_e2e_test.cpp): strict against the reference that rounds P as
  // the model does; against upstream's unrounded reference, upstream's own band (rows with few visible keys
  // legitimately differ by fp8 P there: a mismatch fraction up to 0.05 is upstream's "warning", not a
  // failure).
  RefOptions ro;
  ro.num_threads = 1;
  ro.round_p_fp8 = model.round_p_fp8;
  const CompareResult same_p = compare_run(reference_attention(p, in, ro), run.buffers);
  if (!same_p.pass) {
    std::fprintf(stderr, "  vs the reference with the model's P rounding: %s\n", same_p.summary().c_str());
    finding("emulator vs reference outside the model's bounds", p, Policy::kAiter, {});
  }
  ro.round_p_fp8 = false;
  const CompareResult up = compare_run(reference_attention(p, in, ro), run.buffers);
  if (!up.within_warning_band) {
    std::fprintf(stderr, "  vs upstream's unrounded reference: %s\n", up.summary().c_str());
    finding("emulator vs upstream's unrounded reference beyond upstream's warning band", p, Policy::kAiter,
            {});
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
  try {
    // The post-fix policy against the post-fix contract and buffers.
    check(p, Policy::kAiter, Policy::kAiter, SizingFormula::kPr3606,
          "aiter plan violates the aiter contract");
    // The legacy policy against its own (pre-fix) contract and buffers.
    check(p, Policy::kAiterLegacy, Policy::kAiterLegacy, SizingFormula::kLegacy,
          "aiter-legacy plan violates the pre-fix contract");
    // Cross checks: only the recorded defects may show (legacy -1 tiles; the old formula's overflow).
    check(p, Policy::kAiterLegacy, Policy::kAiter, SizingFormula::kPr3606,
          "aiter-legacy plan breaks the aiter contract beyond the -1 fast path");
    check(p, Policy::kAiter, Policy::kAiter, SizingFormula::kLegacy,
          "aiter plan overflows the pre-#3606 buffers beyond the recorded sizing defect");
    if (d.emulate && p.block_size == 1 && p.gqa_ratio == 1 && !p.allow_causal_qo_gt_kv &&
        fuzz::estimated_pairs(p) <= kMaxEmulatePairs &&
        (int64_t{p.num_tokens()} * p.num_heads_q() * 192 +
         int64_t{p.num_used_pages()} * p.num_heads_k * 320) <= kMaxEmulateCodes) {
      emulate_and_compare(p);
    }
  } catch (const InputError& e) {
    // A problem validate_problem accepted must plan and run.
    std::fprintf(stderr, "InputError after validate_problem accepted the problem: %s\n", e.what());
    finding("make_plan/simulate rejected a valid problem", p, Policy::kAiter, {});
  }
  return 0;
}
