#!/usr/bin/env bash
# The collapse check on full ogbg-molhiv (docs/results.md, "Collapse study"): pLSTM at lr 1e-3,
# a 10-epoch cosine schedule stopped after epoch 2 (so the lr stays near 1e-3), then the
# per-layer diagnostic of the epoch-2 model. Usage: experiments/run_collapse_molhiv.sh ARM FLAGS...
# e.g. experiments/run_collapse_molhiv.sh qk --qk-norm
set -euo pipefail
arm=$1; shift
out=runs/collapse-hiv/$arm
mkdir -p runs/collapse-hiv experiments/results/collapse
python -m plstm_geometric train --dataset ogbg-molhiv --root data --no-download --epochs 10 \
  --lr 1e-3 --stop-after 2 --resume --out "$out" --no-progress "$@" >> "$out.log" 2>&1
python experiments/diagnose_collapse.py --checkpoint "$out/seed0/last.pt" --root data \
  --json "experiments/results/collapse/diag-hiv-$arm-epoch2.json"
cp "$out/seed0/metrics.csv" "experiments/results/collapse/hiv-$arm-metrics.csv"
