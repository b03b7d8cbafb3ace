r"""Compiled form: the dense closed form (:mod:`.dense`) as one C++ loop per graph, CPU only.

The math is the dense form's, per graph and head,

.. math::
    X = (I - A)^{-1} B, \quad G = \mathcal{M} X + \operatorname{diag}(D), \quad
    y_i = \sum_{m} G_{im}\, (q_i \cdot k_m)\, v_m,

but nothing is padded, scattered into buffers or launched per bucket: ``compiled.cpp`` walks
each graph's DAG edges in topological order (forward substitution, ``O(L·N)`` per graph instead
of a dense ``E²N`` solve) and its nodes in a topological rank order, in which ``G`` is lower
triangular. The ``K``- and ``V``-long loops run only over the structural non-zeros of ``G``
(the pairs ``m → i`` joined by a line-DAG path, and the diagonal). The hand-written backward
recomputes ``X``, ``G`` and ``QKᵀ`` and writes every gradient in place.

The library is built with the machine's C++ compiler (``$CXX``, else ``c++``) at first use,
about a second, and cached in ``$PLSTM_CACHE_DIR`` (default ``~/.cache/plstm_geometric``)
under a hash of the source, the flags, the compiler and the CPU. It is a plain shared library
called through :mod:`ctypes` with the tensors' pointers, so it needs no Python headers, no
ninja and none of ``torch.utils.cpp_extension``'s ~1 minute build. Without a compiler (or with
``PLSTM_COMPILED=0``) ``plstm_dag(form="auto")`` uses the pure-torch dense form.

The same library holds ``PLSTMConv``'s CPU path around the kernel: :class:`CompiledGates`
(the gates from their node and edge parts) and :class:`CompiledConv` (q/k norm, gates, kernel
and per-head RMSNorm as one autograd node on the layer's projection buffer).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.utils import cumsum

from ...structure import LineDAG
from ...structure._index import local_ids
from ...structure.levels import topological_levels

SOURCE = Path(__file__).with_name("compiled.cpp")
#: ``-fassociative-math`` (with the two flags it needs) lets the compiler vectorise the dot
#: products' sums; results differ from the torch forms by rounding only.
FLAGS = ("-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-pthread",
         "-fno-math-errno", "-fassociative-math", "-fno-signed-zeros", "-fno-trapping-math")


def cache_dir() -> Path:
    if os.environ.get("PLSTM_CACHE_DIR"):
        return Path(os.environ["PLSTM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "plstm_geometric"


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    # Flags decide what -march=native emits; the model name alone may hide them.
    lines = [line for line in text.splitlines() if line.startswith(("model name", "flags"))]
    return "\n".join(sorted(set(lines)))


def load_library(compiler: Optional[str] = None,
                 directory: Optional[Path] = None) -> tuple[Optional[ctypes.CDLL], str]:
    """Build (once per source, flags, compiler and CPU) and load the compiled kernel.

    Returns the library and ``""``, or ``None`` and why it is unavailable.
    """
    compiler = shutil.which(compiler or os.environ.get("CXX") or "c++")
    if compiler is None:
        return None, "no C++ compiler found ($CXX or c++)"
    source = SOURCE.read_bytes()
    tag = hashlib.sha256(b"\0".join([source, " ".join(FLAGS).encode(), compiler.encode(),
                                     platform.machine().encode(), _cpu_model().encode()]))
    directory = Path(directory) if directory is not None else cache_dir()
    target = directory / f"plstm_dense_{tag.hexdigest()[:16]}.so"
    if not target.exists():
        try:
            directory.mkdir(parents=True, exist_ok=True)
            # Build beside the target and rename: concurrent processes (DDP ranks) never load
            # a half-written library.
            with tempfile.TemporaryDirectory(dir=directory) as tmp:
                built = Path(tmp) / target.name
                result = subprocess.run([compiler, *FLAGS, str(SOURCE), "-o", str(built)],
                                        capture_output=True, text=True)
                if result.returncode != 0:
                    return None, f"{compiler} failed: {result.stderr.strip()[-2000:]}"
                os.replace(built, target)
        except OSError as error:
            return None, f"cannot build in {directory}: {error}"
    try:
        lib = ctypes.CDLL(str(target))
    except OSError as error:
        return None, f"cannot load {target}: {error}"
    for name in ("forward_f32", "forward_f64", "backward_f32", "backward_f64"):
        getattr(lib, f"plstm_dense_{name}").restype = None
        getattr(lib, f"plstm_gates_{name}").restype = None
        getattr(lib, f"plstm_norm_sum_{name}").restype = None
        getattr(lib, f"plstm_grid_{name}").restype = None
    for name in ("norm_weight_grad", "qk_prepare", "qk_prepare_backward"):
        getattr(lib, f"plstm_{name}_f32").restype = getattr(lib, f"plstm_{name}_f64").restype = None
    return lib, ""


_LIBRARY: Optional[tuple[Optional[ctypes.CDLL], str]] = None


def library() -> tuple[Optional[ctypes.CDLL], str]:
    """The process's kernel library (built or loaded at the first call), or ``None`` and why."""
    global _LIBRARY
    if os.environ.get("PLSTM_COMPILED", "1") == "0":
        return None, "disabled by PLSTM_COMPILED=0"
    if _LIBRARY is None:
        _LIBRARY = load_library()
    return _LIBRARY


