"""``PLSTMConv``: the pLSTM edge layer of the paper's graph experiments (SPEC §4)."""
from __future__ import annotations

import math
from typing import Optional, Union

import torch
from torch import Tensor
from torch.nn import Linear

from ..ops.dag import choose_form, plstm_dag
from ..ops.dag.compiled import (CompiledConv, CompiledGates, compiled_available,
                                compiled_layout, unavailable_reason)
from ..data.line_dag_data import LineDAGData
from ..structure import LineDAG
from ..structure.spec import LineDAGSpec
from .norm import GraphHeadRMSNorm, MultiHeadRMSNorm

#: Stabiliser of the P-mode normalisation ``τ / (α + Σ|τ|)`` (SPEC §3).
P_NORM_ALPHA = 0.5
#: Initial bias of the source, mark and direct gates (``gate_bias=``): σ(−5) ≈ 0.0067, as in
#: the reference.
GATE_BIAS = -5.0
#: Initial transition bias (weights start at 0). P: τ = 3, so a lone successor receives
#: 3 / 3.5 ≈ 0.86 of an edge's state and d successors 3 / (0.5 + 3d) each ("out" norm).
#: D: tanh(2) ≈ 0.96 per step. Both start with long memory.
TRANSITION_BIAS = {"P": 3.0, "D": 2.0}
#: ``eps`` of ``qk_norm``'s L2 normalisation (``torch.nn.functional.normalize``'s default).
QK_NORM_EPS = 1e-12
#: Output normalisations of the kernel output (``norm=``): the paper's per-head RMSNorm of each
#: node, one RMS per graph and head (:class:`GraphHeadRMSNorm`), or none.
NORMS = ("rms", "graph", "none")
#: ``eps`` of the per-head RMSNorm in the paper's layer (``norm_eps=``).
NORM_EPS = 1e-5
#: Initialisations (``init=``): the reference's (above), or PyTorch's default for every Linear.
INITS = ("reference", "torch")

LineDAGLike = Union[LineDAG, LineDAGData]


def resolve_line_dag(line_dag: Optional[LineDAGLike], edge_index: Tensor, num_nodes: int,
                     batch: Optional[Tensor], spec: LineDAGSpec,
                     node_order: Optional[Tensor] = None) -> LineDAG:
    """The structure a pLSTM layer with ``spec`` runs on: given, taken from ``AddLineDAG`` data,
    or built now. A given structure must have been built with exactly ``spec`` (a structure from
    explicit edges, without a spec, is taken as the caller's choice)."""
    if line_dag is None:
        return LineDAG.from_graph(edge_index, num_nodes, spec, node_order=node_order, batch=batch)
    if isinstance(line_dag, LineDAGData):
        line_dag = line_dag.line_dag(spec)
    if not isinstance(line_dag, LineDAG):
        raise ValueError(f"line_dag must be a LineDAG or LineDAGData, got {type(line_dag).__name__}")
    if line_dag.num_nodes != num_nodes:
        raise ValueError(f"line_dag has {line_dag.num_nodes} nodes but x has {num_nodes} rows")
    if line_dag.spec is not None and line_dag.spec != spec:
        raise ValueError(f"the layer runs on {spec}, but line_dag was built with {line_dag.spec}")
    return line_dag


