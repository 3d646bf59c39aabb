#include "backend/cpu/small_attention.h"

#include <cmath>

#include "backend/cpu/own_kernel_step.h"
#include "backend/cpu/small_attention_args.h"
#include "backend/cpu/tile_interpreter.h"
#include "device/host_pool.h"
#include "ir/node_factory.h"

namespace lazyplus {

#define DECLARE_SMALL_ATTENTION(isa)                                                   \
  namespace isa {                                                                      \
  void SmallAttentionForwardImpl(const AttentionShape&, const AttentionForward&);     \
  void SmallAttentionBackwardImpl(const AttentionShape&, const AttentionBackward&);   \
  }
DECLARE_SMALL_ATTENTION(AVX512)
DECLARE_SMALL_ATTENTION(AVX2)
DECLARE_SMALL_ATTENTION(DEFAULT)
#undef DECLARE_SMALL_ATTENTION

namespace {

using Tensors = std::vector<at::Tensor>;

// A (batch, head)'s scratch (the backward's: queries and the output's gradient transposed, and the
// probabilities and their gradients for every key) stays within 512 KiB, a core's L2 on the smaller
// EPYCs (the Xeon's: 2 MiB). Measured on the Xeon against ATen's kernel, forward / backward per call:
// (16, 4, 32, 16) 54 / 100 us against 77 / 150; GPT-2's (4, 12, 128, 64) 1.08 / 2.54 ms against 1.30
// / 3.53; (4, 4, 256, 64), 660 KiB of scratch, 1.57 / 3.50 ms against 1.52 / 3.95: the forward no
// longer gains.
constexpr int64_t kMaxScratchBytes = 512 << 10;

const OpKind& FlashForward() {
  static const OpKind& kind = KindNamed("aten::_scaled_dot_product_flash_attention_for_cpu");
  return kind;
}

const OpKind& FlashBackward() {
  static const OpKind& kind = KindNamed("aten::_scaled_dot_product_flash_attention_for_cpu_backward");
  return kind;
}

// A float32 (batch, heads, rows, width) tensor whose rows are contiguous.
bool IsHeadRows(const at::Tensor& t, int64_t rows, int64_t width) {
  return t.scalar_type() == at::kFloat && t.dim() == 4 && t.size(2) == rows && t.size(3) == width &&
         (t.stride(3) == 1 || width == 1);
}

// A tensor's rows: of a (batch, heads, rows, width) one, or the values of a (batch, heads, rows) one.
template <typename T>
HeadRows<T> RowsOf(const at::Tensor& t) {
  T* data = const_cast<T*>(t.const_data_ptr<float>());
  return {data, t.stride(0), t.stride(1), t.stride(2)};
}

// Shape and attributes of the call when the small kernels apply: no mask, no dropout, float32 query,
// key and value of one head size and head count, a scratch that stays in cache.
std::optional<AttentionShape> SmallShape(const Node& n, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  if (n.attr("attn_mask_defined").toBool() || n.attr("dropout_p").toDouble() != 0.0 || q.dim() != 4) return std::nullopt;
  const int64_t batch = q.size(0), heads = q.size(1), queries = q.size(2), keys = k.dim() == 4 ? k.size(2) : 0,
                e = q.size(3);
  const int64_t padded_queries = (queries + 15) / 16 * 16;  // to the widest vector (AVX-512's 16 floats)
  const int64_t scratch_bytes = (2 * e + 2 * keys + 3) * padded_queries * static_cast<int64_t>(sizeof(float));
  if (keys < 1 || e < 1 || queries < 1 || batch * heads < 1 || scratch_bytes > kMaxScratchBytes) return std::nullopt;
  if (!IsHeadRows(q, queries, e) || !IsHeadRows(k, keys, e) || !IsHeadRows(v, keys, e)) return std::nullopt;
  if (k.size(0) != batch || v.size(0) != batch || k.size(1) != heads || v.size(1) != heads) return std::nullopt;
  const c10::IValue scale = n.attr("scale");
  const double softmax_scale = scale.isNone() ? 1.0 / std::sqrt(static_cast<double>(e)) : scale.toDouble();
  return AttentionShape{batch, heads, queries, keys, e, static_cast<float>(softmax_scale), n.attr("is_causal").toBool()};
}

// A result laid out as ATen's kernels lay theirs, heads inside rows: (batch, rows, heads[, width])
// memory viewed as (batch, heads, rows[, width]).
at::Tensor HeadsInner(c10::IntArrayRef memory_sizes) { return EmptyFromPool(memory_sizes, at::kFloat).transpose(1, 2); }

// operands: query, key, value -> output, logsumexp
std::optional<Tensors> RunForward(const Node& n, const Tensors& in) {
  std::optional<AttentionShape> s = SmallShape(n, in[0], in[1], in[2]);
  if (!s) return std::nullopt;
  at::Tensor out = HeadsInner({s->batch, s->queries, s->heads, s->head_dim});
  at::Tensor lse = HeadsInner({s->batch, s->queries, s->heads});
  AttentionForward a{RowsOf<const float>(in[0]), RowsOf<const float>(in[1]), RowsOf<const float>(in[2]),
                     RowsOf<float>(out), RowsOf<float>(lse)};
  ForTileIsa(&AVX512::SmallAttentionForwardImpl, &AVX2::SmallAttentionForwardImpl,
             &DEFAULT::SmallAttentionForwardImpl)(*s, a);
  return Tensors{out, lse};
}

// operands: grad_out, query, key, value, out, logsumexp -> grad_query, grad_key, grad_value
std::optional<Tensors> RunBackward(const Node& n, const Tensors& in) {
  std::optional<AttentionShape> s = SmallShape(n, in[1], in[2], in[3]);
  if (!s) return std::nullopt;
  const at::Tensor &grad_out = in[0], &out = in[4], &lse = in[5];
  if (!IsHeadRows(grad_out, s->queries, s->head_dim) || !IsHeadRows(out, s->queries, s->head_dim) ||
      grad_out.sizes() != in[1].sizes() || out.sizes() != in[1].sizes() || lse.scalar_type() != at::kFloat ||
      lse.sizes() != in[1].sizes().slice(0, 3)) {
    return std::nullopt;
  }
  Tensors grads{HeadsInner({s->batch, s->queries, s->heads, s->head_dim}),
                HeadsInner({s->batch, s->keys, s->heads, s->head_dim}),
                HeadsInner({s->batch, s->keys, s->heads, s->head_dim})};
  AttentionBackward a{RowsOf<const float>(grad_out), RowsOf<const float>(in[1]), RowsOf<const float>(in[2]),
                      RowsOf<const float>(in[3]),    RowsOf<const float>(out),   RowsOf<const float>(lse),
                      RowsOf<float>(grads[0]),      RowsOf<float>(grads[1]),    RowsOf<float>(grads[2])};
  ForTileIsa(&AVX512::SmallAttentionBackwardImpl, &AVX2::SmallAttentionBackwardImpl,
             &DEFAULT::SmallAttentionBackwardImpl)(*s, a);
  return grads;
}

std::optional<Tensors> RunSmallAttention(const Node& n, const Tensors& in) {
  return &n.kind() == &FlashForward() ? RunForward(n, in) : RunBackward(n, in);
}

}  // namespace

bool IsFlashAttention(const Node& node) { return &node.kind() == &FlashForward() || &node.kind() == &FlashBackward(); }

StepSpec SmallAttentionStep(const Graph& graph, const Node* node) {
  return OwnKernelStep(graph, node, &RunSmallAttention, "SmallAttentionCalls");
}

}  // namespace lazyplus
