#!/usr/bin/env bash
# Sets up (Debian packages, configure, build) and runs every test with ctest.
# Usage: scripts/test.sh [--asan]   --asan: also build and run the tests under ASan + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh default
ctest --preset default
if [[ "${1:-}" == "--asan" ]]; then
  scripts/setup.sh asan
  # Properties run 25 cases each under the sanitizers (100 in the default run): ASan slows the emulator ~10x.
  RC_PARAMS="${RC_PARAMS:-max_success=25}" \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --preset asan
fi
