#pragma once
// Batch invariance (issue 15): does a request's result depend on its batch-mates? Each request of a batch
// is emulated alone (a problem of that one sequence, same heads, CUs, tiles, inputs and scales) and
// co-batched, under a policy; its output and final-LSE bits are compared. A PS plan's KV split of a tile,
// and so its partials and their merge, can depend on the rest of the batch (upstream's TG quota is the
// batch's total units / TGs); a batch-invariant policy's cannot.
#include <cstdint>
#include <string>
#include <vector>

#include "scheduler/planning_costs.h"
#include "scheduler/policy.h"
#include "scheduler/problem.h"
#include "sim/model.h"
#include "sim/tensors.h"

namespace mlaps {

struct InvarianceRow {
  int32_t seq = 0;                               // the request's index in the batch
  int32_t qo = 0, kv = 0;                        // its lengths
  int32_t pieces_alone = 0, pieces_batched = 0;  // its tiles' partials (reduce list lengths), summed
  int64_t output_bits_changed = 0;               // (row, head, dim) elements whose bf16 bits differ
  int64_t lse_bits_changed = 0;                  // (row, head) final-LSE entries whose bits differ
  double max_output_diff = 0;                    // largest |alone - batched|, output (inf: one is not finite)
  double max_lse_diff = 0;                       // the same, final LSE (equal infinities: 0)
  bool invariant() const { return output_bits_changed == 0 && lse_bits_changed == 0; }
};

struct InvarianceReport {
  std::string policy;
  std::vector<InvarianceRow> rows;  // one per request
  int64_t requests_changed = 0;     // requests with any bit changed
  double max_output_diff = 0, max_lse_diff = 0;
};

// The request `b` of p alone: the same problem with only that sequence (its pages keep their indices).
Problem single_request(const Problem& p, int32_t b);
// The inputs of that request alone: its Q rows, the same K/V pages and scales, its page indices.
AttnInputs single_request_inputs(const Problem& p, const AttnInputs& in, int32_t b);

// Emulates p co-batched and every request alone under `policy` (planned for `costs`; nullptr: the default
// profile's) with the same inputs, and compares. num_threads as simulate().
InvarianceReport batch_invariance(const Problem& p, const AttnInputs& in, Policy policy,
                                  const NumericModel& model, int num_threads = 0,
                                  const PlanningCosts* costs = nullptr);

}  // namespace mlaps
