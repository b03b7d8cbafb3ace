"""Model and structure set-up from a dataset and the CLI's hyper-parameters."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional

import torch
from torch_geometric.transforms import Compose

from ..datasets.tu import TU
from .tasks import GraphTask

MODELS = ("plstm", "gin", "gine")


def check_model(name: str) -> str:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")
    return name


def resolve_orientation(orientation: Optional[str], dataset: str,
                        has_smiles: Optional[bool] = None) -> str:
    """``"smiles"`` (canonical-SMILES atom order) for molecules, ``"index"`` otherwise (TU).
    ``has_smiles`` overrides the lookup by ``dataset`` name (a user's CSV file)."""
    has_smiles = dataset not in TU if has_smiles is None else has_smiles
    if orientation is None:
        return "smiles" if has_smiles else "index"
    if orientation not in ("smiles", "index"):
        raise ValueError(f"unknown orientation {orientation!r}; valid: smiles, index")
    if orientation == "smiles" and not has_smiles:
        raise ValueError(f"--orientation smiles needs molecules with SMILES; {dataset} has none")
    return orientation


def structure_transform(model: str, orientation: str, line_dag: str = "cached") -> Optional[Callable]:
    """The ``pre_transform`` a model needs: node order (if any), then the line DAGs, unless
    ``line_dag="on-the-fly"``: then the layers build them per mini-batch at every step instead.
    The dataset cache runs :meth:`AddLineDAG.forward_batch`, which builds chunks of graphs at once
    (on HIV molecules ~20x cheaper per graph than :class:`AddLineDAG` graph by graph, see
    ``docs/performance.md``), so caching pays off after one epoch."""
    if model != "plstm":
        return None
    if line_dag not in ("cached", "on-the-fly"):
        raise ValueError(f"unknown --line-dag {line_dag!r}; valid: cached, on-the-fly")
    from ..transforms import AddLineDAG
    from ..transforms.node_order import CanonicalSmilesOrder

    steps = [CanonicalSmilesOrder()] if orientation == "smiles" else []
    steps += [AddLineDAG()] if line_dag == "cached" else []
    return Compose(steps) if steps else None


def model_kwargs(model: str, task: GraphTask, sample, hidden: Optional[int] = None,
                 layers: Optional[int] = None, heads: int = 4, dropout: Optional[float] = None,
                 virtual_node: bool = False, pool: Optional[str] = None,
                 **plstm_options: Any) -> Dict[str, Any]:
    """Constructor arguments; defaults follow the paper (pLSTM: hidden 96, 2 blocks) and OGB's
    reference GNNs (300 wide, 5 layers, dropout 0.5) or, on TU data, the paper's baselines
    (hidden 128, 4 layers, sum pooling); pLSTM pools by mean unless ``pool`` says otherwise.
    ``plstm_options`` (``norm``, ``out_gate``, ...) go to
    :class:`PLSTMNet`; those that are ``None`` keep its defaults."""
    edge_attr = sample.get("edge_attr")
    common = dict(out_channels=task.num_outputs, ogb_features=task.ogb_features,
                  in_channels=None if task.ogb_features else sample.x.size(-1))
    edge_dim = None if task.ogb_features or edge_attr is None else edge_attr.size(-1)
    if model == "plstm":
        return dict(common, hidden_channels=hidden or 96, num_blocks=layers or 2, heads=heads,
                    edge_dim=edge_dim, dropout=0.0 if dropout is None else dropout,
                    pool=pool or "mean", **({"virtual_node": True} if virtual_node else {}),
                    **{k: v for k, v in plstm_options.items() if v is not None})
    tu = task.task == "multiclass"
    return dict(common, hidden_channels=hidden or (128 if tu else 300),
                num_layers=layers or (4 if tu else 5), edge_dim=edge_dim,
                use_edge_attr=model == "gine", virtual_node=virtual_node,
                pool=pool or ("sum" if tu else "mean"), dropout=0.5 if dropout is None else dropout)


def build_model(model: str, kwargs: Dict[str, Any]) -> torch.nn.Module:
    from ..models import GINNet, PLSTMNet

    return PLSTMNet(**kwargs) if model == "plstm" else GINNet(**kwargs)
