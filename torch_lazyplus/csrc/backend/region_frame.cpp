#include "backend/region_frame.h"

#include <algorithm>

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
  for (size_t i = 0; i < compiled.inputs.size(); ++i) {
    const auto& in = compiled.inputs[i];
    expand_inputs_.push_back(in.materialize ? std::optional<ViewRecipe>(in.view) : std::nullopt);
    auto same_value = [&](const RegionInput& o) { return o.node == in.node && o.index == in.index; };
    overwritable_.push_back(program.extent[program.inputs[i].reg] == Extent::kTile && !in.materialize &&
                            std::count_if(compiled.inputs.begin(), compiled.inputs.end(), same_value) == 1);
  }
  for (const auto& [node, index] : compiled.outputs) outputs_.emplace_back(graph.position.at(node), index);
}

c10::IntArrayRef RegionFrame::Domain(const Graph& run) const {
  const Node* domain = run.nodes[domain_node_];
  return domain_from_operand_ ? domain->operands()[0].shape().sizes : domain->shape().sizes;
}

at::Tensor RegionFrame::KernelInput(size_t i, const at::Tensor& value, c10::IntArrayRef domain) const {
  const auto& view = expand_inputs_[i];
  return view ? value.reshape(view->Apply(value.sizes())).expand(domain).contiguous() : value.contiguous();
}

// The inputs the step may overwrite: dead after it, read element for element, contiguous, and in
// memory no other input views.
RegionFrame::Indices RegionFrame::Donors(const std::vector<at::Tensor>& inputs, const std::vector<bool>& reusable) const {
  c10::SmallVector<const void*, 16> memory;
  for (const auto& t : inputs) memory.push_back(t.storage().data_ptr().get());
  std::sort(memory.begin(), memory.end());
  Indices donors;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto [first, last] = std::equal_range(memory.begin(), memory.end(), inputs[i].storage().data_ptr().get());
    bool alone = last - first == 1;
    if (reusable[i] && overwritable_[i] && inputs[i].is_contiguous() && alone) donors.push_back(i);
  }
  return donors;
}

std::vector<at::Tensor> RegionFrame::Outputs(const std::vector<at::Tensor>& inputs, const StepRun& run,
                                             const std::function<at::Tensor(const Shape&)>& fresh) const {
  Indices donors = Donors(inputs, run.reusable);
  std::vector<at::Tensor> outputs;
  for (const auto& [position, index] : outputs_) {
    const Shape& s = run.graph.nodes[position]->shape(index);
    int64_t numel = c10::multiply_integers(s.sizes);
    auto donor = std::find_if(donors.begin(), donors.end(), [&](size_t d) {
      return inputs[d].scalar_type() == s.dtype && inputs[d].numel() == numel;
    });
    if (donor == donors.end()) {
      outputs.push_back(fresh(s));
      continue;
    }
    outputs.push_back(ContiguousAlias(inputs[*donor], s.sizes));
    donors.erase(donor);
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
