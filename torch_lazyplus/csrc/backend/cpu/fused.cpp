// The fused lowering: the schedule's regions run as tile programs in the vectorized interpreter,
// writing into pooled buffers; GEMMs and gelu run ATen's out= variants into pooled buffers
// (pooled_out_step.h); the nodes in kOwnKernels run kernels of their own where their tensors fit; every
// other node runs its ATen kernel, as in the reference lowering.

#include <ATen/record_function.h>
#include <c10/util/SmallVector.h>

#include "backend/cpu/batch_norm_backward.h"
#include "backend/cpu/batch_norm_training.h"
#include "backend/cpu/channels_last_convolution.h"
#include "backend/cpu/column_sums.h"
#include "backend/cpu/concat.h"
#include "backend/cpu/cross_entropy_backward.h"
#include "backend/cpu/embedding_backward.h"
#include "backend/cpu/layer_norm.h"
#include "backend/cpu/pooled_out_step.h"
#include "backend/cpu/profiled_inputs.h"
#include "backend/cpu/small_attention.h"
#include "backend/cpu/tile_interpreter.h"
#include "backend/cpu/vector_norm.h"
#include "backend/lowering.h"
#include "backend/region_frame.h"
#include "backend/scheduled_lowering.h"
#include "backend/step_program.h"
#include "device/host_pool.h"
#include "ir/node_factory.h"
#include "schedule/partition.h"

namespace lazyplus {
namespace {

// A region step: the region's tile program in the interpreter.
struct RegionKernel {
  TileProgram program;
  RegionFrame frame;

  std::vector<at::Tensor> operator()(const std::vector<at::Tensor>& inputs, const StepRun& run) const {
    RECORD_FUNCTION("lazyplus::fused_region", ProfiledInputs(inputs));  // shows in torch.profiler
    Visit visit = frame.Visiting(run.graph, inputs);
    c10::SmallVector<at::Tensor, 16> keep;
    c10::SmallVector<const void*, 16> in;
    for (size_t i = 0; i < inputs.size(); ++i) {
      keep.push_back(frame.KernelInput(i, inputs[i], visit));
      in.push_back(keep.back().const_data_ptr());
    }
    std::vector<at::Tensor> results =
        frame.Outputs(inputs, run, visit, [](const Shape& s) { return EmptyFromPool(s.sizes, s.dtype); });
    c10::SmallVector<void*, 8> out;
    for (auto& t : results) out.push_back(t.data_ptr());
    auto [rows, cols] = Split(visit.shape, frame.split());
    RunTileProgram(program, rows, cols, in, out);
    return results;
  }
};

StepSpec RegionStep(const Graph& graph, const Region& region, const std::set<TileBuilder::ValueKey>& escaping) {
  CompiledRegion c = CompileRegion(region, escaping);
  StepSpec step = RegionStepSpec(c);
  RegionFrame frame(graph, region, c);
  step.kernel = RegionKernel{std::move(c.program), std::move(frame)};
  return step;
}

// Eager's exact gelu of a float32 tensor is oneDNN's (Activation.cpp), faster than the tile
// interpreter's (BERT's [8, 128, 1024]: about 950 us as a region, 550 in oneDNN at best, 2-core
// EPYC) and eager's own bits; fused with neighbours, the saved memory passes pay more. So is its
// backward, in every dtype but float64 (oneDNN takes bfloat16 and float16 where the CPU has them).
bool OneDnnGelu(const Node& n) {
  static const OpKind& gelu = KindNamed("aten::gelu");
  static const OpKind& backward = KindNamed("aten::gelu_backward");
  const bool is_gelu = &n.kind() == &gelu, is_backward = &n.kind() == &backward;
  if ((!is_gelu && !is_backward) || n.attr("approximate").toStringRef() != "none") return false;
  return is_gelu ? n.shape().dtype == at::kFloat : n.shape().dtype != at::kDouble;
}

// 16384 float32s of a row and their intermediates stay in L2 (the interpreter's per-thread scratch).
constexpr FusionPolicy kCpuFusion{/*max_row=*/16384, /*aten_when_alone=*/OneDnnGelu, /*max_nodes=*/SIZE_MAX,
                                  /*never_fused=*/IsFloatLayerNorm};

// Nodes lazyplus runs with a kernel of its own (each falls back to ATen's where its tensors do not fit).
struct OwnKernelEntry {
  bool (*takes)(const Node&);
  StepSpec (*step)(const Graph&, const Node*);
};
constexpr OwnKernelEntry kOwnKernels[] = {
    {HasPooledOutKernel, PooledOutStep},          {IsCrossEntropyBackward, CrossEntropyBackwardStep},
    {IsFlashAttention, SmallAttentionStep},       {IsBatchNormTraining, BatchNormTrainingStep},
    {IsLayerNormBackward, LayerNormBackwardStep}, {IsEmbeddingBackward, EmbeddingBackwardStep},
    {IsSum, ColumnSumsStep},                      {IsCat, CatStep},
    {IsVectorNorm, VectorNormStep},               {IsStackOfVectorNorms, StackedVectorNormsStep},
    {IsBatchNormBackward, BatchNormBackwardStep}, {IsFloatLayerNorm, LayerNormForwardStep},
    {IsConvolution, ConvolutionStep},             {IsConvolutionBackward, ConvolutionBackwardStep},
};

class Fused final : public ScheduledLowering {
 public:
  Fused() : ScheduledLowering(kCpuFusion) {}
  std::string name() const override { return "fused"; }

 protected:
  StepSpec NodeStepOf(const Graph& graph, const Node* node) const override {
    for (const OwnKernelEntry& own : kOwnKernels) {
      if (own.takes(*node)) return own.step(graph, node);
    }
    return NodeStep(graph, node);
  }
  StepSpec RegionStepOf(const Graph& graph, const Region& region,
                        const std::set<TileBuilder::ValueKey>& escaping) const override {
    return RegionStep(graph, region, escaping);
  }
};

}  // namespace

const Lowering& FusedLowering() {
  static Fused fused;
  return fused;
}

}  // namespace lazyplus
