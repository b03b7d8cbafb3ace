"""Two CPU processes under torchrun (gloo) train as one process on the same global batches: same
losses and validation metrics after a few steps.

Only a few steps are compared: summation order differs between the runs (float noise of ~1e-7),
and Adam turns noise in near-zero gradients of the gates into full-size updates, so runs drift
apart after a few epochs however correct the gradient averaging is."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rdkit")
pytest.importorskip("ogb")

import torch.distributed as dist  # noqa: E402
from helpers import SHARED_DATASETS, needs_shared_datasets  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@needs_shared_datasets
@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")
@pytest.mark.parametrize("source", ["esol", "csv"])
def test_two_processes_match_one(tmp_path, source):
    raw = tmp_path / "data" / "esol" / "raw"
    raw.mkdir(parents=True)
    lines = (SHARED_DATASETS / "moleculenet" / "delaney-processed.csv").read_text().splitlines()
    # 61 molecules: 48 training graphs in 6 global batches (5 x 9, then 3); each splits 4 / 5
    # or 1 / 2 between the processes, which exercises the loss weighting of unequal shards.
    (raw / "delaney-processed.csv").write_text("\n".join(lines[:62]) + "\n")
    if source == "esol":
        data = ["--dataset", "esol"]
    else:  # the same molecules as a user's CSV file (its SMILES column is named 'smiles')
        data = ["--data-path", str(raw / "delaney-processed.csv"), "--target-columns",
                "measured log solubility in mols per litre"]
    args = ["train", *data, "--model", "plstm", "--hidden", "16", "--epochs", "1",
            "--batch-size", "9", "--root", str(tmp_path / "data"), "--no-progress", "--no-download"]
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-m", "plstm_geometric"] + args + ["--out", str(tmp_path / "one")],
                   check=True, env=env, cwd=tmp_path)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    "-m", "plstm_geometric"] + args + ["--out", str(tmp_path / "two")],
                   check=True, env=env, cwd=tmp_path, timeout=300)
    one, two = ([row for row in csv.DictReader(open(tmp_path / run / "seed0" / "metrics.csv"))]
                for run in ("one", "two"))
    assert len(one) == len(two) == 1
    for a, b in zip(one, two):
        for key in ("train_loss", "valid_rmse", "test_rmse", "lr"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-4, abs=1e-6), (key, a, b)


def test_sampler_length_counts_the_batches_it_yields():
    from plstm_geometric.train.distributed import DistInfo, GlobalBatchSampler

    for total in range(0, 30):
        for batch_size in range(1, 9):
            for world in (1, 2, 3):
                for rank in range(world):
                    sampler = GlobalBatchSampler(total, batch_size, DistInfo(rank, world), seed=0)
                    assert len(sampler) == len(list(sampler)), (total, batch_size, world, rank)


def test_sampler_merges_a_one_graph_last_batch_the_same_for_every_world_size():
    # A one-graph last batch (e.g. FreeSolv's 513 training molecules in batches of 32) joins the
    # batch before it: a batch norm over graphs cannot train on one graph. W processes still see
    # the batches of one process, split.
    from plstm_geometric.train.distributed import DistInfo, GlobalBatchSampler

    for total in range(2, 40):
        for batch_size in range(2, 9):
            one = list(GlobalBatchSampler(total, batch_size, DistInfo(), seed=0))
            assert sorted(i for b in one for i in b) == list(range(total))
            assert min(len(b) for b in one) >= 2, (total, batch_size)
            for world in (2, 3):
                shards = [list(GlobalBatchSampler(total, batch_size, DistInfo(r, world), seed=0))
                          for r in range(world)]
                joined = [sum((s[k] for s in shards), []) for k in range(len(shards[0]))]
                assert joined == one[:len(joined)], (total, batch_size, world)
    batches = list(GlobalBatchSampler(513, 32, DistInfo(), seed=0))
    assert [len(b) for b in batches] == [32] * 15 + [33]
