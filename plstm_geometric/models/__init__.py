"""Graph-level models: pLSTM and the GIN / GINE baselines it is compared with."""
from .baselines import GINNet
from .plstm_net import PLSTMNet

__all__ = ["PLSTMNet", "GINNet"]
