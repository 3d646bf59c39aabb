// Attention of short sequences and narrow heads, one (batch, head) at a time in cache, built once per
// instruction set (small_attention_{avx512,avx2,default}.cpp). The math of ATen's CPU flash attention
// (FlashAttentionKernel.cpp) with every key in one block: scores q.k * scale, softmax through the
// query's max and log-sum-exp, the backward recomputing probabilities from the log-sum-exp. Sums run
// in another order than its GEMMs: results agree with eager's to float32 rounding, not bit for bit.
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "backend/cpu/small_attention_args.h"

namespace lazyplus {
namespace CPU_CAPABILITY {
namespace {

using V = at::vec::Vectorized<float>;
constexpr int64_t kW = V::size();

int64_t Padded(int64_t n) { return (n + kW - 1) / kW * kW; }

// Keys visible to query row i: all, or those at or before it (top-left aligned, as eager's kernel).
int64_t Visible(const AttentionShape& s, int64_t i) { return s.causal ? std::min(s.keys, i + 1) : s.keys; }

// The first query that sees key j (earlier ones see none of the keys from j on).
int64_t FirstSeeing(const AttentionShape& s, int64_t j) { return s.causal ? j : 0; }

int Count(int64_t n, int64_t j) { return static_cast<int>(std::min(kW, n - j)); }

// The R sums of a block live in registers only when their loop is unrolled (g++ kept them in memory).
#define LAZYPLUS_UNROLL _Pragma("GCC unroll 8")

template <int R>
using Rows = std::integral_constant<int, R>;

// body(first, Rows<R>) over blocks of R rows: R independent sums keep the FMA units busy (one row at
// a time, each sum waited on the previous multiply-add).
template <typename Body>
void ForRowBlocks(int64_t rows, const Body& body) {
  int64_t i = 0;
  for (; i + 8 <= rows; i += 8) body(i, Rows<8>{});
  for (; i + 4 <= rows; i += 4) body(i, Rows<4>{});
  for (; i < rows; ++i) body(i, Rows<1>{});
}

// dst[r][from, to) = scale * sum_e a[r][e] * bt[e][from, to) for R rows of `a`, and zero before
// `from`; `from` a multiple of the vector width, rows of bt and dst `to` long, padded to one.
template <int R>
void RowsTimesTransposed(float* dst, int64_t ldd, const float* a, int64_t lda, const float* bt, int64_t ldb,
                         int64_t depth, int64_t from, int64_t to, float scale) {
  const int64_t zeros = std::min(from, to);  // from > to: keys after every query (causal)
  LAZYPLUS_UNROLL for (int r = 0; r < R; ++r) std::fill(dst + r * ldd, dst + r * ldd + zeros, 0.0f);
  for (int64_t c = from; c < to; c += kW) {
    V acc[R];
    LAZYPLUS_UNROLL for (int r = 0; r < R; ++r) acc[r] = V(0.0f);
    for (int64_t e = 0; e < depth; ++e) {
      const V b = V::loadu(bt + e * ldb + c);
      LAZYPLUS_UNROLL for (int r = 0; r < R; ++r) acc[r] = at::vec::fmadd(V(a[r * lda + e]), b, acc[r]);
    }
    LAZYPLUS_UNROLL for (int r = 0; r < R; ++r) (acc[r] * V(scale)).store(dst + r * ldd + c);
  }
}

// dst[r][0, width) = scale[r] * sum_{first<=t<n} w[t * w_t + r * w_r] * b[t][0, width) for R rows:
// weighted sums of b's rows (b rows `ldb` apart, dst rows `ldd` apart).
template <int R>
void WeightedSums(float* dst, int64_t ldd, const float* w, int64_t w_t, int64_t w_r, const float* b, int64_t ldb,
                  int64_t first, int64_t n, int64_t width, const float* scale) {
  // Whole or partial rows of b in loops of their own, the sums local to each: with the choice inside
  // the loop, or the sums shared by both loops, g++ kept them in memory and stored all R at every row
  // (the demo's attention backward took 118 us a call so, alone, on the 2-core EPYC).
  auto sums = [&](int64_t e, int count, auto load) {
    V acc[R];
    LAZYPLUS_UNROLL for (int r = 0; r < R; ++r) acc[r] = V(0.0f);
    for (int64_t t = first; t < n; ++t) {
      const V row = load(b + t * ldb + e);
      LAZYPLUS_UNROLL for (int r = 0; r < R; ++r) acc[r] = at::vec::fmadd(V(w[t * w_t + r * w_r]), row, acc[r]);
    }
    LAZYPLUS_UNROLL for (int r = 0; r < R; ++r) (acc[r] * V(scale[r])).store(dst + r * ldd + e, count);
  };
  for (int64_t e = 0; e < width; e += kW) {
    const int count = Count(width, e);
    if (count == kW) {
      sums(e, count, [](const float* p) { return V::loadu(p); });
    } else {
      sums(e, count, [count](const float* p) { return V::loadu(p, count); });
    }
  }
}

// `rows` rows of `width` (rows `row_stride` apart) transposed into `dst`, rows `stride` long.
void Transpose(float* dst, const float* src, int64_t rows, int64_t row_stride, int64_t width, int64_t stride) {
  for (int64_t j = 0; j < rows; ++j) {
    for (int64_t e = 0; e < width; ++e) dst[e * stride + j] = src[j * row_stride + e];
  }
}

// Scratch of this thread, reused across calls; uninitialized (zeroing it cost the demo's forward 57
// against 54 us). What the kernels read they wrote first, but for the padding lanes past the last query,
// whose values no result reads.
float* Scratch(size_t floats) {
  thread_local std::vector<float> scratch;
  if (scratch.size() < floats) scratch.resize(floats);
  return scratch.data();
}

// (batch, head) pairs per task: enough multiply-adds (16k) that a task is worth a thread's wake-up.
template <typename Body>
void ForEachHead(const AttentionShape& s, const Body& body) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, s.queries * s.keys * s.head_dim));
  at::parallel_for(0, s.batch * s.heads, grain, [&](int64_t begin, int64_t end) {
    for (int64_t bh = begin; bh < end; ++bh) body(bh / s.heads, bh % s.heads);
  });
}

