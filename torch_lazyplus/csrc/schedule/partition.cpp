#include "schedule/partition.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "ir/core_nodes.h"
#include "schedule/tile_rules.h"

namespace lazyplus {
namespace {

c10::DimVector RowShape(const c10::DimVector& shape) {
  c10::DimVector row(shape.begin(), shape.end() - 1);
  row.push_back(1);
  return row;
}

bool IsRowOf(const c10::DimVector& sizes, const Region& r) {
  return r.whole_rows && (sizes == RowShape(r.shape) || sizes == c10::DimVector(r.shape.begin(), r.shape.end() - 1));
}

class Partitioner {
 public:
  Partitioner(const Graph& g, const FusionPolicy& policy) : graph_(g), policy_(policy) {}

  // Views of graph inputs run first and are no barrier to fusion: otherwise reading an input
  // through a fresh reshape would keep a node out of a region made before that reshape. So do the
  // scalars computed from graph inputs alone: a capturable optimizer's new step counts, written back,
  // are read by the bias corrections in the regions of the weights; placed where the graph's order
  // put them, after part of an update, they split that update in two regions (a tied GPT-2 embedding's
  // AdamW: its second moments' square root written and read back, a second region of 15 ms a step).
  Schedule Run() {
    CountConsumers();
    std::vector<Schedule::Step> views;
    std::vector<const Node*> later;
    for (const Node* n : graph_.nodes) {
      if (n->is_parameter()) continue;
      if (IsInputView(n)) {
        views.push_back(Schedule::Step{Schedule::kNoRegion, n});
        continue;
      }
      bool of_inputs = IsScalarOfInputs(n);
      if (of_inputs) scalars_of_inputs_.insert(n);
      if (Deferrable(n)) {
        deferred_.insert(n);
      } else if (of_inputs) {
        Place(n);
      } else {
        later.push_back(n);
      }
    }
    for (const Node* n : later) Place(n);
    schedule_.steps.insert(schedule_.steps.begin(), views.begin(), views.end());
    if (policy_.aten_when_alone) DissolveLoneNodes();
    return std::move(schedule_);
  }

 private:
  // A region step for `n`, else a single-node step; the deferred scalars it reads come first.
  void Place(const Node* n) {
    deferred_.erase(n);
    if (TryFuse(n)) return;
    for (const Node* d : DeferredChain(n)) Place(d);
    Add(Schedule::Step{Schedule::kNoRegion, n});
  }

  // Joins a region, or opens one, with the deferred scalars it reads computed inside it.
  bool TryFuse(const Node* n) {
    auto compute = ComputeTypeOf(*n);
    if (!compute || (policy_.never_fused && policy_.never_fused(*n))) return false;
    const TileRule& rule = *FindTileRule(*n);
    const auto& domain = rule.reduction ? n->operands()[0].shape().sizes : n->shape().sizes;
    if (c10::multiply_integers(domain) == 0) return false;
    if (rule.reduction && domain.back() > policy_.max_row) return false;
    std::vector<const Node*> chain = DeferredChain(n);
    if (std::any_of(chain.begin(), chain.end(), [&](const Node* d) { return ComputeTypeOf(*d) != compute; })) {
      for (const Node* d : chain) Place(d);
      chain.clear();
    }
    chain.push_back(n);
    // Join the latest region it fits that runs after all its operands are computed: among the regions
    // of its shape (and, for a pointwise node, the whole-row regions it may be a row of), from the
    // last back to the step computing its latest operand. (Walking back every step, asking each
    // whether it computed an operand, grew with the graph, as an optimizer's update reads graph
    // inputs that no step computes: per layer, a 64-layer GPT's partition took 2.3x the samples of
    // a 16-layer one's.)
    const size_t barrier = LatestProducer(chain);
    std::vector<size_t>& same_shape = regions_of_shape_[std::vector<int64_t>(domain.begin(), domain.end())];
    auto a = same_shape.rbegin();
    auto b = rule.reduction ? whole_row_regions_.rend() : whole_row_regions_.rbegin();
    for (;;) {
      bool a_left = a != same_shape.rend() && *a >= barrier, b_left = b != whole_row_regions_.rend() && *b >= barrier;
      if (!a_left && !b_left) break;
      size_t s = !b_left || (a_left && *a > *b) ? *a++ : *b++;
      Region& region = schedule_.regions[schedule_.steps[s].region];
      if (!Fits(n, rule, domain, *compute, region)) continue;
      if (rule.reduction && !region.whole_rows) MarkWholeRows(s);
      Join(chain, s);
      return true;
    }
    if (&n->kind() == &Expand::kind) return false;  // alone it would copy what eager only views
    schedule_.regions.push_back(Region{{}, domain, *compute, rule.reduction});
    Add(Schedule::Step{schedule_.regions.size() - 1, nullptr});
    same_shape.push_back(schedule_.steps.size() - 1);
    if (rule.reduction) MarkWholeRows(schedule_.steps.size() - 1);
    Join(chain, schedule_.steps.size() - 1);
    return true;
  }

  // The step computing the latest value `chain` reads from outside it (0 for none).
  size_t LatestProducer(const std::vector<const Node*>& chain) const {
    size_t latest = 0;
    for (const Node* m : chain) {
      for (const auto& v : m->operands()) {
        auto it = step_of_.find(v.node.get());
        if (it != step_of_.end()) latest = std::max(latest, it->second);
      }
    }
    return latest;
  }

  void MarkWholeRows(size_t s) {
    schedule_.regions[schedule_.steps[s].region].whole_rows = true;
    whole_row_regions_.insert(std::lower_bound(whole_row_regions_.begin(), whole_row_regions_.end(), s), s);
  }

