#include "backend/region_frame.h"

#include "schedule/tile_rules.h"

namespace lazyplus {

RegionFrame::RegionFrame(const Graph& graph, const Region& region, const CompiledRegion& compiled)
    : split_(compiled.split) {
  const Node* first = region.nodes.front();  // the node that opened the region: its domain is the region's
  domain_node_ = graph.position.at(first);
  domain_from_operand_ = FindTileRule(*first)->reduction;
  for (const auto& in : compiled.inputs) {
    expand_inputs_.push_back(in.materialize ? std::optional<ViewRecipe>(in.view) : std::nullopt);
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

const Shape& RegionFrame::OutputShape(size_t k, const Graph& run) const {
  const auto& [position, index] = outputs_[k];
  return run.nodes[position]->shape(index);
}

StepSpec RegionStepSpec(const CompiledRegion& compiled) {
  StepSpec step{nullptr, {}, {}};
  for (const auto& in : compiled.inputs) step.inputs.push_back({in.node, in.index});
  for (const auto& [node, index] : compiled.outputs) step.outputs.push_back({node, index});
  return step;
}

}  // namespace lazyplus
