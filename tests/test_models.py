import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

pytest.importorskip("rdkit")
pytest.importorskip("ogb")

from rdkit import Chem  # noqa: E402

from layer_reference import conv_reference, randomize_all  # noqa: E402
from plstm_geometric import PLSTMConv  # noqa: E402
from plstm_geometric.utils import smiles_to_data  # noqa: E402
from plstm_geometric.models import GINNet, PLSTMNet  # noqa: E402
from plstm_geometric.transforms import AddLineDAG  # noqa: E402
from plstm_geometric.transforms.node_order import (CanonicalSmilesOrder, RandomSmilesOrder,  # noqa: E402
                                                   canonical_smiles_order, random_smiles_order)

MOLS = ["CC(=O)Oc1ccccc1C(=O)O", "CN1CCC[C@H]1c1cccnc1", "OCC(O)C(O)C(O)C(O)CO",
        "C[C@@H](O)[C@H](N)C(=O)O", "c1ccc2ccccc2c1"]


def random_smiles(smiles: str, seed: int) -> str:
    # A different atom numbering of the same molecule: RDKit writes it in a random atom order.
    Chem.rdBase.SeedRandomNumberGenerator(seed)
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles), doRandom=True, canonical=False)


def test_plstm_net_shapes_and_repr():
    batch = Batch.from_data_list([smiles_to_data(s) for s in MOLS])
    model = PLSTMNet(3, hidden_channels=32, num_blocks=2, heads=4, ogb_features=True)
    assert model(batch).shape == (len(MOLS), 3)
    assert str(model) == "PLSTMNet(3, hidden_channels=32, num_blocks=2, heads=4)"
    assert [b.reverse for b in model.blocks] == [False, True]
    # pLSTM branches start at zero (see PLSTMBlock._zero_branch_outputs for the measurement).
    assert all((conv.out.weight == 0).all() for b in model.blocks for conv in b.convs)


def test_plstm_net_without_edge_features_and_cached_structures(monkeypatch):
    g = [Data(x=torch.randn(n, 5), edge_index=torch.tensor([[i for i in range(n - 1)] + [i + 1 for i in range(n - 1)],
                                                             [i + 1 for i in range(n - 1)] + [i for i in range(n - 1)]]))
         for n in (4, 6)]
    torch.manual_seed(0)
    # Random parameters: at init every pLSTM branch outputs zero, so the kernel would not matter.
    model = randomize_all(PLSTMNet(2, hidden_channels=16, in_channels=5, edge_dim=None), scale=0.3)
    with torch.no_grad():
        on_the_fly = model(Batch.from_data_list(g))
        cached = model(next(iter(DataLoader([AddLineDAG()(d) for d in g], batch_size=2))))
        torch.testing.assert_close(on_the_fly, cached)
        # Every PLSTMConv replaced by the layer written again from SPEC §4 (layer_reference.py).
        with monkeypatch.context() as m:
            m.setattr(PLSTMConv, "forward", conv_reference)
            reference = model(Batch.from_data_list(g))
        torch.testing.assert_close(on_the_fly, reference, atol=1e-4, rtol=1e-4)
        # ... and the pLSTM branches do reach the output.
        for block in model.blocks:
            for conv in block.convs:
                conv.out.weight.zero_()
        assert (model(Batch.from_data_list(g)) - on_the_fly).abs().max() > 1e-2


def test_cached_and_on_the_fly_pipelines_give_the_same_predictions():
    from plstm_geometric.train.cache import apply_pre_transform
    from plstm_geometric.train.factory import structure_transform

    graphs = [smiles_to_data(s) for s in MOLS]
    cached = apply_pre_transform(structure_transform("plstm", "smiles", "cached"), graphs)
    on_the_fly = apply_pre_transform(structure_transform("plstm", "smiles", "on-the-fly"), graphs)
    assert all(d.has_line_dag("D", True) for d in cached)
    assert not any(hasattr(d, "p_fwd_dag_edge_index") for d in on_the_fly)
    torch.manual_seed(0)
    model = PLSTMNet(1, hidden_channels=16, ogb_features=True).eval()
    with torch.no_grad():
        for p in model.parameters():  # non-trivial gates, so the structures matter
            p.add_(0.3 * torch.randn_like(p))
        torch.testing.assert_close(model(Batch.from_data_list(cached)),
                                   model(Batch.from_data_list(on_the_fly)))


