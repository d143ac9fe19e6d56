#pragma once
// A workload made ready to emulate: its plan (aiter policy), random inputs and poisoned buffers, lowered to
// the parameter structs once. Cached per workload, so Google Benchmark's repeated calls of a benchmark
// function do not redo the set-up.
#include <memory>

#include "bench/common.h"
#include "sim/emulate.h"
#include "sim/tensors.h"

namespace mlaps::bench {

struct Prepared {
  const BenchWorkload* workload = nullptr;
  Plan plan;
  AttnInputs inputs;
  NumericModel model;
  RunBuffers buffers;  // never moved after the params below point into it
  PrefillParams prefill{};
  ReduceParams reduce{};
  bool partials_ready = false;  // the prefill ran once, so the reduce reads real partials
};

// The workload's prepared state (built on first use, kept for the process).
Prepared& prepared(const BenchWorkload& w);

// Runs the prefill once so the partial buffers hold what the reduce would read.
void ensure_partials(Prepared& p);

}  // namespace mlaps::bench
