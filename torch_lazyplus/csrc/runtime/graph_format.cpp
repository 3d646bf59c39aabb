#include "runtime/graph_format.h"

#include <ATen/core/ivalue.h>
#include <ATen/ops/empty.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <ATen/EmptyTensor.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "ir/core_nodes.h"
#include "ir/node_factory.h"
#include "runtime/pickle_scan.h"

namespace lazyplus {
namespace {

using c10::IValue;
using c10::ivalue::Tuple;

// A value as (node position, output index), flattened into one int list.
void AppendValue(std::vector<int64_t>& out, const Graph& graph, const Value& v) {
  out.push_back(static_cast<int64_t>(graph.position.at(v.node.get())));
  out.push_back(static_cast<int64_t>(v.index));
}

// A saved graph may come from anywhere: every field is checked before it is used, and a payload
// that fails a check raises ValueError naming what is wrong, never reads out of bounds.
#define CHECK_SAVED(cond, ...) TORCH_CHECK_VALUE(cond, "lazyplus.Graph: corrupt saved graph: ", __VA_ARGS__)

constexpr int64_t kMaxRank = 64;                  // more dims than any ATen kernel takes
constexpr int64_t kMaxBytes = int64_t{1} << 48;  // more than any host can hold

// The elements of `v` (which owns them), a tuple of `size`.
c10::ArrayRef<IValue> TupleOf(const IValue& v, size_t size, const char* what) {
  CHECK_SAVED(v.isTuple() && v.toTupleRef().elements().size() == size, what, " is not a tuple of ", size);
  return v.toTupleRef().elements().asArrayRef();
}

// What went wrong, without a C++ backtrace.
const char* Reason(const std::exception& e) {
  const auto* error = dynamic_cast<const c10::Error*>(&e);
  return error ? error->what_without_backtrace() : e.what();
}

// A payload's bytes, the zip archive torch::jit::pickle_save wrote, to torch's archive reader.
class PayloadReader final : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit PayloadReader(at::Tensor bytes) : bytes_(std::move(bytes)) {}
  size_t size() const override { return bytes_.numel(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    n = pos < size() ? std::min<uint64_t>(n, size() - pos) : 0;
    std::memcpy(buf, static_cast<const char*>(bytes_.const_data_ptr()) + pos, n);
    return n;
  }

 private:
  at::Tensor bytes_;
};

// pickle_load, with the pickle walked first (runtime/pickle_scan.h: torch's unpickler would trust its
// memo indices).
IValue Unpickle(const at::Tensor& bytes) {
  caffe2::serialize::PyTorchStreamReader archive(std::make_shared<PayloadReader>(bytes));
  auto [pickle, size] = archive.getRecord("data.pkl");
  std::string problem = PickleProblem(static_cast<const char*>(pickle.get()), size);
  TORCH_CHECK(problem.empty(), problem);
  return torch::jit::readArchiveAndTensors("data", "", "", std::nullopt, std::nullopt, std::nullopt, archive);
}

int64_t IntOf(const IValue& v, const char* what) {
  CHECK_SAVED(v.isInt(), what, " is not an integer");
  return v.toInt();
}

Operands ReadValues(const IValue& saved, const std::vector<NodePtr>& nodes) {
  CHECK_SAVED(saved.isIntList() && saved.toIntList().size() % 2 == 0, "a value list is not (node, output) pairs");
  auto refs = saved.toIntVector();
  Operands values;
  for (size_t k = 0; k < refs.size(); k += 2) {
    int64_t position = refs[k], index = refs[k + 1];
    CHECK_SAVED(position >= 0 && position < static_cast<int64_t>(nodes.size()), "a value names node ", position,
                " of ", nodes.size(), " read so far");
    const NodePtr& node = nodes[position];
    CHECK_SAVED(index >= 0 && index < static_cast<int64_t>(node->num_outputs()), "a value names output ", index,
                " of node ", position, ", which has ", node->num_outputs());
    values.push_back(Value{node, static_cast<size_t>(index)});
  }
  return values;
}

IValue SaveShape(const Shape& s) { return Tuple::create(static_cast<int64_t>(s.dtype), c10::IntArrayRef(s.sizes)); }

bool IsKnownDtype(int64_t dtype) {
  if (dtype < 0 || dtype >= static_cast<int64_t>(at::ScalarType::NumOptions)) return false;
  auto t = static_cast<at::ScalarType>(dtype);
  return t != at::ScalarType::Undefined && !c10::isQIntType(t) && !c10::isBitsType(t) && t != at::kComplexHalf &&
         c10::elementSize(t) > 0;
}

Shape ReadShape(const IValue& v) {
  auto t = TupleOf(v, 2, "a shape");
  int64_t dtype = IntOf(t[0], "a dtype");
  CHECK_SAVED(IsKnownDtype(dtype), "dtype ", dtype, " is not a dtype lazyplus computes in");
  CHECK_SAVED(t[1].isIntList(), "sizes are not an integer list");
  Shape shape{static_cast<at::ScalarType>(dtype), t[1].toDimVector()};
  CHECK_SAVED(static_cast<int64_t>(shape.sizes.size()) <= kMaxRank, "rank ", shape.sizes.size(), " is above ", kMaxRank);
  int64_t bytes = static_cast<int64_t>(c10::elementSize(shape.dtype));
  for (int64_t size : shape.sizes) {
    CHECK_SAVED(size >= 0, "size ", size, " is negative");
    CHECK_SAVED(size == 0 || bytes <= kMaxBytes / size, "sizes ", c10::IntArrayRef(shape.sizes),
                " hold more than 2^48 bytes");
    bytes *= size;
  }
  return shape;
}

// A tensor read back from the payload views its storage within bounds.
void CheckTensorAttr(const at::Tensor& t) {
  CHECK_SAVED(t.defined() && t.device().is_cpu() && t.layout() == at::kStrided, "a captured tensor is not a CPU tensor");
  for (int64_t stride : t.strides()) CHECK_SAVED(stride >= 0, "a captured tensor has a negative stride");
  CHECK_SAVED(t.storage_offset() >= 0, "a captured tensor has a negative offset");
  size_t needed = at::detail::computeStorageNbytes(t.sizes(), t.strides(), t.itemsize(), t.storage_offset());
  CHECK_SAVED(needed <= t.storage().nbytes(), "a captured tensor reads past its storage");
}

// Runs the node's kernel on meta tensors of its operands' shapes (0-dim operands as CPU zeros: scalar
// operands are read with item()): the kernel raises on operands it does not take, and must produce
// the saved shapes, so a program compiled from the graph never reads or writes out of bounds.
void CheckNodeShapes(const Node& node, size_t position) {
  std::vector<at::Tensor> operands;
  for (const Value& v : node.operands()) {
    const Shape& s = v.shape();
    auto options = at::TensorOptions().dtype(s.dtype);
    operands.push_back(s.sizes.empty() ? at::zeros({}, options) : at::empty(s.sizes, options.device(at::kMeta)));
  }
  std::vector<at::Tensor> outputs;
  try {
    outputs = node.host_kernel()(operands);
  } catch (const std::exception& e) {
    CHECK_SAVED(false, "node ", position, " (", node.op(), ") does not take its saved operands: ",
                Reason(e));
  }
  CHECK_SAVED(outputs.size() >= node.num_outputs(), "node ", position, " (", node.op(), ") computes ",
              outputs.size(), " outputs, saved with ", node.num_outputs());
  for (size_t k = 0; k < node.num_outputs(); ++k) {
    Shape computed{outputs[k].scalar_type(), c10::DimVector(outputs[k].sizes())};
    CHECK_SAVED(computed == node.shape(k), "node ", position, " (", node.op(), ") computes ", computed,
                " for output ", k, ", saved as ", node.shape(k));
  }
}

IValue SaveSite(const SourceSite* site) {
  if (!site) return IValue();
  const SourceLocation& loc = site->location();
  return Tuple::create(loc.file, loc.function, static_cast<int64_t>(loc.line));
}

const SourceSite* ReadSite(const IValue& v) {
  if (v.isNone()) return nullptr;
  auto t = TupleOf(v, 3, "a source line");
  CHECK_SAVED(t[0].isString() && t[1].isString(), "a source file or function is not a string");
  int64_t line = IntOf(t[2], "a source line");
  CHECK_SAVED(line >= 0 && line <= std::numeric_limits<int>::max(), "source line ", line, " is out of range");
  return StoredSite({t[0].toStringRef(), t[1].toStringRef(), static_cast<int>(line)});
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
  size_t position = nodes.size();
  auto t = TupleOf(saved, 5, "a node");
  CHECK_SAVED(t[0].isString(), "node ", position, "'s op is not a string");
  CHECK_SAVED(t[2].isList() && !t[2].toListRef().empty(), "node ", position, " has no output shapes");
  CHECK_SAVED(t[3].isList(), "node ", position, "'s attributes are not a list");
  Shapes shapes;
  for (const IValue& s : t[2].toListRef()) shapes.push_back(ReadShape(s));
  std::vector<IValue> attrs(t[3].toListRef().begin(), t[3].toListRef().end());
  for (const IValue& a : attrs) {
    if (a.isTensor()) CheckTensorAttr(a.toTensor());
  }
  Operands operands = ReadValues(t[1], nodes);
  SourceOverride source(ReadSite(t[4]));
  NodePtr node;
  try {
    node = RebuildNode(t[0].toStringRef(), std::move(operands), shapes, attrs);
  } catch (const std::exception& e) {
    CHECK_SAVED(false, "node ", position, " (", t[0].toStringRef(), ") cannot be rebuilt: ", Reason(e));
  }
  CHECK_SAVED(node->num_outputs() == shapes.size(), "node ", position, " (", node->op(), ") has ",
              node->num_outputs(), " outputs, saved with ", shapes.size());
  for (size_t k = 0; k < shapes.size(); ++k) {
    CHECK_SAVED(node->shape(k) == shapes[k], "node ", position, " (", node->op(), ") has output ", node->shape(k),
                ", saved as ", shapes[k]);
  }
  if (!node->is_parameter()) CheckNodeShapes(*node, position);
  return node;
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
  IValue saved;
  try {
    saved = Unpickle(payload.cpu().contiguous());
  } catch (const std::exception& e) {
    CHECK_SAVED(false, "the payload does not unpickle: ", Reason(e));
  }
  auto t = TupleOf(saved, 3, "the payload");
  CHECK_SAVED(t[0].isList() && t[2].isList(), "the node or input list is not a list");
  std::vector<NodePtr> nodes;
  for (const IValue& n : t[0].toListRef()) nodes.push_back(ReadNode(n, nodes));
  std::vector<const Node*> input_nodes;
  std::vector<Shape> input_shapes;
  for (const IValue& in : t[2].toListRef()) {
    auto entry = TupleOf(in, 2, "an input");
    int64_t position = IntOf(entry[0], "an input's node");
    input_shapes.push_back(ReadShape(entry[1]));
    if (position == -1) {
      input_nodes.push_back(nullptr);
      continue;
    }
    CHECK_SAVED(position >= 0 && position < static_cast<int64_t>(nodes.size()), "input node ", position, " of ",
                nodes.size());
    // A run replaces this node's value with the input's elements: same dtype, same count.
    const Node* node = nodes[position].get();
    CHECK_SAVED(&node->kind() == &DeviceData::kind && node->shape().dtype == input_shapes.back().dtype &&
                    node->shape().numel() == input_shapes.back().numel(),
                "input ", input_nodes.size(), " names node ", position, " (", node->op(), " ", node->shape(),
                "), which cannot hold ", input_shapes.back());
    input_nodes.push_back(node);
  }
  Operands outputs = ReadValues(t[1], nodes);
  return std::make_shared<CapturedGraph>(std::vector<Value>(outputs.begin(), outputs.end()), input_nodes,
                                         std::move(input_shapes));
}

}  // namespace lazyplus
