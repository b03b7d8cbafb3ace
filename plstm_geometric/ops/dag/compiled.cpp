// Compiled dense form of plstm_dag (see compiled.py for the math and the layout).
//
// One task per graph: its nodes in topological rank order, its DAG edges in line-DAG
// topological order ("positions"), and per position the line edges that enter it. Every
// matrix of the closed form is built and used in thread-local scratch, per graph and head:
//   X = (I - A)^{-1} B   forward substitution over positions, X[p] supported on ranks <= tail(p)
//   G = M X + diag(D)    lower triangular in rank order (m reaches i only if rank m <= rank i)
//   y_i = sum_{m in supp G[i]} G[i,m] (q_i . k_m) v_m
// The support of G's rows (the structural non-zeros, from the same recursion as X) is
// computed once per graph; the K- and V-long loops run over it only. The backward recomputes
// X, G and Q K^T (cheaper than storing them) and writes every gradient in place: a node, DAG
// edge or line edge belongs to exactly one graph, so tasks never write the same element.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

typedef int64_t i64;

struct Layout {
  i64 graphs, heads, kd, vd;
  const i64 *node_ptr;      // [G+1] start of each graph in node_of_rank
  const i64 *node_of_rank;  // [N] node id, graph by graph, topological rank order
  const i64 *edge_ptr;      // [G+1] start of each graph in edge_of_pos
  const i64 *edge_of_pos;   // [E] DAG edge id, graph by graph, line-DAG topological order
  const i64 *tail_rank;     // [E] per position: rank of the edge's tail within its graph
  const i64 *head_rank;     // [E] per position: rank of the edge's head
  const i64 *line_ptr;      // [E+1] per position: start of the line edges entering it
  const i64 *line_src;      // [L] global position of each line edge's source
  const i64 *line_id;       // [L] index of the line edge in `transition`
  // Optional: [N] row of q, k, v read by each node (null: the node's own), for graphs that
  // share them (a vision layer's orientations of one image); `group` consecutive graphs share
  // rows and run on one thread, and q, k, v gradients are added to (zeroed by the caller).
  const i64 *qkv_row;
  i64 group;
};

static inline i64 qkv_row(const Layout &L, i64 node) { return L.qkv_row ? L.qkv_row[node] : node; }

// q, k, v rows are `qs`, `ks`, `vs` elements apart (their [H, K] / [H, V] blocks contiguous),
// and so are the rows of their gradients in Grads: PLSTMConv passes strided views into its one
// projection buffer and gets their gradients written into one gradient buffer (no copies, no
// concatenation of the parts' gradients).
template <typename T>
struct Inputs {
  const T *q, *k, *v, *source, *transition, *mark, *direct;
  i64 qs, ks, vs;
};

template <typename T>
struct Grads {
  T *q, *k, *v, *source, *transition, *mark, *direct;
};

// Optional per-head RMSNorm of the output (PLSTMConv's norm="rms"), applied to each row while it
// is in registers: out = yhat * weight[h], yhat = y * rstd, rstd = 1 / sqrt(mean(y^2) + eps).
// The forward writes yhat and rstd for the backward, which turns d out into d y row by row.
template <typename T>
struct Norm {
  const T *weight;  // [H, V]
  T *yhat;          // [N, H, V]
  T *rstd;          // [N, H]
  double eps;
};

template <typename T>
static inline T dot(const T *a, const T *b, i64 n) {
  T s = 0;
  for (i64 c = 0; c < n; ++c) s += a[c] * b[c];
  return s;
}

// Blocks of 16 with every load before any store: the compiler vectorises a block without
// having to prove that x and y do not overlap (they never do here: rows of different buffers,
// or different rows of one). Written as one loop, the 16- or 32-long fixed-size calls came
// out as scalar read-modify-writes.
template <typename T>
static inline void axpy(T alpha, const T *x, T *y, i64 n) {
  i64 c = 0;
  for (; c + 16 <= n; c += 16) {
    T t[16];
    for (int j = 0; j < 16; ++j) t[j] = y[c + j] + alpha * x[c + j];
    for (int j = 0; j < 16; ++j) y[c + j] = t[j];
  }
  for (; c < n; ++c) y[c] += alpha * x[c];
}

// One row of a per-head RMSNorm, shared by PLSTMConv's norm="rms" and PLSTM2D's output norm:
// rstd = 1 / sqrt(mean(y^2) + eps); the backward turns g = d yhat (d out times the weight) into
// d y = rstd (g - yhat mean(g yhat)). dy may be g itself.
template <typename T>
static inline T inv_rms(const T *row, i64 V, double eps) {
  return T(1) / std::sqrt(dot(row, row, V) / T(V) + T(eps));
}

template <typename T>
static inline void rms_row_backward(const T *g, const T *yhat, T rstd, i64 V, T *dy) {
  const T mean = dot(g, yhat, V) / T(V);
  for (i64 c = 0; c < V; ++c) dy[c] = (g[c] - yhat[c] * mean) * rstd;
}

// Per-thread scratch; vectors only grow.
template <typename T>
struct Scratch {
  std::vector<T> x, z, g, qk, dg, row, dyrow;
  std::vector<i64> col_ptr, cols;
  std::vector<uint64_t> supp;
};

// Structural support of G's rows for graph `g`: cols[col_ptr[i] .. col_ptr[i+1]) = the ranks m
// (ascending) with a path from m to i along line edges, or m = i.
template <typename T>
static void support(const Layout &L, i64 g, Scratch<T> &s) {
  const i64 n = L.node_ptr[g + 1] - L.node_ptr[g], e0 = L.edge_ptr[g],
            e = L.edge_ptr[g + 1] - e0, words = (n + 63) / 64;
  s.supp.assign((size_t)((e + n) * words), 0);
  uint64_t *xs = s.supp.data(), *gs = xs + e * words;  // rows of X, then rows of G
  for (i64 i = 0; i < n; ++i) gs[i * words + i / 64] |= uint64_t(1) << (i % 64);
  for (i64 p = 0; p < e; ++p) {
    uint64_t *row = xs + p * words;
    const i64 t = L.tail_rank[e0 + p];
    row[t / 64] |= uint64_t(1) << (t % 64);
    for (i64 j = L.line_ptr[e0 + p]; j < L.line_ptr[e0 + p + 1]; ++j) {
      const uint64_t *src = xs + (L.line_src[j] - e0) * words;
      for (i64 w = 0; w < words; ++w) row[w] |= src[w];
    }
    uint64_t *grow = gs + L.head_rank[e0 + p] * words;
    for (i64 w = 0; w < words; ++w) grow[w] |= row[w];
  }
  s.col_ptr.assign((size_t)(n + 1), 0);
  s.cols.clear();
  for (i64 i = 0; i < n; ++i) {
    for (i64 m = 0; m <= i; ++m)
      if (gs[i * words + m / 64] >> (m % 64) & 1) s.cols.push_back(m);
    s.col_ptr[i + 1] = (i64)s.cols.size();
  }
}

