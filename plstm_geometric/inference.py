"""Predictions and embeddings from trained checkpoints: :func:`load_checkpoint` and the CSV
streaming behind ``plstm-geometric predict`` / ``embed``.

A ``best.pt`` written by ``plstm-geometric train`` is self-contained (see
:func:`~plstm_geometric.train.loop.checkpoint_metadata`): the model's class and arguments, the
target scaler, the target names, the featurisation (OGB's, from SMILES), the structure options
(DAG orientation, cached or per-batch line DAGs), the library version and a format version.
"""
from __future__ import annotations

import contextlib
import glob
import os.path as osp
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from .train import io
from .train.cache import apply_pre_transform
from .train.factory import build_model, structure_transform
from .train.loop import Objective, _autocast, resolve_device
from .utils.io import atomic_path

# Rows read, featurised and predicted at a time by predict_csv / embed_csv: bounds memory on
# files of any length (10^4 molecules as graphs with line DAGs are a few hundred MB at most).
CHUNK_ROWS = 10_000

# Checkpoint keys that must agree between the members of an ensemble.
_SHARED = ("task", "target_names", "featurisation", "orientation", "line_dag", "model_name")


def _read_checkpoint(path: str) -> dict:
    from . import __version__

    ckpt = io.load_torch(path)
    fmt = ckpt.get("format") if isinstance(ckpt, dict) else None
    if fmt is None:
        raise ValueError(f"{path} is not a self-contained checkpoint (no format version): a "
                         f"last.pt, or a best.pt written before checkpoints carried one; retrain "
                         f"with plstm_geometric {__version__} and load its best.pt")
    if fmt != io.CHECKPOINT_FORMAT:
        newer = fmt > io.CHECKPOINT_FORMAT
        raise ValueError(f"{path} has checkpoint format {fmt} (written by plstm_geometric "
                         f"{ckpt.get('version', '?')}), but plstm_geometric {__version__} reads "
                         f"format {io.CHECKPOINT_FORMAT}: "
                         + ("upgrade plstm_geometric" if newer else "retrain the model"))
    if ckpt["featurisation"] != "ogb":
        raise ValueError(f"{path} was trained on {ckpt['config']['dataset']}, whose graphs are "
                         f"not molecules featurised from SMILES; it cannot predict from SMILES")
    return ckpt


