#pragma once
// A hand-written node whose attributes are one plain struct. `Codec` names the struct (Codec::Args) and
// says how it is hashed, printed, saved and read back: static Hash, Text, IValues and From.
#include <string>
#include <vector>

#include "ir/node.h"

namespace lazyplus {

template <typename Codec>
class NodeWithArgs : public Node {
 public:
  using Args = typename Codec::Args;
  NodeWithArgs(const OpKind& kind, Operands operands, Shapes shapes, Args args)
      : Node(kind, std::move(operands), std::move(shapes), Codec::Hash(args)), args_(args) {}
  std::string attrs_text() const override { return Codec::Text(args_); }
  std::vector<c10::IValue> attrs() const override { return Codec::IValues(args_); }

  // The node factory of N (a subclass) for saved graphs.
  template <typename N>
  static NodePtr Rebuild(Operands operands, Shapes shapes, const std::vector<c10::IValue>& attrs) {
    return MakeNode<N>(std::move(operands), std::move(shapes), Codec::From(attrs));
  }

 protected:
  Args args_;
};

}  // namespace lazyplus
