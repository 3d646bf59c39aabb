#include "runtime/graph.h"

#include <sstream>

namespace lazyplus {

Graph BuildGraph(std::vector<Value> roots) {
  Graph g;
  g.roots = std::move(roots);
  // Iterative post-order: a node is emitted after all its operands.
  std::vector<std::pair<const Node*, size_t>> stack;
  for (const auto& root : g.roots) {
    if (g.position.count(root.node.get())) continue;
    stack.emplace_back(root.node.get(), 0);
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next < node->operands().size()) {
        const Node* operand = node->operands()[next++].node.get();
        if (!g.position.count(operand)) stack.emplace_back(operand, 0);
        continue;
      }
      if (!g.position.count(node)) {
        g.position[node] = g.nodes.size();
        g.nodes.push_back(node);
        if (node->is_parameter()) g.parameters.push_back(static_cast<const Parameter*>(node));
      }
      stack.pop_back();
    }
  }
  // The hash names operands by position, so it tells `x + x` from `x + y` and a shared
  // subexpression from two equal ones.
  hash_t h = Hash(static_cast<int64_t>(g.nodes.size()));
  std::unordered_map<int64_t, int64_t> class_of;
  auto size_class = [&](int64_t size) -> int64_t {
    if (size <= 1) return size - 2;  // 0 and 1 (empty and broadcast) stay literal
    auto [it, added] = class_of.emplace(size, static_cast<int64_t>(g.size_classes.size()));
    if (added) g.size_classes.push_back(size);
    return it->second;
  };
  for (const Node* node : g.nodes) {
    h = HashCombine(h, node->op_hash());
    for (const Shape& s : node->shapes()) {
      h = HashCombine(h, HashAll(s.dtype, static_cast<int64_t>(s.sizes.size())));
      for (int64_t size : s.sizes) h = HashCombine(h, Hash(size_class(size)));
    }
    for (const auto& v : node->operands()) {
      h = HashCombine(h, HashAll(static_cast<int64_t>(g.position.at(v.node.get())), static_cast<int64_t>(v.index)));
    }
  }
  for (const auto& r : g.roots) {
    h = HashCombine(h, HashAll(static_cast<int64_t>(g.position.at(r.node.get())), static_cast<int64_t>(r.index)));
  }
  g.hash = h;
  return g;
}

std::string GraphText(const Graph& g) {
  std::ostringstream out;
  auto name = [&](const Value& v) {
    std::string s = "%" + std::to_string(g.position.at(v.node.get()));
    return v.node->num_outputs() > 1 ? s + "." + std::to_string(v.index) : s;
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node* n = g.nodes[i];
    out << "%" << i << " = " << n->op() << "(";
    for (size_t j = 0; j < n->operands().size(); ++j) out << (j ? ", " : "") << name(n->operands()[j]);
    std::string attrs = n->attrs_text();
    if (!attrs.empty()) out << (n->operands().empty() ? "" : ", ") << attrs;
    out << ") : ";
    for (size_t j = 0; j < n->num_outputs(); ++j) out << (j ? ", " : "") << n->shape(j);
    out << "\n";
  }
  out << "return (";
  for (size_t i = 0; i < g.roots.size(); ++i) out << (i ? ", " : "") << name(g.roots[i]);
  out << ")\n";
  return out.str();
}

}  // namespace lazyplus
