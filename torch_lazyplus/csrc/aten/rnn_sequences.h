#pragma once
// Recurrent layers the CPU computes as a loop of per-time-step cells (the LSTMs oneDNN does not take,
// and nn.GRU and nn.RNN where recurrent_layers.cpp does not) record one node for the whole call and one
// for its backward.
#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

namespace lazyplus {

enum class RnnMode : int64_t { kGru, kRnnTanh, kRnnRelu, kLstm };

// Gate blocks in a row of a projection: LSTM i, f, g, o; GRU r, z, n; RNN one.
inline int64_t GatesOf(RnnMode mode) { return mode == RnnMode::kGru ? 3 : mode == RnnMode::kLstm ? 4 : 1; }

struct RnnArgs {
  RnnMode mode;
  bool has_biases;
  int64_t num_layers;
  double dropout;
  bool train;
  bool bidirectional;
  bool batch_first;
};

// The outputs of the CPU's own call (output, h_n and, for an LSTM, c_n) as one recorded node with a
// backward node, or nullopt where the call must decompose: dropout between layers (its masks come from
// the lazyplus generator as the ops record), packed or unbatched input, mixed devices or dtypes, or input
// the meta kernels reject (the decomposition then raises eager's error at the call).
std::optional<std::vector<at::Tensor>> RecordRnnSequence(const RnnArgs& args, const at::Tensor& input,
                                                         at::TensorList states, at::TensorList params);

// Whether the operands have the sizes the call expects of each other (where not, eager raises).
bool RnnOperandsFit(const RnnArgs& args, const at::Tensor& input, at::TensorList states, at::TensorList params);

}  // namespace lazyplus