  void Join(const std::vector<const Node*>& nodes, size_t s) {
    for (const Node* m : nodes) {
      schedule_.regions[schedule_.steps[s].region].nodes.push_back(m);
      step_of_[m] = s;
      deferred_.erase(m);
    }
  }

  // A 0-dim pointwise value of 0-dim operands read by one node and by nothing else (an optimizer's
  // bias corrections from its step count) waits for that node: computed in its region (once per task:
  // tile_program.h's one-value registers), it never goes to memory. A region of such scalars made
  // every value an output (the demo's AdamW: 80 us per step there), and under a limit of nodes per
  // region (the CUDA target's) the updates that read them split across regions.
  bool Deferrable(const Node* n) const {
    auto uses = consumers_.find(n);
    if (uses == consumers_.end() || uses->second != 1 || roots_.count(n) || !IsPointwiseScalar(n)) return false;
    const auto& operands = n->operands();
    return std::all_of(operands.begin(), operands.end(), [](const Value& v) { return v.shape().sizes.empty(); });
  }

  // A 0-dim pointwise value of graph inputs, views of them and other such values.
  bool IsScalarOfInputs(const Node* n) const {
    if (!IsPointwiseScalar(n)) return false;
    const auto& operands = n->operands();
    return std::all_of(operands.begin(), operands.end(), [&](const Value& v) {
      const Node* m = v.node.get();
      return m->is_parameter() || IsInputView(m) || scalars_of_inputs_.count(m);
    });
  }

  // The deferred nodes `n` reads, directly or through other deferred nodes, operands first.
  std::vector<const Node*> DeferredChain(const Node* n) const {
    std::vector<const Node*> chain;
    for (const auto& v : n->operands()) {
      if (!deferred_.count(v.node.get())) continue;
      auto before = DeferredChain(v.node.get());
      chain.insert(chain.end(), before.begin(), before.end());
      chain.push_back(v.node.get());
    }
    return chain;
  }

  void CountConsumers() {
    for (const Node* n : graph_.nodes) {
      std::set<const Node*> read;
      for (const auto& v : n->operands()) read.insert(v.node.get());
      for (const Node* m : read) consumers_[m]++;
    }
    for (const auto& root : graph_.roots) roots_.insert(root.node.get());
  }

  // Same compute type and iteration space; operands from inside the region broadcast the way the
  // tile program reads them (full values, or per-row values into full ones).
  bool Fits(const Node* n, const TileRule& rule, const c10::DimVector& domain, ComputeType compute,
            const Region& r) const {
    if (r.compute != compute || r.nodes.size() >= policy_.max_nodes) return false;
    const auto& out = n->shape().sizes;
    if (rule.reduction ? domain != r.shape : (out != r.shape && !IsRowOf(out, r))) return false;
    if (!rule.reduction && out != r.shape && !r.whole_rows) return false;
    for (const auto& v : n->operands()) {
      auto it = step_of_.find(v.node.get());
      if (it == step_of_.end() || schedule_.steps[it->second].region == Schedule::kNoRegion) continue;
      if (&schedule_.regions[schedule_.steps[it->second].region] != &r) continue;
      const auto& m = v.shape().sizes;
      bool target_full = rule.reduction || out == r.shape;
      if (!(m == (rule.reduction ? r.shape : out) || (target_full && r.whole_rows && m == RowShape(r.shape)))) return false;
    }
    return true;
  }

  // Regions of one node the policy runs in ATen become single-node steps.
  void DissolveLoneNodes() {
    std::vector<Region> kept;
    for (auto& step : schedule_.steps) {
      if (step.region == Schedule::kNoRegion) continue;
      Region& r = schedule_.regions[step.region];
      if (r.nodes.size() == 1 && policy_.aten_when_alone(*r.nodes[0])) {
        step = Schedule::Step{Schedule::kNoRegion, r.nodes[0]};
      } else {
        kept.push_back(std::move(r));
        step.region = kept.size() - 1;
      }
    }
    schedule_.regions = std::move(kept);
  }

  // One 0-dim value a tile computes element by element (an expand to 0-dim computes nothing).
  static bool IsPointwiseScalar(const Node* n) {
    return n->shape().sizes.empty() && n->num_outputs() == 1 && &n->kind() != &Expand::kind && ComputeTypeOf(*n) &&
           !FindTileRule(*n)->reduction;
  }

  static bool IsInputView(const Node* n) {
    const OpKind* kind = &n->kind();
    bool view = kind == &Reshape::kind || kind == &AsStrided::kind || kind == &Bitcast::kind;
    return view && n->operands()[0].node->is_parameter();
  }

  void Add(Schedule::Step step) {
    schedule_.steps.push_back(step);
    if (step.node) step_of_[step.node] = schedule_.steps.size() - 1;
  }

  const Graph& graph_;
  const FusionPolicy& policy_;
  Schedule schedule_;
  std::unordered_map<const Node*, size_t> step_of_;
  std::map<std::vector<int64_t>, std::vector<size_t>> regions_of_shape_;  // region steps by shape, ascending
  std::vector<size_t> whole_row_regions_;  // steps of regions with row reductions, ascending
  std::unordered_map<const Node*, int> consumers_;  // distinct nodes reading each node
  std::set<const Node*> roots_;
  std::set<const Node*> deferred_;  // waiting for their consumer (Deferrable)
  std::set<const Node*> scalars_of_inputs_;  // IsScalarOfInputs
};

}  // namespace

Schedule Partition(const Graph& graph, const FusionPolicy& policy) { return Partitioner(graph, policy).Run(); }

hash_t PartitionKey(const Graph& graph, const FusionPolicy& policy) {
  hash_t h = 0;
  for (int64_t size : graph.size_classes) h = HashCombine(h, Hash(size > policy.max_row));
  return h;
}

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

}  // namespace lazyplus
