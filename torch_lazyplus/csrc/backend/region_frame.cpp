#include "backend/region_frame.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "schedule/tile_rules.h"

namespace lazyplus {

RegionFrame::RegionFrame(const Graph& graph, const Region& region, const CompiledRegion& compiled)
    : split_(compiled.split) {
  // A node that spans the region (the one that opened it, or one of its shape): the deferred
  // scalars a region computes come before it.
  auto spans = [&](const Node* n) {
    bool reduction = FindTileRule(*n)->reduction;
    return c10::IntArrayRef(reduction ? n->operands()[0].shape().sizes : n->shape().sizes) == region.shape;
  };
  const Node* first = *std::find_if(region.nodes.begin(), region.nodes.end(), spans);
  domain_node_ = graph.position.at(first);
  domain_from_operand_ = FindTileRule(*first)->reduction;
  const auto& program = compiled.program;
  any_order_ = !program.whole_rows && program.row_length_reg < 0;
  std::map<std::pair<const Node*, size_t>, int> reads;  // per value, the inputs reading it
  for (const auto& in : compiled.inputs) reads[{in.node, in.index}]++;
  for (size_t i = 0; i < compiled.inputs.size(); ++i) {
    const auto& in = compiled.inputs[i];
    Extent extent = program.extent[program.inputs[i].reg];
    any_order_ = any_order_ && (extent == Extent::kTile || extent == Extent::kOne);
    expand_inputs_.push_back(in.materialize ? std::optional<ViewRecipe>(in.view) : std::nullopt);
    full_size_.push_back(extent == Extent::kTile && !in.materialize);
    overwritable_.push_back(full_size_.back() && reads[{in.node, in.index}] == 1);
  }
  for (const auto& [node, index] : compiled.outputs) outputs_.emplace_back(graph.position.at(node), index);
}

c10::IntArrayRef RegionFrame::Domain(const Graph& run) const {
  const Node* domain = run.nodes[domain_node_];
  return domain_from_operand_ ? domain->operands()[0].shape().sizes : domain->shape().sizes;
}

namespace {

// Whether `t`'s elements lie densely in the order `order` visits its dims (row-major when empty).
bool DenseInOrder(const at::Tensor& t, c10::IntArrayRef order) {
  if (order.empty()) return t.is_contiguous();
  int64_t expected = 1;
  for (auto d = order.rbegin(); d != order.rend(); ++d) {
    if (t.size(*d) != 1 && t.stride(*d) != expected) return false;
    expected *= t.size(*d);
  }
  return true;
}

// A view of `memory` (dense from its data pointer) with `sizes`, its elements in the order `order`
// visits the dims.
at::Tensor AliasInOrder(const at::Tensor& memory, c10::IntArrayRef sizes, c10::IntArrayRef order) {
  if (order.empty()) return ContiguousAlias(memory, sizes);
  std::vector<int64_t> strides(sizes.size());
  int64_t stride = 1;
  for (auto d = order.rbegin(); d != order.rend(); ++d) {
    strides[*d] = stride;
    stride *= sizes[*d];
  }
  auto impl = c10::make_intrusive<c10::TensorImpl>(c10::TensorImpl::VIEW, c10::Storage(memory.storage()),
                                                   memory.key_set(), memory.dtype());
  impl->set_sizes_and_strides(sizes, strides, memory.storage_offset());
  return at::Tensor(std::move(impl));
}

}  // namespace

// The memory order the dense full-size inputs share, where it is not row-major; else row-major (mixed
// layouts are read row-major, as before). Other full-size inputs (broadcast views, slices) are copied
// in either order.
c10::DimVector RegionFrame::MemoryOrder(const std::vector<at::Tensor>& inputs, c10::IntArrayRef domain) const {
  c10::DimVector order;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const at::Tensor& t = inputs[i];
    if (!full_size_[i] || !t.is_non_overlapping_and_dense()) continue;
    if (t.is_contiguous() || t.sizes() != domain) return {};
    if (order.empty()) {
      order.resize(domain.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return t.stride(a) > t.stride(b); });
    } else if (!DenseInOrder(t, order)) {
      return {};
    }
  }
  return order;
}

