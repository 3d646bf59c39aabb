#include "ir/core_nodes.h"

#include "device/device.h"
#include "ir/node_factory.h"
#include "support/aten_forward.h"

#include <ATen/native/Resize.h>
#include <ATen/ops/as_strided.h>
#include <ATen/ops/zeros.h>
#include <c10/util/strides.h>

#include <algorithm>

namespace lazyplus {
namespace {

// A contiguous 1-d host tensor holding the elements of `t` in row-major order.
at::Tensor Flat(const at::Tensor& t) { return t.contiguous().view(-1); }

// A view of t's storage. Below autograd and view tracking (the executor's steps) it is made directly,
// with as_strided's checks, as the CPU kernel makes it: through the dispatcher (flatten, then
// as_strided) a view cost ~2 us in the demo's replayed step, 36 views per step. Above them (a graph
// run on host tensors that require grad) it is at::as_strided, so autograd sees the view.
bool BelowViewTracking() { return c10::impl::tls_is_dispatch_key_excluded(c10::DispatchKey::ADInplaceOrView); }

at::Tensor StorageView(const at::Tensor& t, c10::IntArrayRef sizes, c10::IntArrayRef strides, int64_t storage_offset) {
  if (!BelowViewTracking()) {
    return at::as_strided(t, sizes, strides, storage_offset);
  }
  TORCH_CHECK(sizes.size() == strides.size(), "mismatch in length of strides and shape");
  TORCH_CHECK(std::all_of(strides.begin(), strides.end(), [](int64_t s) { return s >= 0; }),
              "as_strided: Negative strides are not supported at the moment, got strides: ", strides);
  TORCH_CHECK(storage_offset >= 0, "Tensor: invalid storage offset ", storage_offset);
  at::native::checkInBoundsForStorage(sizes, strides, storage_offset, t.dtype(), t.storage());
  auto impl = c10::make_intrusive<c10::TensorImpl>(c10::TensorImpl::VIEW, c10::Storage(t.storage()), t.key_set(),
                                                   t.dtype());
  impl->set_sizes_and_strides(sizes, strides, storage_offset);
  return at::Tensor(std::move(impl));
}

// `as_strided(Flat(base), sizes, strides, offset)` as a view of `base` in its own layout, where every
// dim of the view steps within one dim of `base`: transposes, permutes, slices and selects of a
// result whose memory is not in row-major order, such as attention's (batch, heads, time, dim) in
// (batch, time, heads, dim) memory. Undefined where a view dim spans several dims of `base`.
at::Tensor ViewInOwnLayout(const at::Tensor& base, c10::IntArrayRef sizes, c10::IntArrayRef strides, int64_t offset) {
  c10::IntArrayRef dims = base.sizes();
  if (base.numel() == 0 || offset >= base.numel()) return {};
  c10::DimVector row_major = c10::contiguous_strides(dims);
  std::vector<int64_t> index(dims.size()), own_strides(sizes.size());
  int64_t rest = offset, storage_offset = base.storage_offset();
  for (size_t k = 0; k < dims.size(); ++k) {
    index[k] = rest / row_major[k];
    rest %= row_major[k];
    storage_offset += index[k] * base.stride(k);
  }
  for (size_t j = 0; j < sizes.size(); ++j) {
    if (sizes[j] <= 1 || strides[j] == 0) continue;  // own_strides[j] = 0: never stepped along
    size_t k = 0;  // the one dim of `base` whose row-major stride divides the view's within its extent
    while (k < dims.size() &&
           !(dims[k] > 1 && strides[j] % row_major[k] == 0 && strides[j] / row_major[k] < dims[k])) {
      ++k;
    }
    if (k == dims.size()) return {};
    int64_t step = strides[j] / row_major[k];
    index[k] += step * (sizes[j] - 1);  // the last index the view reaches in dim k
    own_strides[j] = step * base.stride(k);
  }
  for (size_t k = 0; k < dims.size(); ++k) {
    if (index[k] >= dims[k]) return {};  // the view carries into the next dim of `base`
  }
  return StorageView(base, sizes, own_strides, storage_offset);
}

}  // namespace

namespace {

int64_t NumelAs(const Buffer& buffer, at::ScalarType dtype) {
  size_t itemsize = c10::elementSize(dtype);
  TORCH_CHECK(buffer.nbytes() % itemsize == 0, "lazyplus: storage of ", buffer.nbytes(), " bytes cannot be viewed as ",
              dtype);
  return static_cast<int64_t>(buffer.nbytes() / itemsize);
}

}  // namespace

DeviceData::DeviceData(BufferPtr buffer, at::ScalarType dtype)
    : Parameter(kind, {}, {Shape{dtype, {NumelAs(*buffer, dtype)}}}, 0), buffer_(std::move(buffer)) {}

at::Tensor DeviceData::host_value() const {
  TORCH_CHECK(buffer_, "lazyplus: the bytes of this graph input were released (a recorded step feeds it at each run)");
  return buffer_->MemoryAs(shape().dtype);
}

ScalarParam::ScalarParam(at::Tensor value)
    : Parameter(kind, {}, {Shape{value.scalar_type(), c10::DimVector(value.sizes())}},
                Hash(value.unsafeGetTensorImpl()->is_wrapped_number())),
      value_(std::move(value)) {}

ScalarParam::ScalarParam(const at::Scalar& value)
    : Parameter(kind, {}, {Shape{value.type(), {}}}, Hash(false)), scalar_(value) {}

at::Tensor ScalarParam::host_value() const {
  // scalar_tensor_static skips the dispatcher: graphs feed one per Scalar argument on every run.
  return value_.defined() ? value_ : at::detail::scalar_tensor_static(*scalar_, scalar_->type(), at::kCPU);
}

std::vector<c10::IValue> ScalarParam::attrs() const {
  return {host_value(), value_.defined() && value_.unsafeGetTensorImpl()->is_wrapped_number()};
}

std::string ScalarParam::attrs_text() const {
  if (!value_.defined()) return "";
  return value_.unsafeGetTensorImpl()->is_wrapped_number() ? "wrapped=True" : "";
}

AsStrided::AsStrided(Value base, c10::IntArrayRef sizes, std::vector<int64_t> strides, int64_t offset)
    : Node(kind, {base}, {Shape{base.shape().dtype, c10::DimVector(sizes)}}, HashAll(strides, offset)),
      sizes_(sizes.vec()), strides_(std::move(strides)), offset_(offset) {}

std::string AsStrided::attrs_text() const {
  return "stride=" + AttrText(strides_) + ", offset=" + AttrText(offset_);
}

HostKernel AsStrided::host_kernel() const {
  return [sizes = sizes_, strides = strides_, offset = offset_](const std::vector<at::Tensor>& in) {
    if (!in[0].is_contiguous()) {
      at::Tensor view = ViewInOwnLayout(in[0], sizes, strides, offset);
      if (view.defined()) return std::vector<at::Tensor>{view};
    }
    at::Tensor flat = in[0].is_contiguous() ? in[0] : Flat(in[0]);  // its storage in row-major order
    return std::vector<at::Tensor>{StorageView(flat, sizes, strides, flat.storage_offset() + offset)};
  };
}

AsStridedScatter::AsStridedScatter(Value base, Value src, std::vector<int64_t> strides, int64_t offset)
    : Node(kind, {base, src}, {Shape{base.shape().dtype, {base.shape().numel()}}},
           HashAll(strides, offset)),
      strides_(std::move(strides)), offset_(offset) {}

std::string AsStridedScatter::attrs_text() const {
  return "stride=" + AttrText(strides_) + ", offset=" + AttrText(offset_);
}

HostKernel AsStridedScatter::host_kernel() const {
  return [strides = strides_, offset = offset_](const std::vector<at::Tensor>& in) {
    at::Tensor out = in[0].reshape(-1).clone();
    at::as_strided(out, in[1].sizes(), strides, offset).copy_(in[1]);
    return std::vector<at::Tensor>{out};
  };
}

HostKernel AsStridedScatter::host_kernel_into_operand0() const {
  return [strides = strides_, offset = offset_](const std::vector<at::Tensor>& in) {
    at::Tensor out = in[0].view(-1);
    at::as_strided(out, in[1].sizes(), strides, offset).copy_(in[1]);
    return std::vector<at::Tensor>{out};
  };
}

Reshape::Reshape(Value v, c10::IntArrayRef sizes)
    : Node(kind, {v}, {Shape{v.shape().dtype, c10::DimVector(sizes)}}, 0) {}

std::string Reshape::attrs_text() const { return "size=" + AttrText(shape().sizes); }

HostKernel Reshape::host_kernel() const {
  return [sizes = shape().sizes](const std::vector<at::Tensor>& in) {
    const at::Tensor& t = in[0];
    if (!t.is_contiguous() || !BelowViewTracking()) return std::vector<at::Tensor>{t.reshape(sizes)};
    return std::vector<at::Tensor>{StorageView(t, sizes, c10::contiguous_strides(sizes), t.storage_offset())};
  };
}

Convert::Convert(Value v, at::ScalarType dtype) : Node(kind, {v}, {Shape{dtype, v.shape().sizes}}, 0) {}

std::string Convert::attrs_text() const { return "dtype=" + AttrText(shape().dtype); }

HostKernel Convert::host_kernel() const {
  return [dtype = shape().dtype](const std::vector<at::Tensor>& in) {
    return std::vector<at::Tensor>{in[0].to(dtype)};
  };
}

Expand::Expand(Value v, c10::IntArrayRef sizes)
    : Node(kind, {v}, {Shape{v.shape().dtype, c10::DimVector(sizes)}}, 0) {}

std::string Expand::attrs_text() const { return "size=" + AttrText(shape().sizes); }

HostKernel Expand::host_kernel() const {
  return [sizes = shape().sizes](const std::vector<at::Tensor>& in) {
    return std::vector<at::Tensor>{in[0].expand(sizes)};
  };
}

Bitcast::Bitcast(Value v, at::ScalarType dtype)
    : Node(kind, {v},
           {Shape{dtype, {v.shape().numel() * static_cast<int64_t>(c10::elementSize(v.shape().dtype)) /
                          static_cast<int64_t>(c10::elementSize(dtype))}}},
           0) {}

std::string Bitcast::attrs_text() const { return "dtype=" + AttrText(shape().dtype); }

HostKernel Bitcast::host_kernel() const {
  return [dtype = shape().dtype](const std::vector<at::Tensor>& in) {
    return std::vector<at::Tensor>{Flat(in[0]).view(dtype)};
  };
}

Grow::Grow(Value v, int64_t numel) : Node(kind, {v}, {Shape{v.shape().dtype, {numel}}}, 0) {}

HostKernel Grow::host_kernel() const {
  return [numel = shape().numel()](const std::vector<at::Tensor>& in) {
    at::Tensor out = at::zeros({numel}, in[0].options());
    at::Tensor old = Flat(in[0]);
    out.narrow(0, 0, std::min<int64_t>(old.numel(), numel)).copy_(old.narrow(0, 0, std::min<int64_t>(old.numel(), numel)));
    return std::vector<at::Tensor>{out};
  };
}

namespace {

using Attrs = const std::vector<c10::IValue>&;

// Operand k of a node being rebuilt (SmallVector::at does not check, and the operands come from a file).
const Value& Operand(const Operands& o, size_t k) {
  TORCH_CHECK_INDEX(k < o.size(), "lazyplus: a saved node has ", o.size(), " operands, needs ", k + 1);
  return o[k];
}

const NodeFactoryRegistration factories[] = {
    {DeviceData::kind,
     [](Operands, Shapes, Attrs a) {
       at::Tensor memory = Flat(a.at(0).toTensor());
       at::ScalarType dtype = memory.scalar_type();
       // A captured weight: memory of the process, not yet of a device.
       return MakeNode<DeviceData>(std::make_shared<Buffer>(c10::Device(kLazyplus, 0), std::move(memory)), dtype);
     }},
    {ScalarParam::kind,
     [](Operands, Shapes, Attrs a) {
       at::Tensor value = a.at(0).toTensor();
       value.unsafeGetTensorImpl()->set_wrapped_number(a.at(1).toBool());
       return MakeNode<ScalarParam>(std::move(value));
     }},
    {AsStrided::kind,
     [](Operands o, Shapes s, Attrs a) {
       return MakeNode<AsStrided>(Operand(o, 0), s.at(0).sizes, a.at(0).toIntVector(), a.at(1).toInt());
     }},
    {AsStridedScatter::kind,
     [](Operands o, Shapes, Attrs a) {
       return MakeNode<AsStridedScatter>(Operand(o, 0), Operand(o, 1), a.at(0).toIntVector(), a.at(1).toInt());
     }},
    {Reshape::kind, [](Operands o, Shapes s, Attrs) { return MakeNode<Reshape>(Operand(o, 0), s.at(0).sizes); }},
    {Convert::kind, [](Operands o, Shapes s, Attrs) { return MakeNode<Convert>(Operand(o, 0), s.at(0).dtype); }},
    {Expand::kind, [](Operands o, Shapes s, Attrs) { return MakeNode<Expand>(Operand(o, 0), s.at(0).sizes); }},
    {Bitcast::kind, [](Operands o, Shapes s, Attrs) { return MakeNode<Bitcast>(Operand(o, 0), s.at(0).dtype); }},
    {Grow::kind, [](Operands o, Shapes s, Attrs) { return MakeNode<Grow>(Operand(o, 0), s.at(0).numel()); }},
};

}  // namespace
}  // namespace lazyplus
