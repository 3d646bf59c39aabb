#pragma once
// A Graph is the pending computation of a set of roots, in post-order, with its structural hash: two
// graphs with equal hashes run the same program on different parameters. The hash sees sizes only as
// equality classes (and 0 and 1 as themselves), so a program compiled for batch 64 serves batch 32:
// programs read the sizes of the graph they run.
#include <c10/util/flat_hash_map.h>

#include "ir/node.h"

namespace lazyplus {

struct Graph {
  std::vector<const Node*> nodes;       // post-order, each node once
  std::vector<const Parameter*> parameters;  // in post-order
  std::vector<Value> roots;
  hash_t hash = 0;
  // The distinct sizes other than 0 and 1, in the order the hash first met them (class k is
  // size_classes[k]); a lowering whose decisions depend on size values adds them to its key.
  std::vector<int64_t> size_classes;
  // Per node, what the hash saw of it (op, attributes, shape classes, operands by position): two
  // graphs first differ at the first unequal key.
  std::vector<hash_t> node_keys;

  // Position of each node in `nodes`, for compiling, saving and printing the graph; empty in a graph
  // built without it (a cached sync never looks a node up) until IndexPositions fills it.
  ska::flat_hash_map<const Node*, size_t> position;
};

Graph BuildGraph(std::vector<Value> roots, bool index_positions = true);
void IndexPositions(Graph& graph);
// Deterministic text of a graph: one line per node, operands named by position, and the user's line
// that recorded the node as a comment (with `sources`).
std::string GraphText(const Graph& graph, bool sources = true);
// One node's line of GraphText, without the source.
std::string NodeText(const Graph& graph, size_t index);

}  // namespace lazyplus
