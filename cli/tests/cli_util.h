#pragma once
// Runs the built `mlaps` binary as a user does: a shell command line, stdout and stderr together.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace mlaps_cli_test {

namespace fs = std::filesystem;

struct Result {
  int code;
  std::string out;  // stdout + stderr
};

// Runs a shell command line; its stdout (and whatever the line redirects there) and its exit status.
inline Result run_shell(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

// `prefix` runs before the binary in the same shell (e.g. "cd DIR &&").
inline Result mlaps(const std::string& args, const std::string& prefix = "") {
  return run_shell(prefix + " " + std::string(MLAPS_BIN) + " " + args + " 2>&1");
}

inline fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("mlaps_cli_test_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  return d;
}

inline std::string slurp(const fs::path& f) {
  std::ifstream in(f, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void spit(const fs::path& f, const std::string& s) {
  std::ofstream(f, std::ios::binary | std::ios::trunc) << s;
}

// Small analogue of the seed scenario: one TG absorbs each tile whole, so the legacy policy writes -1.
inline const char* kSmallSeed = "--qo-lens 8x4 --kv-lens 300x4 --heads 2 --num-cu 8 --no-causal";

}  // namespace mlaps_cli_test
