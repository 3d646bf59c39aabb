#include "distributed/gloo_checks.h"

#include <ATen/ops/empty.h>
#include <torch/csrc/distributed/c10d/Utils.hpp>

namespace lazyplus {

namespace {
using RedOp = c10d::ReduceOp::RedOpType;
}  // namespace

Invalid GlooCheck(const std::string& op) {
  return [op](const std::string& msg) { TORCH_CHECK(false, "ProcessGroupGloo::", op, ": ", msg); };
}

void CheckReduceOp(const c10d::ReduceOp& op, const at::Tensor& t) {
  TORCH_CHECK(op != RedOp::PREMUL_SUM, "Cannot use ReduceOp.PREMUL_SUM with Gloo");
  const bool bitwise = op == RedOp::BAND || op == RedOp::BOR || op == RedOp::BXOR;
  if (bitwise && (at::isFloatingType(t.scalar_type()) || at::isComplexType(t.scalar_type()))) {
    const char* name = op == RedOp::BAND ? "BAND" : op == RedOp::BOR ? "BOR" : "BXOR";
    TORCH_CHECK(false, "Cannot use ReduceOp.", name, " with non-integral dtype");
  }
  // gloo's AVG divides the sum in place: an empty host tensor of the dtype raises its cast error.
  if (op == RedOp::AVG) at::empty({0}, at::TensorOptions().dtype(t.scalar_type())).div_(2);
}

void CheckSameType(const Invalid& invalid, const at::TensorOptions& options, at::ArrayRef<at::Tensor> tensors) {
  for (size_t i = 0; i < tensors.size(); ++i) c10d::assertTypeMatch(invalid, options, tensors, i);
}

void CheckAllgather(const std::vector<std::vector<at::Tensor>>& outputs, const std::vector<at::Tensor>& inputs, int world) {
  auto invalid = GlooCheck("allgather");
  if (inputs.empty()) invalid("requires non-empty input tensor list");
  if (inputs.size() != outputs.size()) invalid("requires input/output tensor lists to have the same length");
  for (size_t i = 0; i < outputs.size(); ++i) {
    const size_t expected = inputs.size() * world, actual = outputs[i].size();
    if (actual != expected) {
      invalid(c10::str("invalid output tensor list at index ", i, " (expected length ", expected, ", got ", actual, ")"));
    }
  }
  c10d::assertDense(invalid, inputs);
  c10d::assertTypeAndSizesMatch(invalid, inputs, inputs[0].options(), inputs[0].sizes());
  for (const std::vector<at::Tensor>& output : outputs) {
    c10d::assertTypeAndSizesMatch(invalid, output, inputs[0].options(), inputs[0].sizes());
  }
}

void CheckReduceScatterBase(const at::Tensor& output, const at::Tensor& input, int world) {
  auto invalid = GlooCheck("_reduce_scatter_base");
  CheckSameType(invalid, output.options(), {input});
  std::vector<int64_t> expected = output.sizes().vec();
  if (!expected.empty()) expected[0] *= world;
  c10d::assertSizesMatch(invalid, expected, {input}, 0);
}

}  // namespace lazyplus
