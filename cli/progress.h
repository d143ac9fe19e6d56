#pragma once
// Progress lines on a terminal (work items done, rate, ETA); silent with --quiet or when stderr is no TTY.
#include <chrono>
#include <cstdint>
#include <string>

namespace mlaps::cli {

class Progress {
 public:
  Progress(std::string label, bool quiet);
  ~Progress();
  void update(int64_t done, int64_t total);
  // Adapter for sim's ProgressFn.
  static void callback(int64_t done, int64_t total, void* self) {
    static_cast<Progress*>(self)->update(done, total);
  }
  bool enabled() const { return enabled_; }

 private:
  std::string label_;
  bool enabled_;
  bool printed_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace mlaps::cli
