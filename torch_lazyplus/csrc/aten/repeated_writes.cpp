#include "aten/repeated_writes.h"

#include <ATen/ops/any.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/index.h>
#include <ATen/ops/index_put.h>
#include <ATen/ops/masked_fill.h>

#include "tensor/lazy_tensor.h"

namespace lazyplus {
namespace {

template <typename FillValue>
at::Tensor& MaskedFill(at::Tensor& self, const at::Tensor& mask, const FillValue& value) {
  // Eager's checks (mask dtype, value rank, broadcast) raise at the op; this result is never read.
  at::Tensor filled = at::masked_fill(self, mask, value);
  TORCH_CHECK(filled.sizes() == self.sizes(), "output with shape ", self.sizes(),
              " doesn't match the broadcast shape ", filled.sizes());
  TORCH_WARN("Use of masked_fill_ on expanded tensors is deprecated. Please clone() the tensor before performing "
             "this operation. This also applies to advanced indexing e.g. tensor[mask] = scalar");
  at::Tensor written = mask.to(self.device()).expand(self.sizes());  // a 0-dim CPU mask, as eager allows
  for (int64_t d : RepeatedDims(self)) written = written.any(d, /*keepdim=*/true);
  FirstOfRepeats(self).masked_fill_(written, value);
  return self;
}

// Eager's masked-fill dispatch of index_put_ (canDispatchToMaskedFill): one boolean mask and one value.
// Eager also wants the value on the CPU; the result is the same either way, and the mask stays lazy.
std::optional<at::Tensor> MaskOf(const at::Tensor& self, const c10::List<std::optional<at::Tensor>>& indices,
                                 const at::Tensor& values) {
  if (values.numel() != 1) return std::nullopt;
  at::Tensor mask;
  int64_t dims_before = 0;
  for (const std::optional<at::Tensor>& index : indices) {
    bool defined = index.has_value() && index->defined();
    if (!defined && !mask.defined()) ++dims_before;
    // A full slice after the mask, or a second index: the general path.
    if ((!defined && mask.defined()) || (defined && (mask.defined() || index->scalar_type() != at::kBool))) {
      return std::nullopt;
    }
    if (defined) mask = *index;
  }
  if (!mask.defined()) return std::nullopt;
  for (int64_t j = 0; j < mask.dim(); ++j) {
    TORCH_CHECK_INDEX(dims_before + j < self.dim() && mask.size(j) == self.size(dims_before + j),
                      "The shape of the mask ", mask.sizes(), " at index ", j,
                      " does not match the shape of the indexed tensor ", self.sizes(), " at index ",
                      dims_before + j);
  }
  for (int64_t d = dims_before + mask.dim(); d < self.dim(); ++d) mask = mask.unsqueeze(-1);
  return mask;
}

}  // namespace

at::Tensor& MaskedFillRepeated(at::Tensor& self, const at::Tensor& mask, const at::Scalar& value) {
  return MaskedFill(self, mask, value);
}

at::Tensor& MaskedFillRepeated(at::Tensor& self, const at::Tensor& mask, const at::Tensor& value) {
  return MaskedFill(self, mask, value);
}

at::Tensor& IndexPutRepeated(at::Tensor& self, const c10::List<std::optional<at::Tensor>>& indices,
                             const at::Tensor& values, bool accumulate, bool /*unsafe*/) {
  TORCH_CHECK_INDEX(static_cast<int64_t>(indices.size()) <= self.dim(), "too many indices for tensor of dimension ",
                    self.dim(), " (got ", indices.size(), ")");
  TORCH_WARN("Use of index_put_ on expanded tensors is deprecated. Please clone() the tensor before performing "
             "this operation. This also applies to advanced indexing e.g. tensor[indices] = tensor");
  at::index_put(self, indices, values, accumulate);  // eager's other checks raise at the op; never read
  if (!accumulate) {
    if (auto mask = MaskOf(self, indices, values)) return MaskedFill(self, *mask, values.reshape({}));
  }
  // Index the memory offsets of self's elements as self: the locations written, in the result's order,
  // then write them into the storage seen as one flat tensor (duplicates as eager's index_put_ has them).
  int64_t storage_numel = static_cast<int64_t>(self.storage().nbytes()) / self.element_size();
  at::Tensor offsets = at::arange(storage_numel, self.options().dtype(at::kLong))
                           .as_strided(self.sizes(), self.strides(), self.storage_offset());
  at::Tensor written = at::index(offsets, indices);
  at::Tensor memory = self.as_strided({storage_numel}, {1}, 0);
  c10::List<std::optional<at::Tensor>> flat_index({std::optional<at::Tensor>(written.reshape(-1))});
  at::Tensor on_device = values.to(self.device());  // a 0-dim CPU value, as eager allows (checked above)
  memory.index_put_(flat_index, on_device.expand(written.sizes()).reshape(-1), accumulate);
  return self;
}

}  // namespace lazyplus
