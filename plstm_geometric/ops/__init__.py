"""Functional kernels (no parameters), one folder per op family: ``dag`` (any DAG), ``chain``
(1D sequences) and ``grid`` (2D grids); each holds its fast forms beside its sequential
reference. ``utils`` has the dtype/autocast rule that every public kernel follows."""
from .chain import plstm_1d, plstm_1d_reference
from .dag import plstm_dag, plstm_dag_dense, plstm_dag_reference, plstm_dag_state
from .grid import plstm_2d, plstm_2d_orientations, plstm_2d_reference

__all__ = ["plstm_1d", "plstm_1d_reference", "plstm_2d", "plstm_2d_orientations",
           "plstm_2d_reference", "plstm_dag", "plstm_dag_dense", "plstm_dag_reference",
           "plstm_dag_state"]