// X (rows p, columns 0..tail(p)) and G (dense n x n, zero outside its support) of graph g, head h.
template <typename T>
static void closed_form(const Layout &L, const Inputs<T> &in, i64 g, i64 h, Scratch<T> &s) {
  const i64 H = L.heads, n = L.node_ptr[g + 1] - L.node_ptr[g], e0 = L.edge_ptr[g],
            e = L.edge_ptr[g + 1] - e0;
  const i64 *nodes = L.node_of_rank + L.node_ptr[g];
  T *x = s.x.data(), *gm = s.g.data();
  std::fill(gm, gm + n * n, T(0));
  for (i64 i = 0; i < n; ++i) gm[i * n + i] = in.direct[nodes[i] * H + h];
  for (i64 p = 0; p < e; ++p) {
    const i64 P = e0 + p, t = L.tail_rank[P], edge = L.edge_of_pos[P];
    T *row = x + p * n;
    std::fill(row, row + t, T(0));
    row[t] = in.source[edge * H + h];
    for (i64 j = L.line_ptr[P]; j < L.line_ptr[P + 1]; ++j) {
      const i64 src = L.line_src[j] - e0;
      axpy(in.transition[L.line_id[j] * H + h], x + src * n, row, L.tail_rank[L.line_src[j]] + 1);
    }
    axpy(in.mark[edge * H + h], row, gm + L.head_rank[P] * n, t + 1);
  }
}

template <typename T>
static void grow(Scratch<T> &s, i64 n, i64 e, i64 width) {
  auto at_least = [](std::vector<T> &v, i64 size) {
    if ((i64)v.size() < size) v.resize((size_t)size);
  };
  at_least(s.x, e * n);
  at_least(s.z, e * n);
  at_least(s.g, n * n);
  at_least(s.qk, n * n);
  at_least(s.dg, n * n);
  at_least(s.row, width);
}

// Row (node i, head h) of the normalised output from its accumulator `acc`.
template <typename T>
static inline void normalise_row(const Norm<T> &nm, const T *acc, i64 o, i64 h, i64 V, T *out) {
  const T r = inv_rms(acc, V, nm.eps);
  const T *w = nm.weight + h * V;
  T *yh = nm.yhat + o * V;
  for (i64 c = 0; c < V; ++c) {
    yh[c] = acc[c] * r;
    out[c] = yh[c] * w[c];
  }
  nm.rstd[o] = r;
}

// d y of row o (head h) from d out (dy is not dout).
template <typename T>
static inline void normalise_row_backward(const Norm<T> &nm, const T *dout, i64 o, i64 h, i64 V,
                                          T *dy) {
  const T *w = nm.weight + h * V;
  for (i64 j = 0; j < V; ++j) dy[j] = dout[j] * w[j];
  rms_row_backward(dy, nm.yhat + o * V, nm.rstd[o], V, dy);
}

// KC, VC: K and V known at compile time (the common head sizes, see `dispatch`: the compiler
// unrolls the K- and V-long loops, ~1.4x faster), or 0 for any size.
template <typename T, i64 KC, i64 VC>
static void forward_graph(const Layout &L, const Inputs<T> &in, const Norm<T> *nm, T *y, i64 g,
                          Scratch<T> &s) {
  const i64 H = L.heads, K = KC ? KC : L.kd, V = VC ? VC : L.vd,
            n = L.node_ptr[g + 1] - L.node_ptr[g];
  if (n == 0) return;
  const i64 e = L.edge_ptr[g + 1] - L.edge_ptr[g];
  const i64 *nodes = L.node_of_rank + L.node_ptr[g];
  grow(s, n, e, V);
  support(L, g, s);
  // Row accumulators: a local array when V is known at compile time (kept in registers; in
  // memory, every pair would wait for the previous pair's store).
  T local[VC ? VC : 1];
  for (i64 h = 0; h < H; ++h) {
    closed_form(L, in, g, h, s);
    const T *gm = s.g.data();
    for (i64 i = 0; i < n; ++i) {
      const T *qi = in.q + qkv_row(L, nodes[i]) * in.qs + h * K;
      T *acc = VC ? local : s.row.data();
      std::fill(acc, acc + V, T(0));
      for (i64 c = s.col_ptr[i]; c < s.col_ptr[i + 1]; ++c) {
        const i64 m = s.cols[c], node = qkv_row(L, nodes[m]);
        const T p = gm[i * n + m] * dot(qi, in.k + node * in.ks + h * K, K);
        axpy(p, in.v + node * in.vs + h * V, acc, V);
      }
      const i64 o = nodes[i] * H + h;
      if (nm)
        normalise_row(*nm, acc, o, h, V, y + o * V);
      else
        std::copy(acc, acc + V, y + o * V);
    }
  }
}

