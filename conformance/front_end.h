#pragma once
// The one command-line front end of GPU conformance, shared by `mlaps conformance` and the standalone
// mlaps-gpu-conformance: the same options, defaults, help texts and checks in both.
#include "conformance/conformance.h"

namespace CLI {
class App;
}

namespace mlaps::conformance {

// Registers every option of ConformanceOptions on `app`; parsing writes into `o` (which must outlive `app`).
void add_options(CLI::App& app, ConformanceOptions& o);
// Throws InputError naming the flag when a parsed value is out of range.
void check_options(const ConformanceOptions& o);

// The standalone program: parses argv with add_options, checks, runs. Exit codes as run_conformance; a bad
// command line is 2 with "<program>: error: <flag>: <constraint>".
int main_with_args(int argc, char** argv);

}  // namespace mlaps::conformance
