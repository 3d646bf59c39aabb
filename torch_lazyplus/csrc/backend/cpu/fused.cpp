// The fused lowering: the schedule's regions run as tile programs in the vectorized interpreter,
// writing into pooled buffers; GEMMs and gelu run ATen's out= variants into pooled buffers
// (pooled_out_step.h); every other node runs its ATen kernel, as in the reference lowering.

#include <ATen/record_function.h>

#include <unordered_map>

#include "backend/cpu/cross_entropy_backward.h"
#include "backend/cpu/pooled_out_step.h"
#include "backend/cpu/tile_interpreter.h"
#include "backend/lowering.h"
#include "backend/region_frame.h"
#include "backend/step_program.h"
#include "device/host_pool.h"
#include "ir/node_factory.h"
#include "schedule/partition.h"
#include "support/metrics.h"

namespace lazyplus {
namespace {

// A region step: the region's tile program in the interpreter.
struct RegionKernel {
  TileProgram program;
  RegionFrame frame;
  std::vector<bool> overwritable;  // read once, element for element: may hold an output instead

  std::vector<at::Tensor> operator()(const std::vector<at::Tensor>& inputs, const StepRun& run) const {
    RECORD_FUNCTION("lazyplus::fused_region", c10::ArrayRef<const c10::IValue>{});  // shows in torch.profiler
    c10::IntArrayRef shape = frame.Domain(run.graph);
    std::vector<at::Tensor> keep;
    std::vector<const void*> in;
    for (size_t i = 0; i < inputs.size(); ++i) {
      keep.push_back(frame.KernelInput(i, inputs[i], shape));
      in.push_back(keep.back().const_data_ptr());
    }
    std::vector<at::Tensor> results;
    std::vector<void*> out;
    std::vector<size_t> donors = Donors(inputs, run.reusable);
    for (size_t k = 0; k < frame.num_outputs(); ++k) {
      const Shape& s = frame.OutputShape(k, run.graph);
      results.push_back(TakeDonor(inputs, donors, s));
      if (!results.back().defined()) results.back() = EmptyFromPool(s.sizes, s.dtype);
      out.push_back(results.back().data_ptr());
    }
    auto [rows, cols] = Split(shape, frame.split());
    RunTileProgram(program, rows, cols, in, out);
    return results;
  }

  // The inputs the step may overwrite (in-place updates such as an optimizer's write the new value
  // over the old one, as eager does): dead after it, read element for element, contiguous, and in
  // memory no other input views.
  std::vector<size_t> Donors(const std::vector<at::Tensor>& inputs, const std::vector<bool>& reusable) const {
    std::unordered_map<const void*, int> views;
    for (const auto& t : inputs) views[t.storage().data_ptr().get()]++;
    std::vector<size_t> donors;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (reusable[i] && overwritable[i] && inputs[i].is_contiguous() &&
          views[inputs[i].storage().data_ptr().get()] == 1) {
        donors.push_back(i);
      }
    }
    return donors;
  }

  // The first donor that fits an output of shape `s`, viewed as it (and no longer a donor), or an
  // undefined tensor.
  static at::Tensor TakeDonor(const std::vector<at::Tensor>& inputs, std::vector<size_t>& donors, const Shape& s) {
    int64_t numel = c10::multiply_integers(s.sizes);
    for (auto it = donors.begin(); it != donors.end(); ++it) {
      const at::Tensor& t = inputs[*it];
      if (t.scalar_type() == s.dtype && t.numel() == numel) {
        donors.erase(it);
        return t.view(s.sizes);
      }
    }
    return {};
  }
};

StepSpec RegionStep(const Graph& graph, const Region& region, const std::set<TileBuilder::ValueKey>& escaping) {
  CompiledRegion c = CompileRegion(region, escaping);
  std::vector<bool> overwritable;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const auto& in = c.inputs[i];
    auto same_value = [&](const RegionInput& o) { return o.node == in.node && o.index == in.index; };
    overwritable.push_back(c.program.extent[c.program.inputs[i].reg] == Extent::kTile && !in.materialize &&
                           std::count_if(c.inputs.begin(), c.inputs.end(), same_value) == 1);
  }
  StepSpec step = RegionStepSpec(c);
  step.kernel = RegionKernel{std::move(c.program), RegionFrame(graph, region, c), std::move(overwritable)};
  return step;
}

// Eager's exact gelu of a float32 tensor is oneDNN's (Activation.cpp), faster than the tile
// interpreter's (BERT's [8, 128, 1024]: about 950 us as a region, 550 in oneDNN at best, 2-core
// EPYC) and eager's own bits; fused with neighbours, the saved memory passes pay more.
bool OneDnnGelu(const Node& n) {
  static const OpKind& gelu = KindNamed("aten::gelu");
  return &n.kind() == &gelu && n.shape().dtype == at::kFloat && n.attr("approximate").toStringRef() == "none";
}

// 16384 float32s of a row and their intermediates stay in L2 (the interpreter's per-thread scratch).
constexpr FusionPolicy kCpuFusion{/*max_row=*/16384, OneDnnGelu};

class Fused final : public Lowering {
 public:
  std::string name() const override { return "fused"; }
  hash_t KeyOf(const Graph& graph) const override { return PartitionKey(graph, kCpuFusion); }
  std::vector<std::vector<const Node*>> Regions(const Graph& graph) const override {
    std::vector<std::vector<const Node*>> regions;
    for (const Region& r : Partition(graph, kCpuFusion).regions) regions.push_back(r.nodes);
    return regions;
  }
  std::shared_ptr<const Program> Compile(const Graph& graph) const override {
    static auto* fused_nodes = metrics::GetCounter("FusedNodes");
    static auto* regions = metrics::GetCounter("FusedRegions");
    Schedule schedule = Partition(graph, kCpuFusion);
    auto escaping = EscapingValues(graph, schedule);
    std::vector<StepSpec> steps;
    for (const auto& s : schedule.steps) {
      if (s.node) {
        steps.push_back(HasPooledOutKernel(*s.node)       ? PooledOutStep(graph, s.node)
                        : IsCrossEntropyBackward(*s.node) ? CrossEntropyBackwardStep(graph, s.node)
                                                          : NodeStep(graph, s.node));
      } else {
        const Region& region = schedule.regions[s.region];
        steps.push_back(RegionStep(graph, region, escaping));
        regions->Add();
        fused_nodes->Add(static_cast<int64_t>(region.nodes.size()));
      }
    }
    return std::make_shared<StepProgram>(graph, std::move(steps));
  }
};

}  // namespace

const Lowering& FusedLowering() {
  static Fused fused;
  return fused;
}

}  // namespace lazyplus
