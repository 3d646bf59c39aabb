#include "ir/node_factory.h"

#include <unordered_map>

namespace lazyplus {
namespace {

struct Registered {
  const OpKind* kind;
  NodeFactory factory;
};

std::unordered_map<std::string, Registered>& Factories() {
  static auto* factories = new std::unordered_map<std::string, Registered>();
  return *factories;
}

}  // namespace

NodeFactoryRegistration::NodeFactoryRegistration(const OpKind& op, NodeFactory factory) {
  Factories().emplace(op.name(), Registered{&op, factory});
}

const OpKind& KindNamed(const std::string& name) {
  auto it = Factories().find(name);
  TORCH_CHECK(it != Factories().end(), "lazyplus: no node kind is named '", name,
              "' (renamed or dropped in codegen/ops.yaml?)");
  return *it->second.kind;
}

std::vector<std::string> KindNames() {
  std::vector<std::string> names;
  for (const auto& entry : Factories()) names.push_back(entry.first);
  return names;
}

NodePtr RebuildNode(const std::string& op, Operands operands, Shapes shapes,
                    const std::vector<c10::IValue>& attrs) {
  auto it = Factories().find(op);
  TORCH_CHECK(it != Factories().end(), "lazyplus: this build has no node '", op, "'");
  return it->second.factory(std::move(operands), std::move(shapes), attrs);
}

}  // namespace lazyplus
