#include "schedule/partition.h"

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
  // through a fresh reshape would keep a node out of a region made before that reshape.
  Schedule Run() {
    std::vector<Schedule::Step> views;
    for (const Node* n : graph_.nodes) {
      if (n->is_parameter()) continue;
      if (IsInputView(n)) {
        views.push_back(Schedule::Step{Schedule::kNoRegion, n});
      } else if (!TryFuse(n)) {
        Add(Schedule::Step{Schedule::kNoRegion, n});
      }
    }
    schedule_.steps.insert(schedule_.steps.begin(), views.begin(), views.end());
    if (policy_.aten_when_alone) DissolveLoneNodes();
    return std::move(schedule_);
  }

 private:
  bool TryFuse(const Node* n) {
    auto compute = ComputeTypeOf(*n);
    if (!compute) return false;
    const TileRule& rule = *FindTileRule(*n);
    const auto& domain = rule.reduction ? n->operands()[0].shape().sizes : n->shape().sizes;
    if (c10::multiply_integers(domain) == 0) return false;
    if (rule.reduction && domain.back() > policy_.max_row) return false;
    // Join the latest region it fits that runs after all its operands are computed.
    for (size_t s = schedule_.steps.size(); s-- > 0;) {
      const auto& step = schedule_.steps[s];
      if (step.region != Schedule::kNoRegion && Fits(n, rule, domain, *compute, schedule_.regions[step.region])) {
        auto& region = schedule_.regions[step.region];
        region.nodes.push_back(n);
        region.whole_rows |= rule.reduction;
        step_of_[n] = s;
        return true;
      }
      if (Produces(s, n)) break;
    }
    if (&n->kind() == &Expand::kind) return false;  // alone it would copy what eager only views
    schedule_.regions.push_back(Region{{n}, domain, *compute, rule.reduction});
    Add(Schedule::Step{schedule_.regions.size() - 1, nullptr});
    step_of_[n] = schedule_.steps.size() - 1;
    return true;
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

  static bool IsInputView(const Node* n) {
    const OpKind* kind = &n->kind();
    bool view = kind == &Reshape::kind || kind == &AsStrided::kind || kind == &Bitcast::kind;
    return view && n->operands()[0].node->is_parameter();
  }

  bool Produces(size_t s, const Node* n) const {
    for (const auto& v : n->operands()) {
      auto it = step_of_.find(v.node.get());
      if (it != step_of_.end() && it->second == s) return true;
    }
    return false;
  }

  void Add(Schedule::Step step) {
    schedule_.steps.push_back(step);
    if (step.node) step_of_[step.node] = schedule_.steps.size() - 1;
  }

  const Graph& graph_;
  const FusionPolicy& policy_;
  Schedule schedule_;
  std::unordered_map<const Node*, size_t> step_of_;
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
