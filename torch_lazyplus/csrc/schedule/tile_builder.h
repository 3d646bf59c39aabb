#pragma once
// Builds the tile program of one region: each member node emits instructions through its rule
// (tile_rules.h); values from outside the region become inputs, values used outside become outputs.
#include <map>
#include <set>

#include "ir/graph.h"
#include "schedule/tile_program.h"

namespace lazyplus {

// Nodes fused into one tile program over `shape` (rows x cols: the last dim is cols when
// `whole_rows`, the split is chosen at compile time otherwise).
struct Region {
  std::vector<const Node*> nodes;
  c10::DimVector shape;
  ComputeType compute = ComputeType::kFloat;
  bool whole_rows = false;
};

// How an operand's sizes align with the region's rank (as broadcasting aligns them): `pad` leading
// ones, and a trailing one for a per-row value that lost its reduced dim.
struct ViewRecipe {
  size_t pad = 0;
  bool append_one = false;
  std::vector<int64_t> Apply(c10::IntArrayRef sizes) const;
};

// An input of a compiled region: a graph value read through `view`, broadcast to the region.
struct RegionInput {
  const Node* node;
  size_t index;
  ViewRecipe view;
  bool materialize;  // its broadcast has no tile form: the step expands it to full size first
};

struct CompiledRegion {
  TileProgram program;
  std::vector<RegionInput> inputs;
  std::vector<std::pair<const Node*, size_t>> outputs;
  size_t split = 0;  // rows = prod(shape[:split]), cols = prod(shape[split:]) (see Split)
};

class TileBuilder {
 public:
  using ValueKey = std::pair<const Node*, size_t>;
  // `escaping`: the values read outside the region (by other steps or as graph roots).
  TileBuilder(const Region& region, const std::set<ValueKey>& escaping);

  // The register holding operand `i` of `node` (an input register when it comes from outside).
  int32_t Operand(const Node& node, size_t i);
  int32_t Op(TileOp op, int32_t a, int32_t b = -1, int32_t c = -1);
  int32_t Const(double value);
  // Records the register of output `index` of `node`, rounded to the node's dtype when narrower.
  void Define(const Node& node, size_t index, int32_t reg);
  // Columns of a row (the divisor of a row mean), set when the program runs.
  int32_t RowLength();

  CompiledRegion Finish();

 private:
  int32_t NewRegister(Extent extent);
  ViewRecipe RecipeOf(const Node& consumer, const Value& operand) const;
  std::vector<int64_t> ViewOf(const Node& consumer, const Value& operand) const;
  Extent Pattern(c10::IntArrayRef view) const;
  size_t ChooseSplit() const;

  const Region& region_;
  const std::set<ValueKey>& escaping_;
  std::set<const Node*> members_;
  CompiledRegion out_;
  std::map<ValueKey, int32_t> defined_;
  std::map<std::pair<ValueKey, std::vector<int64_t>>, int32_t> input_regs_;
  std::map<double, int32_t> constants_;
};

// Compiles `region` (its nodes in graph order).
CompiledRegion CompileRegion(const Region& region, const std::set<TileBuilder::ValueKey>& escaping);

// Rows and cols of `shape` split at `split`.
std::pair<int64_t, int64_t> Split(c10::IntArrayRef shape, size_t split);

}  // namespace lazyplus
