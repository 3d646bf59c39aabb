#pragma once
// Rebuilding a node from its parts: op name, operands, output shapes and attributes (as IValues, in
// the order Node::attrs() gives them). Saved graphs are loaded this way. Every node class registers a
// factory under its op name when the library loads.
#include "ir/node.h"

namespace lazyplus {

using NodeFactory = NodePtr (*)(Operands operands, Shapes shapes,
                                const std::vector<c10::IValue>& attrs);

// Registered under the node class's own OpKind, so the name is written once.
struct NodeFactoryRegistration {
  NodeFactoryRegistration(const OpKind& op, NodeFactory factory);
};

// The kind of the node class registered under `name`; raises for a name no node class has.
const OpKind& KindNamed(const std::string& name);
// The names of every registered node kind.
std::vector<std::string> KindNames();

// Raises for an op this build does not know (a graph saved by a build with more ops).
NodePtr RebuildNode(const std::string& op, Operands operands, Shapes shapes,
                    const std::vector<c10::IValue>& attrs);

}  // namespace lazyplus
