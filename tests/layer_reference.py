"""The pLSTM layers written again from SPEC §4 (graphs) and §5 (2D grids), slowly and obviously:
one Python step per node, DAG edge and line edge, parameters addressed by block name.

This is the tests' oracle for ``PLSTMConv.kernel_inputs`` / ``PLSTMConv.forward`` and
``PLSTM2D.forward``; it shares only the structures (``LineDAG``) and the sequential kernel
oracle ``plstm_dag_reference`` with the library. Which rows of a layer's weight matrices belong
to which gate is stated here, from the layers' documentation, and is part of what is tested.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from plstm_geometric import LineDAG, PLSTM2D, PLSTMConv, plstm_dag_reference

ALPHA = 0.5      # SPEC §3: T = τ / (α + Σ|τ|)
RMS_EPS = 1e-5   # SPEC §4: per-head RMSNorm over V, eps 1e-5

# PLSTMConv: ``node_gates`` rows are H-row blocks of source, mark, direct and transition
# ("node parts of the source, mark, direct and transition gates"); ``edge_gates`` rows are the
# edge parts of source, mark, and of the transition from the incoming edge e' and to the
# outgoing edge e of a line edge e' -> e. Within a block, row = head.
NODE_BLOCKS = ("S", "M", "D", "T")
EDGE_BLOCKS = ("S", "M", "T_in", "T_out")


def randomize_all(module: torch.nn.Module, seed: int = 0, scale: float = 0.5) -> torch.nn.Module:
    """Replace every parameter by N(0, scale²) noise. At init the gate weights are zero and the
    gate biases equal, which would hide swapped gates, swapped nodes and swapped blocks."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
    return module


def _block(weight: Tensor, names: tuple[str, ...], name: str, heads: int) -> Tensor:
    i = names.index(name)
    return weight[i * heads:(i + 1) * heads]


def _rms_norm(y: Tensor, weight: Tensor) -> Tensor:
    """``[H, V]`` per head: y / sqrt(mean(y²) + eps) · w_h."""
    return y / torch.sqrt((y ** 2).mean(-1, keepdim=True) + RMS_EPS) * weight


