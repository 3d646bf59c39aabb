// The fused lowering: the schedule's regions run as tile programs in the vectorized interpreter,
// writing into pooled buffers; every other node runs its ATen kernel, as in the reference lowering.
#include <ATen/ops/empty.h>

#include "device/host_pool.h"
#include "lowering/fusion.h"
#include "lowering/lowering.h"
#include "lowering/step_program.h"
#include "runtime/metrics.h"

namespace lazyplus {
namespace {

// What a region step needs at run time (no graph nodes: they die after compiling).
struct RegionKernel {
  TileProgram program;
  std::vector<int64_t> shape;
  int64_t rows, cols;
  std::vector<std::optional<std::vector<int64_t>>> expand_inputs;  // view to expand to `shape`
  std::vector<Shape> output_shapes;

  std::vector<at::Tensor> operator()(const std::vector<at::Tensor>& inputs) const {
    std::vector<at::Tensor> keep;
    std::vector<const void*> in;
    for (size_t i = 0; i < inputs.size(); ++i) {
      at::Tensor t = inputs[i];
      t = expand_inputs[i] ? t.reshape(*expand_inputs[i]).expand(shape).contiguous() : t.contiguous();
      in.push_back(t.const_data_ptr());
      keep.push_back(std::move(t));
    }
    std::vector<at::Tensor> outputs;
    std::vector<void*> out;
    for (const auto& s : output_shapes) {
      outputs.push_back(EmptyFromPool(s.sizes, s.dtype));
      out.push_back(outputs.back().data_ptr());
    }
    RunTileProgram(program, rows, cols, in, out);
    return outputs;
  }
};

// Values read outside the step that computes them, and the graph's roots.
std::set<TileBuilder::ValueKey> EscapingValues(const Graph& graph, const Schedule& schedule) {
  std::unordered_map<const Node*, size_t> region_of;
  for (size_t r = 0; r < schedule.regions.size(); ++r) {
    for (const Node* n : schedule.regions[r].nodes) region_of[n] = r;
  }
  auto region = [&](const Node* n) {
    auto it = region_of.find(n);
    return it == region_of.end() ? Schedule::kNoRegion : it->second;
  };
  std::set<TileBuilder::ValueKey> escaping;
  for (const Node* n : graph.nodes) {
    for (const auto& v : n->operands()) {
      size_t r = region(v.node.get());
      if (r != Schedule::kNoRegion && r != region(n)) escaping.insert({v.node.get(), v.index});
    }
  }
  for (const auto& root : graph.roots) escaping.insert({root.node.get(), root.index});
  return escaping;
}

StepSpec RegionStep(const Region& region, const std::set<TileBuilder::ValueKey>& escaping) {
  CompiledRegion c = CompileRegion(region, escaping);
  RegionKernel kernel{std::move(c.program), region.shape, c.rows, c.cols, {}, {}};
  StepSpec step{nullptr, {}, {}};
  for (const auto& in : c.inputs) {
    kernel.expand_inputs.push_back(in.materialize ? std::optional<std::vector<int64_t>>(in.view) : std::nullopt);
    step.inputs.push_back({in.node, in.index});
  }
  for (const auto& [node, index] : c.outputs) {
    kernel.output_shapes.push_back(node->shape(index));
    step.outputs.push_back({node, index});
  }
  step.kernel = std::move(kernel);
  return step;
}

class Fused final : public Lowering {
 public:
  std::string name() const override { return "fused"; }
  std::shared_ptr<const Program> Compile(const Graph& graph) const override {
    static auto* fused_nodes = metrics::GetCounter("FusedNodes");
    static auto* regions = metrics::GetCounter("FusedRegions");
    Schedule schedule = Partition(graph);
    auto escaping = EscapingValues(graph, schedule);
    std::vector<StepSpec> steps;
    for (const auto& s : schedule.steps) {
      if (s.node) {
        steps.push_back(NodeStep(s.node));
      } else {
        const Region& region = schedule.regions[s.region];
        steps.push_back(RegionStep(region, escaping));
        regions->Add();
        fused_nodes->Add(static_cast<int64_t>(region.nodes.size()));
      }
    }
    return MakeStepProgram(graph, std::move(steps));
  }
};

}  // namespace

const Lowering& FusedLowering() {
  static Fused fused;
  return fused;
}

}  // namespace lazyplus
