#pragma once
// Which nodes a tile program can compute, and how: one rule per ATen op (plus the core nodes
// convert and expand). A rule emits instructions through a TileBuilder.
#include <optional>

#include "schedule/tile_builder.h"

namespace lazyplus {

struct TileRule {
  bool reduction;  // reduces the last dim of operand 0: its region runs whole rows
  bool integer;    // has an exact int64 form
  void (*emit)(TileBuilder&, const Node&);
  bool (*accepts)(const Node&) = nullptr;  // attribute checks beyond the op name
};

// The rule for `node`, or nullptr when no tile program can compute it.
const TileRule* FindTileRule(const Node& node);
// The type `node` computes in, or nullopt when its dtypes have no tile form.
std::optional<ComputeType> ComputeTypeOf(const Node& node);

}  // namespace lazyplus