class _Layout(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int64) for name in ("graphs", "heads", "kd", "vd")] + [
        (name, ctypes.c_void_p) for name in ("node_ptr", "node_of_rank", "edge_ptr", "edge_of_pos",
                                             "tail_rank", "head_rank", "line_ptr", "line_src",
                                             "line_id", "qkv_row")] + [("group", ctypes.c_int64)]


_KERNEL_TENSORS = ("q", "k", "v", "source", "transition", "mark", "direct")


class _Inputs(ctypes.Structure):  # Inputs<T>: pointers, then the row strides of q, k, v
    _fields_ = ([(name, ctypes.c_void_p) for name in _KERNEL_TENSORS] +
                [(name, ctypes.c_int64) for name in ("qs", "ks", "vs")])


class _Grads(ctypes.Structure):  # Grads<T>
    _fields_ = [(name, ctypes.c_void_p) for name in _KERNEL_TENSORS]


class _Norm(ctypes.Structure):  # Norm<T>
    _fields_ = [(name, ctypes.c_void_p) for name in ("weight", "yhat", "rstd")] + [
        ("eps", ctypes.c_double)]


@dataclass
class CompiledLayout:
    """Per-graph order of nodes, DAG edges and line edges that ``compiled.cpp`` walks.

    Positions are DAG edges graph by graph in line-DAG topological order (by ``edge_level``);
    ranks are nodes' places in a topological order of their graph's node DAG.
    """
    num_graphs: int
    node_ptr: Tensor  # [G+1] start of each graph in node_of_rank
    node_of_rank: Tensor  # [N] node id, graph by graph, by rank
    edge_ptr: Tensor  # [G+1] start of each graph in edge_of_pos
    edge_of_pos: Tensor  # [E] DAG edge id at each position
    tail_rank: Tensor  # [E] per position: rank of the tail within its graph
    head_rank: Tensor  # [E] per position: rank of the head
    line_ptr: Tensor  # [E+1] per position: start of its incoming line edges in line_src
    line_src: Tensor  # [L] position of each line edge's source, grouped by destination
    line_id: Tensor  # [L] column of each of those line edges in line_index
    # Graphs that share q, k, v rows (:func:`~plstm_geometric.ops.grid.graph.graph_2d`): the
    # row each node reads ([N]; None: its own), and how many consecutive graphs share rows.
    qkv_row: Optional[Tensor] = None
    group: int = 1
    structs: dict[tuple[int, int, int], _Layout] = field(default_factory=dict)

    def struct(self, heads: int, k_dim: int, v_dim: int) -> _Layout:
        key = (heads, k_dim, v_dim)
        if key not in self.structs:
            self.structs[key] = _Layout(
                self.num_graphs, heads, k_dim, v_dim,
                *(t.data_ptr() for t in (self.node_ptr, self.node_of_rank, self.edge_ptr,
                                         self.edge_of_pos, self.tail_rank, self.head_rank,
                                         self.line_ptr, self.line_src, self.line_id)),
                None if self.qkv_row is None else self.qkv_row.data_ptr(), self.group)
        return self.structs[key]


def node_ranks(line_dag: LineDAG, node_graph: Tensor, num_graphs: int) -> Optional[Tensor]:
    """Rank of every node within its graph in a topological order of the DAG edges, or ``None``
    if the DAG edges have a cycle (possible only for :meth:`LineDAG.from_edges`).

    Undirected inputs are oriented from lower to higher node index (or ``node_order``, which
    the chemistry pipeline applies to the node order itself), so the index order usually is
    topological and one comparison confirms it; otherwise levels of the node DAG decide.
    """
    num_nodes = line_dag.num_nodes
    tail, head = line_dag.dag_edge_index
    key = torch.arange(num_nodes)
    if not bool((tail < head).all()):
        try:
            level = topological_levels(line_dag.dag_edge_index, num_nodes, what="DAG")
        except ValueError:
            return None
        key = level * num_nodes + key
    return local_ids(node_graph, key, num_graphs)[0]


