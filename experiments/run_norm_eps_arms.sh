#!/usr/bin/env bash
# Norm-eps arms of issue 11 (third session, 2026-12-01): PLSTMNet(norm_eps=1e-2) /
# --plstm-norm-eps 1e-2, the lead of the node-wise collapse (a closed layer's tiny kernel output
# stays small instead of being scaled to unit size). One thread per process, two queues side by
# side on the 2-core machine.
# QUEUE=molhiv: ogbg-molhiv with the molhiv setting --head-norm batch, 3 seeds, stopped after
# epoch 2 for the collapse diagnostic of every seed, then resumed to the shared 10 epochs and
# diagnosed again (records in experiments/results/collapse/diag-hiv-hn-eps1e-2-*).
# QUEUE=molhiv-vn: the same plus OGB's virtual node (PLSTMNet(virtual_node=True), as GINE+VN
# has), started beside QUEUE=molhiv once QUEUE=moleculenet had finished. It and QUEUE=molhiv-l3
# were stopped by hand after seed 0's 10 epochs (and diagnosed then), because seed 0's
# validation was below QUEUE=molhiv's seed 0 at every epoch from 2 on (docs/results.md, §6).
# QUEUE=tu4: the molhiv setting's norm eps on the TU sets' chosen arms (MUTAG --pool sum
# --head-norm batch, PTC_FM --dropout 0.5). QUEUE=moleculenet3: dropout 0.1 on top of the chosen
# --virtual-node, ESOL and FreeSolv.
# QUEUE=tu-seeds: a robustness check of the MUTAG tie (pLSTM's chosen arm 0.8515, GIN 0.8512):
# both again with training seeds 0-2 on the same 10 folds, GIN and pLSTM side by side.
# QUEUE=molhiv-h128 (fourth session): the chosen molhiv setting at width 128 (the best seed-0
# validation of QUEUE=molhiv-screen), all 3 seeds with both diagnostics (seed 0 re-run: the
# screen's folder was on another machine). QUEUE=tu5: PTC_FM arms on top of its chosen
# --dropout 0.5 --plstm-norm-eps 1e-2 (the init of the pre-fix row, width 64, lr 5e-4, 3
# blocks), then the chosen arm and the pre-fix row's model (--plstm-init torch --no-qk-norm, the
# one that had 0.6391) with training seeds 0-2 on the same folds, as tu-seeds did for MUTAG.
# QUEUE=molhiv-screen2: seed-0 screen of lr 3e-4 on top of width 128 (the untried lr lead), run
# as a third process beside molhiv-h128 and tu5.
# QUEUE=molhiv-graph: after molhiv-h128's epoch-2 diagnostic found seeds 0 and 1 collapsed again
# with open gates (kernel node-wise 0.52-0.72, after the per-node RMSNorm 0.007-0.02), the
# per-graph norm (--plstm-norm graph, one RMS per graph and head) in place of the per-node one,
# at width 128, with the same norm eps, 3 seeds and both diagnostics. QUEUE=graph-arms: the
# per-graph norm in place of the per-node one on each other family's chosen arm (PTC_FM, MUTAG,
# ESOL, FreeSolv), since a remedy that helps one family can hurt another.
# QUEUE=molhiv-graph96 / molhiv-wd: on the chosen width-96 molhiv setting, the per-graph norm in
# place of the per-node one, and AdamW weight decay 0.1 (default 0.01; the test gap is a
# transfer gap), side by side at the end of the fourth session.
# QUEUE=molhiv-graph-wd / molhiv-graph-l3 (fifth session): on the chosen molhiv setting (per-graph
# norm, width 96), weight decay 0.1 (the best validation mean of the fourth session, but with a
# collapsed layer under the per-node norm) and 3 blocks (deeper collapsed under the per-node norm;
# the per-graph norm removed the open-gate collapse), side by side. QUEUE=molhiv-graph-lr2e-3: lr
# 2e-3 on the same setting, as a third process (its seeds' best epochs were 8-10 of 10: still
# improving when the schedule ends). Both were stopped by hand after their epoch-2 diagnostics
# failed the no-collapse check (3 blocks: seed 2; lr 2e-3: seeds 1 and 2), which rules an arm
# out whatever its validation; QUEUE=molhiv-graph-warmup (warm-up 0.1, the one arm that met the
# molhiv collapse check in collapse study §1) and molhiv-graph-d01 (dropout 0.1: GINE+VN, which
# transfers better to the test scaffolds, trains with 0.5) took their places.
# QUEUE=molhiv-graph-sum: sum pooling (GIN's readout; it won MUTAG) on the same setting, started
# when the arrow-pointing rerun freed a core; stopped by hand after seed 0's 10 epochs (best
# validation 0.7473 against the chosen setting's seed 0 0.7759).
# QUEUE=molhiv-more-graph / molhiv-more-wd (sixth session): seeds 3 and 4 (--first-seed 3) of
# the two top molhiv settings of §7-§8 (the per-graph norm with and without weight decay 0.1),
# side by side, with both diagnostics: their 3-seed validation means were 0.0024 apart with a
# standard error of the difference of ~0.013, too close to decide on.
# QUEUE=molhiv-graph-ro: random-SMILES atom orders for the training graphs (--random-order,
# drawn at every step; evaluation keeps the canonical order) on the §7 setting: pLSTM, unlike a
# GNN, depends on the DAG orientation, and its validation-test gap on molhiv is a transfer gap.
# Started as a third process beside the two molhiv-more queues; after its epoch-2 diagnostic it
# was stopped and finished by QUEUE=molhiv-graph-ro-10, which runs one process per seed side by
# side (the molhiv queues run their seeds one after the other; --resume continues exactly, so
# the stops change no result; seeds 0 and 2 were stopped once more after epoch 3, when the
# queue went from two processes to three). QUEUE=moleculenet-ro: the same
# augmentation on the regression family's chosen --virtual-node (ESOL, FreeSolv, 3 seeds), so
# that it is not judged on one dataset; TU graphs have no SMILES. QUEUE=moleculenet-vn: the
# chosen --virtual-node rows again on today's code, the same-code reference for moleculenet-ro.
# QUEUE=molhiv-gb (seventh session): the closed-gate form of the remaining collapse failures
# (source and mark gates still at sigma(-5) = 0.0067 at epoch 2, an output that is the
# projection's bias) suggests starting the gates more open: --plstm-gate-bias GB (the initial
# bias of the S, M, D gates; default -5, the reference's) on the chosen molhiv setting. Seeds
# SEEDS one after the other (seed 4, the one that failed at -5, first), each to epoch 2 with
# its diagnostic, then to epoch 10 with its diagnostic; two queues (GB=-3, GB=-1) side by side.
# QUEUE=moleculenet-gb: the same gate bias GB on the regression family's chosen --virtual-node
# (ESOL, FreeSolv, 3 seeds), so that the option is not judged on one dataset.
# QUEUE=tu-gb (eighth session): the same gate bias GB on the TU sets' chosen settings (PTC_FM
# --dropout 0.5 --plstm-norm-eps 1e-2, 30 epochs; MUTAG --pool sum --head-norm batch
# --plstm-norm-eps 1e-2, 100 epochs; 10 folds each).
# QUEUE=molhiv-screen: seed-0 screens of the chosen molhiv setting at OGB's batch 32 and at
# width 128, side by side at the end of the session (leads for later; --seeds 3 --resume in the
# same folders adds seeds 1-2).
# QUEUE=molhiv-l3: 3 blocks with the head norm and norm eps 1e-2 (the 3-block arm without the
# eps had the best molhiv test mean but collapsed layers and a lower validation).
# QUEUE=moleculenet: ESOL and FreeSolv, 3 seeds, 30 epochs (a default must hold for them too).
# QUEUE=moleculenet2: MoleculeNet regression arms (ESOL is 0.005 behind chemprop on test): the
# virtual node, 3 blocks, lr 5e-4, sum pooling; ESOL and FreeSolv, 3 seeds each (a family
# setting must hold on both). Run beside the two molhiv queues (3 processes on 2 cores).
# QUEUE=tu: MUTAG arms on top of the chosen --pool sum --head-norm batch: the virtual node,
# 3 blocks; 10 folds, 100 epochs. QUEUE=tu2: PTC_FM, the virtual node on top of its chosen
# --dropout 0.5 (after moleculenet2 had the virtual node win both validation sets).
# QUEUE=tu3: MUTAG, after QUEUE=tu tied the chosen arm on validation with 3 blocks: regularised
# and smaller variants of --pool sum --head-norm batch (dropout 0.2 / 0.5, lr 5e-4, width 64).
# QUEUE=molhiv-local (ninth session): a local GINE layer beside each pLSTM layer, GraphGPS-style
# (--plstm-local gine), on the molhiv setting: pLSTM's test gap to GINE+VN is a transfer gap, and
# a GNN layer sees each bond in both directions whatever the DAG's orientation. Seeds of SEEDS
# (default 0 1 2) one after the other, each stopped after epoch 2 for the diagnostic; run as
# two queues side by side (SEEDS="0 2 4", SEEDS="1 3"); the first was stopped by hand when
# seed 4 started, since after seeds 0-3 it could not reach the setting's validation mean
# (docs/results.md, collapse study §11). QUEUE=moleculenet-local: the same layer
# on the regression family's --virtual-node setting, ESOL and FreeSolv, 3 seeds; QUEUE=tu-local
# on the TU sets' chosen arms (as tu-gb).
# QUEUE=molhiv-tb (tenth session): a shorter memory at init, --plstm-transition-bias TB (the
# initial transition bias of the P and D layers alike; the reference's 3 / 2 start with long
# memory, 0 starts every layer as one hop of gated message passing, as a GNN layer's receptive
# field grows by one hop per layer) on the molhiv setting: the transfer gap to GINE+VN may come
# from long-range path features that new scaffolds do not share. Seeds SEEDS (default 0 1 2 3
# 4) one after the other, each stopped after epoch 2 for the diagnostic; two queues (TB=0,
# TB=1) side by side. QUEUE=moleculenet-tb / tu-tb: the same TB on the other families' chosen
# settings (as moleculenet-gb / tu-gb). QUEUE=tu-tb-seeds: MUTAG's TB arm with training seeds
# 0-2 on the same 10 folds (as tu-seeds; seed 0's folds were copied from tu-tb's folder, whose
# command differs only in --seeds, so --resume runs seeds 1-2).
# QUEUE=molhiv-ema (twelfth session): the molhiv setting scored as an exponential moving average
# of its weights, --ema EMA (ModelEMA; 0.999 is a horizon of ~2 of the 515 steps per epoch):
# selection on validation is noisy epoch to epoch (best epochs 5-10), and an average of the late
# weights is a standard, model-agnostic answer. Seeds SEEDS (default 0 1 2 3 4) as molhiv-tb,
# two queues (SEEDS="0 1 2", SEEDS="3 4") side by side into one folder. QUEUE=moleculenet-ema:
# the same on the regression setting (--virtual-node), where 30 epochs are ~840 (ESOL) / ~300
# (FreeSolv) steps, so a decay of 0.99 (a horizon of ~100 steps) is the comparable one.
# QUEUE=molhiv-bn (twelfth session): the molhiv setting with BatchNorm in place of RMSNorm as the
# node norms (--plstm-block-norm batch: each block's four pre-norms and the norm before pooling),
# the norm OGB's GIN / GINE+VN put after every layer and GraphGPS chose for molecules. Seeds
# SEEDS (default 0 1 2 3 4) as molhiv-tb; seeds 0-2 in one folder, 3-4 in its -s34 folder.
# It was stopped after seeds 0 and 3 (validation far below; training loss lower: it fits faster);
# DROPOUT=0.5 (the dropout GINE+VN trains with) and DROPOUT=0.2 add --dropout to it, in folders
# ...-bn-d05 / ...-bn-d02, SEEDS="0" and SEEDS="3" side by side first (they ran as queues
# molhiv-bn-d05 / molhiv-bn-dropout, with the same commands). QUEUE=moleculenet-bn / tu-bn: --plstm-block-norm batch on the
# other families' chosen settings (ESOL / FreeSolv --virtual-node; MUTAG and PTC_FM at 100
# epochs), since it removed the node-wise collapse on molhiv.
# The whole queue is one { ...; exit; } group: bash parses it completely before running any of
# it, so editing this file while a queue runs cannot change the running queue (bash otherwise
# reads a script as it goes and runs whatever text lies at its old byte offset after an edit).
{
set -euo pipefail
export OMP_NUM_THREADS=1
PG="${PG:-plstm-geometric}"
PY="${PY:-python}"
COMMON="--root data --no-download --no-progress --resume"
molhiv_seeds() {  # molhiv_seeds OUT NAME FIRST COUNT FLAGS...: seeds FIRST..FIRST+COUNT-1 to
  # epoch 2, their diagnostics, on to epoch 10, their diagnostics. FLAGS come last, so that one
  # of them (--lr) overrides the shared value (argparse keeps the last)
  local out=$1 name=$2 first=$3 count=$4; shift 4
  local args="--dataset ogbg-molhiv --model plstm --epochs 10 --batch-size 64 --lr 1e-3 --seeds $count --first-seed $first --out $out $*"
  local seeds; seeds=$(seq "$first" $((first + count - 1)))
  $PG train $args $COMMON --stop-after 2
  diagnose "$out" "$name" 2 $seeds
  $PG train $args $COMMON
  diagnose "$out" "$name" 10 $seeds
}
molhiv() {  # molhiv NAME FLAGS...: seeds 0-2 in runs/ogbg-molhiv-plstm-NAME
  local name=$1; shift
  molhiv_seeds "runs/ogbg-molhiv-plstm-$name" "$name" 0 3 "$@"
}
molhiv_more() {  # molhiv_more NAME FLAGS...: seeds 3-4 in runs/ogbg-molhiv-plstm-NAME-s34
  local name=$1; shift
  molhiv_seeds "runs/ogbg-molhiv-plstm-$name-s34" "$name" 3 2 "$@"
}
diagnose() {  # diagnose OUT NAME EPOCH [SEEDS...]: the collapse diagnostic of each seed's last.pt
  local out=$1 name=$2 epoch=$3; shift 3
  for s in ${@:-0 1 2}; do
    $PY experiments/diagnose_collapse.py --checkpoint "$out/seed$s/last.pt" --root data \
      --json "experiments/results/collapse/diag-hiv-$name-seed$s-epoch$epoch.json"
  done
}
case "${QUEUE:?set QUEUE}" in
  molhiv) molhiv hn-eps1e-2 --head-norm batch --plstm-norm-eps 1e-2 ;;
  molhiv-vn) molhiv hn-eps1e-2-vn --head-norm batch --plstm-norm-eps 1e-2 --virtual-node ;;
  molhiv-h128) molhiv hn-eps1e-2-h128 --head-norm batch --plstm-norm-eps 1e-2 --hidden 128 ;;
  molhiv-graph) molhiv hn-graph-eps1e-2-h128 --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 --hidden 128 ;;
  molhiv-graph96) molhiv hn-graph-eps1e-2 --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 ;;
  molhiv-wd) molhiv hn-eps1e-2-wd0.1 --head-norm batch --plstm-norm-eps 1e-2 --weight-decay 0.1 ;;
  molhiv-graph-wd) molhiv hn-graph-eps1e-2-wd0.1 --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 --weight-decay 0.1 ;;
  molhiv-graph-l3) molhiv hn-graph-eps1e-2-l3 --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 --layers 3 ;;
  molhiv-graph-lr2e-3) molhiv hn-graph-eps1e-2-lr2e-3 --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 --lr 2e-3 ;;
  molhiv-graph-warmup) molhiv hn-graph-eps1e-2-warmup0.1 --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 --warmup 0.1 ;;
  molhiv-graph-d01) molhiv hn-graph-eps1e-2-d01 --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 --dropout 0.1 ;;
  molhiv-graph-sum) molhiv hn-graph-eps1e-2-sum --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 --pool sum ;;
  molhiv-graph-ro) molhiv hn-graph-eps1e-2-ro --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 --random-order ;;
  molhiv-graph-ro-10)
    out=runs/ogbg-molhiv-plstm-hn-graph-eps1e-2-ro
    args="--dataset ogbg-molhiv --model plstm --epochs 10 --batch-size 64 --lr 1e-3 --out $out --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 --random-order"
    for s in 0 1 2; do
      $PG train $args --seeds 1 --first-seed $s $COMMON &
    done
    wait
    $PG train $args --seeds 3 $COMMON  # every seed has finished: the 3-seed summary
    diagnose "$out" hn-graph-eps1e-2-ro 10 ;;
  molhiv-more-graph) molhiv_more hn-graph-eps1e-2 --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 ;;
  molhiv-more-wd) molhiv_more hn-graph-eps1e-2-wd0.1 --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 --weight-decay 0.1 ;;
  molhiv-gb)
    for s in ${SEEDS:-4 0 1 2 3}; do
      molhiv_seeds "runs/ogbg-molhiv-plstm-hn-graph-eps1e-2-gb${GB:?set GB}" "hn-graph-eps1e-2-gb$GB" "$s" 1 \
        --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 --plstm-gate-bias "$GB"
    done ;;
  molhiv-tb)
    for s in ${SEEDS:-0 1 2 3 4}; do
      molhiv_seeds "runs/ogbg-molhiv-plstm-hn-graph-eps1e-2-tb${TB:?set TB}" "hn-graph-eps1e-2-tb$TB" "$s" 1 \
        --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 --plstm-transition-bias "$TB"
    done ;;
  molhiv-ema)
    for s in ${SEEDS:-0 1 2 3 4}; do
      molhiv_seeds "runs/ogbg-molhiv-plstm-hn-graph-eps1e-2-ema${EMA:?set EMA}" "hn-graph-eps1e-2-ema$EMA" "$s" 1 \
        --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 --ema "$EMA"
    done ;;
  molhiv-bn)
    tag=${DROPOUT:+-d${DROPOUT/./}}
    for s in ${SEEDS:-0 1 2 3 4}; do
      out=runs/ogbg-molhiv-plstm-hn-graph-eps1e-2-bn$tag; [ "$s" -ge 3 ] && out=$out-s34
      molhiv_seeds "$out" hn-graph-eps1e-2-bn$tag "$s" 1 \
        --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 --plstm-block-norm batch \
        ${DROPOUT:+--dropout "$DROPOUT"}
    done ;;
  moleculenet-bn)
    for ds in esol freesolv; do
      $PG train --dataset $ds --model plstm --virtual-node --plstm-block-norm batch --epochs 30 --batch-size 32 --seeds 3 --out runs/$ds-plstm-vn-bn $COMMON
    done ;;
  tu-bn)
    $PG train --dataset MUTAG --model plstm --pool sum --head-norm batch --plstm-norm-eps 1e-2 --plstm-transition-bias 0 --plstm-block-norm batch --epochs 100 --batch-size 64 --lr 1e-3 --out runs/MUTAG-plstm-e100-sum-hn-eps1e-2-tb0-bn $COMMON
    $PG train --dataset PTC_FM --epochs 100 --batch-size 64 --lr 1e-3 --model plstm --dropout 0.5 --plstm-norm-eps 1e-2 --plstm-gate-bias -3 --plstm-block-norm batch --out runs/PTC_FM-plstm-e100-d05-eps1e-2-gb-3-bn $COMMON ;;
  moleculenet-ema)
    for ds in esol freesolv; do
      $PG train --dataset $ds --model plstm --virtual-node --ema "${EMA:?set EMA}" --epochs 30 --batch-size 32 --seeds 3 --out runs/$ds-plstm-vn-ema$EMA $COMMON
    done ;;
  molhiv-local)
    for s in ${SEEDS:-0 1 2}; do
      molhiv_seeds runs/ogbg-molhiv-plstm-hn-graph-eps1e-2-gine hn-graph-eps1e-2-gine "$s" 1 \
        --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 --plstm-local gine
    done ;;
  moleculenet-local)
    for ds in esol freesolv; do
      $PG train --dataset $ds --model plstm --virtual-node --plstm-local gine --epochs 30 --batch-size 32 --seeds 3 --out runs/$ds-plstm-vn-gine $COMMON
    done ;;
  molhiv-l3) molhiv hn-eps1e-2-l3 --head-norm batch --plstm-norm-eps 1e-2 --layers 3 ;;
  moleculenet-gb)
    for ds in esol freesolv; do
      $PG train --dataset $ds --model plstm --virtual-node --plstm-gate-bias "${GB:?set GB}" --epochs 30 --batch-size 32 --seeds 3 --out runs/$ds-plstm-vn-gb$GB $COMMON
    done ;;
  moleculenet-tb)
    for ds in esol freesolv; do
      $PG train --dataset $ds --model plstm --virtual-node --plstm-transition-bias "${TB:?set TB}" --epochs 30 --batch-size 32 --seeds 3 --out runs/$ds-plstm-vn-tb$TB $COMMON
    done ;;
  moleculenet-ro)
    for ds in esol freesolv; do
      $PG train --dataset $ds --model plstm --virtual-node --random-order --epochs 30 --batch-size 32 --seeds 3 --out runs/$ds-plstm-vn-ro $COMMON
    done ;;
  moleculenet-vn)
    for ds in esol freesolv; do
      $PG train --dataset $ds --model plstm --virtual-node --epochs 30 --batch-size 32 --seeds 3 --out runs/$ds-plstm-vn $COMMON
    done ;;
  moleculenet2)
    for arm in "vn --virtual-node" "l3 --layers 3" "lr5e-4 --lr 5e-4" "sum --pool sum"; do
      set -- $arm; name=$1; shift
      for ds in esol freesolv; do
        $PG train --dataset $ds --model plstm "$@" --epochs 30 --batch-size 32 --seeds 3 --out runs/$ds-plstm-$name $COMMON
      done
    done ;;
  tu)
    for arm in "vn --virtual-node" "l3 --layers 3"; do
      set -- $arm; name=$1; shift
      $PG train --dataset MUTAG --model plstm --pool sum --head-norm batch "$@" --epochs 100 --batch-size 64 --lr 1e-3 --out runs/MUTAG-plstm-e100-sum-hn-$name $COMMON
    done ;;
  tu2)
    $PG train --dataset PTC_FM --model plstm --dropout 0.5 --virtual-node --epochs 30 --batch-size 64 --lr 1e-3 --out runs/PTC_FM-plstm-d05-vn $COMMON ;;
  tu3)
    for arm in "d02 --dropout 0.2" "d05 --dropout 0.5" "lr5e-4 --lr 5e-4" "h64 --hidden 64"; do
      set -- $arm; name=$1; shift
      $PG train --dataset MUTAG --model plstm --pool sum --head-norm batch --epochs 100 --batch-size 64 "$@" --out runs/MUTAG-plstm-e100-sum-hn-$name $COMMON
    done ;;
  tu4)
    $PG train --dataset MUTAG --model plstm --pool sum --head-norm batch --plstm-norm-eps 1e-2 --epochs 100 --batch-size 64 --lr 1e-3 --out runs/MUTAG-plstm-e100-sum-hn-eps1e-2 $COMMON
    $PG train --dataset PTC_FM --model plstm --dropout 0.5 --plstm-norm-eps 1e-2 --epochs 30 --batch-size 64 --lr 1e-3 --out runs/PTC_FM-plstm-d05-eps1e-2 $COMMON ;;
  tu-gb)
    $PG train --dataset PTC_FM --model plstm --dropout 0.5 --plstm-norm-eps 1e-2 --plstm-gate-bias "${GB:?set GB}" --epochs 30 --batch-size 64 --lr 1e-3 --out runs/PTC_FM-plstm-d05-eps1e-2-gb$GB $COMMON
    $PG train --dataset MUTAG --model plstm --pool sum --head-norm batch --plstm-norm-eps 1e-2 --plstm-gate-bias "$GB" --epochs 100 --batch-size 64 --lr 1e-3 --out runs/MUTAG-plstm-e100-sum-hn-eps1e-2-gb$GB $COMMON ;;
  tu-tb)
    $PG train --dataset PTC_FM --model plstm --dropout 0.5 --plstm-norm-eps 1e-2 --plstm-transition-bias "${TB:?set TB}" --epochs 30 --batch-size 64 --lr 1e-3 --out runs/PTC_FM-plstm-d05-eps1e-2-tb$TB $COMMON
    $PG train --dataset MUTAG --model plstm --pool sum --head-norm batch --plstm-norm-eps 1e-2 --plstm-transition-bias "$TB" --epochs 100 --batch-size 64 --lr 1e-3 --out runs/MUTAG-plstm-e100-sum-hn-eps1e-2-tb$TB $COMMON ;;
  tu-tb-seeds)
    $PG train --dataset MUTAG --model plstm --pool sum --head-norm batch --plstm-norm-eps 1e-2 --plstm-transition-bias "${TB:?set TB}" --epochs 100 --batch-size 64 --lr 1e-3 --seeds 3 --out runs/MUTAG-plstm-e100-sum-hn-eps1e-2-tb$TB-s3 $COMMON ;;
  tu-local)
    $PG train --dataset PTC_FM --model plstm --dropout 0.5 --plstm-norm-eps 1e-2 --plstm-local gine --epochs 30 --batch-size 64 --lr 1e-3 --out runs/PTC_FM-plstm-d05-eps1e-2-gine $COMMON
    $PG train --dataset MUTAG --model plstm --pool sum --head-norm batch --plstm-norm-eps 1e-2 --plstm-local gine --epochs 100 --batch-size 64 --lr 1e-3 --out runs/MUTAG-plstm-e100-sum-hn-eps1e-2-gine $COMMON ;;
  moleculenet3)
    for ds in esol freesolv; do
      $PG train --dataset $ds --model plstm --virtual-node --dropout 0.1 --epochs 30 --batch-size 32 --seeds 3 --out runs/$ds-plstm-vn-d01 $COMMON
    done ;;
  tu-seeds)
    $PG train --dataset MUTAG --model gin --epochs 100 --batch-size 64 --lr 1e-3 --seeds 3 --out runs/MUTAG-gin-e100-s3 $COMMON &
    $PG train --dataset MUTAG --model plstm --pool sum --head-norm batch --plstm-norm-eps 1e-2 --epochs 100 --batch-size 64 --lr 1e-3 --seeds 3 --out runs/MUTAG-plstm-e100-sum-hn-eps1e-2-s3 $COMMON
    wait ;;
  tu5)
    for arm in "init-torch --plstm-init torch" "h64 --hidden 64" "lr5e-4 --lr 5e-4" "l3 --layers 3"; do
      set -- $arm; name=$1; shift
      $PG train --dataset PTC_FM --model plstm --dropout 0.5 --plstm-norm-eps 1e-2 --epochs 30 --batch-size 64 --lr 1e-3 "$@" --out runs/PTC_FM-plstm-d05-eps1e-2-$name $COMMON
    done
    $PG train --dataset PTC_FM --model plstm --dropout 0.5 --plstm-norm-eps 1e-2 --epochs 30 --batch-size 64 --lr 1e-3 --seeds 3 --out runs/PTC_FM-plstm-d05-eps1e-2-s3 $COMMON
    $PG train --dataset PTC_FM --model plstm --plstm-init torch --no-qk-norm --epochs 30 --batch-size 64 --lr 1e-3 --seeds 3 --out runs/PTC_FM-plstm-prefix-s3 $COMMON ;;
  graph-arms)
    $PG train --dataset PTC_FM --model plstm --dropout 0.5 --plstm-norm graph --plstm-norm-eps 1e-2 --epochs 30 --batch-size 64 --lr 1e-3 --out runs/PTC_FM-plstm-d05-graph-eps1e-2 $COMMON
    $PG train --dataset MUTAG --model plstm --pool sum --head-norm batch --plstm-norm graph --plstm-norm-eps 1e-2 --epochs 100 --batch-size 64 --lr 1e-3 --out runs/MUTAG-plstm-e100-sum-hn-graph-eps1e-2 $COMMON
    for ds in esol freesolv; do
      $PG train --dataset $ds --model plstm --virtual-node --plstm-norm graph --epochs 30 --batch-size 32 --seeds 3 --out runs/$ds-plstm-vn-graph $COMMON
    done ;;
  molhiv-screen2)
    $PG train --dataset ogbg-molhiv --model plstm --head-norm batch --plstm-norm-eps 1e-2 --hidden 128 --epochs 10 --batch-size 64 --lr 3e-4 --seeds 1 --out runs/ogbg-molhiv-plstm-hn-eps1e-2-h128-lr3e-4 $COMMON ;;
  molhiv-screen)
    $PG train --dataset ogbg-molhiv --model plstm --head-norm batch --plstm-norm-eps 1e-2 --epochs 10 --batch-size 32 --lr 1e-3 --seeds 1 --out runs/ogbg-molhiv-plstm-hn-eps1e-2-b32 $COMMON &
    $PG train --dataset ogbg-molhiv --model plstm --head-norm batch --plstm-norm-eps 1e-2 --hidden 128 --epochs 10 --batch-size 64 --lr 1e-3 --seeds 1 --out runs/ogbg-molhiv-plstm-hn-eps1e-2-h128 $COMMON
    wait ;;
  moleculenet)
    for ds in esol freesolv; do
      $PG train --dataset $ds --model plstm --plstm-norm-eps 1e-2 --epochs 30 --batch-size 32 --lr 1e-3 --seeds 3 --out runs/$ds-plstm-eps1e-2 $COMMON
    done ;;
  *) echo "unknown QUEUE=$QUEUE" >&2; exit 2 ;;
esac
exit
}
