"""A non-finite loss stops training with an error naming the epoch and step: the library raises
``FloatingPointError`` before the step updates the weights, the CLI reports it and exits."""
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from plstm_geometric.train.distributed import DistInfo
from plstm_geometric.train.loop import Objective, adamw_cosine, train_epoch


class Mean(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)

    def forward(self, batch):
        return self.lin(batch.x).mean(0, keepdim=True)


def test_train_epoch_raises_on_a_non_finite_loss_naming_epoch_and_step():
    graphs = [Data(x=torch.randn(3, 2), y=torch.tensor([[1.0]])) for _ in range(4)]
    graphs[2].x[0, 0] = float("nan")  # the third batch of one graph
    model = Mean()
    optimizer, scheduler = adamw_cosine(model, 1e-3, 0.0, 8, 0.1)
    loader = DataLoader(graphs, batch_size=1)
    with pytest.raises(FloatingPointError, match=r"epoch 7, step 3 \(of 4\)"):
        train_epoch(model, loader, optimizer, scheduler, Objective("binary"), torch.device("cpu"), 1.0,
                    DistInfo(), epoch=7)
    # Raised before that step's update: the weights are the finite ones of step 2.
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert scheduler.last_epoch == 2


def test_cli_exits_with_the_message(tmp_path):
    pytest.importorskip("rdkit")
    from plstm_geometric.cli import main

    # lr = inf: step 1 is finite, its update makes every weight non-finite, step 2 is not.
    with pytest.raises(SystemExit, match=r"error: non-finite training loss at epoch 1, step 2"):
        main(["train", "--model", "gin", "--limit", "48", "--root", str(tmp_path / "data"),
              "--out", str(tmp_path / "run"), "--lr", "inf", "--hidden", "16", "--layers", "2",
              "--epochs", "2", "--batch-size", "16", "--no-progress", "--no-download"])
