#pragma once
// A collective on lazyplus tensors is checked at the call as gloo checks the same call on CPU tensors,
// in gloo's words: the same mistake raises the same error, and nothing is recorded.
#include <torch/csrc/distributed/c10d/Types.hpp>

#include <functional>
#include <string>
#include <vector>

namespace lazyplus {

using Invalid = std::function<void(const std::string&)>;

// Raises "ProcessGroupGloo::<op>: <message>" (for c10d's assert helpers).
Invalid GlooCheck(const std::string& op);
// What gloo raises only when it runs the collective (its reduce function): at the call here, since a
// recorded collective runs at the next sync.
void CheckReduceOp(const c10d::ReduceOp& op, const at::Tensor& t);
void CheckSameType(const Invalid& invalid, const at::TensorOptions& options, at::ArrayRef<at::Tensor> tensors);
void CheckAllgather(const std::vector<std::vector<at::Tensor>>& outputs, const std::vector<at::Tensor>& inputs,
                    int world);
// The input is the output's dim 0 times the world size.
void CheckReduceScatterBase(const at::Tensor& output, const at::Tensor& input, int world);

}  // namespace lazyplus