def compiled_layout(line_dag: LineDAG) -> Optional[CompiledLayout]:
    """The :class:`CompiledLayout` of a CPU ``line_dag``, cached on it (``None``: DAG edges
    with a cycle, which this form cannot order)."""
    if "compiled_layout" in line_dag.cache:
        return line_dag.cache["compiled_layout"]
    num_nodes, num_edges = line_dag.num_nodes, line_dag.num_edges
    node_graph = line_dag.batch if line_dag.batch is not None else torch.zeros(
        num_nodes, dtype=torch.long)
    num_graphs = int(node_graph.max()) + 1 if num_nodes else 0
    rank = node_ranks(line_dag, node_graph, num_graphs)
    layout = None
    if rank is not None:
        n_count = torch.bincount(node_graph, minlength=num_graphs)
        node_ptr = cumsum(n_count)
        node_of_rank = torch.empty(num_nodes, dtype=torch.long)
        node_of_rank[node_ptr[node_graph] + rank] = torch.arange(num_nodes)
        tail, head = line_dag.dag_edge_index
        edge_graph = node_graph[tail]
        # Levels make the order topological in the line DAG; ids break ties (deterministic).
        local, e_count = local_ids(edge_graph, line_dag.edge_level * max(num_edges, 1) +
                                   torch.arange(num_edges), num_graphs)
        edge_ptr = cumsum(e_count)
        pos = edge_ptr[edge_graph] + local
        edge_of_pos = torch.empty(num_edges, dtype=torch.long)
        edge_of_pos[pos] = torch.arange(num_edges)
        src, dst = line_dag.line_index
        line_id = torch.argsort(pos[dst], stable=True)
        layout = CompiledLayout(
            num_graphs, node_ptr, node_of_rank, edge_ptr, edge_of_pos,
            rank[tail[edge_of_pos]].contiguous(), rank[head[edge_of_pos]].contiguous(),
            cumsum(torch.bincount(pos[dst], minlength=num_edges)), pos[src][line_id].contiguous(),
            line_id)
    line_dag.cache["compiled_layout"] = layout
    return layout


def unavailable_reason(line_dag: LineDAG, device: torch.device) -> str:
    """Why the compiled form cannot run here (``""`` if it can)."""
    if device.type != "cpu":
        return f"it runs on the CPU only, the inputs are on {device}"
    lib, why = library()
    if lib is None:
        return why
    if compiled_layout(line_dag) is None:
        return "the DAG edges have a directed cycle, so its nodes have no topological order"
    return ""


def _inputs(tensors: tuple[Tensor, ...]) -> _Inputs:
    return _Inputs(*(t.data_ptr() for t in tensors), *(t.stride(0) for t in tensors[:3]))


def _grads(tensors: tuple[Tensor, ...]) -> _Grads:
    return _Grads(*(t.data_ptr() for t in tensors))


class CompiledPLSTM(torch.autograd.Function):
    """``compiled.cpp``'s forward and backward (the backward's formulas: :class:`.DensePLSTM`).

    ``query``, ``key``, ``value`` have one row per node, or per ``layout.qkv_row`` entry.
    """

    @staticmethod
    def forward(ctx: Any, query: Tensor, key: Tensor, value: Tensor, source: Tensor,
                transition: Tensor, mark: Tensor, direct: Tensor,
                layout: CompiledLayout) -> Tensor:
        inputs = tuple(t.contiguous() for t in (query, key, value, source, transition, mark,
                                                direct))
        heads, k_dim, v_dim = query.size(1), query.size(2), value.size(2)
        struct = layout.struct(heads, k_dim, v_dim)
        lib, _ = library()
        suffix = "f64" if query.dtype == torch.float64 else "f32"
        out = inputs[2].new_empty(layout.node_of_rank.numel(), heads, v_dim)
        getattr(lib, f"plstm_dense_forward_{suffix}")(
            ctypes.byref(struct), ctypes.byref(_inputs(inputs)), None,
            ctypes.c_void_p(out.data_ptr()), ctypes.c_int64(torch.get_num_threads()))
        ctx.save_for_backward(*inputs)
        ctx.layout = layout
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Optional[Tensor], ...]:
        inputs = ctx.saved_tensors
        heads, k_dim, v_dim = inputs[0].size(1), inputs[0].size(2), inputs[2].size(2)
        struct = ctx.layout.struct(heads, k_dim, v_dim)
        lib, _ = library()
        suffix = "f64" if inputs[0].dtype == torch.float64 else "f32"
        # The kernel writes every element, except that shared q, k, v rows are added to.
        grads = tuple(torch.zeros_like(t) if i < 3 and ctx.layout.qkv_row is not None else
                      torch.empty_like(t) for i, t in enumerate(inputs))
        grad_out = grad_out.contiguous()
        getattr(lib, f"plstm_dense_backward_{suffix}")(
            ctypes.byref(struct), ctypes.byref(_inputs(inputs)), None,
            ctypes.c_void_p(grad_out.data_ptr()), ctypes.byref(_grads(grads)),
            ctypes.c_int64(torch.get_num_threads()))
        return (*grads, None)


