"""ModelEMA: the update rule with its warm-up, the buffers, the state round trip, and that a
run with --ema evaluates and saves the average and resumes exactly."""
import pytest
import torch

from helpers import needs_shared_datasets
from plstm_geometric.train import ModelEMA


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))


def test_update_follows_the_documented_rule():
    model = _model()
    ema = ModelEMA(model, decay=0.9)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    for t in range(1, 100):  # (1 + t) / (10 + t) reaches 0.9 at t = 80
        with torch.no_grad():  # a "step": new weights and BatchNorm statistics
            model.train()(torch.randn(8, 3))
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        d = min(0.9, (1 + t) / (10 + t))
        assert ema.current_decay() == pytest.approx(d)
        ema.update()
        for k, v in model.state_dict().items():
            expected[k] = d * expected[k] + (1 - d) * v if v.is_floating_point() else v.clone()
        for k, v in ema.module.state_dict().items():
            torch.testing.assert_close(v, expected[k], rtol=1e-5, atol=1e-6, msg=k)
    # the decay has reached d; the integer counter is the model's, not an average
    assert ema.current_decay() == 0.9
    assert ema.module[1].num_batches_tracked == model[1].num_batches_tracked == 99
    # the average is a copy: the model's weights were not touched, and no gradient flows
    assert not any(p.requires_grad for p in ema.module.parameters())
    assert not torch.equal(ema.module[0].weight, model[0].weight)


def test_state_round_trip_and_bad_decay():
    model = _model()
    ema = ModelEMA(model, 0.99)
    for _ in range(3):
        with torch.no_grad():
            model[0].weight.add_(1.0)
        ema.update()
    other = ModelEMA(_model(), 0.5)
    other.load_state_dict(ema.state_dict())
    assert (other.decay, other.updates) == (0.99, 3)
    for a, b in zip(ema.module.state_dict().values(), other.module.state_dict().values()):
        assert torch.equal(a, b)
    for bad in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError, match=r"EMA decay must lie in \(0, 1\)"):
            ModelEMA(model, bad)


@needs_shared_datasets
def test_training_with_ema_scores_the_average_and_resumes_exactly(tmp_path):
    pytest.importorskip("rdkit")
    pytest.importorskip("ogb")
    from plstm_geometric.cli import main
    from plstm_geometric.train.io import load_torch
    from test_train import rows, small_esol

    small_esol(tmp_path / "data")
    args = ["train", "--dataset", "esol", "--model", "plstm", "--hidden", "16", "--epochs", "2",
            "--batch-size", "16", "--no-progress", "--no-download", "--root", str(tmp_path / "data")]
    main(args + ["--ema", "0.9", "--out", str(tmp_path / "straight")])
    resumed = tmp_path / "resumed" / "seed0"
    main(args + ["--ema", "0.9", "--out", str(tmp_path / "resumed"), "--stop-after", "1"])
    # After one epoch, best.pt holds the average (not the trained weights) of that epoch.
    best, last = load_torch(resumed / "best.pt"), load_torch(resumed / "last.pt")
    for k, v in best["model"].items():
        assert torch.equal(v, last["ema"]["module"][k]), k
    assert not all(torch.equal(v, last["model"][k]) for k, v in best["model"].items())
    steps = last["ema"]["updates"]
    main(args + ["--ema", "0.9", "--out", str(tmp_path / "resumed"), "--resume"])
    assert load_torch(resumed / "last.pt")["ema"]["updates"] == 2 * steps
    main(args + ["--out", str(tmp_path / "plain")])
    straight, again, plain = (rows(tmp_path / n / "seed0" / "metrics.csv")
                              for n in ("straight", "resumed", "plain"))
    for a, b in zip(straight, again):  # the average is checkpointed with the model
        a.pop("epoch_seconds"), b.pop("epoch_seconds")
        assert a == b
    # The same training (the same losses), but the metrics are the average's.
    assert [r["train_loss"] for r in straight] == [r["train_loss"] for r in plain]
    assert straight[0]["valid_rmse"] != plain[0]["valid_rmse"]
    with pytest.raises(SystemExit, match="other settings: ema=0.9"):
        main(args + ["--ema", "0.99", "--out", str(tmp_path / "resumed"), "--resume"])
