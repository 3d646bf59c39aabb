#include "distributed/collective_node.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <array>

#include "ir/hash.h"
#include "ir/node_factory.h"

namespace lazyplus {
namespace {

using RedOp = c10d::ReduceOp::RedOpType;

const std::array<OpKind, 5>& CollectiveKinds() {
  static const std::array<OpKind, 5> kinds{OpKind("c10d::all_reduce"), OpKind("c10d::broadcast"),
                                           OpKind("c10d::all_gather"), OpKind("c10d::reduce_scatter"),
                                           OpKind("c10d::all_to_all")};
  return kinds;
}
const OpKind& KindOf(Collective c) { return CollectiveKinds()[static_cast<size_t>(c)]; }

hash_t HashOf(const CollectiveArgs& a) {
  hash_t h = Hash(static_cast<int64_t>(a.collective));
  for (hash_t part : {Hash(a.reduce_op), Hash(a.root), Hash(a.output_splits), Hash(a.input_splits),
                      Hash(a.group)}) {
    h = HashCombine(h, part);
  }
  return h;
}

c10d::ReduceOp ReduceOpOf(const CollectiveArgs& a) { return c10d::ReduceOp(static_cast<RedOp>(a.reduce_op)); }

// Runs the collective on host tensors and waits: a failure (a peer gone, the group's timeout) fails the
// values that depend on it, and the sync that reads them raises it.
at::Tensor Run(const CollectiveArgs& a, c10d::Backend& gloo, const at::Tensor& input, const Shape& result) {
  at::Tensor x = input.contiguous();
  at::Tensor out;
  switch (a.collective) {
    case Collective::kAllReduce: {
      std::vector<at::Tensor> io{x.clone(at::MemoryFormat::Contiguous)};  // gloo reduces in place
      c10d::AllreduceOptions opts;
      opts.reduceOp = ReduceOpOf(a);
      gloo.allreduce(io, opts)->wait();
      out = io[0];
      break;
    }
    case Collective::kBroadcast: {
      std::vector<at::Tensor> io{x.clone(at::MemoryFormat::Contiguous)};
      c10d::BroadcastOptions opts;
      opts.rootRank = a.root;
      gloo.broadcast(io, opts)->wait();
      out = io[0];
      break;
    }
    case Collective::kAllGather:
      out = at::empty(result.sizes, x.options());
      gloo._allgather_base(out, x)->wait();
      break;
    case Collective::kReduceScatter: {
      out = at::empty(result.sizes, x.options());
      c10d::ReduceScatterOptions opts;
      opts.reduceOp = ReduceOpOf(a);
      gloo._reduce_scatter_base(out, x, opts)->wait();
      break;
    }
    case Collective::kAllToAll: {
      out = at::empty(result.sizes, x.options());
      std::vector<int64_t> output_splits = a.output_splits, input_splits = a.input_splits;
      gloo.alltoall_base(out, x, output_splits, input_splits)->wait();
      break;
    }
  }
  return out;
}

class CollectiveNode final : public Node {
 public:
  CollectiveNode(Operands operands, Shapes shapes, CollectiveArgs args, c10::intrusive_ptr<c10d::Backend> transport)
      : Node(KindOf(args.collective), std::move(operands), std::move(shapes), HashOf(args)),
        args_(std::move(args)),
        transport_(std::move(transport)) {}

  std::string attrs_text() const override {
    std::string text = "group=" + AttrText(args_.group);
    if (args_.collective == Collective::kAllReduce || args_.collective == Collective::kReduceScatter) {
      text += ", op=" + AttrText(args_.reduce_op);
    }
    if (args_.collective == Collective::kBroadcast) text += ", root=" + AttrText(args_.root);
    if (!args_.output_splits.empty()) text += ", output_splits=" + AttrText(args_.output_splits);
    if (!args_.input_splits.empty()) text += ", input_splits=" + AttrText(args_.input_splits);
    return text;
  }
  std::vector<c10::IValue> attrs() const override {
    return {static_cast<int64_t>(args_.collective), args_.reduce_op, args_.root, args_.output_splits,
            args_.input_splits, args_.group};
  }
  HostKernel host_kernel() const override {
    return [a = args_, gloo = transport_, result = shape(0)](const std::vector<at::Tensor>& in) {
      at::Tensor out = Run(a, *gloo, in.at(0), result);
      return std::vector<at::Tensor>{out, at::zeros(TokenShape().sizes, out.options().dtype(TokenShape().dtype))};
    };
  }

 private:
  CollectiveArgs args_;
  c10::intrusive_ptr<c10d::Backend> transport_;
};

// A saved graph cannot name a process group of the process that loads it.
NodePtr RefuseToRebuild(Operands, Shapes, const std::vector<c10::IValue>&) {
  TORCH_CHECK_VALUE(false, "lazyplus.Graph: a graph with collectives (torch.distributed) cannot be loaded: its "
                           "process group belonged to the process that traced it");
}
const NodeFactoryRegistration registrations[] = {
    {KindOf(Collective::kAllReduce), &RefuseToRebuild},     {KindOf(Collective::kBroadcast), &RefuseToRebuild},
    {KindOf(Collective::kAllGather), &RefuseToRebuild},     {KindOf(Collective::kReduceScatter), &RefuseToRebuild},
    {KindOf(Collective::kAllToAll), &RefuseToRebuild}};

}  // namespace

// One element: the tensor of a value without elements holds no pending value, which would cut the chain.
Shape TokenShape() { return Shape{at::kFloat, {1}}; }

NodePtr MakeCollectiveNode(Operands operands, Shape result, CollectiveArgs args,
                           c10::intrusive_ptr<c10d::Backend> transport) {
  return MakeNode<CollectiveNode>(std::move(operands), Shapes{std::move(result), TokenShape()}, std::move(args),
                                  std::move(transport));
}

}  // namespace lazyplus
