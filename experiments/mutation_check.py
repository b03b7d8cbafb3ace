"""Mutation check of the layer and init tests (issue 11): apply each known-wrong variant of the
library in turn, run the tests, list the tests that fail, restore the file.

    PLSTM_SHARED=/work/shared OMP_NUM_THREADS=1 python experiments/mutation_check.py [pytest args]

Default tests: ``tests/nn tests/test_models.py tests/test_vision.py``. Exits 1 when a mutation
survives (no test fails) or no longer applies (its source line changed: update the list).

``PLSTMConv``'s gates have two implementations: the compiled pass (``ops/dag/compiled.cpp``,
taken on the CPU) and the torch ops (CUDA, no compiler). Mutations of the torch ops run the
tests with ``PLSTM_COMPILED=0``, so that the layer oracle sees them; each has its compiled twin.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONV, GRID, BLOCK = "plstm_geometric/nn/conv.py", "plstm_geometric/nn/grid.py", \
    "plstm_geometric/nn/block.py"
CPP, NORM = "plstm_geometric/ops/dag/compiled.cpp", "plstm_geometric/nn/norm.py"
TORCH = {"PLSTM_COMPILED": "0"}  # the torch gate ops instead of the compiled pass

REF, OPTIONS = "tests/nn/test_layer_reference.py::", "tests/nn/test_layer_options.py::"
# (name, file, original text, mutated text, a test that must be among those failing[, extra
# environment of the test run]); each original must occur exactly once.
MUTATIONS = [
    ("tau at the tail of e' instead of the shared node", CONV,
     "tau = node_gate[dag.tail[dst], 3]", "tau = node_gate[dag.tail[src], 3]",
     REF + "test_kernel_inputs_match_reference[D-out-no-edges]", TORCH),
    ("compiled: tau at the tail of e'", CPP,
     "T t = node_part(G, ng, G.tail[G.dst[l]], 3, h);",
     "T t = node_part(G, ng, G.tail[G.src[l]], 3, h);",
     REF + "test_kernel_inputs_match_reference[D-out-no-edges]"),
    ('p_norm="out" normalising over the incoming group', CONV,
     'return dag.line_index[0] if self.p_norm == "out" else dag.line_index[1]',
     "return dag.line_index[1]", REF + "test_kernel_inputs_match_reference[P-out-no-edges]",
     TORCH),
    # The group is chosen in one place for all three gate paths; with the compiled library the
    # same mutation reaches CompiledGates and CompiledConv.
    ('compiled: p_norm="out" normalising over the incoming group', CONV,
     'return dag.line_index[0] if self.p_norm == "out" else dag.line_index[1]',
     "return dag.line_index[1]", REF + "test_kernel_inputs_match_reference[P-out-no-edges]"),
    ("mark gate from the tail instead of the head", CONV,
     "mark = node_gate[dag.tail, 0], node_gate[dag.head, 1]",
     "mark = node_gate[dag.tail, 0], node_gate[dag.tail, 1]",
     REF + "test_kernel_inputs_match_reference[P-out-no-edges]", TORCH),
    ("compiled: mark gate from the tail", CPP,
     "b = node_part(*G, ng, G->head[e], 1, h);", "b = node_part(*G, ng, G->tail[e], 1, h);",
     REF + "test_kernel_inputs_match_reference[P-out-no-edges]"),
    ("edge-feature parts of tau swapped", CONV,
     "tau + edge_gate[src, 2] + edge_gate[dst, 3]", "tau + edge_gate[src, 3] + edge_gate[dst, 2]",
     REF + "test_kernel_inputs_match_reference[P-out-edges]", TORCH),
    ("compiled: edge-feature parts of tau swapped", CPP,
     "eg[(G.src[l] * 4 + 2) * H + h] + eg[(G.dst[l] * 4 + 3) * H + h]",
     "eg[(G.src[l] * 4 + 3) * H + h] + eg[(G.dst[l] * 4 + 2) * H + h]",
     REF + "test_kernel_inputs_match_reference[P-out-edges]"),
    ("PLSTM2D D-mode S_r and S_d swapped", GRID,
     'return [sig["source_r"], sig["source_d"],', 'return [sig["source_d"], sig["source_r"],',
     REF + "test_plstm2d_matches_reference[D-3-4]"),
    ("kernel output replaced by noise", CONV,
     "y = y.reshape(*x.shape[:-1], self.heads * self.value_dim)",
     "y = torch.randn_like(y).reshape(*x.shape[:-1], self.heads * self.value_dim)",
     "tests/test_models.py::test_plstm_net_without_edge_features_and_cached_structures"),
    # Beyond issue 11's list: other slips the reference must see.
    ("direct gate from the source rows", CONV,
     "torch.sigmoid(node_gate[:, 2]))", "torch.sigmoid(node_gate[:, 0]))",
     REF + "test_kernel_inputs_match_reference[P-out-no-edges]", TORCH),
    ("compiled: direct gate from the source rows", CPP,
     "sigmoid(node_part(*G, ng, n, 2, h))", "sigmoid(node_part(*G, ng, n, 0, h))",
     REF + "test_kernel_inputs_match_reference[P-out-no-edges]"),
    ("query and key blocks of qkv swapped", CONV,
     "query, key, value, node_gate = both.split", "key, query, value, node_gate = both.split",
     REF + "test_kernel_inputs_match_reference[P-out-no-edges]"),
    ("PLSTM2D P-mode T_dl = 1 - o*S instead of 1 - o*T", GRID,
     "return [s_r, 1 - s_r, t_r, t_r, 1 - t_r, 1 - t_r, M, M, D]",
     "return [s_r, 1 - s_r, t_r, t_r, 1 - s_r, 1 - t_r, M, M, D]",
     REF + "test_plstm2d_matches_reference[P-3-4]"),
    ("PLSTM2D orientation bits for x and y exchanged", GRID,
     "flips = [(bool(o & 1), bool(o & 2)) for o in range(O)]",
     "flips = [(bool(o & 2), bool(o & 1)) for o in range(O)]",
     REF + "test_plstm2d_matches_reference[P-3-4]"),
    ("PLSTMBlock.reset_parameters walking self.modules() (the old init bug)", BLOCK,
     "for module in (*self.convs, *self.mlps, *self.local_convs, *self.norms):",
     "for module in [m for m in self.modules()\n"
     "                       if m is not self and hasattr(m, 'reset_parameters')]:",
     "tests/nn/test_init.py::test_fresh_module_has_the_documented_init[net-plain]"),
    # PLSTMBlock(local="gine") (ninth session): the GINE layer beside each pLSTM layer.
    ("local GINE layer fed the unnormalised input", BLOCK,
     "x = x + self.dropout(local(u, edge_index, edge_attr) if",
     "x = x + self.dropout(local(x, edge_index, edge_attr) if",
     "tests/nn/test_block_local.py::test_block_with_local_gine_matches_the_per_edge_oracle"
     "[False-3]"),
    ("local GINE layers of the P and D layer exchanged", BLOCK,
     "local = self.local_convs[i]", "local = self.local_convs[1 - i]",
     "tests/nn/test_block_local.py::test_block_with_local_gine_matches_the_per_edge_oracle"
     "[False-3]"),
    ("local GINE layers left out of PLSTMBlock.reset_parameters", BLOCK,
     "for module in (*self.convs, *self.mlps, *self.local_convs, *self.norms):",
     "for module in (*self.convs, *self.mlps, *self.norms):",
     "tests/nn/test_init.py::test_reset_parameters_rewrites_every_parameter_to_the_documented_init"
     "[block-local]"),
    ("compiled: per-graph norm skipped after CompiledConv", CONV,
     "return (self.gated_projection(y, x) if self.norm_type == \"rms\"\n"
     "                    else self.readout(y, x, graph))",
     "return self.gated_projection(y, x)",
     OPTIONS + "test_graph_norm_layer_against_a_per_graph_oracle[P-compiled]"),
    ("GraphHeadRMSNorm with one RMS per node instead of per graph", NORM,
     "scale = torch.rsqrt(graph_square + self.eps)[batch]  # [N, H]",
     "scale = torch.rsqrt(mean_square + self.eps)",
     OPTIONS + "test_identical_inputs_at_different_positions_give_different_outputs[P]"),
]


def failing_tests(pytest_args: list[str], env: dict[str, str] | None = None) -> list[str]:
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider",
                          *pytest_args], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    return [line.split()[1] for line in run.stdout.splitlines() if line.startswith("FAILED ")]


def main() -> int:
    args = sys.argv[1:] or ["tests/nn", "tests/test_models.py", "tests/test_vision.py"]
    if failing_tests(args) or failing_tests(args, TORCH):
        print("the tests fail without any mutation; fix them first")
        return 1
    bad = 0
    for name, rel, old, new, expected, *env in MUTATIONS:
        path = ROOT / rel
        source = path.read_text()
        if source.count(old) != 1:
            print(f"- {name}: NOT APPLIED ({old!r} occurs {source.count(old)}x in {rel})")
            bad += 1
            continue
        try:
            path.write_text(source.replace(old, new))
            caught = failing_tests(args, *env)
        finally:
            path.write_text(source)
        bad += expected not in caught
        # One line per failing test function, with its number of failing parametrisations.
        functions = [test.split("[")[0] for test in caught]
        shown = "; ".join(f"{f} ({functions.count(f)})" for f in dict.fromkeys(functions))
        verdict = "caught" if expected in caught else f"NOT CAUGHT by {expected}"
        print(f"- {name}: {verdict}; failing: {shown or 'none'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
