#pragma once
// Hand-written nodes of the IR core: graph inputs and the storage-level operations that give lazy
// tensors eager aliasing semantics (every other node is generated from codegen/ops.yaml).
#include "device/buffer.h"
#include "ir/node.h"

namespace lazyplus {

// Device memory fed to the graph at run time: a buffer, read flat as `dtype`. The buffer may still be
// in flight (the output of a program launched earlier): recording a read of it never waits.
class DeviceData final : public Parameter {
 public:
  static inline const OpKind kind{"device_data"};
  DeviceData(BufferPtr buffer, at::ScalarType dtype);
  const BufferPtr& buffer() const { return buffer_; }
  // Drops the buffer of an input that a kept graph is fed at every run (capture_step's recorded
  // steps): a recorded step would otherwise hold the old bytes of every parameter it updates. Only for
  // a node no pending value and no storage's cache holds; buffer() is null after it.
  void ReleaseBuffer() const { buffer_.reset(); }
  // The buffer's memory viewed as the node's dtype (waits for it).
  at::Tensor host_value() const override;
  std::vector<c10::IValue> attrs() const override { return {host_value()}; }

 private:
  mutable BufferPtr buffer_;  // mutable: ReleaseBuffer
};

// A scalar operand (a Python number or a 0-dim CPU tensor): a graph input keyed by dtype, not value.
class ScalarParam final : public Parameter {
 public:
  static inline const OpKind kind{"scalar"};
  explicit ScalarParam(at::Tensor value);
  // A Scalar argument becomes a host tensor only when a graph runs: recording stays cheap.
  explicit ScalarParam(const at::Scalar& value);
  at::Tensor host_value() const override;
  const at::Scalar* host_scalar() const override { return scalar_ ? &*scalar_ : nullptr; }
  std::string attrs_text() const override;
  std::vector<c10::IValue> attrs() const override;

 private:
  at::Tensor value_;
  std::optional<at::Scalar> scalar_;
};

// Reads a strided window of a storage value (viewed flat).
class AsStrided final : public Node {
 public:
  static inline const OpKind kind{"as_strided"};
  AsStrided(Value base, c10::IntArrayRef sizes, std::vector<int64_t> strides, int64_t offset);
  std::string attrs_text() const override;
  std::vector<c10::IValue> attrs() const override { return {strides_, offset_}; }
  HostKernel host_kernel() const override;

 private:
  std::vector<int64_t> sizes_, strides_;
  int64_t offset_;
};

// Writes `src` into a strided window of a storage value; the result is the whole storage, flat.
class AsStridedScatter final : public Node {
 public:
  static inline const OpKind kind{"as_strided_scatter"};
  AsStridedScatter(Value base, Value src, std::vector<int64_t> strides, int64_t offset);
  std::string attrs_text() const override;
  std::vector<c10::IValue> attrs() const override { return {strides_, offset_}; }
  HostKernel host_kernel() const override;
  // Writes into the base: a chain of writes into one storage (DDP copying 28 gradients into its bucket)
  // copied the whole storage per write, 0.8 ms of the demo GPT's 5.9 ms DDP step.
  HostKernel host_kernel_into_operand0() const override;

 private:
  std::vector<int64_t> strides_;
  int64_t offset_;
};

// Same elements, other sizes (row-major).
class Reshape final : public Node {
 public:
  static inline const OpKind kind{"reshape"};
  Reshape(Value v, c10::IntArrayRef sizes);
  std::string attrs_text() const override;
  HostKernel host_kernel() const override;
};

// Element type conversion, as Tensor.to(dtype).
class Convert final : public Node {
 public:
  static inline const OpKind kind{"convert"};
  Convert(Value v, at::ScalarType dtype);
  std::string attrs_text() const override;
  HostKernel host_kernel() const override;
};

// Broadcast to `sizes`, as Tensor.expand.
class Expand final : public Node {
 public:
  static inline const OpKind kind{"expand"};
  Expand(Value v, c10::IntArrayRef sizes);
  std::string attrs_text() const override;
  HostKernel host_kernel() const override;
};

// Reinterprets the bytes of a flat value as another dtype, as Tensor.view(dtype).
class Bitcast final : public Node {
 public:
  static inline const OpKind kind{"bitcast"};
  Bitcast(Value v, at::ScalarType dtype);
  std::string attrs_text() const override;
  HostKernel host_kernel() const override;
};

// A flat value extended to `numel` elements (a storage grown by resize_); new elements are zero.
class Grow final : public Node {
 public:
  static inline const OpKind kind{"grow"};
  Grow(Value v, int64_t numel);
  HostKernel host_kernel() const override;
};

}  // namespace lazyplus
