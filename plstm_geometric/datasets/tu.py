"""TU Dortmund graph classification sets through PyG's :class:`~torch_geometric.datasets.TUDataset`:
the names the CLI knows and where their files are expected."""
from __future__ import annotations

import os.path as osp

TU = ("MUTAG", "PTC_FM", "NCI1", "PROTEINS")


def missing_tu_message(name: str, root: str) -> str:
    raw = osp.join(root, name, "raw")
    return (f"{name} not found: expected {raw}/{name}_A.txt, {name}_graph_indicator.txt, "
            f"{name}_graph_labels.txt and {name}_node_labels.txt (TU Dortmund files; PyG "
            f"downloads https://www.chrsmrrs.com/graphkerneldatasets/{name}.zip when online). "
            f"Offline: plstm-geometric prepare {name} --source DIR --root {root}, where DIR holds "
            f"the unzipped {name}/ folder")
