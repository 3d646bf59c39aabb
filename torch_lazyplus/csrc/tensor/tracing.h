#pragma once
// What a generated lazy kernel does: collect operands (checking devices as eager does), infer output
// shapes by running the op on meta tensors (which also raises eager's errors at the op call), build
// the node, and wrap its outputs as new lazy tensors.
#include <ATen/core/IListRef.h>
#include <ATen/core/List.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <mutex>
#include <tuple>
#include <unordered_map>

#include "ir/node.h"
#include "support/metrics.h"
#include "tensor/lazy_storage.h"
#include "tensor/pending.h"

namespace lazyplus {

// What a meta kernel takes in place of a tensor operand: a meta tensor like it (or the host scalar
// itself), built only when a meta kernel actually runs; a MetaCache hit needs none.
class MetaArg {
 public:
  // Borrows a kernel argument, alive for the whole call. A copy would take the GIL, which PyTorch
  // released for the op: C++ references to a tensor that Python owns keep its Python object alive.
  static MetaArg Borrowing(const at::Tensor& source, bool as_meta) { return MetaArg(&source, {}, as_meta); }
  // Owns a tensor made during the call.
  static MetaArg Owning(at::Tensor source, bool as_meta) { return MetaArg(nullptr, std::move(source), as_meta); }
  operator const at::Tensor&() const;  // NOLINT: converts where a kernel takes a tensor

 private:
  MetaArg(const at::Tensor* borrowed, at::Tensor owned, bool as_meta)
      : borrowed_(borrowed), owned_(std::move(owned)), as_meta_(as_meta) {}
  const at::Tensor& source() const { return borrowed_ ? *borrowed_ : owned_; }

  const at::Tensor* borrowed_;
  at::Tensor owned_;
  bool as_meta_;
  mutable at::Tensor meta_;
};

class Tracer {
 public:
  // `traced` counts lazy::<op>.
  explicit Tracer(metrics::Counter* traced) : traced_(traced), timer_(TraceTimeCounter()) {}

  // Each Input records an operand and returns what the meta call takes in its place.
  MetaArg Input(const at::Tensor& t);
  std::optional<at::Tensor> Input(const std::optional<at::Tensor>& t);
  std::vector<at::Tensor> Input(at::TensorList ts);
  std::vector<at::Tensor> Input(const at::ITensorListRef& ts);
  c10::List<std::optional<at::Tensor>> Input(const c10::List<std::optional<at::Tensor>>& ts);
  // Scalars enter the meta key by type and sign only, unless their value `sets_size` (factories).
  void Scalar(const at::Scalar& s, bool sets_size = false);
  void Scalar(const std::optional<at::Scalar>& s, bool sets_size = false);
  // Factories name their device.
  void SetDevice(std::optional<c10::Device> device);

  // Runs `meta_fn` under the Meta backend; nullopt when the meta kernel cannot answer (none exists,
  // the output shape depends on data, or the inputs are invalid). The caller then runs the op on the
  // CPU, which computes the result or raises eager's own error at the op call.
  template <typename F>
  auto Meta(F&& meta_fn) -> std::optional<decltype(meta_fn())> {
    try {
      return meta_fn();
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

  Operands TakeOperands() { return std::move(operands_); }
  // Everything the meta kernel sees: the inputs' sizes, strides and dtypes, scalar types and signs,
  // the default dtype, and `attrs` (the hash of the op's other arguments).
  hash_t MetaKey(hash_t attrs) const;

  // New lazy tensors for the outputs of `node`, shaped and laid out like the meta outputs.
  at::Tensor Wrap(const NodePtr& node, const at::Tensor&);
  std::vector<at::Tensor> Wrap(const NodePtr& node, const std::vector<at::Tensor>&);
  template <typename... Ts>
  std::tuple<Ts...> Wrap(const NodePtr& node, const std::tuple<Ts...>& metas) {
    traced_->Add();
    return WrapTuple<Ts...>(node, metas, std::index_sequence_for<Ts...>{});
  }

 private:
  void LazyOperand(const at::Tensor& plain);
  template <typename... Ts, size_t... I>
  std::tuple<Ts...> WrapTuple(const NodePtr& node, const std::tuple<Ts...>& metas, std::index_sequence<I...>) {
    return std::tuple<Ts...>(Output(node, I, std::get<I>(metas))...);
  }
  // Output `index` of `node`, laid out as its meta result (eager's layout).
  at::Tensor Output(const NodePtr& node, size_t index, const at::Tensor& meta);
  void UseDevice(c10::Device device);

  void AddToKey(hash_t h) { key_ = HashCombine(key_, h); }

  static metrics::Counter* TraceTimeCounter();

  std::unique_lock<std::recursive_mutex> recording_ = LockRecording();  // first: the whole op is atomic
  metrics::Counter* traced_;
  metrics::ScopedTimer timer_;  // the op's recording time, for the graph it joins
  SourceScope source_;          // the op's nodes share one capture of the user's line
  Operands operands_;
  hash_t key_ = 0x6a09e667;
  std::optional<c10::Device> device_;
};

// Meta results of one op by Tracer::MetaKey. Training loops call each op with the same metadata every
// step, and some meta kernels are Python decompositions that cost hundreds of µs (relu, mse_loss_backward).
// Failed meta calls are never cached, so invalid input still raises at the op. Each op keeps one per
// thread (`static thread_local`): a lookup takes no lock (a mutex here cost 1.5 % of recording an op).
template <typename T>
class MetaCache {
 public:
  std::optional<T> Find(hash_t key) const {
    auto it = map_.find(key);
    return it == map_.end() ? std::nullopt : std::optional<T>(it->second);
  }
  void Insert(hash_t key, const T& value) {
    if (map_.size() >= 256) map_.clear();
    map_.emplace(key, value);
  }

 private:
  std::unordered_map<hash_t, T> map_;
};

// Output shapes of a meta result.
Shape ShapeOf(const at::Tensor& t);
Shapes ShapesOf(const at::Tensor& t);
Shapes ShapesOf(const std::vector<at::Tensor>& ts);
template <typename... Ts>
Shapes ShapesOf(const std::tuple<Ts...>& ts) {
  Shapes shapes;
  std::apply([&](const auto&... t) { (shapes.push_back(ShapeOf(t)), ...); }, ts);
  return shapes;
}

// Host kernel results as a vector.
inline std::vector<at::Tensor> Outputs(at::Tensor t) { return {std::move(t)}; }
inline std::vector<at::Tensor> Outputs(std::vector<at::Tensor> ts) { return ts; }
template <typename... Ts>
std::vector<at::Tensor> Outputs(const std::tuple<Ts...>& ts) {
  return std::apply([](const auto&... t) { return std::vector<at::Tensor>{t...}; }, ts);
}

// In-place and out= variants: check as eager does, then write the functional result.
void WriteInplace(const at::Tensor& self, const at::Tensor& result);
void WriteOut(const at::Tensor& out, const at::Tensor& result);
void WriteOut(at::TensorList outs, const std::vector<at::Tensor>& results);

}  // namespace lazyplus
