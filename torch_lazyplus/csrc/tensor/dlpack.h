#pragma once
// Sharing a lazy tensor's memory through DLPack. PyTorch's import wraps the exported address in a plain
// storage (from_blob), which lazyplus cannot track. So an export first computes the tensor and
// publishes its storage by address; the imported tensor then takes that storage in place of its plain
// one, and the two tensors share one LazyStorage, as DLPack promises, whatever either computes later.
#include <ATen/core/Tensor.h>

namespace lazyplus {

// Computes `t` and publishes its storage's buffer (kept alive while the storage is, so that its
// address names this storage until an import takes it).
void PublishForDLPack(const at::Tensor& t);
// Gives `t`, a tensor over a plain storage at a published address, the published storage (with the
// storage offset of its address). `consume`: the import was the publication's only one (a DLPack
// capsule is read once), so the publication ends. False when the address was not published.
bool AdoptPublishedStorage(const at::TensorBase& t, bool consume);

}  // namespace lazyplus