// A (batch, head)'s matrices in scratch, queries along the vector lanes: the softmax's max and sum
// over keys are then sums down columns, with no reduction across lanes (per query row, those took
// most of a row's time).
struct HeadScratch {
  int64_t lp;     // queries, padded to the vector width
  float* qt;      // head_dim x lp: the queries transposed (padding lanes unset)
  float* p;       // keys x lp: probabilities, transposed (zero where a query does not see a key)
  float* scale;   // lp: a scale per query row
};

// p[j][i] = scale * k_j . q_i for the keys each query chunk sees.
void Scores(const AttentionShape& s, const HeadScratch& h, const float* k, int64_t ldk) {
  ForRowBlocks(s.keys, [&](int64_t j, auto rows) {
    constexpr int R = decltype(rows)::value;
    const int64_t from = FirstSeeing(s, j) / kW * kW;
    RowsTimesTransposed<R>(h.p + j * h.lp, h.lp, k + j * ldk, ldk, h.qt, h.lp, s.head_dim, from, h.lp, s.scale);
  });
}

// Lanes of the query chunk from i0 that do not see key j (later keys than the query, when causal).
V Hidden(const AttentionShape& s, int64_t i0, int64_t j) {
  return s.causal && j > i0 ? V::arange(static_cast<float>(i0), 1.0f) < V(static_cast<float>(j)) : V(0.0f);
}

// The keys the query chunk from i0 sees, some of its lanes at least.
int64_t KeysOfChunk(const AttentionShape& s, int64_t i0) { return s.causal ? std::min(s.keys, i0 + kW) : s.keys; }

// Scores to probabilities exp(score - max), as eager's _exp_reduce_sum_fusion_kernel (exp_u20), per
// query chunk; the log-sum-exp of each query into lse, 1 / sum into h.scale.
void Softmax(const AttentionShape& s, const HeadScratch& h, float* lse) {
  for (int64_t i0 = 0; i0 < h.lp; i0 += kW) {
    const int64_t keys = KeysOfChunk(s, i0);
    const V minus_inf(-std::numeric_limits<float>::infinity());
    V max = minus_inf;
    for (int64_t j = 0; j < keys; ++j) max = at::vec::maximum(max, V::blendv(V::loadu(h.p + j * h.lp + i0), minus_inf, Hidden(s, i0, j)));
    V sum(0.0f);
    for (int64_t j = 0; j < keys; ++j) {
      float* pj = h.p + j * h.lp + i0;
      const V e = V::blendv((V::loadu(pj) - max).exp_u20(), V(0.0f), Hidden(s, i0, j));
      sum += e;
      e.store(pj);
    }
    (max + sum.log()).store(lse + i0);
    sum.reciprocal().store(h.scale + i0);
  }
}

// Probabilities again from the scores and the forward's log-sum-exp, as eager's backward.
void Probabilities(const AttentionShape& s, const HeadScratch& h, const float* lse) {
  for (int64_t i0 = 0; i0 < h.lp; i0 += kW) {
    const V l = V::loadu(lse + i0);
    for (int64_t j = 0; j < KeysOfChunk(s, i0); ++j) {
      float* pj = h.p + j * h.lp + i0;
      V::blendv((V::loadu(pj) - l).exp_u20(), V(0.0f), Hidden(s, i0, j)).store(pj);
    }
  }
}

