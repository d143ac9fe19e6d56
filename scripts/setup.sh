#!/usr/bin/env bash
# Installs what mlaps needs from Debian's packages (only what is missing), then configures and builds.
# Usage: scripts/setup.sh [preset]   (default preset: default; see CMakePresets.json)
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"

# What each package is for: see README "Dependencies".
pkgs=(cmake ninja-build g++ libgtest-dev libgmock-dev libbenchmark-dev libeigen3-dev librapidcheck-dev
      nlohmann-json3-dev libcli11-dev libfmt-dev libomp-dev python3-dev pybind11-dev python3-numpy python3-pytest)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