template <typename T, i64 KC, i64 VC>
static void backward_graph(const Layout &L, const Inputs<T> &in, const Norm<T> *nm, const T *dy,
                           const Grads<T> &d, i64 g, Scratch<T> &s) {
  const i64 H = L.heads, K = KC ? KC : L.kd, V = VC ? VC : L.vd,
            n = L.node_ptr[g + 1] - L.node_ptr[g];
  if (n == 0) return;
  const i64 e0 = L.edge_ptr[g], e = L.edge_ptr[g + 1] - e0;
  const i64 *nodes = L.node_of_rank + L.node_ptr[g];
  grow(s, n, e, K);
  if (nm && (i64)s.dyrow.size() < V) s.dyrow.resize((size_t)V);
  support(L, g, s);
  for (i64 h = 0; h < H; ++h) {
    closed_form(L, in, g, h, s);
    const T *gm = s.g.data(), *x = s.x.data();
    T local[KC ? KC : 1], dy_local[VC ? VC : 1];
    T *dg = s.dg.data(), *z = s.z.data(), *dq = KC ? local : s.row.data();
    std::fill(dg, dg + n * n, T(0));
    for (i64 i = 0; i < n && !L.qkv_row; ++i) {
      T *dk = d.k + nodes[i] * in.ks + h * K, *dv = d.v + nodes[i] * in.vs + h * V;
      std::fill(dk, dk + K, T(0));
      std::fill(dv, dv + V, T(0));
    }
    // P = G . QK^T:  dV_m += P[i,m] dY_i,  dP = dY_i . v_m,  dG = dP QK,  dQK = dP G,
    // dQ_i += dQK k_m,  dK_m += dQK q_i.
    for (i64 i = 0; i < n; ++i) {
      const i64 oi = nodes[i] * H + h, ri = qkv_row(L, nodes[i]) * in.qs + h * K;
      const T *qi = in.q + ri, *dyi = dy + oi * V;
      if (nm) {
        T *row = VC ? dy_local : s.dyrow.data();
        normalise_row_backward(*nm, dyi, oi, h, V, row);
        dyi = row;
      }
      std::fill(dq, dq + K, T(0));
      for (i64 c = s.col_ptr[i]; c < s.col_ptr[i + 1]; ++c) {
        const i64 m = s.cols[c], row = qkv_row(L, nodes[m]);
        const i64 km_at = row * in.ks + h * K, vm_at = row * in.vs + h * V;
        const T *km = in.k + km_at, *vm = in.v + vm_at;
        const T gim = gm[i * n + m], qk = dot(qi, km, K);
        axpy(gim * qk, dyi, d.v + vm_at, V);
        const T dp = dot(dyi, vm, V);
        dg[i * n + m] = dp * qk;
        const T dqk = dp * gim;
        axpy(dqk, km, dq, K);
        axpy(dqk, qi, d.k + km_at, K);
      }
      if (L.qkv_row)
        axpy(T(1), dq, d.q + ri, K);
      else
        std::copy(dq, dq + K, d.q + ri);
      d.direct[oi] = dg[i * n + i];
    }
    // G = M X: dM_p = dG[head(p)] . X[p],  dX[p] = M_p dG[head(p)]; then Z = (I - A)^{-T} dX
    // by back substitution: dS_p = Z[p, tail(p)], dT_{s->p} = Z[p] . X[s], Z[s] += T Z[p].
    for (i64 p = 0; p < e; ++p) {
      const i64 P = e0 + p, t = L.tail_rank[P], edge = L.edge_of_pos[P];
      const T *dgh = dg + L.head_rank[P] * n;
      const T mark = in.mark[edge * H + h];
      d.mark[edge * H + h] = dot(dgh, x + p * n, t + 1);
      T *zp = z + p * n;
      for (i64 m = 0; m <= t; ++m) zp[m] = mark * dgh[m];
    }
    for (i64 p = e - 1; p >= 0; --p) {
      const i64 P = e0 + p;
      const T *zp = z + p * n;
      d.source[L.edge_of_pos[P] * H + h] = zp[L.tail_rank[P]];
      for (i64 j = L.line_ptr[P]; j < L.line_ptr[P + 1]; ++j) {
        const i64 src = L.line_src[j] - e0, width = L.tail_rank[L.line_src[j]] + 1;
        d.transition[L.line_id[j] * H + h] = dot(zp, x + src * n, width);
        axpy(in.transition[L.line_id[j] * H + h], zp, z + src * n, width);
      }
    }
  }
}

// Groups of L.group graphs (interleaved: groups first, first + step, ..., so that large and
// small graphs spread over the threads); a group's graphs run on one thread, in order. Every
// thread calls its own copy of `graph` (which owns that thread's scratch).
template <typename F>
static void over_graphs(const Layout &L, i64 threads, const F &graph) {
  const i64 groups = (L.graphs + L.group - 1) / L.group;
  auto task = [&](i64 first, i64 step) {
    F mine = graph;
    for (i64 grp = first; grp < groups; grp += step)
      for (i64 g = grp * L.group; g < std::min(L.graphs, (grp + 1) * L.group); ++g) mine(g);
  };
  threads = std::max<i64>(1, std::min(threads, groups));
  if (threads == 1) {
    task(0, 1);
    return;
  }
  std::vector<std::thread> pool;
  for (i64 t = 0; t < threads; ++t) pool.emplace_back(task, t, threads);
  for (auto &th : pool) th.join();
}

template <typename T, i64 KC, i64 VC>
static void forward_sized(const Layout *L, const Inputs<T> *in, const Norm<T> *nm, T *y,
                          i64 threads) {
  over_graphs(*L, threads, [L, in, nm, y, s = Scratch<T>()](i64 g) mutable {
    forward_graph<T, KC, VC>(*L, *in, nm, y, g, s);
  });
}

template <typename T, i64 KC, i64 VC>
static void backward_sized(const Layout *L, const Inputs<T> *in, const Norm<T> *nm, const T *dy,
                           const Grads<T> *d, i64 threads) {
  over_graphs(*L, threads, [L, in, nm, dy, d, s = Scratch<T>()](i64 g) mutable {
    backward_graph<T, KC, VC>(*L, *in, nm, dy, *d, g, s);
  });
}

// The sized instance for K = V in {16, 32, 64}, else the generic one.
#define DISPATCH(call, ...)                                                        \
  if (L->kd == L->vd && L->kd == 16) return call<T, 16, 16>(__VA_ARGS__);          \
  if (L->kd == L->vd && L->kd == 32) return call<T, 32, 32>(__VA_ARGS__);          \
  if (L->kd == L->vd && L->kd == 64) return call<T, 64, 64>(__VA_ARGS__);          \
  return call<T, 0, 0>(__VA_ARGS__);

template <typename T>
static void forward(const Layout *L, const Inputs<T> *in, const Norm<T> *nm, T *y, i64 threads) {
  DISPATCH(forward_sized, L, in, nm, y, threads)
}

template <typename T>
static void backward(const Layout *L, const Inputs<T> *in, const Norm<T> *nm, const T *dy,
                     const Grads<T> *d, i64 threads) {
  DISPATCH(backward_sized, L, in, nm, dy, d, threads)
}

// The norm's weight gradient, dw[h, c] = sum_n dout[n, h, c] yhat[n, h, c] (written in full).
template <typename T>
static void norm_weight_grad(i64 nodes, i64 width, const T *dout, const T *yhat, T *dw) {
  std::fill(dw, dw + width, T(0));
  for (i64 n = 0; n < nodes; ++n)
    for (i64 c = 0; c < width; ++c) dw[c] += dout[n * width + c] * yhat[n * width + c];
}


