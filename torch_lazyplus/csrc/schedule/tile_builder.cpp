#include "schedule/tile_builder.h"

#include <c10/util/Exception.h>

#include "ir/core_nodes.h"
#include "schedule/tile_rules.h"
#include "schedule/tile_slots.h"

namespace lazyplus {
namespace {

int64_t Product(c10::IntArrayRef v, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= v[i];
  return p;
}

bool AllOnes(c10::IntArrayRef v, size_t begin, size_t end) { return Product(v, begin, end) == 1; }

bool SameRange(c10::IntArrayRef a, c10::IntArrayRef b, size_t begin, size_t end) {
  return std::equal(a.begin() + begin, a.begin() + end, b.begin() + begin);
}

at::ScalarType ScalarTypeOf(ComputeType c) {
  switch (c) {
    case ComputeType::kFloat: return at::kFloat;
    case ComputeType::kDouble: return at::kDouble;
    case ComputeType::kInt64: return at::kLong;
  }
  return at::kFloat;
}

}  // namespace

std::pair<int64_t, int64_t> Split(c10::IntArrayRef shape, size_t split) {
  return {Product(shape, 0, split), Product(shape, split, shape.size())};
}

TileBuilder::TileBuilder(const Region& region, const std::set<ValueKey>& escaping)
    : region_(region), escaping_(escaping), members_(region.nodes.begin(), region.nodes.end()) {
  out_.program.compute = region.compute;
  out_.program.whole_rows = region.whole_rows;
  out_.split = ChooseSplit();
}

std::vector<int64_t> ViewRecipe::Apply(c10::IntArrayRef sizes) const {
  std::vector<int64_t> view(pad, 1);
  view.insert(view.end(), sizes.begin(), sizes.end());
  if (append_one) view.push_back(1);
  return view;
}

// Broadcasting aligns an operand's trailing dims with the consumer's iteration shape; a row value
// without its reduced dim gains it back.
ViewRecipe TileBuilder::RecipeOf(const Node& consumer, const Value& operand) const {
  const auto& rule = *FindTileRule(consumer);
  // A 0-dim consumer (a deferred scalar, see partition.cpp) reads its 0-dim operands as one value.
  bool scalar = consumer.shape(0).sizes.empty();
  size_t target = (rule.reduction || scalar ? region_.shape : consumer.shape(0).sizes).size();
  size_t rank = operand.shape().sizes.size();
  ViewRecipe recipe{target - std::min(target, rank), false};
  recipe.append_one = recipe.pad + rank + 1 == region_.shape.size();
  return recipe;
}

// The sizes an operand is read with, aligned to the region's rank.
std::vector<int64_t> TileBuilder::ViewOf(const Node& consumer, const Value& operand) const {
  auto view = RecipeOf(consumer, operand).Apply(operand.shape().sizes);
  TORCH_INTERNAL_ASSERT(view.size() == region_.shape.size(), "lazyplus: operand rank does not fit its region");
  return view;
}

Extent TileBuilder::Pattern(c10::IntArrayRef view) const {
  c10::IntArrayRef s = region_.shape;
  size_t k = out_.split, n = s.size();
  if (view == s) return Extent::kTile;
  if (AllOnes(view, 0, n)) return Extent::kOne;
  if (SameRange(view, s, 0, k) && AllOnes(view, k, n)) return Extent::kRow;
  if (AllOnes(view, 0, k) && SameRange(view, s, k, n)) return Extent::kCol;
  return Extent::kTile;  // no tile form: materialized to full size
}

// Whole-row regions split off the last dim. Pointwise regions take the first split at which every
// input has a tile form (so tiles are as long as possible), else split 0 with some inputs expanded.
size_t TileBuilder::ChooseSplit() const {
  c10::IntArrayRef s = region_.shape;
  if (region_.whole_rows) return s.size() - 1;
  std::vector<std::vector<int64_t>> views;
  for (const Node* n : region_.nodes) {
    for (const auto& v : n->operands()) {
      if (!members_.count(v.node.get())) views.push_back(ViewOf(*n, v));
    }
  }
  for (size_t k = 0; k < std::max<size_t>(s.size(), 1); ++k) {
    bool fits = true;
    for (const auto& view : views) {
      size_t n = s.size();
      fits = fits && (view == s || AllOnes(view, 0, n) || (SameRange(view, s, 0, k) && AllOnes(view, k, n)) ||
                      (AllOnes(view, 0, k) && SameRange(view, s, k, n)));
    }
    if (fits) return k;
  }
  return 0;
}

int32_t TileBuilder::NewRegister(Extent extent) {
  out_.program.extent.push_back(extent);
  return out_.program.num_regs() - 1;
}

int32_t TileBuilder::Operand(const Node& node, size_t i) {
  const Value& v = node.operands().at(i);
  ValueKey key{v.node.get(), v.index};
  if (members_.count(v.node.get())) return defined_.at(key);
  auto view = ViewOf(node, v);
  Extent pattern = Pattern(view);
  bool materialize = pattern == Extent::kTile && c10::IntArrayRef(view) != c10::IntArrayRef(region_.shape);
  // A reshape only renames the sizes of row-major elements: read its operand's memory directly (one
  // input for every reshape of it read alike: each use of a tensor records a reshape of its memory).
  ValueKey source = key;
  if (!materialize && &v.node->kind() == &Reshape::kind && !members_.count(v.node->operands()[0].node.get())) {
    source = {v.node->operands()[0].node.get(), v.node->operands()[0].index};
  }
  auto it = input_regs_.find({source, view});
  if (it != input_regs_.end()) return it->second;
  int32_t reg = NewRegister(pattern);
  out_.program.inputs.push_back(TileInput{reg, v.shape().dtype});
  out_.inputs.push_back(RegionInput{source.first, source.second, RecipeOf(node, v), materialize});
  input_regs_[{source, view}] = reg;
  return reg;
}

// A result holds every element when an operand does, else one value per row when an operand does.
// A reduction reads every element of its operand.
int32_t TileBuilder::Op(TileOp op, int32_t a, int32_t b, int32_t c) {
  bool reduces = op == TileOp::kRowSum || op == TileOp::kRowMax || op == TileOp::kRowMin;
  if (reduces && out_.program.extent.at(a) != Extent::kTile) a = Op(TileOp::kBroadcast, a);
  Extent extent = Extent::kOne;
  for (int32_t r : {a, b, c}) {
    if (r < 0) continue;
    Extent e = out_.program.extent.at(r);
    if (!Uniform(e)) extent = Extent::kTile;
    if (e == Extent::kRow && extent == Extent::kOne) extent = Extent::kRow;
  }
  if (reduces) extent = Extent::kRow;
  if (op == TileOp::kBroadcast) extent = Extent::kTile;
  int32_t dst = NewRegister(extent);
  out_.program.code.push_back(TileInstr{op, dst, a, b, c});
  return dst;
}

int32_t TileBuilder::Const(double value) {
  auto it = constants_.find(value);
  if (it != constants_.end()) return it->second;
  int32_t reg = NewRegister(Extent::kOne);
  out_.program.constants.emplace_back(reg, value);
  return constants_[value] = reg;
}

int32_t TileBuilder::RowLength() {
  auto& reg = out_.program.row_length_reg;
  if (reg < 0) reg = NewRegister(Extent::kOne);
  return reg;
}

void TileBuilder::Define(const Node& node, size_t index, int32_t reg) {
  at::ScalarType dtype = node.shape(index).dtype;
  if (dtype == at::kBFloat16) reg = Op(TileOp::kRoundBf16, reg);
  if (dtype == at::kHalf) reg = Op(TileOp::kRoundHalf, reg);
  defined_[{&node, index}] = reg;
  if (!escaping_.count({&node, index})) return;
  // Every element: a reduction over rows of one, as sum(-1) of a (1,), is one too.
  bool full = node.shape(index).numel() == c10::multiply_integers(region_.shape);
  if (full && out_.program.extent[reg] != Extent::kTile) reg = Op(TileOp::kBroadcast, reg);
  out_.program.outputs.push_back(TileOutput{reg, dtype, !full, false});
  out_.outputs.emplace_back(&node, index);
}

// An output is written in place by the instruction that computes it when it needs no conversion and
// no other output already claimed that register.
CompiledRegion TileBuilder::Finish() {
  auto& p = out_.program;
  std::vector<bool> computed(p.num_regs()), claimed(p.num_regs());
  for (const auto& instr : p.code) computed[instr.dst] = true;
  for (auto& o : p.outputs) {
    o.direct = !o.per_row && computed[o.reg] && p.extent[o.reg] == Extent::kTile && !claimed[o.reg] &&
               o.dtype == ScalarTypeOf(p.compute);
    claimed[o.reg] = claimed[o.reg] || o.direct;
  }
  AssignSlots(p);
  return std::move(out_);
}

CompiledRegion CompileRegion(const Region& region, const std::set<TileBuilder::ValueKey>& escaping) {
  TileBuilder builder(region, escaping);
  for (const Node* n : region.nodes) FindTileRule(*n)->emit(builder, *n);
  return builder.Finish();
}

}  // namespace lazyplus
