#!/usr/bin/env bash
# CTest report.eval_cli: `aha eval` on a tiny run's checkpoint prints the eval table, then as its
# last line one JSON object with pass@1, unbiased pass@k' (eval.pass_at = [1, 2, 4]), maj@k and
# the per-task figures; a k' past eval.samples is refused with exit 2 before any model loads.
# Usage: scripts/test_eval_cli.sh AHA_BINARY BUILD_DIR
set -euo pipefail
aha=$1 build=$2
here=$(cd "$(dirname "$0")" && pwd)
dir=$build/report-tests/eval-run
bash "$here/report_test_run.sh" "$aha" "$dir"
out=$dir.eval.out
"$aha" eval "$dir/config.toml" --checkpoint "$dir/checkpoint" > "$out"
cat "$out"
/usr/bin/python3 - "$out" "$dir/report.json" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
last = json.loads(lines[-1])
assert set(last["pass_at_k"]) == {"1", "2", "4"}, last["pass_at_k"]
assert last["samples"] == 4 and last["k"] == 4
assert abs(last["pass_at_k"]["1"] - last["pass_at_1"]) < 1e-12
assert last["pass_at_k"]["1"] <= last["pass_at_k"]["2"] <= last["pass_at_k"]["4"]  # pass@k grows with k
assert "arithmetic" in last["by_task"] and set(last["by_task"]["arithmetic"]["pass_at_k"]) == {"1", "2", "4"}
header = [l for l in lines if l.split() == ["task", "prompts", "pass@1", "pass@2", "pass@4", "maj@4"]]
assert header, "no table header in: " + "\n".join(lines)
report = json.load(open(sys.argv[2]))
assert set(report["eval"]["after_grpo"]["pass_at_k"]) == {"1", "2", "4"}
print("aha eval: table and JSON line as expected")
PY
if "$aha" eval "$dir/config.toml" --checkpoint "$dir/checkpoint" --set 'eval.pass_at=[1, 8]' 2> "$dir.refused.err"; then
  echo "aha eval accepted eval.pass_at = [1, 8] with eval.samples = 4"; exit 1
fi
grep -q "eval.pass_at = 8" "$dir.refused.err" || { echo "unclear refusal:"; cat "$dir.refused.err"; exit 1; }
echo "aha eval: pass_at past samples refused: $(cat "$dir.refused.err")"