// ---------------------------------------------------------------------------------------------
// PLSTMConv's gates from their pre-activation parts (nn/conv.py, kernel_inputs), per head h:
//   S_e = sig(ns[t(e)] + es[e]),  M_e = sig(nm[h(e)] + em[e]),  D_n = sig(nd[n]),
//   tau_l = nt[t(dst l)] + et_in[src l] + et_out[dst l],
//   T_l = tau_l / (alpha + sum_{l' in group(l)} |tau_l'|)  (P)   or   tanh(tau_l)  (D),
// with node parts ng [N, 4, H] = (s, m, d, t) and edge parts eg [E, 4, H] = (s, m, t_in,
// t_out) or none. One pass each way instead of ~20 gathers, adds and their backward scatters.
// Node n's parts (and their gradients) start at ng + n * node_stride: PLSTMConv's projection
// buffer holds them beside q, k and v. node_bias [4, H] (or null) is added to every node's
// parts: the projection is then a matmul without bias, whose backward need not sum the
// gradient of every projection column for a bias that only the gate columns have.
struct GateLayout {
  i64 nodes, edges, lines, heads, normalise;  // normalise: 1 = P-mode, 0 = D-mode (tanh)
  i64 node_stride;
  double alpha;
  const i64 *tail, *head, *src, *dst, *group;  // group: the line edges' normalisation group
  const void *node_bias;                       // T [4, H], or null
};

// Part c (0 = s, 1 = m, 2 = d, 3 = t) of node n, head h.
template <typename T>
static inline T node_part(const GateLayout &G, const T *ng, i64 n, i64 c, i64 h) {
  const T part = ng[n * G.node_stride + c * G.heads + h];
  return G.node_bias ? part + static_cast<const T *>(G.node_bias)[c * G.heads + h] : part;
}

template <typename T>
static inline T sigmoid(T x) { return T(1) / (T(1) + std::exp(-x)); }

template <typename T>
static void gate_tau(const GateLayout &G, const T *ng, const T *eg, T *tau, T *total) {
  const i64 H = G.heads;
  for (i64 l = 0; l < G.lines; ++l)
    for (i64 h = 0; h < H; ++h) {
      T t = node_part(G, ng, G.tail[G.dst[l]], 3, h);
      if (eg) t += eg[(G.src[l] * 4 + 2) * H + h] + eg[(G.dst[l] * 4 + 3) * H + h];
      tau[l * H + h] = t;
    }
  if (!G.normalise) return;
  std::fill(total, total + G.edges * H, T(G.alpha));
  for (i64 l = 0; l < G.lines; ++l)
    for (i64 h = 0; h < H; ++h) total[G.group[l] * H + h] += std::abs(tau[l * H + h]);
}

template <typename T>
static void gates_forward(const GateLayout *G, const T *ng, const T *eg, T *source, T *trans,
                          T *mark, T *direct, T *total) {
  const i64 H = G->heads;
  for (i64 e = 0; e < G->edges; ++e)
    for (i64 h = 0; h < H; ++h) {
      T a = node_part(*G, ng, G->tail[e], 0, h), b = node_part(*G, ng, G->head[e], 1, h);
      if (eg) a += eg[(e * 4 + 0) * H + h], b += eg[(e * 4 + 1) * H + h];
      source[e * H + h] = sigmoid(a);
      mark[e * H + h] = sigmoid(b);
    }
  for (i64 n = 0; n < G->nodes; ++n)
    for (i64 h = 0; h < H; ++h) direct[n * H + h] = sigmoid(node_part(*G, ng, n, 2, h));
  gate_tau(*G, ng, eg, trans, total);
  for (i64 l = 0; l < G->lines; ++l)
    for (i64 h = 0; h < H; ++h) {
      T &t = trans[l * H + h];
      t = G->normalise ? t / total[G->group[l] * H + h] : std::tanh(t);
    }
}

// Gradients of the pre-activations (dng, deg: written in full) from those of the gates and
// the gates themselves; tau and the group totals are recomputed (scratch: tau [L, H],
// total and acc [E, H]).
template <typename T>
static void gates_backward(const GateLayout *G, const T *ng, const T *eg, const T *source,
                           const T *trans, const T *mark, const T *direct, const T *d_source,
                           const T *d_trans, const T *d_mark, const T *d_direct, T *dng, T *deg,
                           T *tau, T *total, T *acc) {
  const i64 H = G->heads;
  for (i64 n = 0; n < G->nodes; ++n)
    std::fill(dng + n * G->node_stride, dng + n * G->node_stride + 4 * H, T(0));
  for (i64 e = 0; e < G->edges; ++e)
    for (i64 h = 0; h < H; ++h) {
      const T s = source[e * H + h], m = mark[e * H + h];
      const T a = d_source[e * H + h] * s * (1 - s), b = d_mark[e * H + h] * m * (1 - m);
      dng[G->tail[e] * G->node_stride + h] += a;
      dng[G->head[e] * G->node_stride + H + h] += b;
      if (deg) deg[(e * 4 + 0) * H + h] = a, deg[(e * 4 + 1) * H + h] = b;
    }
  for (i64 n = 0; n < G->nodes; ++n)
    for (i64 h = 0; h < H; ++h) {
      const T d = direct[n * H + h];
      dng[n * G->node_stride + 2 * H + h] = d_direct[n * H + h] * d * (1 - d);
    }
  if (deg)
    for (i64 e = 0; e < G->edges; ++e)
      for (i64 h = 0; h < H; ++h) deg[(e * 4 + 2) * H + h] = deg[(e * 4 + 3) * H + h] = 0;
  if (G->normalise) {
    // T = tau / s_g:  dtau_l = dT_l / s_g - sign(tau_l) sum_{l' in g} dT_l' tau_l' / s_g^2.
    gate_tau(*G, ng, eg, tau, total);
    std::fill(acc, acc + G->edges * H, T(0));
    for (i64 l = 0; l < G->lines; ++l)
      for (i64 h = 0; h < H; ++h) acc[G->group[l] * H + h] += d_trans[l * H + h] * tau[l * H + h];
  }
  for (i64 l = 0; l < G->lines; ++l)
    for (i64 h = 0; h < H; ++h) {
      T dt;
      if (G->normalise) {
        const i64 k = G->group[l] * H + h;
        const T t = tau[l * H + h], sg = total[k];
        dt = d_trans[l * H + h] / sg - T((t > 0) - (t < 0)) * acc[k] / (sg * sg);
      } else {
        const T t = trans[l * H + h];
        dt = d_trans[l * H + h] * (1 - t * t);
      }
      dng[G->tail[G->dst[l]] * G->node_stride + 3 * H + h] += dt;
      if (deg) deg[(G->src[l] * 4 + 2) * H + h] += dt, deg[(G->dst[l] * 4 + 3) * H + h] += dt;
    }
}

