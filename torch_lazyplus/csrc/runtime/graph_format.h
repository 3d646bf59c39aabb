#pragma once
// The saved form of a captured graph (the pickled state of torch.classes.lazyplus.Graph): a format
// version, then a payload of bytes (a uint8 tensor) that torch::jit::pickle_save wrote: every node as
// (op, operands, output shapes, attributes, source line), the outputs and the inputs. Captured
// tensors travel inside the payload. Loading rebuilds each node through its factory
// (ir/node_factory.h), so a loaded graph has the hash, and shares compiled programs, of the saved one.
#include <memory>
#include <tuple>

#include "runtime/captured_graph.h"

namespace lazyplus {

constexpr int64_t kGraphFormatVersion = 1;

std::tuple<int64_t, at::Tensor> SaveGraph(const CapturedGraph& graph);
// Raises, naming both versions, for a payload written in another format version.
std::shared_ptr<CapturedGraph> LoadGraph(int64_t version, const at::Tensor& payload);

}  // namespace lazyplus
