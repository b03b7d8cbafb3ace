"""Neural network modules."""
from .block import PLSTMBlock
from .chain import PLSTM1D
from .conv import PLSTMConv
from .grid import PLSTM2D
from .norm import GraphHeadRMSNorm, MultiHeadRMSNorm

__all__ = ["GraphHeadRMSNorm", "MultiHeadRMSNorm", "PLSTM1D", "PLSTM2D", "PLSTMBlock", "PLSTMConv"]