class _GateLayout(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int64) for name in ("nodes", "edges", "lines", "heads",
                                                    "normalise", "node_stride")] + [
        ("alpha", ctypes.c_double)] + [(name, ctypes.c_void_p) for name in (
            "tail", "head", "src", "dst", "group", "node_bias")]


def compiled_available(*tensors: Optional[Tensor]) -> bool:
    """Whether the library's compiled passes (:class:`CompiledGates`, :class:`CompiledConv`,
    :class:`CompiledNormSum`, :class:`CompiledGrid`) can take these tensors (``None`` entries
    are skipped): all on the CPU, of one dtype, float32 or float64 (autocast's half types and
    CUDA go the torch way), and the library built."""
    given = [t for t in tensors if t is not None]
    return (all(t.device.type == "cpu" and t.dtype == given[0].dtype for t in given)
            and given[0].dtype in (torch.float32, torch.float64) and library()[0] is not None)


def _ptr(t: Optional[Tensor]) -> ctypes.c_void_p:
    return ctypes.c_void_p(None if t is None else t.data_ptr())


class CompiledGates(torch.autograd.Function):
    r"""``PLSTMConv``'s gates from their node and edge parts in one C++ pass each way
    (``compiled.cpp``, ``gates_forward``; the math: :meth:`PLSTMConv.kernel_inputs
    <plstm_geometric.nn.PLSTMConv.kernel_inputs>`).

    ``node_gate`` ``[N, 4, H]`` = (source, mark, direct, transition) parts,
    ``edge_gate`` ``[E, 4, H]`` = (source, mark, transition from the incoming edge, into the
    outgoing edge) parts or ``None``; ``index`` = (tail, head, line src, line dst, group) with
    ``group`` the line edges' P-normalisation group, or ``None`` for D-mode's ``tanh``.
    Returns source, transition, mark ``[E | L, H]`` and direct ``[N, H]``.
    """

    @staticmethod
    def forward(ctx: Any, node_gate: Tensor, edge_gate: Optional[Tensor],
                index: tuple[Tensor, ...], normalise: bool, alpha: float) -> tuple[Tensor, ...]:
        node_gate = node_gate.contiguous()
        edge_gate = None if edge_gate is None else edge_gate.contiguous()
        # Read by pointer: a line_index given to LineDAG.from_edges may be a strided view.
        index = tuple(t.contiguous() for t in index)
        tail, head, src, dst, group = index
        num_nodes, heads = node_gate.size(0), node_gate.size(2)
        num_edges, num_lines = tail.numel(), src.numel()
        layout = _GateLayout(num_nodes, num_edges, num_lines, heads, int(normalise), 4 * heads,
                             alpha, *(t.data_ptr() for t in index), None)
        new = lambda rows: node_gate.new_empty(rows, heads)  # noqa: E731
        source, transition, mark, direct, total = (new(num_edges), new(num_lines),
                                                   new(num_edges), new(num_nodes), new(num_edges))
        lib, _ = library()
        suffix = "f64" if node_gate.dtype == torch.float64 else "f32"
        getattr(lib, f"plstm_gates_forward_{suffix}")(
            ctypes.byref(layout), _ptr(node_gate), _ptr(edge_gate), _ptr(source),
            _ptr(transition), _ptr(mark), _ptr(direct), _ptr(total))
        ctx.layout, ctx.keep = layout, index  # the layout points into index's tensors
        ctx.has_edge = edge_gate is not None
        ctx.save_for_backward(node_gate, edge_gate if edge_gate is not None else node_gate,
                              source, transition, mark, direct)
        return source, transition, mark, direct

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, d_source: Tensor, d_transition: Tensor, d_mark: Tensor,
                 d_direct: Tensor) -> tuple[Optional[Tensor], ...]:
        node_gate, edge_gate, source, transition, mark, direct = ctx.saved_tensors
        edge_gate = edge_gate if ctx.has_edge else None
        grads = [t.contiguous() for t in (d_source, d_transition, d_mark, d_direct)]
        d_node = torch.empty_like(node_gate)
        d_edge = None if edge_gate is None else torch.empty_like(edge_gate)
        tau, total, acc = (torch.empty_like(transition), torch.empty_like(source),
                           torch.empty_like(source))
        lib, _ = library()
        suffix = "f64" if node_gate.dtype == torch.float64 else "f32"
        getattr(lib, f"plstm_gates_backward_{suffix}")(
            ctypes.byref(ctx.layout), _ptr(node_gate), _ptr(edge_gate),
            *(_ptr(t) for t in (source, transition, mark, direct, *grads)), _ptr(d_node),
            _ptr(d_edge), _ptr(tau), _ptr(total), _ptr(acc))
        return d_node, d_edge, None, None, None


