#!/usr/bin/env bash
# The main job on the built-in example (the #3606 seed scenario: 16 sequences of 8 new tokens over 1200 tokens
# of context, 16 heads, non-causal, 256 CUs), under the pre-fix and the fixed policy, side by side.
# Sets up first (Debian packages, configure, build). Pictures go to build/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh default
mlaps=build/default/cli/mlaps
out=build/demo
rm -rf "$out" && mkdir -p "$out"
seed=(--qo-lens 8x16 --kv-lens 1200x16 --heads 16 --no-causal --num-cu 256)
status=0
for policy in aiter-legacy aiter; do
  echo "=================== policy $policy ==================="
  "$mlaps" plan "${seed[@]}" --policy "$policy" --svg "$out/plan-$policy.svg" | sed -n 1,2p
  echo "--- mlaps check (the #3606 contract: every scheduled tile has a reduce entry)"
  "$mlaps" check "${seed[@]}" --policy "$policy" | tail -n 3 || true
  echo "--- mlaps run (emulated fp8 prefill + reduce on poisoned buffers vs float64)"
  rc=0
  "$mlaps" run "${seed[@]}" --policy "$policy" --heatmap "$out/error-$policy.svg" || rc=$?
  # The legacy policy must fail (unwritten final LSE); the fixed one must pass.
  if [[ "$policy" == aiter-legacy && $rc -ne 1 ]] || [[ "$policy" == aiter && $rc -ne 0 ]]; then status=1; fi
done
echo
echo "pictures: $out/plan-aiter-legacy.svg $out/plan-aiter.svg $out/error-aiter-legacy.svg $out/error-aiter.svg"
exit $status
