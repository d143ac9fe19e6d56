#!/usr/bin/env bash
# Formatting check (CI): every tracked C++/HIP file is formatted as the committed .clang-format says.
# Fix with: git ls-files -z '*.cpp' '*.h' '*.hip' | xargs -0 clang-format -i
# Environment: CLANG_FORMAT (default clang-format; Debian 12's is clang-format-14).
# Exit status: 0 clean, 1 a file differs (clang-format names it and the line), 2 clang-format missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cf=${CLANG_FORMAT:-clang-format}
command -v "$cf" >/dev/null || { echo "format-check: $cf not found (apt-get install clang-format)" >&2; exit 2; }
files=$(git ls-files '*.cpp' '*.h' '*.hip' '*.cu' '*.cuh' | wc -l)
if git ls-files -z '*.cpp' '*.h' '*.hip' '*.cu' '*.cuh' | xargs -0 "$cf" --dry-run -Werror; then
  echo "format-check: $files files clean ($("$cf" --version | head -1))"
else
  echo "format-check: files above differ from .clang-format" >&2
  exit 1
fi