#: ``CompiledConv``'s ``qk`` for queries and keys read as projected (no norm, no scale).
QK_AS_IS = (False, 0.0, 1.0)


class CompiledConv(torch.autograd.Function):
    r"""``PLSTMConv``'s gates, kernel and per-head RMSNorm as one autograd node (its path on the
    CPU where the compiled form runs; the math: :class:`CompiledGates`, :class:`CompiledPLSTM`,
    :class:`~plstm_geometric.nn.MultiHeadRMSNorm`).

    ``projection`` ``[N, W]`` is the layer's one projection of the nodes: per row ``q``, ``k``,
    ``v`` (``[H, K]``, ``[H, K]``, ``[H, V]``) and the node gate parts (``[4, H]``), side by side;
    ``node_bias`` ``[4, H]`` (or ``None``) is added to the node gate parts, so that the projection
    can be a matmul without bias (whose backward sums no gradient columns for it).
    The kernel and the gate pass read them in place and write their gradients into one ``[N, W]``
    buffer, so that autograd neither copies the parts out nor concatenates their gradients (a
    ``split`` and its backward ``cat``). ``edge_gate``, ``index``, ``normalise`` and ``alpha``
    are :class:`CompiledGates`'. ``norm_weight`` ``[H, V]`` with
    ``eps``: the rows of the result are normalised and scaled while the kernel still holds them
    (``None``: the kernel output as it is). ``qk`` = (``normalise``, ``eps``, ``scale``):
    ``q``, ``k`` enter the kernel as ``scale · q / max(|q|, eps)`` and ``k / max(|k|, eps)``
    per head (``PLSTMConv``'s ``qk_norm`` and ``scale_qk``; without ``normalise`` only the
    scale), computed into contiguous buffers first; :data:`QK_AS_IS`: read in place.
    Returns ``[N, H, V]``.
    """

    @staticmethod
    def forward(ctx: Any, projection: Tensor, node_bias: Optional[Tensor],
                edge_gate: Optional[Tensor], norm_weight: Optional[Tensor],
                dims: tuple[int, int, int],
                index: tuple[Tensor, ...], normalise: bool, alpha: float, eps: float,
                layout: CompiledLayout, qk: tuple[bool, float, float]) -> Tensor:
        heads, k_dim, v_dim = dims
        projection = projection.contiguous()
        edge_gate = None if edge_gate is None else edge_gate.contiguous()
        node_bias = None if node_bias is None else node_bias.contiguous()
        index = tuple(t.contiguous() for t in index)  # read by pointer
        num_nodes, width = projection.shape
        gates = _GateLayout(num_nodes, index[0].numel(), index[2].numel(), heads, int(normalise),
                            width, alpha, *(t.data_ptr() for t in index),
                            None if node_bias is None else node_bias.data_ptr())
        new = lambda rows: projection.new_empty(rows, heads)  # noqa: E731
        source, transition, mark, total = (new(gates.edges), new(gates.lines), new(gates.edges),
                                           new(gates.edges))
        direct = new(num_nodes)
        lib, _ = library()
        suffix = "f64" if projection.dtype == torch.float64 else "f32"
        getattr(lib, f"plstm_gates_forward_{suffix}")(
            ctypes.byref(gates), _ptr_at(projection, _columns(dims)[3]), _ptr(edge_gate),
            _ptr(source), _ptr(transition), _ptr(mark), _ptr(direct), _ptr(total))
        q, k, v = _projection_parts(projection, dims)
        prepared: tuple[Tensor, ...] = ()
        if qk != QK_AS_IS:
            prepared = (projection.new_empty(num_nodes, heads, k_dim),
                        projection.new_empty(num_nodes, heads, k_dim), new(num_nodes),
                        new(num_nodes))  # q and k as the kernel reads them, |q|, |k|
            getattr(lib, f"plstm_qk_prepare_{suffix}")(
                *_qk_sizes(num_nodes, dims), *_strided(projection, dims)[:4],
                ctypes.c_int64(qk[0]), ctypes.c_double(qk[1]), ctypes.c_double(qk[2]),
                *map(_ptr, prepared))
            q, k = prepared[:2]
        yhat = rstd = None
        if norm_weight is not None:
            norm_weight = norm_weight.contiguous()
            yhat, rstd = projection.new_empty(num_nodes, heads, v_dim), new(num_nodes)
        out = projection.new_empty(num_nodes, heads, v_dim)
        getattr(lib, f"plstm_dense_forward_{suffix}")(
            ctypes.byref(layout.struct(heads, k_dim, v_dim)),
            ctypes.byref(_inputs((q, k, v, source, transition, mark, direct))),
            _norm(norm_weight, yhat, rstd, eps), ctypes.c_void_p(out.data_ptr()),
            ctypes.c_int64(torch.get_num_threads()))
        # The gate layout points into index's tensors and node_bias.
        ctx.dims, ctx.gates, ctx.keep, ctx.eps, ctx.layout = (dims, gates, (index, node_bias), eps,
                                                               layout)
        ctx.has_bias, ctx.has_edge, ctx.qk = node_bias is not None, edge_gate is not None, qk
        ctx.save_for_backward(projection, edge_gate, source, transition, mark, direct,
                              norm_weight, yhat, rstd, *prepared)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Optional[Tensor], ...]:
        (projection, edge_gate, source, transition, mark, direct, norm_weight, yhat, rstd,
         *prepared) = ctx.saved_tensors
        dims, gates = ctx.dims, ctx.gates
        heads, k_dim, v_dim = dims
        grad_out = grad_out.contiguous()
        lib, _ = library()
        suffix = "f64" if projection.dtype == torch.float64 else "f32"
        # q, k, v are written by the kernel and the node gate parts by the gate pass; columns
        # past them (none in PLSTMConv) are not read, so their gradient is zero.
        d_projection = torch.empty_like(projection)
        d_projection[:, _columns(dims)[3] + 4 * heads:].zero_()
        d_gates = tuple(torch.empty_like(t) for t in (source, transition, mark, direct))
        q, k, v = _projection_parts(projection, dims)
        dq, dk, dv = _projection_parts(d_projection, dims)
        if prepared:  # the kernel's q, k and their gradients are the prepared buffers
            q, k = prepared[:2]
            dq, dk = torch.empty_like(q), torch.empty_like(k)
        getattr(lib, f"plstm_dense_backward_{suffix}")(
            ctypes.byref(ctx.layout.struct(heads, k_dim, v_dim)),
            ctypes.byref(_inputs((q, k, v, source, transition, mark, direct))),
            _norm(norm_weight, yhat, rstd, ctx.eps), ctypes.c_void_p(grad_out.data_ptr()),
            ctypes.byref(_grads((dq, dk, dv, *d_gates))), ctypes.c_int64(torch.get_num_threads()))
        if prepared:
            getattr(lib, f"plstm_qk_prepare_backward_{suffix}")(
                *_qk_sizes(projection.size(0), dims), *map(_ptr, (*prepared, dq, dk)),
                ctypes.c_int64(ctx.qk[0]), ctypes.c_double(ctx.qk[1]), ctypes.c_double(ctx.qk[2]),
                *_strided(d_projection, dims)[:4])
        d_edge = torch.empty_like(edge_gate) if ctx.has_edge else None
        tau, total, acc = (torch.empty_like(transition), torch.empty_like(source),
                           torch.empty_like(source))
        at = _columns(dims)[3]
        getattr(lib, f"plstm_gates_backward_{suffix}")(
            ctypes.byref(gates), _ptr_at(projection, at), _ptr(edge_gate),
            *(_ptr(t) for t in (source, transition, mark, direct, *d_gates)),
            _ptr_at(d_projection, at), _ptr(d_edge), _ptr(tau), _ptr(total), _ptr(acc))
        d_bias = None
        if ctx.has_bias and ctx.needs_input_grad[1]:
            d_bias = d_projection[:, at:at + 4 * heads].sum(0).view(4, heads)
        d_weight = None
        if norm_weight is not None and ctx.needs_input_grad[3]:
            d_weight = torch.empty_like(norm_weight)
            getattr(lib, f"plstm_norm_weight_grad_{suffix}")(
                ctypes.c_int64(projection.size(0)), ctypes.c_int64(heads * v_dim),
                _ptr(grad_out), _ptr(yhat), _ptr(d_weight))
        return d_projection, d_bias, d_edge, d_weight, None, None, None, None, None, None, None


