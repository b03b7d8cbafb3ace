"""Neural network modules."""
from .block import PLSTMBlock
from .conv import PLSTMConv
from .grid import PLSTM2D
from .norm import MultiHeadRMSNorm

__all__ = ["MultiHeadRMSNorm", "PLSTM2D", "PLSTMBlock", "PLSTMConv"]
