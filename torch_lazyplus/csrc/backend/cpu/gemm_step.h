#pragma once
// GEMM nodes (mm, addmm, bmm, baddbmm) run MKL through ATen's out= variants, writing into pooled
// buffers. ATen's functional GEMMs return fresh memory that page-faults on its first write: 1,800
// faults per step, 71 % of all, in the MLP training step (17 MB of GEMM outputs) before this.
#include "backend/cpu/step_program.h"

namespace lazyplus {

bool IsGemm(const Node& node);
StepSpec GemmStep(const Graph& graph, const Node* node);

}  // namespace lazyplus
