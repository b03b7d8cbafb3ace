r"""pLSTM on a 1D chain (SPEC §5, "1D"): the chain DAG :math:`0 \to 1 \to \dots \to T-1`.

:func:`plstm_1d` (``chunk.py``: pairwise block merges inside chunks, a short scan over
chunks) equals :func:`~plstm_geometric.ops.dag.plstm_dag` on the chain graph;
:func:`plstm_1d_reference` (``reference.py``) is the sequential recurrence with the same
signature.
"""
from .chunk import plstm_1d
from .reference import plstm_1d_reference

__all__ = ["plstm_1d", "plstm_1d_reference"]