// ---------------------------------------------------------------------------------------------
// PLSTMConv's qk_norm and scale_qk for CompiledConv, per node n and head h:
//   qn = scale * q / max(|q|, eps),  kn = k / max(|k|, eps)   (normalise = 1; else no division)
// from the strided rows of the projection into contiguous [N, H, K] buffers (and |q|, |k| into
// [N, H], for the backward), as torch.nn.functional.normalize computes them.
template <typename T>
static void qk_prepare(i64 nodes, i64 H, i64 K, const T *q, i64 qs, const T *k, i64 ks,
                       i64 normalise, double eps, double scale, T *qn, T *kn, T *q_norm,
                       T *k_norm) {
  for (i64 n = 0; n < nodes; ++n)
    for (i64 h = 0; h < H; ++h) {
      const T *qr = q + n * qs + h * K, *kr = k + n * ks + h * K;
      T *qo = qn + (n * H + h) * K, *ko = kn + (n * H + h) * K;
      T fq = T(scale), fk = T(1);
      if (normalise) {
        q_norm[n * H + h] = std::sqrt(dot(qr, qr, K));
        k_norm[n * H + h] = std::sqrt(dot(kr, kr, K));
        fq /= std::max(q_norm[n * H + h], T(eps));
        fk /= std::max(k_norm[n * H + h], T(eps));
      }
      for (i64 c = 0; c < K; ++c) qo[c] = qr[c] * fq, ko[c] = kr[c] * fk;
    }
}

// The backward: d q, d k (strided rows, written) from g = d qn, d kn. A row xn = f x / d with
// d = max(|x|, eps) (f: the scale) has dx = (f g - xn (xn . g) / f) / |x| where |x| > eps,
// else f g / eps (d is then constant).
template <typename T>
static inline void normalise_backward(const T *g, const T *xn, T norm, double eps, T f, i64 K,
                                      T *dx) {
  if (norm > T(eps)) {
    const T c = dot(xn, g, K) / f;
    for (i64 j = 0; j < K; ++j) dx[j] = (f * g[j] - c * xn[j]) / norm;
  } else {
    for (i64 j = 0; j < K; ++j) dx[j] = f * g[j] / T(eps);
  }
}

template <typename T>
static void qk_prepare_backward(i64 nodes, i64 H, i64 K, const T *qn, const T *kn,
                                const T *q_norm, const T *k_norm, const T *dqn, const T *dkn,
                                i64 normalise, double eps, double scale, T *dq, i64 qs, T *dk,
                                i64 ks) {
  for (i64 n = 0; n < nodes; ++n)
    for (i64 h = 0; h < H; ++h) {
      const i64 o = (n * H + h) * K;
      T *dqr = dq + n * qs + h * K, *dkr = dk + n * ks + h * K;
      if (normalise) {
        normalise_backward(dqn + o, qn + o, q_norm[n * H + h], eps, T(scale), K, dqr);
        normalise_backward(dkn + o, kn + o, k_norm[n * H + h], eps, T(1), K, dkr);
      } else {
        for (i64 c = 0; c < K; ++c) dqr[c] = dqn[o + c] * T(scale), dkr[c] = dkn[o + c];
      }
    }
}

// ---------------------------------------------------------------------------------------------
// PLSTM2D's output norm (nn/grid.py): per-head RMSNorm of every orientation's output, summed
// over the orientations, y [B, O, R, V] -> out [B, R, V] with R = nodes x heads and head
// h = r % H:   out[b, r] = w_h * sum_o y[b, o, r] / sqrt(mean_v y[b, o, r]^2 + eps).
// One pass each way over y, instead of torch's ~10 elementwise ops on the O-times-larger
// tensor and their backward. Images are split over the threads.
struct NormLayout {
  i64 images, orientations, rows, heads, vd;
  double eps;
};

// Images b = t, t + threads, ... on thread t; every thread calls its own copy of `image`
// (which may own that thread's scratch).
template <typename F>
static void over_images(i64 images, i64 threads, const F &image) {
  threads = std::max<i64>(1, std::min(threads, images));
  auto task = [&](i64 t) {
    F mine = image;
    for (i64 b = t; b < images; b += threads) mine(t, b);
  };
  if (threads == 1) return task(0);
  std::vector<std::thread> pool;
  for (i64 t = 0; t < threads; ++t) pool.emplace_back(task, t);
  for (auto &th : pool) th.join();
}

// rstd [B, O, R]: the 1 / rms of every row, kept for the backward.
template <typename T>
static void norm_sum_forward(const NormLayout *N, const T *y, const T *w, T *out, T *rstd,
                             i64 threads) {
  const i64 O = N->orientations, R = N->rows, H = N->heads, V = N->vd;
  over_images(N->images, threads, [&](i64, i64 b) {
    for (i64 r = 0; r < R; ++r) {
      T *dst = out + (b * R + r) * V;
      std::fill(dst, dst + V, T(0));
      for (i64 o = 0; o < O; ++o) {
        const T *row = y + ((b * O + o) * R + r) * V;
        const T inv = rstd[(b * O + o) * R + r] = inv_rms(row, V, N->eps);
        axpy(inv, row, dst, V);
      }
      const T *wh = w + (r % H) * V;
      for (i64 c = 0; c < V; ++c) dst[c] *= wh[c];
    }
  });
}

// With g = dout w_h and yhat = y / rms:  dy = rms_row_backward(g, yhat),
// dw_h = sum over images, orientations and nodes of dout yhat (one partial sum per thread).
template <typename T>
static void norm_sum_backward(const NormLayout *N, const T *y, const T *w, const T *rstd,
                              const T *dout, T *dy, T *dw, i64 threads) {
  const i64 O = N->orientations, R = N->rows, H = N->heads, V = N->vd;
  threads = std::max<i64>(1, std::min(threads, N->images));
  std::vector<T> partial((size_t)(threads * H * V), T(0)), scratch((size_t)(threads * 3 * V));
  over_images(N->images, threads, [&](i64 t, i64 b) {
    T *g = scratch.data() + t * 3 * V, *yhat = g + V, *sum = yhat + V;
    for (i64 r = 0; r < R; ++r) {
      const T *d = dout + (b * R + r) * V, *wh = w + (r % H) * V;
      for (i64 c = 0; c < V; ++c) g[c] = d[c] * wh[c];
      std::fill(sum, sum + V, T(0));
      for (i64 o = 0; o < O; ++o) {
        const i64 row = (b * O + o) * R + r;
        const T inv = rstd[row], *x = y + row * V;
        for (i64 c = 0; c < V; ++c) yhat[c] = x[c] * inv;
        rms_row_backward(g, yhat, inv, V, dy + row * V);
        axpy(T(1), yhat, sum, V);
      }
      T *p = partial.data() + (t * H + r % H) * V;
      for (i64 c = 0; c < V; ++c) p[c] += d[c] * sum[c];
    }
  });
  std::fill(dw, dw + H * V, T(0));
  for (i64 t = 0; t < threads; ++t) axpy(T(1), partial.data() + t * H * V, dw, H * V);
}

