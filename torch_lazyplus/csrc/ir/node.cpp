#include "ir/node.h"

#include <ATen/Context.h>
#include <ATen/ops/_local_scalar_dense_native.h>

#include <sstream>

namespace lazyplus {

int64_t Shape::numel() const {
  int64_t n = 1;
  for (auto s : sizes) n *= s;
  return n;
}

std::ostream& operator<<(std::ostream& out, const Shape& shape) {
  out << c10::toString(shape.dtype) << "[";
  for (size_t i = 0; i < shape.sizes.size(); ++i) out << (i ? "," : "") << shape.sizes[i];
  return out << "]";
}

hash_t Hash(const Shape& shape) { return HashCombine(Hash(shape.dtype), Hash(c10::IntArrayRef(shape.sizes))); }

const Shape& Value::shape() const { return node->shape(index); }

Node::Node(const OpKind& op, Operands operands, Shapes shapes, hash_t attrs_hash)
    : op_(&op),
      operands_(std::move(operands)),
      shapes_(std::move(shapes)),
      source_(CaptureSource()),
      deterministic_(at::globalContext().deterministicAlgorithms()) {
  op_hash_ = HashCombine(op.hash(), attrs_hash);
  if (deterministic_) op_hash_ = HashCombine(op_hash_, Hash(std::string("deterministic")));
}

Node::~Node() {
  // Operands owned by nothing else are taken apart here, one at a time from a local stack: each is
  // emptied of its own operands before it is released, so its destructor recurses no further.
  c10::SmallVector<NodePtr, 8> dying;
  for (auto& v : operands_) dying.push_back(std::move(v.node));
  while (!dying.empty()) {
    NodePtr last = std::move(dying.back());
    dying.pop_back();
    if (last.use_count() == 1) {  // the sole owner: no other thread can reach it
      for (auto& v : last->operands_) dying.push_back(std::move(v.node));
      last->operands_.clear();
    }
  }
}

c10::IValue Node::attr(const std::string& name) const {
  TORCH_CHECK(false, "lazyplus: node ", op(), " has no attribute '", name, "'");
}

at::Scalar ScalarValue(const at::Tensor& operand) {
  // What `item()` would check or undo first (a size, a conjugate or negative view) it still does.
  if (!operand.is_cpu() || operand.numel() != 1 || operand.is_conj() || operand.is_neg()) return operand.item();
  return at::native::_local_scalar_dense_cpu(operand);
}

HostKernel Parameter::host_kernel() const {
  return [](const std::vector<at::Tensor>&) -> std::vector<at::Tensor> {
    TORCH_INTERNAL_ASSERT(false, "parameters are fed, not run");
  };
}

std::string AttrText(int64_t v) { return std::to_string(v); }
std::string AttrText(bool v) { return v ? "True" : "False"; }
std::string AttrText(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}
std::string AttrText(c10::ScalarType v) { return c10::toString(v); }
std::string AttrText(const std::string& v) { return "'" + v + "'"; }
std::string AttrText(c10::IntArrayRef v) { return AttrText(v.vec()); }
std::string AttrText(c10::MemoryFormat v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace lazyplus
