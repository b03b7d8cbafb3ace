"""Training: the task registry, the structure cache, the loop, metrics, checkpoints,
multi-process training and result files."""
from .cache import PreTransformedDataset, transform_key
from .distributed import DistInfo, GlobalBatchSampler, init_distributed
from .ema import ModelEMA
from .factory import MODELS, build_model, model_kwargs, structure_transform
from .loop import TrainConfig, evaluate, run, train_epoch
from .metrics import compute_metrics
from .tasks import DATASETS, DEFAULT_DATASET, GraphTask, check_name, load_csv_task, load_task

__all__ = ["DATASETS", "DEFAULT_DATASET", "DistInfo", "GlobalBatchSampler", "GraphTask",
           "MODELS", "ModelEMA", "PreTransformedDataset", "TrainConfig", "build_model", "check_name",
           "compute_metrics", "evaluate", "init_distributed", "load_csv_task", "load_task",
           "model_kwargs", "run", "structure_transform", "train_epoch", "transform_key"]
