#pragma once
// Comparison of an executor's final output / LSE with the float64 reference: the metrics of `mlaps run`,
// conformance and the property tests. Anomaly masks (unwritten / NaN / +inf / -inf) are compared first,
// values only where both sides are finite (STYLE.md item 6).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "reference/reference.h"

namespace mlaps {

// The class of one value. kUnwritten: the executor never wrote it (FinalState's masks; bridge/ reads them off
// the executors' poison patterns).
enum class Anomaly : uint8_t { kFinite, kNegInf, kPosInf, kNaN, kUnwritten };
const char* anomaly_name(Anomaly a);
Anomaly classify(double x);  // never kUnwritten: unwritten-ness comes from the buffer's bits

// The mismatch fraction upstream's test still reports as a warning, not a failure.
inline constexpr double kWarningBandFraction = 0.05;

struct CompareOptions {
  // upstream checkAllclose for the output: close iff |ref - out| <= atol + rtol * |out| (relative to the
  // kernel output), NaN never close (contract 6.4).
  double out_atol = 0.05;
  double out_rtol = 0.05;
  // The merged #3606 PR's LSE bound: atol 0.03, rtol 0, over entries where the reference is finite.
  double lse_atol = 0.03;
  // Also require the LSE anomaly masks to agree (reference -inf where the executor wrote a finite value,
  // NaN or +inf, and vice versa). Not part of upstream's check; on by default.
  bool require_lse_mask_match = true;
};

struct Location {
  int32_t row = -1, head = -1, dim = -1;  // dim is -1 for LSE locations; -1 everywhere: none
};

struct OutputMetrics {
  int64_t elements = 0;          // num_tokens * num_heads * 128
  int64_t mismatches = 0;        // elements not close (unwritten and NaN included)
  double mismatch_fraction = 0;  // mismatches / elements (upstream's checkAllclose number)
  double max_abs_err = 0;        // over elements where both sides are finite and written
  Location worst;                // the element of max_abs_err
  int64_t nonfinite = 0;         // written output elements that are NaN or inf
  Location first_anomaly;        // first (row-major) unwritten or non-finite mismatch, if any
};

struct LseMetrics {
  int64_t compared = 0;                  // entries where reference and executor are both finite
  double max_abs_err = 0;                // over those entries
  Location worst;                        // row, head of max_abs_err
  int64_t mask_mismatch = 0;             // written entries whose anomaly class differs from the reference's
  int64_t ref_finite_out_nonfinite = 0;  // of mask_mismatch: reference finite, executor -inf/+inf/NaN
  int64_t ref_nonfinite_out_finite = 0;  // of mask_mismatch: reference -inf (empty row), executor finite
  Location first_anomaly;                // first mask mismatch, if any
};

// (row, head) pairs left unwritten.
struct UnwrittenPairs {
  int64_t output = 0;  // output rows with any unwritten element
  int64_t lse = 0;     // LSE entries unwritten
};

struct CompareResult {
  CompareOptions options;  // the tolerances this result was judged by (reports print these)
  OutputMetrics output;
  LseMetrics lse;
  UnwrittenPairs unwritten;
  // LSE entries left unwritten where the plan does not promise them (lse_not_promised: need_lse = false,
  // direct-write tiles); not in unwritten.lse, and no failure.
  int64_t lse_not_promised = 0;
  // Nothing unwritten, no output mismatch, LSE max abs err <= lse_atol, and (by default) LSE masks agree.
  bool pass = false;
  // upstream's "warning" band (test_mla_prefill_ps.py against its unrounded reference): all that `pass` asks,
  // except that up to kWarningBandFraction of the output elements may miss checkAllclose (rows that see few
  // keys carry fp8 P's rounding into O).
  bool within_warning_band = false;
  std::string summary() const;  // one line, for logs and test failure messages
};

// An executor's final state as doubles, with explicit unwritten masks (1 = never written).
struct FinalState {
  int32_t num_tokens = 0, num_heads = 0;
  std::vector<double> out;             // [num_tokens, num_heads, 128]
  std::vector<double> lse_ln;          // [num_tokens, num_heads]
  std::vector<uint8_t> out_unwritten;  // [num_tokens, num_heads, 128]
  std::vector<uint8_t> lse_unwritten;  // [num_tokens, num_heads]
};

// The comparison itself. `lse_not_promised` (empty, or one byte per LSE entry: validate.h's
// lse_not_promised): an unwritten LSE entry marked there is counted in lse_not_promised instead of failing;
// a written one is compared as any other. Throws InputError on shape disagreement. (bridge/: FinalState from
// a run's buffers, and compare_run.)
CompareResult compare_final(const RefResult& ref, const FinalState& got, const CompareOptions& opt = {},
                            std::span<const uint8_t> lse_not_promised = {});

}  // namespace mlaps