def _columns(dims: tuple[int, int, int]) -> tuple[int, int, int, int]:
    """Columns of a projection row where ``q``, ``k``, ``v`` and the node gate parts start."""
    heads, k_dim, v_dim = dims
    return 0, heads * k_dim, 2 * heads * k_dim, heads * (2 * k_dim + v_dim)


def _ptr_at(t: Tensor, column: int) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr() + column * t.element_size())


def _projection_parts(projection: Tensor, dims: tuple[int, int, int]) -> tuple[Tensor, ...]:
    heads, k_dim, v_dim = dims
    q, k, v, _ = _columns(dims)
    return (projection[:, q:k], projection[:, k:v], projection[:, v:v + heads * v_dim])


def _strided(projection: Tensor, dims: tuple[int, int, int]) -> tuple[Any, ...]:
    """Pointer and row stride of each of the projection's ``q``, ``k``, ``v``."""
    stride = ctypes.c_int64(projection.stride(0))
    return tuple(x for t in _projection_parts(projection, dims) for x in (_ptr(t), stride))


def _qk_sizes(num_nodes: int, dims: tuple[int, int, int]) -> tuple[ctypes.c_int64, ...]:
    return ctypes.c_int64(num_nodes), ctypes.c_int64(dims[0]), ctypes.c_int64(dims[1])


