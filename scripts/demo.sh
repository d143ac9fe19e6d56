#!/usr/bin/env bash
# The main job on the built-in example (the #3606 seed scenario: 16 sequences of 8 new tokens over 1200 tokens
# of context, 16 heads, non-causal, 256 CUs), under every policy of the table (`mlaps policies`), side by side.
# Sets up first (Debian packages, configure, build). Pictures go to build/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh default
mlaps=build/default/cli/mlaps
out=build/demo
rm -rf "$out" && mkdir -p "$out"
seed=(--qo-lens 8x16 --kv-lens 1200x16 --heads 16 --no-causal --num-cu 256)
status=0
pictures=()
# Every policy of the table (`mlaps policies`: the name, then "reduce legacy|fixed", ...).
while read -r policy _ reduce _; do
  echo "=================== policy $policy ==================="
  "$mlaps" plan "${seed[@]}" --policy "$policy" --svg "$out/plan-$policy.svg" | sed -n 1,2p
  echo "--- mlaps check (the #3606 contract: every scheduled tile has a reduce entry)"
  "$mlaps" check "${seed[@]}" --policy "$policy" | tail -n 3 || true
  echo "--- mlaps run (emulated fp8 prefill + reduce on poisoned buffers vs float64)"
  rc=0
  "$mlaps" run "${seed[@]}" --policy "$policy" --heatmap "$out/error-$policy.svg" || rc=$?
  # A policy of the legacy reduce must fail (unwritten final LSE, #3606); every other must pass.
  if [[ "$reduce" == legacy && $rc -ne 1 ]] || [[ "$reduce" != legacy && $rc -ne 0 ]]; then status=1; fi
  pictures+=("$out/plan-$policy.svg" "$out/error-$policy.svg")
done < <("$mlaps" policies | awk '$2 == "reduce"')
echo
[[ ${#pictures[@]} -gt 0 ]] || { echo "mlaps policies listed no policy"; status=1; }
echo "pictures: ${pictures[*]}"
exit $status