def checkpoint_paths(path: str) -> List[str]:
    """``[path]`` for a file, else every ``best.pt`` below the run folder ``path`` (one per
    seed and fold), sorted."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f"{path} not found: pass a best.pt or a run folder holding them")
    paths = sorted(glob.glob(osp.join(path, "**", "best.pt"), recursive=True))
    if not paths:
        raise FileNotFoundError(f"{path} holds no best.pt (a run folder has seed*/best.pt)")
    return paths


class MoleculeModel:
    r"""One or more trained models (an ensemble over seeds) that predict targets of molecules
    given as SMILES; returned by :func:`load_checkpoint`.

    Attributes:
        target_names (list of str): The targets, in output column order.
        task (str): ``"regression"`` (predictions in the training targets' units) or
            ``"classification"`` (predictions are probabilities of label 1).
        smiles_column (str): The SMILES column of the training file.
        paths (list of str): The checkpoint of each member.
    """

    def __init__(self, checkpoints: Sequence[dict], paths: Sequence[str],
                 device: torch.device = torch.device("cpu")):
        first = checkpoints[0]
        for path, ckpt in zip(paths[1:], checkpoints[1:]):
            differ = [k for k in _SHARED if ckpt[k] != first[k]]
            if differ:
                raise ValueError(f"{path} differs from {paths[0]} in {', '.join(differ)}; an "
                                 f"ensemble needs models of one training run")
        self.paths, self.device = list(paths), device
        self.target_names: List[str] = list(first["target_names"])
        self.task = "classification" if first["task"] == "binary" else first["task"]
        self.smiles_column: str = first["smiles_column"]
        self.transform: Optional[Callable] = structure_transform(
            first["model_name"], first["orientation"], first["line_dag"])
        self.models, self.objectives = [], []
        for ckpt in checkpoints:
            model = build_model(ckpt["model_name"], ckpt["model_kwargs"])
            model.load_state_dict(ckpt["model"])
            self.models.append(model.to(device).eval())
            self.objectives.append(Objective(first["task"], **ckpt["objective"]))

    def __len__(self) -> int:
        return len(self.models)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({len(self)} model(s), task={self.task!r}, "
                f"targets={self.target_names})")

    def check_targets(self, names: Optional[Sequence[str]]) -> None:
        """A :class:`ValueError` unless ``names`` (when given) are the checkpoint's targets."""
        if names is not None and list(names) != self.target_names:
            raise ValueError(f"the checkpoint predicts {self.target_names}, not {list(names)} "
                             f"(trained with other target columns)")

    def featurise(self, smiles: Sequence[str]) -> Tuple[List[Data], np.ndarray, List[str]]:
        """The model inputs of the valid SMILES, their positions in ``smiles`` and, per input,
        an error message (empty for valid SMILES)."""
        from .utils.smiles import featurise_smiles

        graphs, keep, errors = [], [], []
        for i, (s, data) in enumerate(featurise_smiles(smiles)):
            if data is None:
                errors.append(f"RDKit cannot parse SMILES {s!r}" if s else "empty SMILES")
                continue
            errors.append("")
            graphs.append(data)
            keep.append(i)
        if self.transform is not None and graphs:
            graphs = apply_pre_transform(self.transform, graphs)
        return graphs, np.asarray(keep, dtype=np.int64), errors

    @torch.no_grad()
    def _outputs(self, graphs: List[Data], batch_size: int, embed: bool) -> Tensor:
        # Per member: predictions in the targets' units, or the pooled graph representation
        # (the input of the model's head); shape [members, graphs, channels].
        members = self.models[:1] if embed else self.models
        out: List[List[Tensor]] = [[] for _ in members]
        captured: List[Tensor] = []
        hooks = [m.head.register_forward_pre_hook(lambda _, inputs: captured.append(inputs[0]))
                 for m in members] if embed else []
        try:
            for batch in DataLoader(graphs, batch_size=batch_size):
                batch = batch.to(self.device)
                for k, (model, objective) in enumerate(zip(members, self.objectives)):
                    with _autocast(self.device):  # as in training's evaluation: same numbers
                        logits = model(batch).float()
                    if embed:
                        out[k].append(captured.pop().float().cpu())
                    elif self.task == "classification":
                        out[k].append(torch.sigmoid(logits).cpu())
                    else:
                        out[k].append(objective.prediction(logits).cpu())
        finally:
            for hook in hooks:
                hook.remove()
        return torch.stack([torch.cat(parts) for parts in out])

    def predict_rows(self, smiles: Sequence[str], batch_size: int = 256):
        """``(mean, std, errors)``: :meth:`predict`'s mean and standard deviation across the
        models ``[len(smiles), targets]`` (NaN rows for invalid SMILES) and, per SMILES, why it
        has no prediction (empty when it has one)."""
        graphs, keep, errors = self.featurise(smiles)
        mean = np.full((len(smiles), len(self.target_names)), np.nan)
        std = mean.copy()
        if graphs:
            outputs = self._outputs(graphs, batch_size, embed=False).double().numpy()
            mean[keep], std[keep] = outputs.mean(0), outputs.std(0)
        return mean, std, errors

    def embed_rows(self, smiles: Sequence[str], batch_size: int = 256):
        """``(embeddings, errors)``: :meth:`embed`'s array and the per-SMILES errors."""
        graphs, keep, errors = self.featurise(smiles)
        out = np.full((len(smiles), self.models[0].hidden_channels), np.nan, dtype=np.float32)
        if graphs:
            out[keep] = self._outputs(graphs, batch_size, embed=True)[0].numpy()
        return out, errors

    def predict(self, smiles: Sequence[str], batch_size: int = 256,
                return_std: bool = False):
        """Predictions for ``smiles``: an array ``[len(smiles), len(target_names)]``, the mean
        over the ensemble's models, with NaN rows for SMILES RDKit cannot parse.

        Args:
            smiles (list of str): The molecules.
            batch_size (int, optional): Molecules per forward pass. (default: :obj:`256`)
            return_std (bool, optional): Also return the standard deviation across the models
                (zeros for a single model). (default: :obj:`False`)
        """
        mean, std, _ = self.predict_rows(smiles, batch_size)
        return (mean, std) if return_std else mean

    def embed(self, smiles: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Pooled graph representations ``[len(smiles), hidden]`` (float32; the input of the
        prediction head) of the first model, with NaN rows for SMILES RDKit cannot parse."""
        return self.embed_rows(smiles, batch_size)[0]


def load_checkpoint(path: str, device: str = "cpu") -> MoleculeModel:
    """Loads a model trained by ``plstm-geometric train`` for prediction from SMILES.

    Args:
        path (str): A ``best.pt``, or a run folder: then every ``best.pt`` below it (one per
            seed) forms an ensemble, whose predictions are the mean over its models.
        device (str, optional): ``"cpu"``, ``"cuda"`` or ``"auto"``. (default: :obj:`"cpu"`)

    Example::

        model = plstm_geometric.load_checkpoint("runs/bace-plstm")
        model.predict(["CCO", "c1ccccc1O"])      # [2, targets], NaN rows for invalid SMILES
        model.embed(["CCO"])                     # [1, hidden]
    """
    paths = checkpoint_paths(path)
    return MoleculeModel([_read_checkpoint(p) for p in paths], paths, resolve_device(device))


# CSV streaming -------------------------------------------------------------------------------

def count_rows(path: str, smiles_column: str, chunk_rows: int = 100_000) -> int:
    """Data rows of a CSV file (read in chunks of one column), after checking that it has the
    SMILES column and at least one row."""
    from .datasets.molecule_csv import check_columns, read_csv_frame

    check_columns(path, read_csv_frame(path, nrows=0).columns, [smiles_column])
    total = sum(len(c) for c in read_csv_frame(path, usecols=[smiles_column], chunksize=chunk_rows))
    if total == 0:
        raise ValueError(f"{path} has a header but no rows")
    return total


def predict_csv(model: MoleculeModel, test_path: str, preds_path: str,
                smiles_column: Optional[str] = None, target_columns: Optional[Sequence[str]] = None,
                batch_size: int = 256, chunk_rows: int = CHUNK_ROWS, progress: bool = True) -> int:
    """Writes ``preds_path``: every row of ``test_path``, in order, with its original cells,
    one column per target (``<target>_pred`` where the file already has a column of that name),
    ``<target>_std`` across the ensemble's models when there are several, and ``error``
    (why a row has no prediction; empty otherwise). Reads ``chunk_rows`` rows at a time.

    Returns:
        The number of rows written.
    """
    from tqdm.auto import tqdm

    from .datasets.molecule_csv import read_csv_frame

    model.check_targets(target_columns)
    smiles_column = smiles_column or model.smiles_column
    total = count_rows(test_path, smiles_column)
    written = 0
    with atomic_path(preds_path) as tmp, open(tmp, "w", newline="") as f, \
            tqdm(total=total, desc="predict", unit="mol", disable=not progress) as bar:
        for chunk in read_csv_frame(test_path, chunksize=chunk_rows):
            names = [t if t not in chunk.columns else f"{t}_pred" for t in model.target_names]
            mean, std, errors = model.predict_rows(chunk[smiles_column].tolist(), batch_size)
            for j, name in enumerate(names):
                chunk[name] = mean[:, j]
            if len(model) > 1:
                for j, name in enumerate(model.target_names):
                    chunk[f"{name}_std"] = std[:, j]
            chunk["error"] = errors
            chunk.to_csv(f, header=written == 0, index=False, na_rep="", float_format="%.7g")
            written += len(chunk)
            bar.update(len(chunk))
    return written


def embed_csv(model: MoleculeModel, test_path: str, out_path: str,
              smiles_column: Optional[str] = None, batch_size: int = 256,
              chunk_rows: int = CHUNK_ROWS, progress: bool = True) -> Tuple[int, int]:
    """Writes the pooled graph representation of every row of ``test_path`` (first model of an
    ensemble): ``.npy``, a float32 array ``[rows, hidden]`` with NaN rows for invalid SMILES, or
    ``.csv``, the original cells plus ``emb_0`` ... ``emb_<hidden-1>`` and ``error``.

    Returns:
        ``(rows, hidden)``.
    """
    from tqdm.auto import tqdm

    from .datasets.molecule_csv import read_csv_frame

    if not out_path.endswith((".npy", ".csv")):
        raise ValueError(f"--out {out_path!r}: the embedding file must end in .npy or .csv")
    smiles_column = smiles_column or model.smiles_column
    total, width = count_rows(test_path, smiles_column), model.models[0].hidden_channels
    done = 0
    with atomic_path(out_path) as tmp:
        npy = (np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, width))
               if out_path.endswith(".npy") else None)
        with (open(tmp, "w", newline="") if npy is None else contextlib.nullcontext()) as f, \
                tqdm(total=total, desc="embed", unit="mol", disable=not progress) as bar:
            for chunk in read_csv_frame(test_path, chunksize=chunk_rows):
                emb, errors = model.embed_rows(chunk[smiles_column].tolist(), batch_size)
                if npy is not None:
                    npy[done:done + len(chunk)] = emb
                else:
                    columns = {f"emb_{j}": emb[:, j] for j in range(width)}
                    chunk.assign(**columns, error=errors).to_csv(
                        f, header=done == 0, index=False, na_rep="", float_format="%.7g")
                done += len(chunk)
                bar.update(len(chunk))
        if npy is not None:
            # the memmap must be flushed and closed before atomic_path renames the file
            npy.flush()
            del npy
    return done, width