def _norm(weight: Optional[Tensor], yhat: Optional[Tensor], rstd: Optional[Tensor],
          eps: float) -> Optional[Any]:
    if weight is None:
        return None
    return ctypes.byref(_Norm(weight.data_ptr(), yhat.data_ptr(), rstd.data_ptr(), eps))


class _NormLayout(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int64) for name in ("images", "orientations", "rows", "heads",
                                                    "vd")] + [("eps", ctypes.c_double)]


class CompiledNormSum(torch.autograd.Function):
    r"""``PLSTM2D``'s output norm in one C++ pass each way (``compiled.cpp``,
    ``norm_sum_forward``): every orientation's output normalised per head by
    :class:`~plstm_geometric.nn.norm.MultiHeadRMSNorm`'s formula, scaled by ``weight`` and
    summed over the orientations.

    ``y`` ``[B, O, ..., H, V]``, ``weight`` ``[H, V]``; returns ``[B, ..., H, V]``.
    """

    @staticmethod
    def forward(ctx: Any, y: Tensor, weight: Tensor, eps: float) -> Tensor:
        y, weight = y.contiguous(), weight.contiguous()
        B, O, heads, v_dim = y.size(0), y.size(1), y.size(-2), y.size(-1)
        rows = y[0, 0].numel() // v_dim
        layout = _NormLayout(B, O, rows, heads, v_dim, eps)
        out = y.new_empty(B, *y.shape[2:])
        rstd = y.new_empty(B, O, rows)
        lib, _ = library()
        suffix = "f64" if y.dtype == torch.float64 else "f32"
        getattr(lib, f"plstm_norm_sum_forward_{suffix}")(
            ctypes.byref(layout), _ptr(y), _ptr(weight), _ptr(out), _ptr(rstd),
            ctypes.c_int64(torch.get_num_threads()))
        ctx.layout = layout
        ctx.save_for_backward(y, weight, rstd)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, d_out: Tensor) -> tuple[Optional[Tensor], ...]:
        y, weight, rstd = ctx.saved_tensors
        d_out = d_out.contiguous()
        d_y, d_weight = torch.empty_like(y), torch.empty_like(weight)
        lib, _ = library()
        suffix = "f64" if y.dtype == torch.float64 else "f32"
        getattr(lib, f"plstm_norm_sum_backward_{suffix}")(
            ctypes.byref(ctx.layout), _ptr(y), _ptr(weight), _ptr(rstd), _ptr(d_out), _ptr(d_y),
            _ptr(d_weight), ctypes.c_int64(torch.get_num_threads()))
        return d_y, d_weight, None


