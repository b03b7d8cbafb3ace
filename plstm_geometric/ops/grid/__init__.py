r"""pLSTM kernels on regular grids (SPEC §5).

:func:`plstm_1d` (chain) and :func:`plstm_2d` (image grid) compute the same
numbers as :func:`plstm_geometric.ops.dag.plstm_dag` on the corresponding DAG,
as a handful of batched einsums over a hierarchy of blocks, or (2D,
``chunk_size=1``, the default beyond 8x8) as an anti-diagonal wavefront over
contiguous slices, instead of a gather/scatter level loop. :func:`plstm_1d_reference` / :func:`plstm_2d_reference` are the
sequential recurrences with identical signatures.
"""
from plstm_geometric.ops.grid.chain import plstm_1d
from plstm_geometric.ops.grid.grid2d import plstm_2d
from plstm_geometric.ops.grid.reference import plstm_1d_reference, plstm_2d_reference

__all__ = ["plstm_1d", "plstm_2d", "plstm_1d_reference", "plstm_2d_reference"]
