#!/usr/bin/env bash
# A tiny whole run for the report tests (CTest report.tensorboard_reader, report.html_screenshot):
# the built-in tiny model on arithmetic, a few SFT and GRPO steps, an eval of 4 samples with
# pass@1/2/4, then `aha report` over it as a user would. A few seconds on two cores.
# Usage: scripts/report_test_run.sh AHA_BINARY RUN_DIR   (RUN_DIR is replaced)
set -euo pipefail
aha=$1 dir=$2
rm -rf "$dir"
mkdir -p "$(dirname "$dir")"
config=$(mktemp --suffix=.toml)
trap 'rm -f "$config"' EXIT
cat > "$config" <<'TOML'
[run]
seed = 3
threads = 1
max_wall = "5m"
[prompts.dataset]
tasks = ["arithmetic"]
eval_size = 8
[generator]
group_size = 4
prompts_per_batch = 2
max_new_tokens = 16
[sft]
steps = 4
batch_size = 8
[grpo.learner]
steps = 4
groups_per_step = 2
checkpoint_every = 2
[eval]
prompts = 4
samples = 4
temperature = 1.0
pass_at = [1, 2, 4]
max_new_tokens = 16
[metrics]
progress = false
TOML
"$aha" train "$config" --set "run.dir=$dir" > "$dir.train.out" 2> "$dir.train.log" || {
  echo "aha train failed:"; tail -30 "$dir.train.log"; exit 1; }
"$aha" report "$dir"
