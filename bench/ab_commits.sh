#!/usr/bin/env bash
# A/B of the whole pipeline at two commits, runs alternating (the machines are
# noisy: alternating spreads the noise over both sides), no cache, the taxi
# data or a CSV folder (e.g. .bench/scale/data-300000, from bench/scale_data.py).
#   bash bench/ab_commits.sh OLD_REV NEW_REV [ROUNDS [DATA_DIR]]
# Prints each run's wall time and its Beam steps', trainer's and evaluator's times.
set -euo pipefail
old=$1 new=$2 rounds=${3:-2} data=${4:+$(realpath "$4")}
top=$(git rev-parse --show-toplevel)
python="$top/.venv/bin/python"
work=$(mktemp -d)
trap 'git -C "$top" worktree remove --force "$work/old"; git -C "$top" worktree remove --force "$work/new"; rm -rf "$work"' EXIT
git -C "$top" worktree add -q "$work/old" "$old"
git -C "$top" worktree add -q "$work/new" "$new"
for round in $(seq "$rounds"); do
  for side in old new; do
    start=$(date +%s.%N)
    # The worktree is the current folder, so its packages shadow the installed ones.
    (cd "$work/$side" && "$python" -m pipeline.cli run --no-cache --home "$work/home-$side-$round" ${data:+--data "$data"} \
      > "$work/$side-$round.out" 2>&1)
    end=$(date +%s.%N)
    times=$(grep -E '^\[(CsvExampleGen|StatisticsGen|Transform|MultiHeadTrainer|MultiHeadEvaluator)\] done' "$work/$side-$round.out" | tr '\n' ' ')
    printf '%s (%s) round %s: %.1f s; %s\n' "$side" "$(git -C "$top" rev-parse --short "${!side}")" \
      "$round" "$(echo "$end - $start" | bc)" "$times"
  done
done
