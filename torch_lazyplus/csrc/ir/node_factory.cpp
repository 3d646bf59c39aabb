#include "ir/node_factory.h"

#include <unordered_map>

namespace lazyplus {
namespace {

std::unordered_map<std::string, NodeFactory>& Factories() {
  static auto* factories = new std::unordered_map<std::string, NodeFactory>();
  return *factories;
}

}  // namespace

NodeFactoryRegistration::NodeFactoryRegistration(const OpKind& op, NodeFactory factory) {
  Factories().emplace(op.name(), factory);
}

NodePtr RebuildNode(const std::string& op, Operands operands, Shapes shapes,
                    const std::vector<c10::IValue>& attrs) {
  auto it = Factories().find(op);
  TORCH_CHECK(it != Factories().end(), "lazyplus: this build has no node '", op, "'");
  return it->second(std::move(operands), std::move(shapes), attrs);
}

}  // namespace lazyplus
