#include "distributed/lazyplus_backend.h"

#include <ATen/ops/cat.h>
#include <ATen/ops/chunk.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/stack.h>
#include <torch/csrc/distributed/c10d/Utils.hpp>

#include <atomic>

#include "distributed/gloo_checks.h"
#include "distributed/host_work.h"
#include "support/metrics.h"
#include "tensor/lazy_tensor.h"
#include "tensor/tracing.h"

namespace lazyplus {
namespace {

using Tensors = std::vector<at::Tensor>;
using Work = c10::intrusive_ptr<c10d::Work>;

bool OnLazyplus(at::TensorList tensors) { return !tensors.empty() && IsLazy(tensors[0]); }

Tensors Flat(const std::vector<Tensors>& lists) {
  Tensors flat;
  for (const Tensors& list : lists) flat.insert(flat.end(), list.begin(), list.end());
  return flat;
}
std::vector<Tensors> Regrouped(const Tensors& flat, const std::vector<Tensors>& like) {
  std::vector<Tensors> lists;
  size_t next = 0;
  for (const Tensors& list : like) {
    lists.emplace_back(flat.begin() + next, flat.begin() + next + list.size());
    next += list.size();
  }
  return lists;
}
std::vector<int64_t> Numels(const Tensors& tensors) {
  std::vector<int64_t> numels;
  for (const at::Tensor& t : tensors) numels.push_back(t.numel());
  return numels;
}
// The tensors flattened into one, end to end (recorded ops: they join the graph).
at::Tensor Concatenated(const Tensors& tensors) {
  Tensors flat;
  for (const at::Tensor& t : tensors) flat.push_back(t.reshape({-1}));
  return at::cat(flat);
}
// Writes consecutive parts of flat `from` into `to`.
void WriteParts(Tensors& to, const at::Tensor& from) {
  int64_t offset = 0;
  for (at::Tensor& t : to) {
    WriteInplace(t, from.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

CollectiveArgs Reducing(Collective collective, const c10d::ReduceOp& op) {
  CollectiveArgs args{collective};
  args.reduce_op = op.op_;
  return args;
}

std::atomic<int64_t> next_serial{0};

}  // namespace

LazyplusBackend::LazyplusBackend(c10::intrusive_ptr<c10d::Backend> gloo)
    : c10d::Backend(gloo->getRank(), gloo->getSize()), gloo_(std::move(gloo)), serial_(next_serial++) {}

at::Tensor LazyplusBackend::Record(const at::Tensor& input, c10::IntArrayRef result_sizes, CollectiveArgs args) {
  static auto* traced = metrics::GetCounter("lazy::collective");
  args.group = serial_;
  Tracer tr(traced);
  at::Tensor meta = tr.Input(input);
  at::Tensor& token = tokens_[input.device().index()];
  if (!token.defined()) token = EmptyLazy(TokenShape().sizes, {1}, TokenShape().dtype, input.device());
  tr.Input(token);
  Tensors metas{at::empty(result_sizes, meta.options()), at::empty(TokenShape().sizes, meta.options().dtype(TokenShape().dtype))};
  Tensors outputs = tr.Wrap(MakeCollectiveNode(tr.TakeOperands(), ShapeOf(metas[0]), std::move(args), gloo_), metas);
  token = outputs[1];
  return outputs[0];
}

Work LazyplusBackend::allreduce(Tensors& tensors, const c10d::AllreduceOptions& opts) {
  if (!OnLazyplus(tensors)) return gloo_->allreduce(tensors, opts);
  auto invalid = GlooCheck("allreduce");
  c10d::assertNonEmpty(invalid, tensors);
  c10d::assertLayoutMatch(invalid, tensors);
  c10d::assertTypeAndSizesMatch(invalid, tensors);
  CheckReduceOp(opts.reduceOp, tensors[0]);
  TORCH_CHECK(tensors.size() == 1, "lazyplus: all_reduce takes one tensor per rank (got ", tensors.size(), ")");
  CollectiveArgs args = Reducing(Collective::kAllReduce, opts.reduceOp);
  WriteInplace(tensors[0], Record(tensors[0], tensors[0].sizes(), args));
  return RecordedWork(tensors);
}

// One all_reduce of the tensors end to end, as gloo coalesces them.
Work LazyplusBackend::allreduce_coalesced(Tensors& tensors, const c10d::AllreduceCoalescedOptions& opts) {
  if (!OnLazyplus(tensors)) return gloo_->allreduce_coalesced(tensors, opts);
  auto invalid = GlooCheck("allreduce_coalesced");
  c10d::assertNonEmpty(invalid, tensors);
  CheckSameType(invalid, tensors[0].options(), tensors);
  CheckReduceOp(opts.reduceOp, tensors[0]);
  at::Tensor all = Concatenated(tensors);
  CollectiveArgs args = Reducing(Collective::kAllReduce, opts.reduceOp);
  WriteParts(tensors, Record(all, all.sizes(), args));
  return RecordedWork(tensors);
}

Work LazyplusBackend::broadcast(Tensors& tensors, const c10d::BroadcastOptions& opts) {
  if (!OnLazyplus(tensors)) return gloo_->broadcast(tensors, opts);
  auto invalid = GlooCheck("broadcast");
  c10d::assertRootRank(invalid, opts.rootRank, size_);
  c10d::assertRootTensor(invalid, opts.rootTensor, static_cast<int64_t>(tensors.size()));
  c10d::assertDense(invalid, tensors);
  c10d::assertTypeAndSizesMatch(invalid, tensors);
  TORCH_CHECK(tensors.size() == 1, "lazyplus: broadcast takes one tensor per rank (got ", tensors.size(), ")");
  CollectiveArgs args{Collective::kBroadcast};
  args.root = opts.rootRank;
  WriteInplace(tensors[0], Record(tensors[0], tensors[0].sizes(), args));
  return RecordedWork(tensors);
}

Work LazyplusBackend::allgather(std::vector<Tensors>& outputs, Tensors& inputs, const c10d::AllgatherOptions& opts) {
  if (!OnLazyplus(inputs)) return gloo_->allgather(outputs, inputs, opts);
  CheckAllgather(outputs, inputs, size_);
  TORCH_CHECK(inputs.size() == 1, "lazyplus: all_gather takes one tensor per rank (got ", inputs.size(), ")");
  std::vector<int64_t> sizes{size_};
  sizes.insert(sizes.end(), inputs[0].sizes().begin(), inputs[0].sizes().end());
  // gloo gathers along dim 0: each rank's part is its input with a leading dim of 1.
  at::Tensor gathered = Record(inputs[0].unsqueeze(0), sizes, {Collective::kAllGather});
  for (int rank = 0; rank < size_; ++rank) WriteInplace(outputs[0][rank], gathered[rank]);
  return RecordedWork(outputs[0]);
}

Work LazyplusBackend::_allgather_base(at::Tensor& output, at::Tensor& input, const c10d::AllgatherOptions& opts) {
  if (!OnLazyplus({input})) return gloo_->_allgather_base(output, input, opts);
  CheckAllgather({at::chunk(output, size_, 0)}, {input}, size_);  // gloo's own _allgather_base does so
  WriteInplace(output, Record(input, output.sizes(), {Collective::kAllGather}));
  return RecordedWork({output});
}

Work LazyplusBackend::allgather_into_tensor_coalesced(Tensors& outputs, Tensors& inputs,
                                                      const c10d::AllgatherOptions& opts) {
  if (!OnLazyplus(inputs)) return gloo_->allgather_into_tensor_coalesced(outputs, inputs, opts);
  TORCH_CHECK(outputs.size() == inputs.size(), "ProcessGroupGloo::allgather_into_tensor_coalesced: requires "
                                               "input/output tensor lists to have the same length");
  for (size_t i = 0; i < inputs.size(); ++i) _allgather_base(outputs[i], inputs[i], opts);
  return RecordedWork(outputs);
}

Work LazyplusBackend::reduce_scatter(Tensors& outputs, std::vector<Tensors>& inputs,
                                     const c10d::ReduceScatterOptions& opts) {
  if (!OnLazyplus(outputs)) return gloo_->reduce_scatter(outputs, inputs, opts);
  auto invalid = GlooCheck("reduce_scatter");
  c10d::assertSingleElementOutput(invalid, outputs);
  if (inputs.size() != 1 || static_cast<int>(inputs[0].size()) != size_) {
    invalid(c10::str("requires a single list of ", size_, " input tensors"));
  }
  c10d::assertTypeAndSizesMatch(invalid, inputs[0], outputs[0].options(), outputs[0].sizes());
  CheckReduceOp(opts.reduceOp, outputs[0]);
  CollectiveArgs args = Reducing(Collective::kReduceScatter, opts.reduceOp);
  at::Tensor stacked = at::stack(inputs[0]);
  WriteInplace(outputs[0], Record(stacked.flatten(0, std::min<int64_t>(1, stacked.dim() - 1)),
                                  outputs[0].sizes(), args));
  return RecordedWork(outputs);
}

Work LazyplusBackend::_reduce_scatter_base(at::Tensor& output, at::Tensor& input,
                                           const c10d::ReduceScatterOptions& opts) {
  if (!OnLazyplus({input})) return gloo_->_reduce_scatter_base(output, input, opts);
  CheckReduceScatterBase(output, input, size_);
  CheckReduceOp(opts.reduceOp, input);
  CollectiveArgs args = Reducing(Collective::kReduceScatter, opts.reduceOp);
  WriteInplace(output, Record(input, output.sizes(), args));
  return RecordedWork({output});
}

Work LazyplusBackend::reduce_scatter_tensor_coalesced(Tensors& outputs, Tensors& inputs,
                                                      const c10d::ReduceScatterOptions& opts) {
  if (!OnLazyplus(inputs)) return gloo_->reduce_scatter_tensor_coalesced(outputs, inputs, opts);
  TORCH_CHECK(outputs.size() == inputs.size(), "ProcessGroupGloo::reduce_scatter_tensor_coalesced: requires "
                                               "input/output tensor lists to have the same length");
  for (size_t i = 0; i < inputs.size(); ++i) _reduce_scatter_base(outputs[i], inputs[i], opts);
  return RecordedWork(outputs);
}

Work LazyplusBackend::alltoall_base(at::Tensor& output, at::Tensor& input, std::vector<int64_t>& output_splits,
                                    std::vector<int64_t>& input_splits, const c10d::AllToAllOptions& opts) {
  if (!OnLazyplus({input})) return gloo_->alltoall_base(output, input, output_splits, input_splits, opts);
  CheckSameType(GlooCheck("alltoall_base"), output.options(), {input});
  c10d::checkSplitSizes(input_splits, input, size_);
  c10d::checkSplitSizes(output_splits, output, size_);
  TORCH_CHECK(!input_splits.empty() || !output_splits.empty() || input.numel() == output.numel(),
              "ProcessGroupGloo::alltoall_base: input and output sizes differ (", input.numel(), " vs. ",
              output.numel(), ")");
  CollectiveArgs args{Collective::kAllToAll};
  args.output_splits = output_splits;
  args.input_splits = input_splits;
  WriteInplace(output, Record(input, output.sizes(), args));
  return RecordedWork({output});
}

// One all_to_all of the inputs end to end (gloo takes parts of one size).
Work LazyplusBackend::alltoall(Tensors& outputs, Tensors& inputs, const c10d::AllToAllOptions& opts) {
  if (!OnLazyplus(inputs)) return gloo_->alltoall(outputs, inputs, opts);
  auto invalid = GlooCheck("alltoall");
  if (static_cast<int>(inputs.size()) != size_ || static_cast<int>(outputs.size()) != size_) {
    invalid(c10::str("requires ", size_, " input and output tensors"));
  }
  c10d::assertTypeAndSizesMatch(invalid, inputs, inputs[0].options(), inputs[0].sizes());
  c10d::assertTypeAndSizesMatch(invalid, outputs, inputs[0].options(), inputs[0].sizes());
  CollectiveArgs args{Collective::kAllToAll};
  args.output_splits = Numels(outputs);
  args.input_splits = Numels(inputs);
  int64_t total = 0;
  for (int64_t n : args.output_splits) total += n;
  WriteParts(outputs, Record(Concatenated(inputs), {total}, args));
  return RecordedWork(outputs);
}

Work LazyplusBackend::reduce(Tensors& tensors, const c10d::ReduceOptions& opts) {
  if (!OnLazyplus(tensors)) return gloo_->reduce(tensors, opts);
  RunRecordedFirst("reduce");
  Tensors host = HostCopies(tensors);
  return c10::make_intrusive<HostWork>(gloo_->reduce(host, opts), tensors, host);
}

Work LazyplusBackend::gather(std::vector<Tensors>& outputs, Tensors& inputs, const c10d::GatherOptions& opts) {
  if (!OnLazyplus(inputs)) return gloo_->gather(outputs, inputs, opts);
  RunRecordedFirst("gather");
  Tensors host_inputs = HostCopies(inputs), lazy_outputs = Flat(outputs), host_outputs = HostLike(lazy_outputs);
  std::vector<Tensors> host_lists = Regrouped(host_outputs, outputs);
  return c10::make_intrusive<HostWork>(gloo_->gather(host_lists, host_inputs, opts), lazy_outputs, host_outputs);
}

Work LazyplusBackend::scatter(Tensors& outputs, std::vector<Tensors>& inputs, const c10d::ScatterOptions& opts) {
  if (!OnLazyplus(outputs)) return gloo_->scatter(outputs, inputs, opts);
  RunRecordedFirst("scatter");
  std::vector<Tensors> host_inputs = Regrouped(HostCopies(Flat(inputs)), inputs);
  Tensors host_outputs = HostLike(outputs);
  return c10::make_intrusive<HostWork>(gloo_->scatter(host_outputs, host_inputs, opts), outputs, host_outputs);
}

Work LazyplusBackend::send(Tensors& tensors, int dst, int tag) {
  if (!OnLazyplus(tensors)) return gloo_->send(tensors, dst, tag);
  RunRecordedFirst("send");
  Tensors host = HostCopies(tensors);
  return gloo_->send(host, dst, tag);  // its Work holds the host copies until they are sent
}

Work LazyplusBackend::recv(Tensors& tensors, int src, int tag) {
  if (!OnLazyplus(tensors)) return gloo_->recv(tensors, src, tag);
  RunRecordedFirst("recv");
  Tensors host = HostLike(tensors);
  return c10::make_intrusive<HostWork>(gloo_->recv(host, src, tag), tensors, host);
}

Work LazyplusBackend::recvAnysource(Tensors& tensors, int tag) {
  if (!OnLazyplus(tensors)) return gloo_->recvAnysource(tensors, tag);
  RunRecordedFirst("recv");
  Tensors host = HostLike(tensors);
  return c10::make_intrusive<HostWork>(gloo_->recvAnysource(host, tag), tensors, host);
}

Work LazyplusBackend::barrier(const c10d::BarrierOptions& opts) {
  RunRecordedFirst("barrier");
  return gloo_->barrier(opts);
}

void LazyplusBackend::monitoredBarrier(const c10d::BarrierOptions& opts, bool wait_all_ranks) {
  RunRecordedFirst("monitored_barrier");
  gloo_->monitoredBarrier(opts, wait_all_ranks);
}

}  // namespace lazyplus