class _GridLayout(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int64) for name in ("images", "orientations", "X", "Y", "heads",
                                                    "kd", "vd")] + [("flips", ctypes.c_void_p)]


class _GridTensors(ctypes.Structure):  # GridInputs<T> and GridGrads<T>
    _fields_ = [(name, ctypes.c_void_p) for name in ("q", "k", "v")] + [
        ("gate", ctypes.c_void_p * 9)]


def _grid_pointers(tensors: tuple[Optional[Tensor], ...]) -> _GridTensors:
    return _GridTensors(*(t.data_ptr() for t in tensors[:3]),
                        (ctypes.c_void_p * 9)(*(None if t is None else t.data_ptr()
                                                for t in tensors[3:])))


class CompiledGrid(torch.autograd.Function):
    r"""The grid recurrence of :func:`~plstm_geometric.ops.grid.plstm_2d_orientations` with
    :math:`K \times V` cell states, one C++ loop over the nodes per (image, orientation,
    head), forward and backward (``compiled.cpp``, ``grid_forward``). Scratch per thread: two
    rows of states forward, every state of one (orientation, head) backward
    (:math:`2XYKV` values, 8 MB at 64x64 with K = V = 16).

    ``query``, ``key`` ``[B, X, Y, H, K]``, ``value`` ``[B, X, Y, H, V]``, the nine gates
    ``[B, O, X, Y, H]`` (``trans_ru``, ``trans_dl`` may be ``None``), ``flips`` the ``O``
    orientations' (x, y) flips; returns ``[B, O, X, Y, H, V]``.
    """

    @staticmethod
    def forward(ctx: Any, flips: Sequence[tuple[bool, bool]], query: Tensor, key: Tensor,
                value: Tensor, *gates: Optional[Tensor]) -> Tensor:
        inputs = tuple(None if t is None else t.contiguous() for t in (query, key, value, *gates))
        B, X, Y, heads, k_dim = query.shape
        flips = torch.tensor([[bool(f) for f in flip] for flip in flips],
                             dtype=torch.long).view(-1, 2)
        O, v_dim = flips.size(0), value.size(-1)
        layout = _GridLayout(B, O, X, Y, heads, k_dim, v_dim, flips.data_ptr())
        out = inputs[2].new_empty(B, O, X, Y, heads, v_dim)
        lib, _ = library()
        suffix = "f64" if query.dtype == torch.float64 else "f32"
        getattr(lib, f"plstm_grid_forward_{suffix}")(
            ctypes.byref(layout), ctypes.byref(_grid_pointers(inputs)), _ptr(out),
            ctypes.c_int64(torch.get_num_threads()))
        ctx.layout, ctx.flips = layout, flips  # the layout points into flips
        ctx.absent = [t is None for t in inputs]
        ctx.save_for_backward(*(t for t in inputs if t is not None))
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Optional[Tensor], ...]:
        saved = iter(ctx.saved_tensors)
        inputs = tuple(None if absent else next(saved) for absent in ctx.absent)
        grads = tuple(None if t is None else torch.empty_like(t) for t in inputs)  # all written
        grad_out = grad_out.contiguous()
        lib, _ = library()
        suffix = "f64" if inputs[0].dtype == torch.float64 else "f32"
        getattr(lib, f"plstm_grid_backward_{suffix}")(
            ctypes.byref(ctx.layout), ctypes.byref(_grid_pointers(inputs)), _ptr(grad_out),
            ctypes.byref(_grid_pointers(grads)), ctypes.c_int64(torch.get_num_threads()))
        return (None, *grads)


def plstm_dag_compiled(query: Tensor, key: Tensor, value: Tensor, source: Tensor,
                       transition: Tensor, mark: Tensor, direct: Tensor,
                       line_dag: LineDAG) -> Tensor:
    """Compiled form of :func:`~plstm_geometric.ops.plstm_dag` (same signature and result).

    Raises:
        ValueError: if it cannot run here (not on the CPU, no compiler, DAG edges with a cycle).
    """
    why = unavailable_reason(line_dag, query.device)
    if why:
        raise ValueError(f"form='compiled' is unavailable: {why}")
    if query.size(0) == 0:
        return value.new_zeros(value.shape)
    return CompiledPLSTM.apply(query, key, value, source, transition, mark, direct,
                               compiled_layout(line_dag))
