// Plans the #3606 seed shape through an installed mlaps, validates it, emulates a small problem and compares
// it with the float64 reference. Prints one line per step; exits 1 on any failure.
#include <cstdio>

#include "bridge/reference_bridge.h"
#include "scheduler/policy.h"
#include "scheduler/validate.h"
#include "scheduler/version.h"
#include "sim/emulate.h"

int main() {
  using namespace mlaps;
  const Problem p =
      Problem::from_lengths({8, 8}, {1200, 1200}, /*heads*/ 16, /*causal*/ false, /*num_cu*/ 256);
  const Plan plan = make_plan(p, default_policy());
  const auto violations = validate(p, plan);
  std::printf("mlaps %.*s: %d works, %d reduce entries, %zu violations\n", static_cast<int>(kVersion.size()),
              kVersion.data(), plan.num_works(), plan.num_reduce_entries(), violations.size());

  const Problem small = Problem::from_lengths({5}, {300}, 2, true, 8);
  const Plan sp = make_plan(small, default_policy());
  const AttnInputs in = make_random_inputs(small, {});
  const SimRun run = simulate(small, sp, in, NumericModel{});
  const CompareResult cmp = compare_run(reference_attention(reference_inputs(small, in)), run.buffers);
  std::printf("emulated vs reference: %s\n", cmp.summary().c_str());
  return violations.empty() && plan.num_works() > 0 && cmp.pass ? 0 : 1;
}
