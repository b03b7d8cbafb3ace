"""Training: the loop, metrics, checkpoints, multi-process training and result files."""
from .distributed import DistInfo, GlobalBatchSampler, init_distributed
from .factory import MODELS, build_model, model_kwargs, structure_transform
from .loop import TrainConfig, evaluate, run, train_epoch
from .metrics import compute_metrics

__all__ = ["MODELS", "DistInfo", "GlobalBatchSampler", "TrainConfig", "build_model",
           "compute_metrics", "evaluate", "init_distributed", "model_kwargs", "run",
           "structure_transform", "train_epoch"]
