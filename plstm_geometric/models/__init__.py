"""Graph-level models (pLSTM and the GIN / GINE baselines it is compared with) and image
classifiers (pLSTM-ViT and a ViT baseline)."""
from .baselines import GINNet
from .plstm_net import PLSTMNet
from .virtual_node import VirtualNode
from .vision import PLSTMVision, ViT

__all__ = ["GINNet", "PLSTMNet", "PLSTMVision", "ViT", "VirtualNode"]
