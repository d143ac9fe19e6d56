#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace mlaps::cli {

Progress::Progress(std::string label, bool quiet)
    : label_(std::move(label)), enabled_(!quiet && isatty(fileno(stderr)) != 0) {
  start_ = last_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  if (printed_) std::fprintf(stderr, "\n");
}

void Progress::update(int64_t done, int64_t total) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double rate = secs > 0 ? static_cast<double>(done) / secs : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total - done) / rate : 0.0;
  std::fprintf(stderr, "\r%s: %lld/%lld work items (%.0f%%), %.1f items/s, ETA %.1f s   ", label_.c_str(),
               static_cast<long long>(done), static_cast<long long>(total),
               total > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0, rate, eta);
  printed_ = true;
}

}  // namespace mlaps::cli
