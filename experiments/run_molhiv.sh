#!/usr/bin/env bash
# The ogbg-molhiv rows of docs/results.md, exactly as run (CPU, one intra-op thread each).
# Offline data: plstm-geometric prepare ogbg-molhiv --csv ../shared/datasets/moleculenet/HIV.csv --root data
# MODELS selects which of the three to run (the results were produced by two such queues).
set -euo pipefail
export OMP_NUM_THREADS=1
PG="${PG:-plstm-geometric}"
EPOCHS="${EPOCHS:-10}"
for model in ${MODELS:-plstm gine-vn gin-vn}; do
  case $model in
    plstm) args="--model plstm" ;;
    gine-vn) args="--model gine --virtual-node" ;;
    gin-vn) args="--model gin --virtual-node" ;;
  esac
  $PG train --dataset ogbg-molhiv $args --epochs "$EPOCHS" --batch-size 64 --lr 1e-3 \
    --root data --out runs/ogbg-molhiv-$model --no-download --no-progress --resume
done