Visit RegionFrame::Visiting(const Graph& run, const std::vector<at::Tensor>& inputs) const {
  Visit visit{c10::DimVector(Domain(run)), {}, {}};
  if (any_order_) visit.order = MemoryOrder(inputs, visit.domain);
  auto domain_sized = [&](const auto& output) {
    return run.nodes[output.first]->shape(output.second).sizes == visit.domain;
  };
  if (!visit.order.empty() && !std::all_of(outputs_.begin(), outputs_.end(), domain_sized)) visit.order.clear();
  visit.shape = visit.domain;
  for (size_t k = 0; k < visit.order.size(); ++k) visit.shape[k] = visit.domain[visit.order[k]];
  return visit;
}

at::Tensor RegionFrame::KernelInput(size_t i, const at::Tensor& value, const Visit& visit) const {
  const auto& view = expand_inputs_[i];
  at::Tensor t = view ? value.reshape(view->Apply(value.sizes())).expand(visit.domain) : value;
  bool permute = !visit.order.empty() && t.dim() == static_cast<int64_t>(visit.order.size()) && t.numel() > 1;
  return permute ? t.permute(visit.order).contiguous() : t.contiguous();
}

// The inputs the step may overwrite: dead after it, read element for element, dense in visiting order,
// and in memory no other input views.
RegionFrame::Indices RegionFrame::Donors(const std::vector<at::Tensor>& inputs, const std::vector<bool>& reusable,
                                         c10::IntArrayRef order) const {
  c10::SmallVector<const void*, 16> memory, sorted;  // no allocation for a region's usual few inputs
  for (const auto& t : inputs) memory.push_back(t.storage().data_ptr().get());
  sorted.append(memory.begin(), memory.end());
  std::sort(sorted.begin(), sorted.end());
  Indices donors;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!reusable[i] || !overwritable_[i] || !DenseInOrder(inputs[i], order)) continue;
    auto [first, last] = std::equal_range(sorted.begin(), sorted.end(), memory[i]);
    if (last - first == 1) donors.push_back(i);
  }
  return donors;
}

std::vector<at::Tensor> RegionFrame::Outputs(const std::vector<at::Tensor>& inputs, const StepRun& run, const Visit& visit,
                                             const std::function<at::Tensor(const Shape&)>& fresh) const {
  // Each output takes the first donor left of its dtype and size: the donors sorted by both and then
  // by input order, and a count of those taken at the start of each group. (A search and an erase per
  // output grew with outputs x donors: the AdamW region of 200 parameters of 64 floats has 600 of each,
  // and 7.6 % of its program's samples were there; at 1000 parameters a captured step took 20.3-22.1 ms
  // after, 23.0-23.8 before, 2-core EPYC.)
  using Key = std::pair<c10::ScalarType, int64_t>;
  auto key = [&](size_t d) { return Key{inputs[d].scalar_type(), inputs[d].numel()}; };
  Indices donors = Donors(inputs, run.reusable, visit.order);
  std::sort(donors.begin(), donors.end(),
            [&](size_t a, size_t b) { return std::pair(key(a), a) < std::pair(key(b), b); });
  Indices taken(donors.size(), 0);
  std::vector<at::Tensor> outputs;
  outputs.reserve(outputs_.size());
  for (const auto& [position, index] : outputs_) {
    const Shape& s = run.graph.nodes[position]->shape(index);
    const Key wanted{s.dtype, c10::multiply_integers(s.sizes)};
    auto first = std::lower_bound(donors.begin(), donors.end(), wanted,
                                  [&](size_t d, const Key& k) { return key(d) < k; });
    size_t group = first - donors.begin();
    size_t pick = group < donors.size() ? group + taken[group] : group;
    if (pick >= donors.size() || key(donors[pick]) != wanted) {
      bool row_major = visit.order.empty();
      outputs.push_back(row_major ? fresh(s) : AliasInOrder(fresh({s.dtype, visit.shape}), s.sizes, visit.order));
      continue;
    }
    outputs.push_back(AliasInOrder(inputs[donors[pick]], s.sizes, visit.order));
    taken[group]++;
  }
  return outputs;
}

StepSpec RegionStepSpec(const CompiledRegion& compiled) {
  StepSpec step{nullptr, {}, {}};
  for (const auto& in : compiled.inputs) step.inputs.push_back({in.node, in.index});
  for (const auto& [node, index] : compiled.outputs) step.outputs.push_back({node, index});
  return step;
}

}  // namespace lazyplus
