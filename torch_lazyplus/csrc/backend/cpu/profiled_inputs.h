#pragma once
// A step's operands as torch.profiler records them (record_shapes=True shows a region's or an own
// kernel's shapes); built only while a profiler is on.
#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>

#include <vector>

namespace lazyplus {

inline std::vector<c10::IValue> ProfiledInputs(const std::vector<at::Tensor>& in) { return {in.begin(), in.end()}; }

}  // namespace lazyplus