def test_canonical_order_differs_from_index_order_but_is_a_permutation():
    rank, _ = canonical_smiles_order("OCC(=O)c1ccccc1", 10)
    assert sorted(rank.tolist()) == list(range(10)) and rank.tolist() != list(range(10))


@pytest.mark.parametrize("smiles", MOLS)
def test_renumbering_atoms_leaves_prediction_unchanged(smiles):
    torch.manual_seed(0)
    model = PLSTMNet(1, hidden_channels=32, ogb_features=True).eval()
    # Make gates and transitions non-trivial so that orientation matters.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    order = CanonicalSmilesOrder()
    variants = [smiles] + [random_smiles(smiles, s) for s in range(1, 8)]
    assert len(set(variants)) > 1
    oriented = [model(order(smiles_to_data(v))).item() for v in variants]
    assert max(oriented) - min(oriented) < 1e-4, oriented
    by_index = [model(smiles_to_data(v)).item() for v in variants]
    assert max(by_index) - min(by_index) > 1e-4  # the paper's index orientation does depend on it


def written_after_a_neighbour(rank: torch.Tensor, smiles: str) -> bool:
    # A SMILES writes a molecule depth first: every atom but the first of its fragment is bonded
    # to an atom written before it.
    mol = Chem.MolFromSmiles(smiles)
    return all(rank[a.GetIdx()] == 0 or any(rank[b.GetIdx()] < rank[a.GetIdx()] for b in a.GetNeighbors())
               for a in mol.GetAtoms())


@pytest.mark.parametrize("smiles", MOLS)
def test_random_smiles_order_is_a_seeded_depth_first_order(smiles):
    n = Chem.MolFromSmiles(smiles).GetNumAtoms()
    assert written_after_a_neighbour(canonical_smiles_order(smiles, n)[0], smiles)
    torch.manual_seed(0)
    ranks = [random_smiles_order(smiles, n) for _ in range(20)]
    for rank in ranks:
        assert sorted(rank.tolist()) == list(range(n))
        assert written_after_a_neighbour(rank, smiles)
    assert len({tuple(r.tolist()) for r in ranks}) > 5  # random, not one fixed order
    torch.manual_seed(0)  # the global RNG decides, so seeded runs (and --resume) repeat
    assert all(torch.equal(random_smiles_order(smiles, n), r) for r in ranks)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(random_smiles_order(smiles, n, generator=g), ranks[0])


def test_random_smiles_order_transform_drops_the_stale_structures():
    from plstm_geometric.data.line_dag_data import LineDAGData
    from plstm_geometric.train.cache import apply_pre_transform
    from plstm_geometric.train.factory import structure_transform

    cached = apply_pre_transform(structure_transform("plstm", "smiles", "cached"),
                                 [smiles_to_data(s) for s in MOLS])
    torch.manual_seed(0)
    model = PLSTMNet(1, hidden_channels=16, ogb_features=True).eval()
    with torch.no_grad():
        for p in model.parameters():  # non-trivial gates, so the orientation matters
            p.add_(0.3 * torch.randn_like(p))
    transform = RandomSmilesOrder()
    assert repr(transform) == "RandomSmilesOrder(smiles_attr='smiles', attr='node_order')"
    torch.manual_seed(1)
    drawn = [transform(d) for d in cached]
    for old, new in zip(cached, drawn):
        assert type(new) is Data and not isinstance(new, LineDAGData)
        assert not any(k.endswith("dag_edge_index") for k in new.keys())
        for key in ("x", "edge_index", "edge_attr"):
            assert torch.equal(new[key], old[key])
        assert new.smiles == old.smiles
    assert any(not torch.equal(new.node_order, old.node_order) for old, new in zip(cached, drawn))
    with torch.no_grad():
        out = model(Batch.from_data_list(drawn))
        # The structures the model builds follow the new order (AddLineDAG of that order) ...
        torch.testing.assert_close(out, model(Batch.from_data_list([AddLineDAG()(d) for d in drawn])))
        # ... not the canonical one the cached graphs carried.
        assert (out - model(Batch.from_data_list(cached))).abs().max() > 1e-4
    with pytest.raises(ValueError, match="needs the SMILES in data.smiles"):
        transform(Data(x=torch.zeros(3, 9, dtype=torch.long), num_nodes=3))
    wrong = cached[0].clone()
    wrong.smiles = "CCO"
    with pytest.raises(ValueError, match="'CCO' has 3 atoms but the graph has 13 nodes"):
        transform(wrong)


