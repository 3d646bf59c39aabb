#pragma once
// Tables keyed by node kind, written with op names. Each name is looked up among the registered node
// kinds when the table is built (at its first use, once every node class has registered), and a name
// no node class has (an op renamed or dropped in codegen/ops.yaml) raises there instead of silently
// orphaning its entry. Lookups compare kinds, not strings.
#include <initializer_list>
#include <unordered_map>
#include <utility>

#include "ir/node_factory.h"

namespace lazyplus {

template <typename T>
class KindTable {
 public:
  KindTable(std::initializer_list<std::pair<const char*, T>> entries) {
    for (const auto& [name, value] : entries) entries_.emplace(&KindNamed(name), value);
  }
  // The entry of `node`'s kind, or nullptr.
  const T* Find(const Node& node) const {
    auto it = entries_.find(&node.kind());
    return it == entries_.end() ? nullptr : &it->second;
  }
  bool Contains(const Node& node) const { return Find(node) != nullptr; }

 private:
  std::unordered_map<const OpKind*, T> entries_;
};

}  // namespace lazyplus
