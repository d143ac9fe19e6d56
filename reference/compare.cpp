#include "reference/compare.h"

#include <cmath>
#include <string>

#include <fmt/format.h>

#include "scheduler/error.h"  // InputError only: the project's error type (header only, no scheduler code)

namespace mlaps {

const char* anomaly_name(Anomaly a) {
  switch (a) {
    case Anomaly::kFinite:
      return "finite";
    case Anomaly::kNegInf:
      return "-inf";
    case Anomaly::kPosInf:
      return "+inf";
    case Anomaly::kNaN:
      return "nan";
    case Anomaly::kUnwritten:
      return "unwritten";
  }
  return "?";
}

Anomaly classify(double x) {
  if (std::isnan(x)) return Anomaly::kNaN;
  if (std::isinf(x)) return x > 0 ? Anomaly::kPosInf : Anomaly::kNegInf;
  return Anomaly::kFinite;
}

CompareResult compare_final(const RefResult& ref, const FinalState& got, const CompareOptions& opt,
                            std::span<const uint8_t> lse_not_promised) {
  if (ref.num_tokens != got.num_tokens || ref.num_heads_q != got.num_heads)
    throw InputError("compare", "reference and executor shapes differ");
  const size_t n_lse = static_cast<size_t>(ref.num_tokens) * static_cast<size_t>(ref.num_heads_q);
  const size_t n_out = n_lse * kRefVDim;
  if (ref.out.size() != n_out || ref.lse_ln.size() != n_lse || got.out.size() != n_out ||
      got.lse_ln.size() != n_lse || got.out_unwritten.size() != n_out || got.lse_unwritten.size() != n_lse)
    throw InputError("compare", "buffer sizes disagree with num_tokens and num_heads");
  if (!lse_not_promised.empty() && lse_not_promised.size() != n_lse)
    throw InputError("compare", "the lse_not_promised mask has not one entry per (row, head)");
  const int32_t heads = ref.num_heads_q;
  auto loc = [heads](size_t th, int32_t dim) {
    return Location{static_cast<int32_t>(th / static_cast<size_t>(heads)),
                    static_cast<int32_t>(th % static_cast<size_t>(heads)), dim};
  };

  CompareResult res;
  res.options = opt;
  OutputMetrics& om = res.output;
  om.elements = static_cast<int64_t>(n_out);
  for (size_t th = 0; th < n_lse; ++th) {
    bool any_unwritten = false;
    for (int32_t d = 0; d < kRefVDim; ++d) {
      const size_t i = th * kRefVDim + static_cast<size_t>(d);
      if (got.out_unwritten[i]) {
        any_unwritten = true;
        ++om.mismatches;
        if (om.first_anomaly.row < 0) om.first_anomaly = loc(th, d);
        continue;
      }
      const double r = ref.out[i], o = got.out[i];
      const double err = std::fabs(r - o);
      const bool close = err <= opt.out_atol + opt.out_rtol * std::fabs(o);  // NaN compares false
      if (!close) ++om.mismatches;
      if (std::isfinite(r) && std::isfinite(o)) {
        if (err > om.max_abs_err || om.worst.row < 0) {
          om.max_abs_err = err;
          om.worst = loc(th, d);
        }
      } else {
        if (!std::isfinite(o)) ++om.nonfinite;
        if (!close && om.first_anomaly.row < 0) om.first_anomaly = loc(th, d);
      }
    }
    if (any_unwritten) ++res.unwritten.output;
  }
  om.mismatch_fraction =
      om.elements > 0 ? static_cast<double>(om.mismatches) / static_cast<double>(om.elements) : 0;

  LseMetrics& lm = res.lse;
  for (size_t th = 0; th < n_lse; ++th) {
    if (got.lse_unwritten[th]) {
      ++(!lse_not_promised.empty() && lse_not_promised[th] ? res.lse_not_promised : res.unwritten.lse);
      continue;
    }
    const Anomaly ca = classify(ref.lse_ln[th]), cb = classify(got.lse_ln[th]);
    if (ca != cb) {
      ++lm.mask_mismatch;
      if (ca == Anomaly::kFinite) ++lm.ref_finite_out_nonfinite;
      if (cb == Anomaly::kFinite) ++lm.ref_nonfinite_out_finite;
      if (lm.first_anomaly.row < 0) lm.first_anomaly = loc(th, -1);
      continue;
    }
    if (ca != Anomaly::kFinite) continue;  // same anomaly on both sides (e.g. an empty row: -inf, -inf)
    ++lm.compared;
    const double err = std::fabs(ref.lse_ln[th] - got.lse_ln[th]);
    if (err > lm.max_abs_err || lm.worst.row < 0) {
      lm.max_abs_err = err;
      lm.worst = loc(th, -1);
    }
  }

  const bool lse_ok = res.unwritten.lse == 0 && lm.max_abs_err <= opt.lse_atol &&
                      (!opt.require_lse_mask_match || lm.mask_mismatch == 0);
  res.pass = res.unwritten.output == 0 && om.mismatches == 0 && lse_ok;
  res.within_warning_band =
      res.unwritten.output == 0 && om.mismatch_fraction <= kWarningBandFraction && lse_ok;
  return res;
}

std::string CompareResult::summary() const {
  // fmt, not an ostringstream: {:g} is the stream's default double format (6 significant digits). The
  // Python module crashed in ostream's num_put here inside a Python 3.12 venv process (H200 host, GCC 13).
  std::string s = fmt::format(
      "{}: unwritten output {}, lse {}; output mismatch {}/{} ({:g}), max_abs_err {:g} at ({},{},{}), "
      "nonfinite {}; lse max_abs_err {:g} at ({},{}) over {}, mask mismatch {}",
      pass ? "PASS" : "FAIL", unwritten.output, unwritten.lse, output.mismatches, output.elements,
      output.mismatch_fraction, output.max_abs_err, output.worst.row, output.worst.head, output.worst.dim,
      output.nonfinite, lse.max_abs_err, lse.worst.row, lse.worst.head, lse.compared, lse.mask_mismatch);
  if (lse_not_promised > 0) s += fmt::format("; lse not promised (need_lse = false) {}", lse_not_promised);
  return s;
}

}  // namespace mlaps
