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
      if (g.position.emplace(node, g.nodes.size()).second) {
        g.nodes.push_back(node);
        if (node->is_parameter()) g.parameters.push_back(static_cast<const Parameter*>(node));
      }
      stack.pop_back();
    }
  }
  // The hash names operands by position, so it tells `x + x` from `x + y` and a shared
  // subexpression from two equal ones.
  hash_t h = Hash(static_cast<int64_t>(g.nodes.size()));
  ska::flat_hash_map<int64_t, int64_t> class_of;
  auto size_class = [&](int64_t size) -> int64_t {
    if (size <= 1) return size - 2;  // 0 and 1 (empty and broadcast) stay literal
    auto [it, added] = class_of.emplace(size, static_cast<int64_t>(g.size_classes.size()));
    if (added) g.size_classes.push_back(size);
    return it->second;
  };
  g.node_keys.reserve(g.nodes.size());
  for (const Node* node : g.nodes) {
    hash_t key = node->op_hash();
    for (const Shape& s : node->shapes()) {
      key = HashCombine(key, HashAll(s.dtype, static_cast<int64_t>(s.sizes.size())));
      for (int64_t size : s.sizes) key = HashCombine(key, Hash(size_class(size)));
    }
    for (const auto& v : node->operands()) {
      key = HashCombine(key, HashAll(static_cast<int64_t>(g.position.at(v.node.get())), static_cast<int64_t>(v.index)));
    }
    g.node_keys.push_back(key);
    h = HashCombine(h, key);
  }
  for (const auto& r : g.roots) {
    h = HashCombine(h, HashAll(static_cast<int64_t>(g.position.at(r.node.get())), static_cast<int64_t>(r.index)));
  }
  g.hash = h;
  return g;
}

namespace {

std::string ValueName(const Graph& g, const Value& v) {
  std::string s = "%" + std::to_string(g.position.at(v.node.get()));
  return v.node->num_outputs() > 1 ? s + "." + std::to_string(v.index) : s;
}

}  // namespace

std::string NodeText(const Graph& g, size_t index) {
  std::ostringstream out;
  const Node* n = g.nodes.at(index);
  out << "%" << index << " = " << n->op() << "(";
  for (size_t j = 0; j < n->operands().size(); ++j) out << (j ? ", " : "") << ValueName(g, n->operands()[j]);
  std::string attrs = n->attrs_text();
  if (!attrs.empty()) out << (n->operands().empty() ? "" : ", ") << attrs;
  out << ") : ";
  for (size_t j = 0; j < n->num_outputs(); ++j) out << (j ? ", " : "") << n->shape(j);
  return out.str();
}

std::string GraphText(const Graph& g, bool sources) {
  std::ostringstream out;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    out << NodeText(g, i);
    std::string site = sources ? ShortText(g.nodes[i]->source()) : "";
    if (!site.empty()) out << "  # " << site;
    out << "\n";
  }
  out << "return (";
  for (size_t i = 0; i < g.roots.size(); ++i) out << (i ? ", " : "") << ValueName(g, g.roots[i]);
  out << ")\n";
  return out.str();
}

}  // namespace lazyplus
