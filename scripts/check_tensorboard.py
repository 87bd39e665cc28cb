#!/usr/bin/env python3
"""Reads a run's tb/<stage>/ event files with TensorBoard's own reader (EventAccumulator) and checks
that every scalar of metrics.jsonl is there under its name, stage and step, with its value (as
float32), and wall time. Usage: check_tensorboard.py RUN_DIR. Exit 0 on success, 1 with the
differences. Run by scripts/test_tensorboard_reader.sh (CTest report.tensorboard_reader)."""
import json
import math
import os
import sys

from tensorboard.backend.event_processing import event_accumulator


def stage_of(line):  # as report/run_files.cpp's stage_of
    keys = list(line)
    if any(k.startswith("sft/") for k in keys):
        return "sft"
    if any(k.startswith("grpo/") or k.startswith("learner/") for k in keys):
        return "grpo"
    return "run"


def expected_scalars(run_dir):
    """(stage, tag) -> {step: (value, wall_time)}; a later line of the same step wins."""
    want = {}
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            stage = stage_of(record)
            for key, value in record.items():
                if key in ("step", "time") or not isinstance(value, (int, float)) or not math.isfinite(value):
                    continue
                want.setdefault((stage, key), {})[record["step"]] = (float(value), record["time"])
    return want


def main():
    run_dir = sys.argv[1]
    want = expected_scalars(run_dir)
    if not want:
        print("metrics.jsonl has no scalars"); return 1
    accumulators = {}
    for stage in sorted({stage for stage, _ in want}):
        acc = event_accumulator.EventAccumulator(os.path.join(run_dir, "tb", stage), size_guidance={"scalars": 0})
        acc.Reload()
        accumulators[stage] = acc
    problems, checked = [], 0
    for (stage, tag), steps in sorted(want.items()):
        acc = accumulators[stage]
        if tag not in acc.Tags()["scalars"]:
            problems.append(f"{stage}: tag {tag} missing"); continue
        got = {e.step: (e.value, e.wall_time) for e in acc.Scalars(tag)}
        for step, (value, wall_time) in steps.items():
            if step not in got:
                problems.append(f"{stage}/{tag}: step {step} missing"); continue
            if not math.isclose(got[step][0], value, rel_tol=1e-6, abs_tol=1e-30):
                problems.append(f"{stage}/{tag} step {step}: {got[step][0]} != {value}")
            if abs(got[step][1] - wall_time) > 1e-3:
                problems.append(f"{stage}/{tag} step {step}: wall time {got[step][1]} != {wall_time}")
            checked += 1
    for stage, acc in accumulators.items():
        if acc.file_version != 2.0:  # the reader keeps the number of "brain.Event:2"
            problems.append(f"{stage}: file_version {acc.file_version!r}, not brain.Event:2")
    for p in problems[:30]:
        print(p)
    print(f"{checked} scalars of metrics.jsonl checked in {len(accumulators)} TensorBoard runs "
          f"({', '.join(sorted(accumulators))}), {len(want)} tags: {len(problems)} problems")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