def test_canonical_chirality_does_not_flip_with_numbering():
    variants = ["CN1CCC[C@H]1c1cccnc1", "c1(cccnc1)[C@@H]1CCCN1C"]
    raw = [sorted(smiles_to_data(v).x[:, 1].tolist()) for v in variants]
    assert raw[0] != raw[1]  # OGB's feature: CW in one numbering, CCW in the other
    fixed = [sorted(CanonicalSmilesOrder()(smiles_to_data(v)).x[:, 1].tolist()) for v in variants]
    assert fixed[0] == fixed[1]


@pytest.mark.parametrize("edge,vn,pool", [(False, False, "mean"), (True, True, "sum"), (True, False, "mean")])
def test_gin_baselines(edge, vn, pool):
    batch = Batch.from_data_list([smiles_to_data(s) for s in MOLS])
    model = GINNet(2, hidden_channels=16, num_layers=3, ogb_features=True, use_edge_attr=edge,
                   virtual_node=vn, pool=pool)
    assert model(batch).shape == (len(MOLS), 2)
    assert str(model).startswith("GINENet" if edge else "GINNet")


def test_gine_needs_edge_features():
    with pytest.raises(ValueError, match="GINE needs edge features"):
        GINNet(2, in_channels=4, use_edge_attr=True)
    with pytest.raises(ValueError, match="pool"):
        GINNet(2, in_channels=4, pool="max")


def head_inputs(models, batch):
    """The features each model's head reads for ``batch`` (the pooled, optionally normalised
    graph features), in the models' current train / eval modes."""
    seen = []
    for m in models:
        handle = m.head.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
        m(batch)
        handle.remove()
    return seen


def test_plstm_net_head_norm_batch_standardises_the_pooled_graph_features():
    batch = Batch.from_data_list([smiles_to_data(s) for s in MOLS])
    torch.manual_seed(0)
    model = randomize_all(PLSTMNet(1, hidden_channels=32, ogb_features=True, head_norm="batch"),
                          scale=0.3)
    assert str(model).endswith("head_norm='batch')")
    # The same weights without the norm give the pooled features p the norm standardises.
    plain = PLSTMNet(1, hidden_channels=32, ogb_features=True)
    plain.load_state_dict({k: v for k, v in model.state_dict().items()
                           if not k.startswith("pool_norm.")})
    model.train()
    seen = head_inputs((model, plain), batch)
    bn, p = model.pool_norm, seen[1]
    expected = (p - p.mean(0)) / torch.sqrt(p.var(0, unbiased=False) + bn.eps) * bn.weight + bn.bias
    torch.testing.assert_close(seen[0], expected, atol=1e-4, rtol=1e-4)
    # One graph: eval mode uses the running statistics; training refuses with a clear message.
    model.eval()
    single = Batch.from_data_list([smiles_to_data(MOLS[0])])
    torch.testing.assert_close(model(single), model(batch)[:1], atol=1e-5, rtol=1e-5)
    model.train()
    with pytest.raises(ValueError, match="at least 2 graphs per training batch, got 1"):
        model(single)
    # reset_parameters resets the norm's statistics and affine part with the rest.
    model.reset_parameters()
    assert (bn.running_mean == 0).all() and (bn.running_var == 1).all()
    assert (bn.weight == 1).all() and (bn.bias == 0).all()
    with pytest.raises(ValueError, match="unknown head_norm 'layer'"):
        PLSTMNet(1, hidden_channels=32, ogb_features=True, head_norm="layer")


