"""plstm_geometric: pLSTM (parallelizable Linear Source Transition Mark networks) for PyG."""
# Set before the imports: the training loop records it in checkpoints.
__version__ = "0.1.0"

from .datasets import ArrowPointing
from .inference import load_checkpoint
from .models import GINNet, PLSTMNet, PLSTMVision, ViT
from .nn import PLSTM1D, PLSTM2D, PLSTMBlock, PLSTMConv
from .ops import plstm_1d, plstm_2d, plstm_dag, plstm_dag_reference
from .data.line_dag_data import LineDAGData
from .structure import LineDAG, LineDAGSpec
from .transforms import AddLineDAG, CanonicalSmilesOrder, RandomSmilesOrder

__all__ = ["AddLineDAG", "ArrowPointing", "CanonicalSmilesOrder", "GINNet", "LineDAG",
           "LineDAGData", "LineDAGSpec", "PLSTM1D", "PLSTM2D", "PLSTMBlock", "PLSTMConv", "PLSTMNet",
           "PLSTMVision", "RandomSmilesOrder", "ViT", "__version__", "load_checkpoint", "plstm_1d",
           "plstm_2d", "plstm_dag", "plstm_dag_reference"]
