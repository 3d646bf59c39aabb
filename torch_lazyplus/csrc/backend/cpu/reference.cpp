// The reference lowering: each node is one step that runs its host kernel (the matching ATen CPU
// call). It defines what every other lowering must compute.
#include "backend/step_program.h"
#include "backend/lowering.h"

namespace lazyplus {
namespace {

class Reference final : public Lowering {
 public:
  std::string name() const override { return "reference"; }
  std::shared_ptr<const Program> Compile(const Graph& graph) const override {
    std::vector<StepSpec> steps;
    for (const Node* n : graph.nodes) {
      if (!n->is_parameter()) steps.push_back(NodeStep(graph, n));
    }
    return std::make_shared<StepProgram>(graph, std::move(steps));
  }
};

}  // namespace

const Lowering& ReferenceLowering() {
  static Reference reference;
  return reference;
}

}  // namespace lazyplus
