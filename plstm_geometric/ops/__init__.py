"""Functional kernels (no parameters)."""
from .dag import plstm_dag, plstm_dag_dense, plstm_dag_reference, plstm_dag_state

__all__ = ["plstm_dag", "plstm_dag_reference", "plstm_dag_dense", "plstm_dag_state"]
