#pragma once
// The lazy IR: a Node is one recorded operation with operands (Values: outputs of other nodes),
// output shapes, and attributes. A node hashes only its op and attributes; the key of a graph is
// built at sync, over the whole graph (ir/graph.h).
#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>
#include <c10/util/DimVector.h>
#include <c10/util/SmallVector.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "ir/hash.h"
#include "ir/source.h"

namespace lazyplus {

// Recording builds a node per op: its shapes, sizes and operands are held inline (small vectors), and
// its op name is shared, so that recording allocates little more than the node itself.
struct Shape {
  at::ScalarType dtype;
  c10::DimVector sizes;
  int64_t numel() const;
  bool operator==(const Shape& o) const { return dtype == o.dtype && sizes == o.sizes; }
};
std::ostream& operator<<(std::ostream& out, const Shape& shape);
hash_t Hash(const Shape& shape);

using Shapes = c10::SmallVector<Shape, 1>;  // a node's outputs: nearly always one

class Node;
using NodePtr = std::shared_ptr<Node>;

struct Value {
  NodePtr node;
  size_t index = 0;
  const Shape& shape() const;
};
using Operands = c10::SmallVector<Value, 3>;

// The name of an op and its hash, made once per node class (a static) and shared by its nodes, as
// LTC's OpKind. The name is never freed (and an OpKind has nothing to destroy): nodes that other
// statics keep alive may still read it at exit.
class OpKind {
 public:
  explicit OpKind(const char* name) : name_(new std::string(name)), hash_(Hash(*name_)) {}
  const std::string& name() const { return *name_; }
  hash_t hash() const { return hash_; }

 private:
  const std::string* name_;
  hash_t hash_;
};

// Runs one node on host tensors: the reference lowering of every node.
using HostKernel = std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>& inputs)>;

// A scalar operand's value, as `item()` gives it: a host kernel gets each one as a one-element tensor.
// CPU memory is read by ATen's CPU kernel for `item()` directly, without its two trips through the
// dispatcher (`item`, `_local_scalar_dense`).
at::Scalar ScalarValue(const at::Tensor& operand);

class Node {
 public:
  Node(const OpKind& op, Operands operands, Shapes shapes, hash_t attrs_hash);
  // Releases operands without recursion: the last reference to a long chain (a loop of a million
  // recorded ops that never syncs) would otherwise overflow the stack, destroying node by node.
  virtual ~Node();

  const OpKind& kind() const { return *op_; }
  const std::string& op() const { return op_->name(); }
  const Operands& operands() const { return operands_; }
  const Shapes& shapes() const { return shapes_; }
  const Shape& shape(size_t i = 0) const { return shapes_.at(i); }
  size_t num_outputs() const { return shapes_.size(); }
  // Op and attributes, not shapes: graphs are keyed by structure, with sizes only as equality classes.
  hash_t op_hash() const { return op_hash_; }
  // The user's line that recorded this node, or null (capture off, or no Python frame).
  const SourceSite* source() const { return source_; }
  // torch.use_deterministic_algorithms as it was when the node was recorded: its kernel runs so.
  bool deterministic() const { return deterministic_; }

  // Graph inputs (device data and scalars) are parameters: their values are fed at run time.
  virtual bool is_parameter() const { return false; }
  virtual std::string attrs_text() const { return ""; }
  // The attribute named like its schema argument (`dim`, `keepdim`, `weight_defined` for an optional
  // tensor operand), for lowerings that look inside ops; raises if the node has none by that name.
  virtual c10::IValue attr(const std::string& name) const;
  // Every attribute, in the order the node's factory takes them (ir/node_factory.h).
  virtual std::vector<c10::IValue> attrs() const { return {}; }
  virtual HostKernel host_kernel() const = 0;
  // The host kernel writing its only output into operand 0's memory, for a program that may overwrite
  // it (dead after this node, contiguous, viewed by no other operand); null where the node never does.
  virtual HostKernel host_kernel_into_operand0() const { return nullptr; }

  // Scratch for walks over the IR, one walk at a time (ir/graph.cpp holds a lock): the walk that
  // last reached this node and the position it gave the node. A walk compares numbers where it would
  // look nodes up in a hash map, which was the largest part of a cached sync.
  struct Visit {
    uint64_t walk = 0;
    size_t position = 0;
  };
  Visit& visit() const { return visit_; }

 private:
  const OpKind* op_;
  Operands operands_;
  Shapes shapes_;
  hash_t op_hash_;
  const SourceSite* source_;
  bool deterministic_;
  mutable Visit visit_;
};

// A graph input: its value is supplied when the graph runs, never baked into the graph.
class Parameter : public Node {
 public:
  using Node::Node;
  bool is_parameter() const override { return true; }
  virtual at::Tensor host_value() const = 0;
  // The value when it is a host number not yet held by a tensor (see ParameterValues), else null.
  virtual const at::Scalar* host_scalar() const { return nullptr; }
  HostKernel host_kernel() const override;
};

template <typename T, typename... Args>
NodePtr MakeNode(Args&&... args) {
  return std::make_shared<T>(std::forward<Args>(args)...);
}

// Text helpers for attrs_text().
std::string AttrText(int64_t v);
std::string AttrText(bool v);
std::string AttrText(double v);
std::string AttrText(c10::ScalarType v);
std::string AttrText(const std::string& v);
std::string AttrText(c10::MemoryFormat v);
std::string AttrText(c10::IntArrayRef v);
template <typename T>
std::string AttrText(const std::optional<T>& v);
template <typename T>
std::string AttrText(const std::vector<T>& v);
template <typename T, size_t N>
std::string AttrText(const std::array<T, N>& v) {
  return AttrText(std::vector<T>(v.begin(), v.end()));
}

template <typename T>
std::string AttrText(const std::optional<T>& v) {
  return v.has_value() ? AttrText(*v) : "None";
}
template <typename T>
std::string AttrText(const std::vector<T>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + AttrText(v[i]);
  return s + "]";
}

}  // namespace lazyplus
