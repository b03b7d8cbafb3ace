#!/usr/bin/env bash
# Tuning arms of issue 11 point 4 (validation decides), run on 2026-12-01 (second session) on the
# 2-core machine, one thread per process, beside speed work (load stated in docs/results.md).
# QUEUE=molhiv: ogbg-molhiv pLSTM with the molhiv setting --head-norm batch plus dropout 0.2
# (GINE+VN runs at 0.5, pLSTM at 0), the shared 10-epoch budget, 3 seeds.
# QUEUE=tu: TU arms of PLSTMNet's pooling (sum, as the TU GIN baselines pool).
set -euo pipefail
export OMP_NUM_THREADS=1
PG="${PG:-plstm-geometric}"
COMMON="--root data --no-download --no-progress --resume"
case "${QUEUE:?set QUEUE}" in
  molhiv)
    $PG train --dataset ogbg-molhiv --model plstm --head-norm batch --dropout 0.2 --epochs 10 --batch-size 64 --lr 1e-3 --seeds 3 --out runs/ogbg-molhiv-plstm-hn-d02 $COMMON ;;
  tu)
    $PG train --dataset MUTAG --model plstm --pool sum --epochs 100 --batch-size 64 --lr 1e-3 --out runs/MUTAG-plstm-e100-sum $COMMON
    $PG train --dataset PTC_FM --model plstm --pool sum --epochs 30 --batch-size 64 --lr 1e-3 --out runs/PTC_FM-plstm-sum $COMMON ;;
  *) echo "unknown QUEUE=$QUEUE" >&2; exit 2 ;;
esac
