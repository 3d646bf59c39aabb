#pragma once
// A collective recorded as a graph node, as torch_xla records them: the program runs it over gloo on the
// values it has at that point, so a DDP step stays one cached graph per rank instead of a sync per
// gradient bucket. Every rank records the same collectives in the same order; each node also takes and
// gives its group's order token, which keeps that order in the program (two all_reduces that share no
// data would otherwise run in whichever order the schedule chose, and gloo would pair them wrongly).
#include <torch/csrc/distributed/c10d/Backend.hpp>

#include <vector>

#include "ir/node.h"

namespace lazyplus {

enum class Collective : int64_t { kAllReduce, kBroadcast, kAllGather, kReduceScatter, kAllToAll };

struct CollectiveArgs {
  Collective collective;
  int64_t reduce_op = c10d::ReduceOp::SUM;  // all_reduce and reduce_scatter (gloo takes every op but PREMUL_SUM)
  int64_t root = 0;                          // broadcast's source rank
  std::vector<int64_t> output_splits, input_splits;  // all_to_all's, along dim 0 (empty: equal parts)
  int64_t group = 0;                                 // the group's serial number in this process
};

// Operands: the input and the group's token. Outputs: the result, shaped `result`, and the next token.
// `transport` is the group's gloo backend, which runs the collective on host tensors.
NodePtr MakeCollectiveNode(Operands operands, Shape result, CollectiveArgs args,
                           c10::intrusive_ptr<c10d::Backend> transport);

// The shape of an order token.
Shape TokenShape();

}  // namespace lazyplus