def conv_kernel_inputs(conv: PLSTMConv, x: Tensor, edge_index: Tensor, dag: LineDAG,
                       edge_attr: Optional[Tensor] = None) -> tuple[Tensor, ...]:
    """q, k, v ``[N, H, *]``, S ``[E, H]``, T ``[L, H]``, M ``[E, H]`` and D ``[N, H]`` of SPEC §4
    on the structure ``dag`` built from the input ``edge_index``."""
    H, K, V = conv.heads, conv.key_dim, conv.value_dim
    N = x.size(0)
    tail, head = dag.dag_edge_index.tolist()
    line = dag.line_index.t().tolist()
    w_qkv = conv.qkv.weight  # rows: q (H·K), k (H·K), v (H·V), each head-major
    w_q, w_k, w_v = w_qkv[:H * K], w_qkv[H * K:2 * H * K], w_qkv[2 * H * K:]
    q = torch.stack([(w_q @ x[n]).view(H, K) for n in range(N)]) if N else x.new_zeros(0, H, K)
    k = torch.stack([(w_k @ x[n]).view(H, K) for n in range(N)]) if N else x.new_zeros(0, H, K)
    v = torch.stack([(w_v @ x[n]).view(H, V) for n in range(N)]) if N else x.new_zeros(0, H, V)
    if conv.qk_norm:  # L2 per node and head, before the scale
        q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        k = k / k.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    if conv.scale_qk:
        q = q * K ** -0.5

    node_w, node_b = conv.node_gates.weight, conv.node_gates.bias
    wn = {g: _block(node_w, NODE_BLOCKS, g, H) for g in NODE_BLOCKS}
    bn = {g: _block(node_b, NODE_BLOCKS, g, H) for g in NODE_BLOCKS}
    if edge_attr is None:
        assert conv.edge_gates is None
        W_S, W_M, W_D, W_T = wn["S"], wn["M"], wn["D"], wn["T"]
        eps = [x.new_zeros(0)] * len(tail)
    else:
        we = {g: _block(conv.edge_gates.weight, EDGE_BLOCKS, g, H) for g in EDGE_BLOCKS}
        # W_S [x_t; ε_e], W_M [x_h; ε_e], W_T [ε_e'; ε_e; x_n] as one matrix each (SPEC §4).
        W_S = torch.cat([wn["S"], we["S"]], 1)
        W_M = torch.cat([wn["M"], we["M"]], 1)
        W_D = wn["D"]
        W_T = torch.cat([we["T_in"], we["T_out"], wn["T"]], 1)
        edge_attr = edge_attr.view(edge_attr.size(0), -1).to(x.dtype)
        eps = []
        for e, col in enumerate(dag.edge_id.tolist()):
            # The DAG edge's features are those of an input column joining its two endpoints.
            assert set(edge_index[:, col].tolist()) == {tail[e], head[e]}
            eps.append(edge_attr[col])

    S = torch.stack([torch.sigmoid(W_S @ torch.cat([x[tail[e]], eps[e]]) + bn["S"])
                     for e in range(len(tail))]) if tail else x.new_zeros(0, H)
    M = torch.stack([torch.sigmoid(W_M @ torch.cat([x[head[e]], eps[e]]) + bn["M"])
                     for e in range(len(tail))]) if tail else x.new_zeros(0, H)
    D = torch.stack([torch.sigmoid(W_D @ x[n] + bn["D"]) for n in range(N)]) \
        if N else x.new_zeros(0, H)
    tau = []
    for a, b in line:  # line edge e' = a -> e = b at the shared node n = h(e') = t(e)
        assert head[a] == tail[b]
        n = head[a]
        tau.append(W_T @ torch.cat([eps[a], eps[b], x[n]]) + bn["T"])
    T = []
    for i, (a, b) in enumerate(line):
        if conv.mode == "D":
            T.append(torch.tanh(tau[i]))
        else:
            if conv.p_norm == "out":  # over the line edges leaving e'
                group = [j for j, (a2, _) in enumerate(line) if a2 == a]
            else:  # "in": over the line edges entering e
                group = [j for j, (_, b2) in enumerate(line) if b2 == b]
            T.append(tau[i] / (ALPHA + sum(tau[j].abs() for j in group)))
    T = torch.stack(T) if T else x.new_zeros(0, H)
    return q, k, v, S, T, M, D


def conv_reference(conv: PLSTMConv, x: Tensor, edge_index: Tensor,
                   edge_attr: Optional[Tensor] = None, batch: Optional[Tensor] = None,
                   line_dag=None, node_order: Optional[Tensor] = None) -> Tensor:
    """``PLSTMConv.forward`` of SPEC §4: reference gates, ``plstm_dag_reference``, per-head
    RMSNorm (``norm="none"``: none), output gate σ(W_o x_n) if the layer has one, output
    projection. (Always builds its own structure; ``line_dag`` is ignored.)"""
    dag = LineDAG.from_graph(edge_index, x.size(0), mode=conv.mode, reverse=conv.reverse,
                             batch=batch, node_order=node_order)
    y = plstm_dag_reference(*conv_kernel_inputs(conv, x, edge_index, dag, edge_attr), dag)
    rows = [(_rms_norm(y[n], conv.norm.weight) if conv.norm_type == "rms" else y[n]).reshape(-1)
            for n in range(x.size(0))]
    if conv.out_gate is not None:
        rows = [r * torch.sigmoid(conv.out_gate.weight @ x[n] + conv.out_gate.bias)
                for n, r in enumerate(rows)]
    return torch.stack([conv.out.weight @ r + conv.out.bias for r in rows])


