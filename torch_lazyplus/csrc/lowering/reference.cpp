// The reference lowering: each node runs its host kernel (the matching ATen CPU call). Slots of
// intermediates are released after their last use.
#include <c10/util/Exception.h>

#include <cstdlib>

#include "lowering/lowering.h"

namespace lazyplus {
namespace {

struct Step {
  HostKernel kernel;
  std::vector<size_t> inputs;  // slots
  size_t first_output;         // slot of output 0; outputs are consecutive
  std::vector<size_t> release;  // slots dead after this step
};

class ReferenceProgram final : public Program {
 public:
  explicit ReferenceProgram(const Graph& g) {
    std::vector<size_t> first_slot(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      first_slot[i] = num_slots_;
      num_slots_ += g.nodes[i]->num_outputs();
    }
    auto slot_of = [&](const Value& v) { return first_slot[g.position.at(v.node.get())] + v.index; };
    std::vector<size_t> last_use(num_slots_, SIZE_MAX);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node* n = g.nodes[i];
      if (n->is_parameter()) {
        param_slots_.push_back(first_slot[i]);
        continue;
      }
      Step step{n->host_kernel(), {}, first_slot[i], {}};
      for (const auto& v : n->operands()) {
        step.inputs.push_back(slot_of(v));
        last_use[slot_of(v)] = steps_.size();
      }
      steps_.push_back(std::move(step));
    }
    for (const auto& r : g.roots) {
      root_slots_.push_back(slot_of(r));
      last_use[slot_of(r)] = SIZE_MAX;
    }
    for (size_t s = 0; s < num_slots_; ++s) {
      if (last_use[s] != SIZE_MAX) steps_[last_use[s]].release.push_back(s);
    }
  }

  std::vector<at::Tensor> Run(const std::vector<at::Tensor>& params) const override {
    TORCH_INTERNAL_ASSERT(params.size() == param_slots_.size());
    std::vector<at::Tensor> slots(num_slots_);
    for (size_t i = 0; i < params.size(); ++i) slots[param_slots_[i]] = params[i];
    std::vector<at::Tensor> inputs;
    for (const auto& step : steps_) {
      inputs.clear();
      for (size_t s : step.inputs) inputs.push_back(slots[s]);
      auto outputs = step.kernel(inputs);
      for (size_t k = 0; k < outputs.size(); ++k) slots[step.first_output + k] = std::move(outputs[k]);
      for (size_t s : step.release) slots[s].reset();
    }
    std::vector<at::Tensor> roots;
    roots.reserve(root_slots_.size());
    for (size_t s : root_slots_) roots.push_back(slots[s]);
    return roots;
  }

 private:
  size_t num_slots_ = 0;
  std::vector<size_t> param_slots_;
  std::vector<Step> steps_;
  std::vector<size_t> root_slots_;
};

class Reference final : public Lowering {
 public:
  std::string name() const override { return "reference"; }
  std::shared_ptr<const Program> Compile(const Graph& graph) const override {
    return std::make_shared<ReferenceProgram>(graph);
  }
};

const Lowering* active = nullptr;

}  // namespace

const Lowering& ReferenceLowering() {
  static Reference reference;
  return reference;
}

void SetLowering(const std::string& name) {
  TORCH_CHECK(name == "reference", "Unknown lowering '", name, "'; available: reference");
  active = &ReferenceLowering();
}

const Lowering& ActiveLowering() {
  if (!active) {
    const char* env = std::getenv("LAZYPLUS_LOWERING");
    SetLowering(env && *env ? env : "reference");
  }
  return *active;
}

}  // namespace lazyplus
