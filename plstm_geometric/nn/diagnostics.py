"""Per-layer statistics of the pLSTM layers of a model: the collapse diagnostic.

A collapsed pLSTM layer outputs (nearly) the same vector for every node of a graph, so the
model sees only a per-graph constant and training stalls at the label prior. The ratio

.. math::
    r = \\sqrt{\\frac{\\sum_n \\lVert y_n - \\bar y_{g(n)} \\rVert^2}{\\sum_n \\lVert y_n \\rVert^2}},
    \\qquad \\bar y_g = \\operatorname{mean}_{n \\in g} y_n,

(the node-wise std over RMS, within each graph) measures how much of a layer's output depends
on the node: 0 means a per-graph constant, 1 a zero-mean output per graph.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
from torch import Tensor
from torch_geometric.nn import global_mean_pool

from ..ops.dag import plstm_dag
from .conv import PLSTMConv, resolve_line_dag


def nodewise_ratio(y: Tensor, batch: Optional[Tensor] = None) -> float:
    """Within-graph node-wise std / RMS of ``y`` (:math:`(N, \\ldots)`), see the module doc;
    NaN when ``y`` is all zeros."""
    y = y.detach().reshape(y.size(0), -1).double()
    if batch is None:
        batch = torch.zeros(y.size(0), dtype=torch.long, device=y.device)
    centred = y - global_mean_pool(y, batch)[batch]
    rms = y.pow(2).sum()
    return float((centred.pow(2).sum() / rms).sqrt()) if rms > 0 else float("nan")


def _rms(t: Tensor) -> float:
    return float(t.double().pow(2).mean().sqrt())


@torch.no_grad()
def layer_statistics(model: torch.nn.Module, *args, **kwargs) -> List[Dict[str, float]]:
    """Runs ``model(*args, **kwargs)`` in eval mode once and returns, for every
    :class:`PLSTMConv` inside it (in module order), a dict of

    - ``layer``: its module name and ``mode``;
    - ``out_nodewise`` / ``out_rms``: :func:`nodewise_ratio` and RMS of the layer's output;
    - ``pre_nodewise``: the same ratio of the input of the output projection (after the norm
      and the output gate);
    - ``kernel_nodewise`` / ``kernel_rms``: of the kernel output :math:`y` before the norm;
    - ``source_mean``, ``mark_mean``, ``direct_mean``, ``transition_abs_mean``: gate means.
    """
    records: List[Dict[str, float]] = []
    handles = []

    def conv_hook(name: str, conv: PLSTMConv):
        captured: Dict[str, Tensor] = {}
        handles.append(conv.out.register_forward_hook(
            lambda m, inp, out: captured.__setitem__("pre", inp[0])))

        def hook(module, args, kwargs, out):
            names = ("x", "edge_index", "edge_attr", "batch", "line_dag", "node_order")
            bound = dict(zip(names, args), **kwargs)
            x, batch = bound["x"], bound.get("batch")
            dag = resolve_line_dag(bound.get("line_dag"), bound["edge_index"], x.size(0), batch,
                                   module.spec, bound.get("node_order"))
            inputs = module.kernel_inputs(x, dag, bound.get("edge_attr"))
            # Recomputed: on the CPU the layer's compiled path applies the norm inside the
            # kernel, so no module sees the kernel output.
            kernel = plstm_dag(*inputs, dag, form=module.form)
            _, _, _, source, transition, mark, direct = inputs
            records.append({
                "layer": f"{name} ({module.mode})",
                "out_nodewise": nodewise_ratio(out, batch), "out_rms": _rms(out),
                "pre_nodewise": nodewise_ratio(captured["pre"], batch),
                "kernel_nodewise": nodewise_ratio(kernel, batch), "kernel_rms": _rms(kernel),
                "source_mean": float(source.mean()), "mark_mean": float(mark.mean()),
                "direct_mean": float(direct.mean()),
                "transition_abs_mean": float(transition.abs().mean()),
            })
        handles.append(conv.register_forward_hook(hook, with_kwargs=True))

    for name, module in model.named_modules():
        if isinstance(module, PLSTMConv):
            conv_hook(name, module)
    was_training = model.training
    model.eval()
    try:
        model(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return records