// ---------------------------------------------------------------------------------------------
// The grid recurrence (ops/grid/wavefront.py, SPEC §5) with K x V cell states, one task per
// image: per orientation and head the nodes run in the orientation's row-major order, each
//   R = T^rl R_l + T^ru D_u + S^r k v^T,   D = T^dl R_l + T^du D_u + S^d k v^T,
//   y = (M^l R_l + M^u D_u)^T q + D (q . k) v,
// with R_l the right state of the previous node along x and D_u the down state of the
// previous node along y (zero at the border). Per node that is ~8 K x V multiply-adds, all
// along V (no horizontal sums in the forward), where the closed form walks every node pair
// m -> i of the quadrant. The forward keeps only a row of R states; the backward recomputes
// every state of one (orientation, head) and sweeps back in reverse order, handing dR and dD
// to the previous row / node. The orientations of an image read and add to the same q, k, v
// rows, so one image's work stays on one thread.
// Layout: q, k [B, X, Y, H, K], v [B, X, Y, H, V], gates [B, O, X, Y, H] (S^r, S^d, T^rl,
// T^ru, T^dl, T^du, M^l, M^u, D; T^ru, T^dl may be null: that turn is absent), y and dy
// [B, O, X, Y, H, V]; flips [O, 2] (towards decreasing x, y).
struct GridLayout {
  i64 images, orientations, X, Y, heads, kd, vd;
  const i64 *flips;
};

template <typename T>
struct GridInputs {
  const T *q, *k, *v, *gate[9];
};

template <typename T>
struct GridGrads {
  T *q, *k, *v, *gate[9];
};

// The nodes of orientation o in their order: node t = xi * Y + yi sits at (x, y).
static inline void grid_node(const GridLayout &L, i64 o, i64 xi, i64 yi, i64 &x, i64 &y) {
  x = L.flips[2 * o] ? L.X - 1 - xi : xi;
  y = L.flips[2 * o + 1] ? L.Y - 1 - yi : yi;
}

template <typename T>
static inline T sum(const T *a, i64 n) {
  T s = 0;
  for (i64 c = 0; c < n; ++c) s += a[c];
  return s;
}

template <typename T>
static inline T gate_at(const T *gate, i64 index) { return gate ? gate[index] : T(0); }

// One node's states and (if y) output: R, D [kd, vd] from R_l, D_u. acc: 2 vd of scratch for
// the generic sizes (VC = 0); with V known at compile time the accumulators are local arrays
// (registers). With k and v (and the sizes) swapped it computes the transposed states.
template <typename T, i64 KC, i64 VC>
static inline void grid_step(i64 kd, i64 vd, const T *const *g, i64 gi, const T *q, const T *k,
                             const T *v, const T *rl, const T *du, T *r, T *d, T *y, T *acc) {
  const i64 K = KC ? KC : kd, V = VC ? VC : vd;
  const T sr = g[0][gi], sd = g[1][gi], trl = g[2][gi], tru = gate_at(g[3], gi),
          tdl = gate_at(g[4], gi), tdu = g[5][gi], ml = g[6][gi], mu = g[7][gi];
  T local[VC ? 2 * VC : 1];
  T *a0 = VC ? local : acc, *a1 = a0 + V;  // two accumulators: half the dependency chain
  if (y) std::fill(a0, a0 + V, T(0)), std::fill(a1, a1 + V, T(0));
  for (i64 c = 0; c < K; ++c) {
    const T *rc = rl + c * V, *dc = du + c * V;
    T *ro = r + c * V, *dout = d + c * V;
    const T skr = sr * k[c], skd = sd * k[c], wl = ml * q[c], wu = mu * q[c];
    // Blocks of 16, every load before any store (as in axpy: otherwise possible overlaps of
    // the state rows keep the compiler scalar).
    for (i64 j0 = 0; j0 < V; j0 += 16) {
      const i64 w = std::min<i64>(16, V - j0);
      T nr[16], nd[16];
      for (i64 j = 0; j < w; ++j) {
        const T a = rc[j0 + j], b = dc[j0 + j], x = v[j0 + j];
        nr[j] = trl * a + tru * b + skr * x;
        nd[j] = tdl * a + tdu * b + skd * x;
        if (y) a0[j0 + j] += wl * a, a1[j0 + j] += wu * b;
      }
      // Two loops: interleaved, the stores to rows that may overlap would stay in order.
      for (i64 j = 0; j < w; ++j) ro[j0 + j] = nr[j];
      for (i64 j = 0; j < w; ++j) dout[j0 + j] = nd[j];
    }
  }
  if (y) {
    const T p = g[8][gi] * dot(q, k, K);
    for (i64 j = 0; j < V; ++j) y[j] = a0[j] + a1[j] + p * v[j];
  }
}

template <typename T, i64 KC, i64 VC>
static void grid_forward_image(const GridLayout &L, const GridInputs<T> &in, T *y, i64 b,
                               std::vector<T> &scratch) {
  const i64 X = L.X, Y = L.Y, H = L.heads, O = L.orientations, K = KC ? KC : L.kd,
            V = VC ? VC : L.vd, S = K * V;
  // Rows of R states (previous and current), two D states, a zero state, accumulators.
  scratch.assign((size_t)((2 * Y + 3) * S + 2 * V), T(0));
  T *rows = scratch.data(), *dstate = rows + 2 * Y * S, *zero = dstate + 2 * S,
    *acc = zero + S;
  for (i64 o = 0; o < O; ++o)
    for (i64 h = 0; h < H; ++h)
      for (i64 xi = 0; xi < X; ++xi) {
        T *prev = rows + (xi % 2) * Y * S, *cur = rows + (1 - xi % 2) * Y * S;
        for (i64 yi = 0; yi < Y; ++yi) {
          i64 x, yy;
          grid_node(L, o, xi, yi, x, yy);
          const i64 node = (b * X + x) * Y + yy, gi = ((b * O + o) * X * Y + x * Y + yy) * H + h;
          const T *rl = xi ? prev + yi * S : zero, *du = yi ? dstate + (yi % 2) * S : zero;
          grid_step<T, KC, VC>(K, V, in.gate, gi, in.q + (node * H + h) * K,
                               in.k + (node * H + h) * K, in.v + (node * H + h) * V, rl, du,
                               cur + yi * S, dstate + (1 - yi % 2) * S, y + gi * V, acc);
        }
      }
}

