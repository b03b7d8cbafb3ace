#!/usr/bin/env bash
# The collapse study's A/B arms (docs/results.md, "Collapse study"): pLSTM layer variants on
# ESOL and FreeSolv (scaffold split), 30 epochs, CLI defaults otherwise; one run at a time,
# one thread. Usage: experiments/run_collapse_arms.sh SEEDS DATASETS... (e.g. 1 esol freesolv)
# --resume: a finished seed is skipped, so rerunning with more seeds only trains the new ones.
# ONLY="ref ref-qk" restricts the arms.
set -euo pipefail
seed_count=$1; shift
declare -A ARMS=(
  [torch]="--plstm-init torch"
  [ref]=""
  [ref-nonorm]="--plstm-norm none"
  [ref-gate]="--out-gate"
  [ref-qk]="--qk-norm"
  [ref-qk-nonorm]="--qk-norm --plstm-norm none"
  [ref-lr3e-4]="--lr 3e-4"
  [torch-nonorm]="--plstm-init torch --plstm-norm none"
  [qk-warmup0.1]="--qk-norm --warmup 0.1"
)
ORDER=(torch ref ref-nonorm ref-gate ref-qk ref-qk-nonorm ref-lr3e-4 torch-nonorm qk-warmup0.1)
if [ -n "${ONLY:-}" ]; then read -r -a ORDER <<< "$ONLY"; fi
mkdir -p runs/collapse
for ds in "$@"; do
  for arm in "${ORDER[@]}"; do
    out=runs/collapse/$ds-$arm
    # shellcheck disable=SC2086
    python -m plstm_geometric train --dataset "$ds" --epochs 30 --root data --no-download \
      --no-progress --out "$out" --resume --seeds "$seed_count" ${ARMS[$arm]} >> "$out.log" 2>&1 \
      || echo "FAILED $out"
  done
done
