"""--prior-bias: the output bias starts at the training label prior (Objective.output_bias)."""
import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from plstm_geometric.train.tasks import GraphTask
from plstm_geometric.models import GINNet, PLSTMNet
from plstm_geometric.train.loop import Objective, init_output_bias


class Labels(list):
    """A list of graphs with the ``.y`` of an InMemoryDataset subset (labels stacked)."""

    @property
    def y(self):
        return torch.cat([d.y for d in self])


def graphs(labels, shape):
    return Labels(Data(x=torch.randn(3, 4), edge_index=torch.tensor([[0, 1], [1, 2]]),
                       y=torch.tensor(y, dtype=torch.float).view(shape)) for y in labels)


def task(kind: str, outputs: int) -> GraphTask:
    return GraphTask("t", None, [], kind, outputs, "rmse", False)


def test_binary_prior_is_the_positive_rate_of_labelled_graphs_as_log_odds():
    data = graphs([[1, float("nan")], [0, 1], [0, 1], [0, 0]], (1, 2))
    objective = Objective.fit(task("binary", 2), data)
    assert torch.allclose(objective.prior, torch.tensor([0.25, 2 / 3]))
    assert torch.allclose(objective.output_bias(), torch.tensor([math.log(1 / 3), math.log(2.0)]))


def test_binary_task_without_training_labels_gets_bias_zero_not_nan():
    nan = float("nan")
    data = graphs([[1, nan], [0, nan], [0, nan], [0, nan]], (1, 2))
    objective = Objective.fit(task("binary", 2), data)
    assert torch.allclose(objective.output_bias(), torch.tensor([math.log(1 / 3), 0.0]))


def test_multiclass_prior_is_log_class_frequency_and_regression_has_none():
    objective = Objective.fit(task("multiclass", 3), graphs([0, 2, 2, 2], (1,)))
    assert torch.allclose(objective.output_bias().exp(), torch.tensor([0.25, 1e-6, 0.75]), atol=1e-7)
    regression = Objective.fit(task("regression", 1), graphs([1.0, 3.0], (1, 1)))
    assert regression.output_bias() is None and float(regression.mean) == 2.0


@pytest.mark.parametrize("make", [
    lambda: PLSTMNet(1, hidden_channels=16, in_channels=4),
    lambda: GINNet(1, hidden_channels=16, num_layers=2, in_channels=4)])
def test_a_model_with_zero_head_weights_then_predicts_the_prior(make):
    model = make()
    objective = Objective.fit(task("binary", 1), graphs([1, 0, 0, 0, 0], (1, 1)))
    init_output_bias(model, objective)
    head = model.head[-1] if isinstance(model.head, torch.nn.Sequential) else model.head
    torch.nn.init.zeros_(head.weight)
    model.eval()
    out = model(Batch.from_data_list(graphs([0, 1], (1, 1))))
    assert torch.allclose(torch.sigmoid(out), torch.full((2, 1), 0.2))


def test_resume_of_a_folder_made_before_a_setting_existed(tmp_path):
    # Run folders written before --prior-bias / the pLSTM layer options have no such keys in
    # config.json; --resume compares them as the defaults instead of refusing.
    import json

    pytest.importorskip("rdkit")
    from plstm_geometric.cli import main

    args = ["train", "--model", "gin", "--limit", "24", "--hidden", "8", "--layers", "1",
            "--epochs", "2", "--batch-size", "12", "--no-progress", "--no-download",
            "--root", str(tmp_path / "data"), "--out", str(tmp_path / "run")]
    main(args + ["--stop-after", "1"])
    config = tmp_path / "run" / "config.json"
    old = json.loads(config.read_text())
    for key in ("prior_bias", "plstm_norm", "out_gate", "qk_norm", "plstm_init", "plstm_norm_eps"):
        del old[key]
    config.write_text(json.dumps(old))
    main(args + ["--resume"])
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["runs"][0]["epochs_run"] == 2
    with pytest.raises(SystemExit, match=r"prior_bias=False \(now True\)"):
        main(args + ["--resume", "--prior-bias"])
