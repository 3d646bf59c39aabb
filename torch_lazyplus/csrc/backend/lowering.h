#pragma once
// A lowering turns a Graph into a Program for one backend (backend/backend.h), which alone knows how
// to launch it. Programs hold no tensors and no sizes: they are cached by graph hash and run on any
// graph with that hash, reading its parameters and shapes.
#include <memory>
#include <string>

#include "ir/graph.h"

namespace lazyplus {

class Program {
 public:
  virtual ~Program() = default;
};

class Lowering {
 public:
  virtual ~Lowering() = default;
  virtual std::string name() const = 0;
  virtual std::shared_ptr<const Program> Compile(const Graph& graph) const = 0;
  // What the lowering's programs depend on beyond the graph's hash (such as size thresholds).
  virtual hash_t KeyOf(const Graph&) const { return 0; }
  // The nodes that run as one kernel, region by region (for pictures and inspection).
  virtual std::vector<std::vector<const Node*>> Regions(const Graph&) const { return {}; }
};

// The CPU's lowerings. The reference lowering: one ATen CPU call per node.
const Lowering& ReferenceLowering();
// The fused lowering: pointwise and row-reduction regions run as tile programs, other nodes as ATen.
const Lowering& FusedLowering();
// The CPU lowering named by LAZYPLUS_LOWERING (default: fused), or set by SetLowering.
const Lowering& ActiveLowering();
void SetLowering(const std::string& name);

}  // namespace lazyplus