template <typename T, i64 KC, i64 VC>
static void grid_backward_image(const GridLayout &L, const GridInputs<T> &in, const T *dy,
                                const GridGrads<T> &d, i64 b, std::vector<T> &scratch) {
  const i64 X = L.X, Y = L.Y, N = X * Y, H = L.heads, O = L.orientations, K = KC ? KC : L.kd,
            V = VC ? VC : L.vd, S = K * V;
  // The backward runs on transposed states [V, K] (rows along V): then dq and dk accumulate
  // down the rows and only dv needs one sum across a row per row, where row-major states
  // needed three per row of K. Scratch: every R^T and D^T of one (orientation, head) by node
  // order, two rows of dR^T (from the next row, to the previous one), two dD^T, a zero state,
  // accumulators (generic sizes).
  scratch.assign((size_t)((2 * N + 2 * Y + 3) * S + 10 * K), T(0));
  T *rs = scratch.data(), *ds = rs + N * S, *drows = ds + N * S, *dd = drows + 2 * Y * S,
    *zero = dd + 2 * S, *acc = zero + S;
  for (i64 node = b * N; node < (b + 1) * N; ++node)
    for (i64 h = 0; h < H; ++h) {
      std::fill(d.q + (node * H + h) * K, d.q + (node * H + h + 1) * K, T(0));
      std::fill(d.k + (node * H + h) * K, d.k + (node * H + h + 1) * K, T(0));
      std::fill(d.v + (node * H + h) * V, d.v + (node * H + h + 1) * V, T(0));
    }
  T local[KC ? 8 * KC : 1], *base = KC ? local : acc;
  T *ul = base, *uu = ul + K, *wr = uu + K, *wd = wr + K, *prl = wd + K, *pru = prl + K,
    *pdl = pru + K, *pdu = pdl + K;
  for (i64 o = 0; o < O; ++o)
    for (i64 h = 0; h < H; ++h) {
      for (i64 t = 0; t < N; ++t) {  // forward again, keeping every (transposed) state
        const i64 xi = t / Y, yi = t % Y;
        i64 x, yy;
        grid_node(L, o, xi, yi, x, yy);
        const i64 node = (b * X + x) * Y + yy, gi = ((b * O + o) * N + x * Y + yy) * H + h;
        grid_step<T, VC, KC>(V, K, in.gate, gi, nullptr, in.v + (node * H + h) * V,
                             in.k + (node * H + h) * K, xi ? rs + (t - Y) * S : zero,
                             yi ? ds + (t - 1) * S : zero, rs + t * S, ds + t * S, nullptr,
                             acc + 8 * K);
      }
      for (i64 t = N - 1; t >= 0; --t) {
        const i64 xi = t / Y, yi = t % Y;
        i64 x, yy;
        grid_node(L, o, xi, yi, x, yy);
        const i64 node = (b * X + x) * Y + yy, gi = ((b * O + o) * N + x * Y + yy) * H + h;
        const T *q = in.q + (node * H + h) * K, *k = in.k + (node * H + h) * K,
                *v = in.v + (node * H + h) * V, *dyn = dy + gi * V;
        const T *const *g = in.gate;
        const T sr = g[0][gi], sd = g[1][gi], trl = g[2][gi], tru = gate_at(g[3], gi),
                tdl = gate_at(g[4], gi), tdu = g[5][gi], ml = g[6][gi], mu = g[7][gi],
                dir = g[8][gi];
        const T *rl = xi ? rs + (t - Y) * S : zero, *du = yi ? ds + (t - 1) * S : zero;
        // dR of this node's R (from the next row's node), dD of its D (from the next node);
        // out: dR_l for the previous row's node, dD_u for the previous node.
        T *in_rows = drows + (xi % 2) * Y * S, *out_rows = drows + (1 - xi % 2) * Y * S;
        const T *dr = xi + 1 < X ? in_rows + yi * S : zero,
                *ddi = yi + 1 < Y ? dd + (yi % 2) * S : zero;
        T *drl = out_rows + yi * S, *ddu = dd + (1 - yi % 2) * S;
        T *dvn = d.v + (node * H + h) * V;
        std::fill(base, base + 8 * K, T(0));
        // Row j (a column of the K x V states):  dR_l = M^l dy q^T + T^rl dR + T^dl dD,
        // dD_u likewise; dv_j = k . (S^r dR_j + S^d dD_j); sums over j for the gates, dq, dk.
        for (i64 j = 0; j < V; ++j) {
          const T *rc = rl + j * K, *dc = du + j * K, *drc = dr + j * K, *ddc = ddi + j * K;
          T *drlc = drl + j * K, *dduc = ddu + j * K;
          const T mq = ml * dyn[j], uq = mu * dyn[j], gj = dyn[j], vj = v[j];
          T ce = 0;
          for (i64 c0 = 0; c0 < K; c0 += 16) {  // blocks, loads before stores (grid_step)
            const i64 w = std::min<i64>(16, K - c0);
            T nl[16], nu[16];
            for (i64 c = 0; c < w; ++c) {
              const i64 cc = c0 + c;
              const T a = rc[cc], bb = dc[cc], dra = drc[cc], ddb = ddc[cc], qc = q[cc];
              nl[c] = mq * qc + trl * dra + tdl * ddb;
              nu[c] = uq * qc + tru * dra + tdu * ddb;
              ul[cc] += gj * a, uu[cc] += gj * bb;
              wr[cc] += vj * dra, wd[cc] += vj * ddb;
              prl[cc] += dra * a, pru[cc] += dra * bb;
              pdl[cc] += ddb * a, pdu[cc] += ddb * bb;
              ce += k[cc] * (sr * dra + sd * ddb);
            }
            // Two loops: interleaved, the stores to rows that may overlap would stay in order.
            for (i64 c = 0; c < w; ++c) drlc[c0 + c] = nl[c];
            for (i64 c = 0; c < w; ++c) dduc[c0 + c] = nu[c];
          }
          dvn[j] += ce;
        }
        const T vdy = dot(v, dyn, V), qk = dot(q, k, K);
        T *dq = d.q + (node * H + h) * K, *dk = d.k + (node * H + h) * K;
        for (i64 c = 0; c < K; ++c) {
          dq[c] += ml * ul[c] + mu * uu[c] + dir * vdy * k[c];
          dk[c] += sr * wr[c] + sd * wd[c] + dir * vdy * q[c];
        }
        for (i64 j = 0; j < V; ++j) dvn[j] += dir * qk * dyn[j];
        T *const *dg = d.gate;
        dg[0][gi] = dot(wr, k, K);
        dg[1][gi] = dot(wd, k, K);
        dg[2][gi] = sum(prl, K);
        if (dg[3]) dg[3][gi] = sum(pru, K);
        if (dg[4]) dg[4][gi] = sum(pdl, K);
        dg[5][gi] = sum(pdu, K);
        dg[6][gi] = dot(ul, q, K);
        dg[7][gi] = dot(uu, q, K);
        dg[8][gi] = qk * vdy;
      }
    }
}

