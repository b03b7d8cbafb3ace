#!/usr/bin/env bash
# The ogbg-molhiv rows of docs/results.md, exactly as run (CPU, one intra-op thread each).
# Offline data: plstm-geometric prepare ogbg-molhiv --csv ../shared/datasets/moleculenet/HIV.csv --root data
# MODELS selects which to run; the results came from two parallel queues:
#   MODELS=plstm experiments/run_molhiv.sh   and   MODELS=gine-vn EPOCHS=10 experiments/run_molhiv.sh
# pLSTM builds its line DAGs per mini-batch (--line-dag on-the-fly): caching them graph by graph
# would have taken ~45 CPU-minutes on this machine.
set -euo pipefail
export OMP_NUM_THREADS=1
PG="${PG:-plstm-geometric}"
EPOCHS="${EPOCHS:-5}"
for model in ${MODELS:-plstm gine-vn gin-vn}; do
  case $model in
    plstm) args="--model plstm --line-dag on-the-fly" ;;
    gine-vn) args="--model gine --virtual-node" ;;
    gin-vn) args="--model gin --virtual-node" ;;
  esac
  $PG train --dataset ogbg-molhiv $args --epochs "$EPOCHS" --batch-size 64 --lr 1e-3 \
    --root data --out runs/ogbg-molhiv-$model --no-download --no-progress --resume
done
