#include "ir/graph.h"

#include <mutex>
#include <sstream>

namespace lazyplus {

Graph BuildGraph(std::vector<Value> roots, bool index_positions) {
  static std::mutex walking;  // nodes hold the marks of one walk at a time
  static uint64_t walks = 0;
  std::lock_guard<std::mutex> lock(walking);
  const uint64_t walk = ++walks;
  auto reached = [walk](const Node* n) { return n->visit().walk == walk; };
  auto position = [](const Value& v) { return static_cast<int64_t>(v.node->visit().position); };

  Graph g;
  g.roots = std::move(roots);
  // Iterative post-order: a node is emitted after all its operands.
  std::vector<std::pair<const Node*, size_t>> stack;
  for (const auto& root : g.roots) {
    if (reached(root.node.get())) continue;
    stack.emplace_back(root.node.get(), 0);
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next < node->operands().size()) {
        const Node* operand = node->operands()[next++].node.get();
        if (!reached(operand)) stack.emplace_back(operand, 0);
        continue;
      }
      if (!reached(node)) {
        node->visit() = {walk, g.nodes.size()};
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
    for (const auto& v : node->operands()) key = HashCombine(key, HashAll(position(v), static_cast<int64_t>(v.index)));
    g.node_keys.push_back(key);
    h = HashCombine(h, key);
  }
  for (const auto& r : g.roots) h = HashCombine(h, HashAll(position(r), static_cast<int64_t>(r.index)));
  g.hash = h;
  if (index_positions) IndexPositions(g);
  return g;
}

void IndexPositions(Graph& g) {
  g.position.reserve(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) g.position.emplace(g.nodes[i], i);
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
