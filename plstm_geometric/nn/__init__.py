"""Neural network modules."""
from .block import PLSTMBlock
from .conv import PLSTMConv
from .norm import MultiHeadRMSNorm

__all__ = ["PLSTMConv", "PLSTMBlock", "MultiHeadRMSNorm"]