# --------------------------------------------------------------------------- PLSTM2D (SPEC §5)
def plstm2d_reference(layer: PLSTM2D, x: Tensor) -> Tensor:
    """``PLSTM2D.forward``: for each orientation, the grid DAG built node by node, the grid gates
    of SPEC §5 mapped onto its DAG and line edges, ``plstm_dag_reference``, RMSNorm; summed over
    orientations, then the output projection."""
    B, X, Y, _ = x.shape
    H, K, O = layer.heads, layer.head_dim, layer.orientations
    names = layer.gate_names
    # qkv rows: (q|k|v, head, K); gate rows: (gate name, orientation, head).
    w_qkv, b_qkv = layer.qkv.weight, layer.qkv.bias
    w_g, b_g = layer.gates.weight, layer.gates.bias

    def node_index(i: int, j: int) -> int:
        return i * Y + j

    out = x.new_zeros(B, X, Y, layer.out_channels)
    for b in range(B):
        feats = x[b].reshape(X * Y, -1)
        qkv = [(w_qkv @ f + b_qkv).view(3, H, K) for f in feats]
        q = torch.stack([t[0] for t in qkv]) * K ** -0.5
        k = torch.stack([t[1] for t in qkv])
        v = torch.stack([t[2] for t in qkv])
        total = x.new_zeros(X * Y, H, K)
        for o in range(O):
            step_x = -1 if o & 1 else 1  # bit 0 flips x, bit 1 flips y
            step_y = -1 if o & 2 else 1

            def pre(name: str, n: int) -> Tensor:
                rows = slice((names.index(name) * O + o) * H, (names.index(name) * O + o + 1) * H)
                return w_g[rows] @ feats[n] + b_g[rows]

            gates = [grid_node_gates(layer.mode, lambda name: pre(name, n)) for n in range(X * Y)]
            edges, kinds = [], []  # per node: its outgoing "right" (x) and "down" (y) edge
            for i in range(X):
                for j in range(Y):
                    if 0 <= i + step_x < X:
                        edges.append((node_index(i, j), node_index(i + step_x, j)))
                        kinds.append("x")
                    if 0 <= j + step_y < Y:
                        edges.append((node_index(i, j), node_index(i, j + step_y)))
                        kinds.append("y")
            # An x edge takes S_r of its tail and M_l of its head, a y edge S_d and M_u.
            source = [gates[t]["S_r" if kind == "x" else "S_d"]
                      for (t, _), kind in zip(edges, kinds)]
            mark = [gates[h]["M_l" if kind == "x" else "M_u"]
                    for (_, h), kind in zip(edges, kinds)]
            lines, transition = [], []
            for a, (_, n) in enumerate(edges):  # e' = a enters n; e = c leaves n
                for c, (t, _) in enumerate(edges):
                    if t != n:
                        continue
                    turn = {("x", "x"): "T_rl", ("y", "x"): "T_ru", ("x", "y"): "T_dl",
                            ("y", "y"): "T_du"}[kinds[a], kinds[c]]
                    if gates[n][turn] is None:  # D-mode: the left -> down turn is removed
                        continue
                    lines.append((a, c))
                    transition.append(gates[n][turn])
            dag = LineDAG.from_edges(torch.tensor(edges, dtype=torch.long).t().reshape(2, -1),
                                     torch.tensor(lines, dtype=torch.long).t().reshape(2, -1),
                                     X * Y)
            stack = lambda ts: torch.stack(ts) if ts else x.new_zeros(0, H)  # noqa: E731
            y = plstm_dag_reference(q, k, v, stack(source), stack(transition), stack(mark),
                                    torch.stack([g["D"] for g in gates]), dag)
            total = total + torch.stack([_rms_norm(y[n], layer.norm.weight)
                                         for n in range(X * Y)])
        for n in range(X * Y):
            out[b, n // Y, n % Y] = layer.out.weight @ total[n].reshape(-1) + layer.out.bias
    return out


def grid_node_gates(mode: str, pre) -> dict[str, Optional[Tensor]]:
    """The nine gates of one grid node from its pre-activations ``pre(name)`` (SPEC §5)."""
    sig = lambda name: torch.sigmoid(pre(name))  # noqa: E731
    if mode == "P":  # the orientation gate o splits mass between right and down
        o, S, T, M = sig("orientation"), sig("source"), sig("transition"), sig("mark")
        return {"S_r": o * S, "S_d": 1 - o * S, "T_rl": o * T, "T_ru": o * T,
                "T_dl": 1 - o * T, "T_du": 1 - o * T, "M_l": M, "M_u": M, "D": sig("direct")}
    return {"S_r": sig("source_r"), "S_d": sig("source_d"), "T_rl": torch.tanh(pre("trans_rl")),
            "T_ru": torch.tanh(pre("trans_ru")), "T_dl": None, "T_du": torch.tanh(pre("trans_du")),
            "M_l": sig("mark_l"), "M_u": sig("mark_u"), "D": sig("direct")}
