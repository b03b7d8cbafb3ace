"""Functional kernels (no parameters)."""
from .dag import plstm_dag, plstm_dag_dense, plstm_dag_reference, plstm_dag_state
from .grid import plstm_1d, plstm_1d_reference, plstm_2d, plstm_2d_reference

__all__ = ["plstm_1d", "plstm_1d_reference", "plstm_2d", "plstm_2d_reference", "plstm_dag",
           "plstm_dag_dense", "plstm_dag_reference", "plstm_dag_state"]
