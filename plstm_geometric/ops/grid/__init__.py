r"""pLSTM on a 2D grid (SPEC §5): :func:`plstm_2d` and its forms.

Forms, each equal to :func:`~plstm_geometric.ops.dag.plstm_dag` on the grid DAG (tested in
float64, outputs and gradients) and to :func:`plstm_2d_reference` (``reference.py``, the
sequential recurrence with the same signature):

- ``"graph"`` (``graph.py``): every (image, orientation) as a graph of the compiled DAG kernel
  (:mod:`~plstm_geometric.ops.dag.compiled`, CPU only), which walks the structural non-zeros of
  :math:`G` without padding. Fastest on CPU up to 4x4 grids (:data:`GRAPH_MAX_SIDE`).
- ``"dense"`` (``dense.py``): the closed form :math:`(G \odot QK^\top)V` with :math:`G` built
  as a chain over grid rows; all orientations share :math:`QK^\top`. Fastest on CPU for token
  grids of vision models when the compiled kernel is unavailable.
- ``"wavefront"`` (``wavefront.py``): :math:`K \times V` cell states, one anti-diagonal of
  nodes per step, hand-written backward; the least arithmetic. On the CPU with the compiled
  library it runs as one C++ loop over the nodes per (image, orientation, head) instead
  (:class:`~plstm_geometric.ops.dag.compiled.CompiledGrid`), the fastest form from 5x5 grids on.
- ``"chunkwise"`` (``chunk.py``): :math:`2 \times 2` meta-cells merged :math:`\log_2 c` times
  per chunk plus a wavefront over chunks; the fewest sequential steps (the design for GPUs).
"""
from __future__ import annotations

import warnings
from typing import Any, Optional, Sequence

import torch
from torch import Tensor

from ._checks import check_2d
from .chunk import chunk_2d
from .dense import dense_2d
from .graph import graph_2d
from ..dag.compiled import CompiledGrid, compiled_available, library
from .reference import plstm_2d_reference
from .wavefront import wavefront_2d
from ..utils import call_in_recurrence_dtype, check_chunk_size, next_pow2

FORMS = ("auto", "dense", "graph", "wavefront", "chunkwise")

#: ``form="auto"`` on CPU without the compiled kernel: the dense form up to this grid side, the
#: wavefront beyond it. The fastest forward+backward of the four-orientation kernel at the
#: vision layer's batch in ``experiments/bench_grid.py --orientations 4`` (docs/grid.md, "Form
#: choice").
DENSE_MAX_SIDE = 12

#: ``form="auto"`` on CPU with the compiled kernels: the graph form up to this grid side, the
#: (compiled) wavefront beyond. Four orientations, batch 32, 4 heads, K = V = 16, fwd+bwd,
#: graph / compiled wavefront (loaded machine, docs/performance.md, issue 9 third round):
#: 3.84 / 3.93 ms at 4x4, 5.97 / 5.87 at 5x5, 9.4 / 8.3 at 6x6, 14.5 / 11.7 at 7x7; before
#: the wavefront's transposed backward 17.5 / 14.8 at 8x8, 61 / 29 at 12x12, 197 / 59 at 16x16,
#: 1186 / 135 at 24x24.
GRAPH_MAX_SIDE = 4

#: ``form="auto"`` on CUDA runs ``"chunkwise"`` with chunks of this side (one chunk up to
#: 16x16): by design, not measured here (no accelerator was available). It has the fewest
#: sequential steps (``log2 c`` merges, then ``X/c + Y/c - 1`` chunk steps), which is what
#: launch-bound accelerators reward; the CPU forms take ``X`` or ``X + Y - 1`` steps.
CUDA_CHUNK = 16


def choose_form(X: int, Y: int, device: torch.device) -> str:
    """The form ``"auto"`` runs for an ``X x Y`` grid on ``device``."""
    if device.type == "cuda":
        return "chunkwise"
    if library()[0] is not None:
        return "graph" if max(X, Y) <= GRAPH_MAX_SIDE else "wavefront"
    return "dense" if max(X, Y) <= DENSE_MAX_SIDE else "wavefront"


def _legacy_form(form: str, chunk_size: Optional[int]) -> str:
    # Before ``form`` existed, ``chunk_size`` chose the form: 1 the wavefront, others chunkwise.
    if chunk_size is None or form != "auto":
        return form
    return "wavefront" if chunk_size == 1 else "chunkwise"


