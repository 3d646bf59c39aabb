#include "runtime/graph_format.h"

#include <ATen/core/ivalue.h>
#include <ATen/ops/empty.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <cstring>

#include "ir/node_factory.h"

namespace lazyplus {
namespace {

using c10::IValue;
using c10::ivalue::Tuple;

// A value as (node position, output index), flattened into one int list.
void AppendValue(std::vector<int64_t>& out, const Graph& graph, const Value& v) {
  out.push_back(static_cast<int64_t>(graph.position.at(v.node.get())));
  out.push_back(static_cast<int64_t>(v.index));
}

Operands ReadValues(const std::vector<int64_t>& refs, const std::vector<NodePtr>& nodes) {
  Operands values;
  for (size_t k = 0; k + 1 < refs.size(); k += 2) {
    TORCH_CHECK(refs[k] >= 0 && refs[k] < static_cast<int64_t>(nodes.size()), "lazyplus.Graph: corrupt saved graph");
    values.push_back(Value{nodes[refs[k]], static_cast<size_t>(refs[k + 1])});
  }
  return values;
}

IValue SaveShape(const Shape& s) { return Tuple::create(static_cast<int64_t>(s.dtype), c10::IntArrayRef(s.sizes)); }

Shape ReadShape(const IValue& v) {
  const auto& t = v.toTupleRef().elements();
  return Shape{static_cast<at::ScalarType>(t.at(0).toInt()), t.at(1).toDimVector()};
}

IValue SaveSite(const SourceSite* site) {
  if (!site) return IValue();
  const SourceLocation& loc = site->location();
  return Tuple::create(loc.file, loc.function, static_cast<int64_t>(loc.line));
}

const SourceSite* ReadSite(const IValue& v) {
  if (v.isNone()) return nullptr;
  const auto& t = v.toTupleRef().elements();
  return StoredSite({t.at(0).toStringRef(), t.at(1).toStringRef(), static_cast<int>(t.at(2).toInt())});
}

IValue SaveNode(const Graph& graph, const Node* n) {
  std::vector<int64_t> operands;
  for (const Value& v : n->operands()) AppendValue(operands, graph, v);
  c10::impl::GenericList shapes(c10::AnyType::get());
  for (const Shape& s : n->shapes()) shapes.push_back(SaveShape(s));
  c10::impl::GenericList attrs(c10::AnyType::get());
  for (IValue& a : n->attrs()) attrs.push_back(std::move(a));
  return Tuple::create({n->op(), operands, shapes, attrs, SaveSite(n->source())});
}

NodePtr ReadNode(const IValue& saved, const std::vector<NodePtr>& nodes) {
  const auto& t = saved.toTupleRef().elements();
  Shapes shapes;
  for (const IValue& s : t.at(2).toListRef()) shapes.push_back(ReadShape(s));
  const auto& attrs = t.at(3).toListRef();
  SourceOverride source(ReadSite(t.at(4)));
  return RebuildNode(t.at(0).toStringRef(), ReadValues(t.at(1).toIntVector(), nodes), std::move(shapes),
                     std::vector<IValue>(attrs.begin(), attrs.end()));
}

}  // namespace

std::tuple<int64_t, at::Tensor> SaveGraph(const CapturedGraph& captured) {
  const Graph& graph = captured.graph();
  c10::impl::GenericList nodes(c10::AnyType::get());
  for (const Node* n : graph.nodes) nodes.push_back(SaveNode(graph, n));
  std::vector<int64_t> outputs;
  for (const Value& v : graph.roots) AppendValue(outputs, graph, v);
  c10::impl::GenericList inputs(c10::AnyType::get());
  for (size_t i = 0; i < captured.input_shapes().size(); ++i) {
    const Node* n = captured.input_node(i);
    int64_t position = n ? static_cast<int64_t>(graph.position.at(n)) : -1;
    inputs.push_back(Tuple::create(position, SaveShape(captured.input_shapes()[i])));
  }
  std::vector<char> bytes = torch::jit::pickle_save(Tuple::create(nodes, outputs, inputs));
  at::Tensor payload = at::empty({static_cast<int64_t>(bytes.size())}, at::kByte);
  std::memcpy(payload.data_ptr(), bytes.data(), bytes.size());
  return {kGraphFormatVersion, payload};
}

std::shared_ptr<CapturedGraph> LoadGraph(int64_t version, const at::Tensor& payload) {
  TORCH_CHECK(version == kGraphFormatVersion, "lazyplus.Graph: the saved graph has format version ", version,
              ", but this build of torch_lazyplus reads format version ", kGraphFormatVersion);
  TORCH_CHECK(payload.scalar_type() == at::kByte && payload.dim() == 1, "lazyplus.Graph: corrupt saved graph");
  at::Tensor bytes = payload.cpu().contiguous();
  const char* data = static_cast<const char*>(bytes.const_data_ptr());
  IValue saved = torch::jit::pickle_load(std::vector<char>(data, data + bytes.numel()));
  const auto& t = saved.toTupleRef().elements();
  std::vector<NodePtr> nodes;
  for (const IValue& n : t.at(0).toListRef()) nodes.push_back(ReadNode(n, nodes));
  std::vector<const Node*> input_nodes;
  std::vector<Shape> input_shapes;
  for (const IValue& in : t.at(2).toListRef()) {
    const auto& entry = in.toTupleRef().elements();
    int64_t position = entry.at(0).toInt();
    input_nodes.push_back(position < 0 ? nullptr : nodes.at(position).get());
    input_shapes.push_back(ReadShape(entry.at(1)));
  }
  Operands outputs = ReadValues(t.at(1).toIntVector(), nodes);
  return std::make_shared<CapturedGraph>(std::vector<Value>(outputs.begin(), outputs.end()), input_nodes,
                                         std::move(input_shapes));
}

}  // namespace lazyplus