class PLSTMConv(torch.nn.Module):
    r"""The pLSTM graph layer from `"pLSTM: parallelizable Linear Source Transition Mark networks"
    <https://arxiv.org/abs/2506.11997>`_ (edge variant), batched over PyG mini-batches.

    Every node is projected to query, key and value; gates are computed per DAG edge
    :math:`e = (t \to h)` with edge features :math:`\varepsilon_e`, and per line edge
    :math:`e' \to e` meeting at node :math:`n = h(e') = t(e)`:

    .. math::
        S_e = \sigma(W_S [x_{t(e)}; \varepsilon_e]), \quad
        M_e = \sigma(W_M [x_{h(e)}; \varepsilon_e]), \quad
        D_n = \sigma(W_D x_n), \quad
        \tau_{e' \to e} = W_T [\varepsilon_{e'}; \varepsilon_e; x_n]

    P-mode normalises :math:`T = \tau / (\alpha + \sum |\tau|)` over the line edges leaving
    :math:`e'` (``p_norm="out"``) or entering :math:`e` (``"in"``), :math:`\alpha = 0.5`; D-mode
    uses :math:`T = \tanh(\tau)` on the line DAG pruned to a multitree. Then
    :func:`~plstm_geometric.ops.plstm_dag` runs

    .. math::
        C_e = \sum_{e' \to e} T_{e'\to e} C_{e'} + S_e k_{t(e)} v_{t(e)}^\top, \quad
        y_n = \sum_{h(e)=n} M_e C_e^\top q_n + D_n (q_n \cdot k_n) v_n,

    followed by a per-head RMSNorm (``norm="rms"``, the paper's), a per-graph one
    (``norm="graph"``) or none (``norm="none"``), an
    optional xLSTM-style output gate :math:`o_n = \sigma(W_o x_n)` (``out_gate=True``) and an
    output projection of the concatenated heads:

    .. math::
        \mathrm{out}_n = W_{out}\,\big[o_n \odot \mathrm{Norm}(y_n)\big].

    With ``qk_norm=True`` queries and keys are L2-normalised per head, so
    :math:`|q_n \cdot k_m| \le 1` and the kernel output is bounded by the path sums of the gates
    (instead of growing with the squared projection scale).

    Args:
        in_channels: input node feature size.
        out_channels: output size.
        heads: number of heads :math:`H` (default 4).
        mode: ``"P"`` (directed propagation) or ``"D"`` (diffusive distribution).
        edge_dim: edge feature size; ``None`` means gates see node features only.
        reverse: run on the reverse DAG.
        p_norm: ``"out"`` (paper) or ``"in"`` (reference edge layer), P-mode only.
        key_dim: :math:`K` per head (default ``out_channels // heads``).
        value_dim: :math:`V` per head (default ``out_channels // heads``).
        scale_qk: multiply queries by :math:`K^{-1/2}` (the grid convention; off on graphs).
        prune: pruning rule (``"default"``: ``None`` in P-mode, ``"greedy"`` in D-mode;
            ``"chirality"`` for grids, with ``grid_shape``).
        directed: use ``edge_index`` directions as given (must be acyclic).
        drop_self_loops: drop self-loops instead of raising.
        form: kernel form for :func:`plstm_dag` (``"auto"``, ``"dense"``, ``"compiled"``,
            ``"state"``, ``"chain"``).
        norm: ``"rms"`` (per-head RMSNorm of each node's kernel output, the paper's),
            ``"graph"`` (:class:`~plstm_geometric.nn.norm.GraphHeadRMSNorm`: one RMS per graph
            and head over all of the graph's nodes, so each node's size relative to the other
            nodes of its graph survives) or ``"none"``.
        norm_eps: the norm's :math:`\epsilon` (default :data:`NORM_EPS`, the paper's). For
            ``"rms"`` a larger one leaves a kernel output whose mean square is far below it small
            instead of scaling it to unit size, so its size, which varies from node to node,
            survives.
        out_gate: multiply the normalised output by :math:`\sigma(W_o x)` per channel (xLSTM).
        qk_norm: L2-normalise queries and keys per head (before ``scale_qk``).
        init: ``"reference"`` (SPEC §4, see :meth:`reset_parameters`) or ``"torch"``
            (PyTorch's default ``Linear`` init for every projection and gate).
        gate_bias: initial bias of the source, mark and direct gates under ``init="reference"``
            (default :data:`GATE_BIAS`, the reference's): a less negative one starts the gates
            more open, so the kernel output and the gradients that reach the gates are larger
            from the first step.
        transition_bias: initial bias of the transition gate under ``init="reference"``
            (default ``None``: :data:`TRANSITION_BIAS` [mode], long memory). A smaller one starts
            with shorter memory; at 0 every τ starts at 0, so no state passes from edge to edge
            and the layer starts as one hop of gated message passing (each node marks the states
            its in-edges' sources wrote) that learns how far to carry.
        grid_shape: ``(MX, MY)`` of the grid graphs for ``prune="chirality"``.

    The structure options (``mode``, ``reverse``, ``prune``, ``directed``, ``drop_self_loops``,
    ``grid_shape``) form the layer's :attr:`spec`
    (:class:`~plstm_geometric.structure.LineDAGSpec`); a structure passed as ``line_dag`` must
    have been built with the same spec, else ``forward`` raises a ``ValueError`` naming both.

    Shapes:
        - **input:** node features :math:`(N, F_{in})`, edge indices :math:`(2, |\mathcal{E}|)`,
          edge features :math:`(|\mathcal{E}|, D)` *(optional)*, batch :math:`(N)` *(optional)*,
          ``line_dag`` (:class:`LineDAG` or ``AddLineDAG`` output) *(optional)*, node order
          :math:`(N)` *(optional)*
        - **output:** node features :math:`(N, F_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int, heads: int = 4, mode: str = "P",
                 edge_dim: Optional[int] = None, reverse: bool = False, p_norm: str = "out",
                 key_dim: Optional[int] = None, value_dim: Optional[int] = None,
                 scale_qk: bool = False, prune: Optional[str] = "default",
                 directed: bool = False, drop_self_loops: bool = False,
                 form: str = "auto", grid_shape: Optional[tuple[int, int]] = None,
                 norm: str = "rms", out_gate: bool = False, qk_norm: bool = False,
                 init: str = "reference", norm_eps: float = NORM_EPS,
                 gate_bias: float = GATE_BIAS,
                 transition_bias: Optional[float] = None) -> None:
        super().__init__()
        self.spec = LineDAGSpec(mode, reverse, prune, directed, drop_self_loops, grid_shape)
        if p_norm not in ("out", "in"):
            raise ValueError(f"p_norm must be 'out' or 'in', got {p_norm!r}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
        if not norm_eps > 0:
            raise ValueError(f"norm_eps must be positive, got {norm_eps!r}")
        if not math.isfinite(gate_bias):
            raise ValueError(f"gate_bias must be finite, got {gate_bias!r}")
        if transition_bias is not None and not math.isfinite(transition_bias):
            raise ValueError(f"transition_bias must be finite, got {transition_bias!r}")
        self.in_channels, self.out_channels, self.heads = in_channels, out_channels, heads
        self.edge_dim, self.p_norm = edge_dim, p_norm
        self.key_dim = key_dim or max(1, out_channels // heads)
        self.value_dim = value_dim or max(1, out_channels // heads)
        self.scale_qk, self.form = scale_qk, form
        self.norm_type, self.qk_norm, self.init = norm, qk_norm, init
        self.gate_bias = float(gate_bias)
        self.transition_bias = (TRANSITION_BIAS[self.spec.mode] if transition_bias is None
                                else float(transition_bias))
        h, k, v = heads, self.key_dim, self.value_dim
        self.qkv = Linear(in_channels, h * (2 * k + v), bias=False)
        # Node parts of the source, mark, direct and transition gates (one matmul).
        self.node_gates = Linear(in_channels, 4 * h)
        # Edge parts of source, mark, and of the transition from the incoming / outgoing edge.
        self.edge_gates = Linear(edge_dim, 4 * h, bias=False) if edge_dim else None
        self.norm = (MultiHeadRMSNorm(h, v, eps=norm_eps) if norm == "rms"
                     else GraphHeadRMSNorm(h, v, eps=norm_eps) if norm == "graph"
                     else torch.nn.Identity())
        self.out_gate = Linear(in_channels, h * v) if out_gate else None
        self.out = Linear(h * v, out_channels)
        self.reset_parameters()

    @property
    def mode(self) -> str:
        return self.spec.mode

    @property
    def reverse(self) -> bool:
        return self.spec.reverse

    def reset_parameters(self) -> None:
        """Reference initialisation (SPEC §4): ``qkv`` (no bias) and ``out`` weights
        ~ N(0, 1/(2.5·fan_in)), ``out`` bias 0; all gate weights (node and edge parts) 0, the
        source, mark and direct biases ``gate_bias`` (default :data:`GATE_BIAS`), the transition
        bias ``transition_bias`` (default :data:`TRANSITION_BIAS` [mode]); RMSNorm scale 1; the
        output gate (if any) weights and bias 0 (σ = 1/2). So at init every S, M, D gate is σ(gate_bias) and every τ is
        ``transition_bias``, whatever the input. ``init="torch"``: every ``Linear`` keeps
        PyTorch's default init instead."""
        if self.init == "torch":
            for lin in (self.qkv, self.node_gates, self.edge_gates, self.out_gate, self.out):
                if lin is not None:
                    lin.reset_parameters()
            if self.norm_type != "none":
                self.norm.reset_parameters()
            return
        for lin in (self.qkv, self.out):
            torch.nn.init.normal_(lin.weight, std=1.0 / math.sqrt(2.5 * lin.in_features))
        torch.nn.init.zeros_(self.out.bias)
        torch.nn.init.zeros_(self.node_gates.weight)
        bias = self.node_gates.bias.data.view(4, self.heads)
        bias[:3].fill_(self.gate_bias)
        bias[3].fill_(self.transition_bias)
        if self.edge_gates is not None:
            torch.nn.init.zeros_(self.edge_gates.weight)
        if self.out_gate is not None:
            torch.nn.init.zeros_(self.out_gate.weight)
            torch.nn.init.zeros_(self.out_gate.bias)
        if self.norm_type != "none":
            self.norm.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Optional[Tensor] = None,
                batch: Optional[Tensor] = None, line_dag: Optional[LineDAGLike] = None,
                node_order: Optional[Tensor] = None) -> Tensor:
        dag = resolve_line_dag(line_dag, edge_index, x.size(0), batch, self.spec, node_order)
        if edge_attr is not None and edge_attr.size(0) != edge_index.size(1):
            raise ValueError(f"edge_attr has {edge_attr.size(0)} rows but edge_index has "
                             f"{edge_index.size(1)} columns; it needs one row per column")
        # Each node's graph, for norm="graph" (a LineDAG built from a Batch carries it too).
        graph = batch if batch is not None else dag.batch
        if self.runs_compiled_conv(x, dag):
            group = self.p_norm_group(dag)
            # The node gates' bias is added by the gate pass (CompiledConv's node_bias); the
            # per-node RMSNorm runs inside it, any other norm in readout after it.
            y = CompiledConv.apply(
                self.projection(x, bias=False), self.node_gates.bias.view(4, self.heads),
                self.edge_gate(edge_attr, dag),
                self.norm.weight if self.norm_type == "rms" else None,
                (self.heads, self.key_dim, self.value_dim),
                (dag.tail, dag.head, *dag.line_index, group), self.mode == "P", P_NORM_ALPHA,
                self.norm.eps if self.norm_type == "rms" else 0.0, compiled_layout(dag),
                (self.qk_norm, QK_NORM_EPS if self.qk_norm else 0.0,
                 self.key_dim ** -0.5 if self.scale_qk else 1.0))
            return (self.gated_projection(y, x) if self.norm_type == "rms"
                    else self.readout(y, x, graph))
        return self.readout(plstm_dag(*self.kernel_inputs(x, dag, edge_attr), dag,
                                      form=self.form), x, graph)

    def runs_compiled_conv(self, x: Tensor, dag: LineDAG) -> bool:
        """Whether ``forward`` runs gates, kernel and norm as one
        :class:`~plstm_geometric.ops.dag.compiled.CompiledConv`: where the kernel is the compiled
        form (CPU, library built, ``form="compiled"`` or ``"auto"`` choosing it) and the gates
        could be compiled (:func:`~plstm_geometric.ops.dag.compiled.compiled_available`: ``x``
        and the parameters of one float32 or float64 dtype; no autocast, whose projections
        would come in half precision). Every check is on shapes, dtypes or values cached on
        ``dag``, so none syncs.
        """
        if x.size(0) == 0 or torch.is_autocast_enabled(x.device.type):
            return False
        if self.form != "compiled" and not (self.form == "auto" and choose_form(dag) == "dense"):
            return False
        return (compiled_available(x, *self.parameters())
                and not unavailable_reason(dag, x.device))

    def projection(self, x: Tensor, bias: bool = True) -> Tensor:
        """``qkv`` and ``node_gates`` of ``x`` ``[..., F_in]`` side by side,
        ``[..., H(2K+V) + 4H]`` (``bias=False``: without the node gates' bias, which
        ``CompiledConv`` adds in its gate pass).

        They run as one matmul on their stacked weights (``qkv`` has no bias, so its part of the
        bias is zero): one GEMM of ``H(2K+V) + 4H`` columns instead of two, and one gradient for
        ``x`` instead of two summed (fwd+bwd of both 11.1 -> 10.1 ms per HIV batch of 128 at
        width 128; the whole layer gains 0.2-0.5 ms of ~24).
        """
        weight = torch.cat([self.qkv.weight, self.node_gates.weight])
        if not bias:
            return torch.nn.functional.linear(x, weight)
        node_bias = self.node_gates.bias
        return torch.nn.functional.linear(
            x, weight, torch.cat([node_bias.new_zeros(self.qkv.out_features), node_bias]))

    def node_projections(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Query, key and value per head, ``[..., H, K]``, ``[..., H, K]``, ``[..., H, V]``
        (``qk_norm`` and ``scale_qk`` applied), and the node parts of the source, mark, direct
        and transition gates ``[..., 4, H]``, for ``x`` of shape ``[..., F_in]``."""
        return self.split_projection(self.projection(x))

    def split_projection(self, both: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """:meth:`node_projections` from :meth:`projection`'s output."""
        h, k, v = self.heads, self.key_dim, self.value_dim
        query, key, value, node_gate = both.split([h * k, h * k, h * v, 4 * h], dim=-1)
        lead = both.shape[:-1]
        query, key, value = query.view(*lead, h, k), key.view(*lead, h, k), value.view(*lead, h, v)
        if self.qk_norm:
            query = torch.nn.functional.normalize(query, dim=-1, eps=QK_NORM_EPS)
            key = torch.nn.functional.normalize(key, dim=-1, eps=QK_NORM_EPS)
        if self.scale_qk:
            query = query * k ** -0.5
        return query, key, value, node_gate.view(*lead, 4, h)

    def readout(self, y: Tensor, x: Tensor, batch: Optional[Tensor] = None) -> Tensor:
        """Kernel output ``[..., H, V]`` → layer output ``[..., F_out]``: per-head norm (for
        ``norm="graph"`` over the nodes of each graph of ``batch`` ``[N]``, ``y`` then
        ``[N, H, V]``), the optional output gate from ``x`` ``[..., F_in]``, the output
        projection."""
        return self.gated_projection(self.norm(y, batch) if self.norm_type == "graph"
                                     else self.norm(y), x)

    def gated_projection(self, y: Tensor, x: Tensor) -> Tensor:
        """:meth:`readout` after the norm."""
        # An explicit width: with no nodes, reshape(0, -1) cannot infer it.
        y = y.reshape(*x.shape[:-1], self.heads * self.value_dim)
        if self.out_gate is not None:
            y = y * torch.sigmoid(self.out_gate(x))
        return self.out(y)

    def kernel_inputs(self, x: Tensor, dag: LineDAG,
                      edge_attr: Optional[Tensor] = None) -> tuple[Tensor, ...]:
        """Query, key, value and the four gates that this layer feeds to :func:`plstm_dag`.

        On the CPU the gates come from their node and edge parts in one compiled pass
        (:class:`~plstm_geometric.ops.dag.compiled.CompiledGates`) where the compiled kernel
        library is available; otherwise (CUDA, no compiler, half precision) from the torch ops
        below, the same math.
        """
        return self.gates(*self.node_projections(x), self.edge_gate(edge_attr, dag), dag)

    def edge_gate(self, edge_attr: Optional[Tensor], dag: LineDAG) -> Optional[Tensor]:
        """The edge parts of the gates, ``[E, 4, H]`` (``None`` without ``edge_dim``)."""
        if self.edge_gates is not None:
            return self.edge_gates(self.dag_edge_features(edge_attr, dag)).view(
                -1, 4, self.heads)
        if edge_attr is not None:
            raise ValueError("edge_attr was given but the layer has edge_dim=None")
        return None

    def gates(self, query: Tensor, key: Tensor, value: Tensor, node_gate: Tensor,
              edge_gate: Optional[Tensor], dag: LineDAG) -> tuple[Tensor, ...]:
        """:meth:`kernel_inputs` from the node projections and the edge gate parts."""
        src, dst = dag.line_index
        if compiled_available(node_gate, edge_gate):
            gates = CompiledGates.apply(node_gate, edge_gate,
                                        (dag.tail, dag.head, src, dst, self.p_norm_group(dag)),
                                        self.mode == "P", P_NORM_ALPHA)
            return (query, key, value, *gates)
        source, mark = node_gate[dag.tail, 0], node_gate[dag.head, 1]
        tau = node_gate[dag.tail[dst], 3]
        if edge_gate is not None:
            source = source + edge_gate[:, 0]
            mark = mark + edge_gate[:, 1]
            tau = tau + edge_gate[src, 2] + edge_gate[dst, 3]
        transition = self.p_normalize(tau, dag) if self.mode == "P" else torch.tanh(tau)
        return (query, key, value, torch.sigmoid(source), transition, torch.sigmoid(mark),
                torch.sigmoid(node_gate[:, 2]))

    def dag_edge_features(self, edge_attr: Optional[Tensor], dag: LineDAG) -> Tensor:
        if edge_attr is None:
            raise ValueError(f"the layer has edge_dim={self.edge_dim} but no edge_attr was given")
        if edge_attr.dim() == 1:
            edge_attr = edge_attr.unsqueeze(-1)
        if edge_attr.dim() != 2 or edge_attr.size(1) != self.edge_dim:
            raise ValueError(f"edge_attr has shape {list(edge_attr.shape)}, but the layer has "
                             f"edge_dim={self.edge_dim}: it needs [num_edges, {self.edge_dim}]")
        # Only LineDAG.from_edges writes edge_id = -1, and only it leaves the spec unset, so a
        # structure with a spec needs no look at its edge ids (that would be a host sync).
        if dag.spec is None and dag.num_edges and int(dag.edge_id.min()) < 0:
            raise ValueError("this line DAG was built from explicit edges (edge_id = -1), so edge "
                             "features cannot be mapped onto its DAG edges")
        # index_select, not edge_attr[edge_id]: its forward copies whole rows and its backward
        # is an index_add_ (advanced indexing: element-wise gather, index_put_ backward). For
        # the 128-wide features of a HIV batch, gather + linear fwd+bwd 2.59 -> 1.46 ms.
        return edge_attr.index_select(0, dag.edge_id).to(self.edge_gates.weight.dtype)

    def p_norm_group(self, dag: LineDAG) -> Tensor:
        """Per line edge, the group P-mode normalises over: its source DAG edge
        (``p_norm="out"``) or its target (``"in"``); every gate path reads it here."""
        return dag.line_index[0] if self.p_norm == "out" else dag.line_index[1]

    def p_normalize(self, tau: Tensor, dag: LineDAG) -> Tensor:
        group = self.p_norm_group(dag)
        total = tau.new_zeros(dag.num_edges, self.heads).index_add_(0, group, tau.abs())
        return tau / (P_NORM_ALPHA + total[group])

    def __repr__(self) -> str:
        default = LineDAGSpec(self.mode, self.reverse)
        options = "".join(f", {name}={getattr(self.spec, name)!r}" for name in
                          ("prune", "directed", "drop_self_loops", "grid_shape")
                          if getattr(self.spec, name) != getattr(default, name))
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"heads={self.heads}, mode={self.mode}"
                + (", reverse=True" if self.reverse else "")
                + (f", edge_dim={self.edge_dim}" if self.edge_dim else "") + options
                + (f", norm={self.norm_type}" if self.norm_type != "rms" else "")
                + (f", norm_eps={self.norm.eps}" if self.norm_type != "none"
                   and self.norm.eps != NORM_EPS else "")
                + (", out_gate=True" if self.out_gate is not None else "")
                + (", qk_norm=True" if self.qk_norm else "")
                + (f", init={self.init}" if self.init != "reference" else "")
                + (f", gate_bias={self.gate_bias:g}" if self.gate_bias != GATE_BIAS else "")
                + (f", transition_bias={self.transition_bias:g}"
                   if self.transition_bias != TRANSITION_BIAS[self.mode] else "") + ")")