def test_plstm_net_sum_pool_is_the_node_count_times_the_mean():
    batch = Batch.from_data_list([smiles_to_data(s) for s in MOLS])
    torch.manual_seed(0)
    summed = randomize_all(PLSTMNet(1, hidden_channels=32, ogb_features=True, pool="sum"),
                           scale=0.3)
    assert str(summed).endswith("pool='sum')")
    mean = PLSTMNet(1, hidden_channels=32, ogb_features=True)
    mean.load_state_dict(summed.state_dict())
    seen = head_inputs((summed, mean), batch)
    counts = torch.bincount(batch.batch).unsqueeze(-1).float()
    torch.testing.assert_close(seen[0], seen[1] * counts, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(seen[0], seen[1])
    with pytest.raises(ValueError, match="unknown pool 'max'"):
        PLSTMNet(1, hidden_channels=32, ogb_features=True, pool="max")


def test_model_kwargs_pass_the_pool_to_plstm_and_keep_its_mean_default():
    from types import SimpleNamespace

    from plstm_geometric.train.factory import model_kwargs

    # The three task fields model_kwargs reads, as a TU (multiclass) task.
    task = SimpleNamespace(num_outputs=1, ogb_features=True, task="multiclass")
    sample = smiles_to_data(MOLS[0])
    assert model_kwargs("plstm", task, sample)["pool"] == "mean"
    assert model_kwargs("plstm", task, sample, pool="sum")["pool"] == "sum"
    assert model_kwargs("gin", task, sample)["pool"] == "sum"  # TU baselines
    assert "virtual_node" not in model_kwargs("plstm", task, sample)  # PLSTMNet's default
    assert model_kwargs("plstm", task, sample, virtual_node=True)["virtual_node"] is True


def test_plstm_net_virtual_node_feeds_each_block_the_ogb_update():
    # Oracle: each block reads h + v[batch], v starting at the embedding and, after each block
    # but the last, v <- ReLU(BN(MLP(sum over the graph of that block's input + v))) (eval mode,
    # so BN uses its running statistics and dropout is off).
    batch = Batch.from_data_list([smiles_to_data(s) for s in MOLS])
    model = randomize_all(PLSTMNet(1, hidden_channels=16, num_blocks=3, ogb_features=True,
                                   virtual_node=True, dropout=0.3), scale=0.3).eval()
    assert str(model).endswith("virtual_node=True)")
    plain = PLSTMNet(1, hidden_channels=16, num_blocks=3, ogb_features=True).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("vn.")})
    inputs = {}
    hooks = [b.register_forward_pre_hook(lambda m, args, i=i: inputs.__setitem__(i, args[0]))
             for i, b in enumerate(plain.blocks)]
    plain(batch)
    for handle in hooks:
        handle.remove()
    counts = batch.batch
    h0 = inputs[0]  # encoders' output: the same in both models
    v = model.vn.embedding.weight.expand(batch.num_graphs, -1)
    seen = []
    hooks = [b.register_forward_pre_hook(lambda m, args: seen.append(args[0])) for b in model.blocks]
    out = model(batch)
    for handle in hooks:
        handle.remove()
    h = h0
    for i, block in enumerate(model.blocks):
        torch.testing.assert_close(seen[i], h + v[counts], atol=1e-5, rtol=1e-5)
        x = h + v[counts]
        if i < 2:
            summed = torch.zeros_like(v).index_add_(0, counts, x) + v
            v = model.vn.mlps[i](summed)
        h = block(x, batch.edge_index, model.edge_encoder(h0, batch.edge_index, batch.edge_attr),
                  counts, line_dag=None, node_order=batch.get("node_order"))
    assert not torch.allclose(out, plain(batch))
    # reset_parameters starts the virtual node at zero again, and the update runs in training.
    model.reset_parameters()
    assert (model.vn.embedding.weight == 0).all() and len(model.vn.mlps) == 2
    model.train()
    model(batch).sum().backward()
    assert model.vn.mlps[0][0].weight.grad.abs().sum() > 0


def test_gin_virtual_node_loads_checkpoints_from_before_the_shared_module():
    model = GINNet(1, hidden_channels=8, num_layers=3, ogb_features=True, use_edge_attr=True,
                   virtual_node=True)
    old = {k.replace("vn.embedding.", "vn_embedding.").replace("vn.mlps.", "vn_mlps."): v + 1
           for k, v in model.state_dict().items()}
    assert any(k.startswith("vn_embedding.") for k in old)
    model.load_state_dict(old)
    assert torch.equal(model.vn.embedding.weight, old["vn_embedding.weight"])
    assert torch.equal(model.vn.mlps[1][0].weight, old["vn_mlps.1.0.weight"])