def plstm_2d(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    source_r: Tensor,
    source_d: Tensor,
    trans_rl: Tensor,
    trans_ru: Optional[Tensor],
    trans_dl: Optional[Tensor],
    trans_du: Tensor,
    mark_l: Tensor,
    mark_u: Tensor,
    direct: Tensor,
    *,
    flip: tuple[bool, bool] = (False, False),
    form: str = "auto",
    chunk_size: Optional[int] = None,
) -> Tensor:
    r"""pLSTM on the 2D grid DAG (SPEC §2, §5).

    Node :math:`(x, y)` owns the "right" edge :math:`(x,y) \to (x+1,y)` with state
    :math:`R_{x,y}` and the "down" edge :math:`(x,y) \to (x,y+1)` with state
    :math:`D_{x,y}` (node index :math:`x \cdot Y + y`, SPEC §5). All gates are read
    at the node that owns them:

    .. math::
        R_{x,y} &= T^{rl} R_{x-1,y} + T^{ru} D_{x,y-1} + S^r k v^\top \\
        D_{x,y} &= T^{dl} R_{x-1,y} + T^{du} D_{x,y-1} + S^d k v^\top \\
        y_{x,y} &= M^l R_{x-1,y}^\top q + M^u D_{x,y-1}^\top q + D\,(q\cdot k)\,v

    This equals :math:`y = (G \odot QK^\top)V` with :math:`G` summing gate products over
    all monotone paths. The forms (module docstring) compute exactly this.

    No :math:`K^{-1/2}` scaling is applied; layers do that. The recurrence runs in float32
    (float64 if any input is float64) with autocast disabled; the result has the dtype of
    ``query`` (:func:`~plstm_geometric.ops.utils.call_in_recurrence_dtype`, the rule of
    every kernel).

    Args:
        query (torch.Tensor): Queries.
        key (torch.Tensor): Keys.
        value (torch.Tensor): Values.
        source_r (torch.Tensor): :math:`S^r`, node onto its outgoing right edge.
        source_d (torch.Tensor): :math:`S^d`, node onto its outgoing down edge.
        trans_rl (torch.Tensor): :math:`T^{rl}`, incoming from the left to outgoing right.
        trans_ru (torch.Tensor, optional): :math:`T^{ru}`, incoming from above to outgoing
            right; :obj:`None` removes that turn.
        trans_dl (torch.Tensor, optional): :math:`T^{dl}`, incoming from the left to
            outgoing down; :obj:`None` removes that turn (D-mode chirality, SPEC §5).
        trans_du (torch.Tensor): :math:`T^{du}`, incoming from above to outgoing down.
        mark_l (torch.Tensor): :math:`M^l`, incoming left edge into the node.
        mark_u (torch.Tensor): :math:`M^u`, incoming up edge into the node.
        direct (torch.Tensor): :math:`D`.
        flip (tuple[bool, bool], optional): Run the DAG towards decreasing
            :math:`x` and/or :math:`y` (the four orientations of a vision layer).
            Gates keep their meaning relative to the propagation direction and are
            still indexed by the node that owns them. (default: :obj:`(False, False)`)
        form (str, optional): ``"dense"``, ``"graph"``, ``"wavefront"``, ``"chunkwise"`` or
            ``"auto"``: on CPU the graph form for grids up to :data:`GRAPH_MAX_SIDE` on a side
            and the compiled wavefront beyond (without a C++ compiler the dense form up to
            :data:`DENSE_MAX_SIDE` and the torch wavefront beyond; measured,
            docs/performance.md); on CUDA the chunkwise
            form with :data:`CUDA_CHUNK`-sided chunks (by design). (default: :obj:`"auto"`)
        chunk_size (int, optional): Chunk side of the chunkwise form, a power of two
            (lowered to the next power of two :math:`\geq \max(X, Y)`). With
            ``form="auto"`` a given ``chunk_size`` keeps its earlier meaning: 1 runs the
            wavefront, larger values the chunkwise form. (default: :obj:`None`)

    Shapes:
        - **input:** query/key :math:`(B, X, Y, H, K)`, value :math:`(B, X, Y, H, V)`,
          every gate :math:`(B, X, Y, H)`
        - **output:** :math:`(B, X, Y, H, V)`
    """
    gates = (source_r, source_d, trans_rl, trans_ru, trans_dl, trans_du, mark_l, mark_u, direct)
    check_2d(query, key, value, *gates)
    return plstm_2d_orientations(query, key, value,
                                 *(None if g is None else g[:, None] for g in gates),
                                 flips=[flip], form=form, chunk_size=chunk_size)[:, 0]