// dst row i = h.scale[i] * sum_j p[j][i] * b_j: the attention-weighted sum of b's rows per query.
void PerQuery(const AttentionShape& s, const HeadScratch& h, const float* p, const float* b, int64_t ldb, float* dst,
              int64_t ldd) {
  ForRowBlocks(s.queries, [&](int64_t i, auto rows) {
    constexpr int R = decltype(rows)::value;
    WeightedSums<R>(dst + i * ldd, ldd, p + i, h.lp, 1, b, ldb, 0, Visible(s, i + R - 1), s.head_dim, h.scale + i);
  });
}

// dst row j = scale * sum_i p[j][i] * b_i: the attention-weighted sum of b's rows per key.
void PerKey(const AttentionShape& s, const HeadScratch& h, const float* p, const float* b, int64_t ldb, float* dst,
            int64_t ldd, float scale) {
  const float scales[8] = {scale, scale, scale, scale, scale, scale, scale, scale};
  ForRowBlocks(s.keys, [&](int64_t j, auto rows) {
    constexpr int R = decltype(rows)::value;
    WeightedSums<R>(dst + j * ldd, ldd, p + j * h.lp, 1, h.lp, b, ldb, FirstSeeing(s, j), s.queries, s.head_dim, scales);
  });
}

}  // namespace

void SmallAttentionForwardImpl(const AttentionShape& s, const AttentionForward& a) {
  const int64_t lp = Padded(s.queries), e = s.head_dim;
  ForEachHead(s, [&](int64_t b, int64_t h) {
    float* qt = Scratch(static_cast<size_t>((e + s.keys + 2) * lp));
    HeadScratch hs{lp, qt, qt + e * lp, qt + (e + s.keys) * lp};
    float* lse = hs.scale + lp;
    Transpose(hs.qt, a.q.At(b, h), s.queries, a.q.row, e, lp);
    Scores(s, hs, a.k.At(b, h), a.k.row);
    Softmax(s, hs, lse);
    PerQuery(s, hs, hs.p, a.v.At(b, h), a.v.row, a.out.At(b, h), a.out.row);
    for (int64_t i = 0; i < s.queries; ++i) *a.lse.At(b, h, i) = lse[i];
  });
}

void SmallAttentionBackwardImpl(const AttentionShape& s, const AttentionBackward& a) {
  const int64_t lp = Padded(s.queries), e = s.head_dim;
  ForEachHead(s, [&](int64_t b, int64_t h) {
    float* qt = Scratch(static_cast<size_t>((2 * e + 2 * s.keys + 3) * lp));
    HeadScratch hs{lp, qt, qt + e * lp, qt + (e + s.keys) * lp};
    float* dot = hs.scale + lp;  // dP, then dS = P * (dP - rowsum(dO * O)) (keys x lp)
    float* grad_out_t = dot + s.keys * lp;
    float* lse = grad_out_t + e * lp;
    float* rowsum = lse + lp;
    const float *q = a.q.At(b, h), *k = a.k.At(b, h), *grad_out = a.grad_out.At(b, h);
    Transpose(hs.qt, q, s.queries, a.q.row, e, lp);
    Transpose(grad_out_t, grad_out, s.queries, a.grad_out.row, e, lp);
    for (int64_t i = 0; i < s.queries; ++i) {
      lse[i] = *a.lse.At(b, h, i);
      const float* o = a.out.At(b, h, i);
      float d = 0.0f;
      for (int64_t c = 0; c < e; ++c) d += grad_out[i * a.grad_out.row + c] * o[c];
      rowsum[i] = d;
      hs.scale[i] = s.scale;
    }
    Scores(s, hs, k, a.k.row);
    Probabilities(s, hs, lse);
    ForRowBlocks(s.keys, [&](int64_t j, auto rows) {  // dP[j][i] = v_j . dO_i
      constexpr int R = decltype(rows)::value;
      const int64_t from = FirstSeeing(s, j) / kW * kW;
      RowsTimesTransposed<R>(dot + j * lp, lp, a.v.At(b, h, j), a.v.row, grad_out_t, lp, e, from, lp, 1.0f);
    });
    for (int64_t j = 0; j < s.keys; ++j) {
      for (int64_t i0 = FirstSeeing(s, j) / kW * kW; i0 < lp; i0 += kW) {
        float* dsj = dot + j * lp + i0;
        (V::loadu(hs.p + j * lp + i0) * (V::loadu(dsj) - V::loadu(rowsum + i0))).store(dsj);
      }
    }
    PerQuery(s, hs, dot, k, a.k.row, a.grad_q.At(b, h), a.grad_q.row);                 // dQ = dS . K * scale
    PerKey(s, hs, dot, q, a.q.row, a.grad_k.At(b, h), a.grad_k.row, s.scale);          // dK = dS^T . Q * scale
    PerKey(s, hs, hs.p, grad_out, a.grad_out.row, a.grad_v.At(b, h), a.grad_v.row, 1);  // dV = P^T . dO
  });
}

}  // namespace CPU_CAPABILITY
}  // namespace lazyplus
