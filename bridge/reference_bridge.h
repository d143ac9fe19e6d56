#pragma once
// The one adapter between the executors' types and the float64 reference's neutral ones: a problem and its
// fp8 inputs (scheduler/problem.h, sim/tensors.h) become a RefInputs (reference/reference.h), a run's
// poisoned output buffers become a FinalState (reference/compare.h). The reference itself includes nothing of
// sim/ or of the scheduler's types; every caller (cli, conformance, chunked, python, bench, the tests)
// converts here.
#include "reference/compare.h"
#include "reference/reference.h"
#include "scheduler/problem.h"
#include "sim/numerics.h"
#include "sim/tensors.h"

namespace mlaps {

RefFp8 ref_format(num::Fp8Encoding e);

// Views of `in`'s codes and page indices (keep `in` alive for the reference call), the problem's lengths,
// the softmax scale resolved (resolve_softmax_scale: the one default). InputError on a problem the reference
// cannot take: block_size != 1 (one key per page, contract 2.5.5), or indptrs inconsistent with the lengths.
RefInputs reference_inputs(const Problem& p, const AttnInputs& in);

// A run's final buffers (bf16 output, fp32 LSE) as doubles; poison bits mark unwritten elements.
FinalState final_state_from_buffers(const RunBuffers& buf);

// compare_final(ref, final_state_from_buffers(buf), opt, lse_not_promised): `mlaps run`, conformance and
// the properties.
CompareResult compare_run(const RefResult& ref, const RunBuffers& buf, const CompareOptions& opt = {},
                          std::span<const uint8_t> lse_not_promised = {});

}  // namespace mlaps