def plstm_2d_orientations(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    source_r: Tensor,
    source_d: Tensor,
    trans_rl: Tensor,
    trans_ru: Optional[Tensor],
    trans_dl: Optional[Tensor],
    trans_du: Tensor,
    mark_l: Tensor,
    mark_u: Tensor,
    direct: Tensor,
    *,
    flips: Sequence[tuple[bool, bool]],
    form: str = "auto",
    chunk_size: Optional[int] = None,
) -> Tensor:
    r""":func:`plstm_2d` for several orientations of the same ``q, k, v`` in one call.

    Output ``o`` equals ``plstm_2d(query, key, value, *(g[:, o] for g in gates),
    flip=flips[o], form=form)``; the dense form shares :math:`QK^\top` between them, the
    other forms run the orientations as one batch. Arguments as :func:`plstm_2d`.

    Shapes:
        - **input:** query/key :math:`(B, X, Y, H, K)`, value :math:`(B, X, Y, H, V)`,
          every gate :math:`(B, O, X, Y, H)` with :math:`O` = ``len(flips)``
        - **output:** :math:`(B, O, X, Y, H, V)`
    """
    gates = (source_r, source_d, trans_rl, trans_ru, trans_dl, trans_du, mark_l, mark_u, direct)
    check_2d(query, key, value, *gates, orientations=len(flips))
    form = _legacy_form(form, chunk_size)
    if form not in FORMS:
        raise ValueError(f"'form' must be one of {', '.join(map(repr, FORMS))}, got {form!r}")
    X, Y = query.shape[1:3]
    if form == "auto":
        form = choose_form(X, Y, query.device)
        if form == "chunkwise" and chunk_size is None:
            chunk_size = CUDA_CHUNK
    if form == "chunkwise":
        chunk_size = next_pow2(max(X, Y)) if chunk_size is None else chunk_size
        check_chunk_size(chunk_size)
    flips = [tuple(bool(f) for f in flip) for flip in flips]
    return call_in_recurrence_dtype(_run, query, key, value, *gates, flips=flips, form=form,
                                    chunk_size=chunk_size)


def _run(query: Tensor, key: Tensor, value: Tensor, *gates: Optional[Tensor],
         flips: Sequence[tuple[bool, bool]], form: str, chunk_size: Optional[int]) -> Tensor:
    if form == "dense":
        return dense_2d(query, key, value, *gates, flips=flips)
    if form == "graph":
        return graph_2d(query, key, value, *gates, flips=flips)
    if form == "wavefront" and compiled_available(query, key, value, *gates):
        # The recurrence itself, node by node in C++: flips are handled in the kernel, so no
        # flipped copies of the inputs (below) are made.
        return CompiledGrid.apply(flips, query, key, value, *gates)
    # The other forms run every orientation as a batch of its flipped copy.
    dims = [[d for d, f in zip((1, 2), flip) if f] for flip in flips]

    def batch(t: Tensor, per_orientation: bool) -> Tensor:
        parts = t.unbind(1) if per_orientation else [t] * len(flips)
        return torch.cat([p.flip(d) for p, d in zip(parts, dims)])

    args = [batch(t, False) for t in (query, key, value)]
    args += [None if g is None else batch(g, True) for g in gates]
    out = wavefront_2d(*args) if form == "wavefront" else chunk_2d(*args, chunk_size=chunk_size)
    return torch.stack([o.flip(d) for o, d in zip(out.split(query.shape[0]), dims)], 1)


def __getattr__(name: str) -> Any:
    # The chain kernel moved to its own family, plstm_geometric.ops.chain.
    if name in ("plstm_1d", "plstm_1d_reference"):
        warnings.warn(f"plstm_geometric.ops.grid.{name} moved to plstm_geometric.ops.chain."
                      f"{name}; the old path goes in the next release", DeprecationWarning,
                      stacklevel=2)
        from .. import chain
        return getattr(chain, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CUDA_CHUNK", "DENSE_MAX_SIDE", "GRAPH_MAX_SIDE", "FORMS", "choose_form", "plstm_2d",
           "plstm_2d_orientations", "plstm_2d_reference"]
