"""plstm_geometric: pLSTM (parallelizable Linear Source Transition Mark networks) for PyG."""
from .models import GINNet, PLSTMNet
from .nn import PLSTMBlock, PLSTMConv
from .ops import plstm_dag, plstm_dag_reference
from .structure import LineDAG, LineDAGData
from .transforms import AddLineDAG, CanonicalSmilesOrder

__version__ = "0.1.0"

__all__ = ["PLSTMConv", "PLSTMBlock", "PLSTMNet", "GINNet", "LineDAG", "LineDAGData",
           "AddLineDAG", "CanonicalSmilesOrder", "plstm_dag", "plstm_dag_reference",
           "__version__"]