template <typename T, i64 KC, i64 VC>
static void grid_forward_sized(const GridLayout *L, const GridInputs<T> *in, T *y, i64 threads) {
  over_images(L->images, threads, [&, scratch = std::vector<T>()](i64, i64 b) mutable {
    grid_forward_image<T, KC, VC>(*L, *in, y, b, scratch);
  });
}

template <typename T, i64 KC, i64 VC>
static void grid_backward_sized(const GridLayout *L, const GridInputs<T> *in, const T *dy,
                                const GridGrads<T> *d, i64 threads) {
  over_images(L->images, threads, [&, scratch = std::vector<T>()](i64, i64 b) mutable {
    grid_backward_image<T, KC, VC>(*L, *in, dy, *d, b, scratch);
  });
}

template <typename T>
static void grid_forward(const GridLayout *L, const GridInputs<T> *in, T *y, i64 threads) {
  DISPATCH(grid_forward_sized, L, in, y, threads)
}

template <typename T>
static void grid_backward(const GridLayout *L, const GridInputs<T> *in, const T *dy,
                          const GridGrads<T> *d, i64 threads) {
  DISPATCH(grid_backward_sized, L, in, dy, d, threads)
}

// The C ABI that compiled.py loads with ctypes: one set of entry points per dtype, generated
// from the templates above so that the float and double exports cannot drift apart.
#define PLSTM_EXPORTS(T, SUFFIX)                                                                \
  void plstm_dense_forward_##SUFFIX(const Layout *L, const Inputs<T> *in, const Norm<T> *nm,    \
                                    T *y, i64 threads) {                                        \
    forward(L, in, nm, y, threads);                                                             \
  }                                                                                             \
  void plstm_dense_backward_##SUFFIX(const Layout *L, const Inputs<T> *in, const Norm<T> *nm,   \
                                     const T *dy, const Grads<T> *d, i64 threads) {             \
    backward(L, in, nm, dy, d, threads);                                                        \
  }                                                                                             \
  void plstm_norm_weight_grad_##SUFFIX(i64 nodes, i64 width, const T *dout, const T *yhat,      \
                                       T *dw) {                                                 \
    norm_weight_grad(nodes, width, dout, yhat, dw);                                             \
  }                                                                                             \
  void plstm_gates_forward_##SUFFIX(const GateLayout *G, const T *ng, const T *eg, T *s, T *t,  \
                                    T *m, T *d, T *total) {                                     \
    gates_forward(G, ng, eg, s, t, m, d, total);                                                \
  }                                                                                             \
  void plstm_gates_backward_##SUFFIX(const GateLayout *G, const T *ng, const T *eg, const T *s, \
                                     const T *t, const T *m, const T *d, const T *ds,           \
                                     const T *dt, const T *dm, const T *dd, T *dng, T *deg,     \
                                     T *tau, T *total, T *acc) {                                \
    gates_backward(G, ng, eg, s, t, m, d, ds, dt, dm, dd, dng, deg, tau, total, acc);           \
  }                                                                                             \
  void plstm_qk_prepare_##SUFFIX(i64 nodes, i64 H, i64 K, const T *q, i64 qs, const T *k,       \
                                 i64 ks, i64 normalise, double eps, double scale, T *qn, T *kn, \
                                 T *q_norm, T *k_norm) {                                        \
    qk_prepare(nodes, H, K, q, qs, k, ks, normalise, eps, scale, qn, kn, q_norm, k_norm);       \
  }                                                                                             \
  void plstm_qk_prepare_backward_##SUFFIX(i64 nodes, i64 H, i64 K, const T *qn, const T *kn,    \
                                          const T *q_norm, const T *k_norm, const T *dqn,       \
                                          const T *dkn, i64 normalise, double eps,              \
                                          double scale, T *dq, i64 qs, T *dk, i64 ks) {         \
    qk_prepare_backward(nodes, H, K, qn, kn, q_norm, k_norm, dqn, dkn, normalise, eps, scale,   \
                        dq, qs, dk, ks);                                                        \
  }                                                                                             \
  void plstm_norm_sum_forward_##SUFFIX(const NormLayout *N, const T *y, const T *w, T *out,     \
                                       T *rstd, i64 threads) {                                  \
    norm_sum_forward(N, y, w, out, rstd, threads);                                              \
  }                                                                                             \
  void plstm_norm_sum_backward_##SUFFIX(const NormLayout *N, const T *y, const T *w,            \
                                        const T *rstd, const T *dout, T *dy, T *dw,             \
                                        i64 threads) {                                          \
    norm_sum_backward(N, y, w, rstd, dout, dy, dw, threads);                                    \
  }                                                                                             \
  void plstm_grid_forward_##SUFFIX(const GridLayout *L, const GridInputs<T> *in, T *y,          \
                                   i64 threads) {                                               \
    grid_forward(L, in, y, threads);                                                            \
  }                                                                                             \
  void plstm_grid_backward_##SUFFIX(const GridLayout *L, const GridInputs<T> *in, const T *dy,  \
                                    const GridGrads<T> *d, i64 threads) {                       \
    grid_backward(L, in, dy, d, threads);                                                       \
  }

extern "C" {
PLSTM_EXPORTS(float, f32)
PLSTM_EXPORTS(double, f64)
}
