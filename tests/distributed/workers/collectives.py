"""Every collective on lazyplus tensors and on CPU tensors (gloo) with the same inputs, in one group
("cpu:gloo,lazyplus:lazyplus"): reports, per case, whether the lazyplus results equal the CPU's."""
import torch
import torch.distributed as dist

import common
import torch_lazyplus

OPS = dist.ReduceOp


def cases(rank, world):
    """name -> fn(device) -> the tensors the collective produced, in order."""
    def ranked(*shape, dtype=torch.float32):  # different on every rank, the same on every device
        return lambda device: (torch.arange(torch.Size(shape).numel()).reshape(shape) * (rank + 2) - 3).to(dtype) \
            .to(device)

    def all_reduce(op, dtype):
        def fn(device):
            t = ranked(3, 4, dtype=dtype)(device)
            dist.all_reduce(t, op)
            return [t]
        return fn

    def all_reduce_of_a_view(device):
        base = ranked(4, 6)(device)
        view = base[1:, ::2]
        if device == "cpu":  # gloo reduces the contiguous memory at a strided view's start (torch 2.13)
            dense = view.contiguous()
            dist.all_reduce(dense)
            view.copy_(dense)
        else:
            dist.all_reduce(view)
        return [base]  # the elements outside the view kept their values

    def broadcast(device):
        t = ranked(5)(device)
        dist.broadcast(t, src=world - 1)
        return [t]

    def all_gather(device):
        outs = [torch.empty(2, 3, device=device) for _ in range(world)]
        dist.all_gather(outs, ranked(2, 3)(device))
        return outs

    def all_gather_into_tensor(device):
        out = torch.empty(world * 2, 3, device=device)
        dist.all_gather_into_tensor(out, ranked(2, 3)(device))
        return [out]

    def reduce_scatter(device):
        out = torch.empty(3, device=device)
        dist.reduce_scatter(out, [ranked(3)(device) * (p + 1) for p in range(world)])
        return [out]

    def reduce_scatter_tensor(op):
        def fn(device):
            out = torch.empty(2, 2, device=device)
            dist.reduce_scatter_tensor(out, ranked(2 * world, 2)(device), op)
            return [out]
        return fn

    def all_to_all(device):  # part p goes to rank p
        outs = [torch.empty(2, 3, device=device) for p in range(world)]
        dist.all_to_all(outs, [ranked(2, 3)(device) + p for p in range(world)])
        return outs

    def all_to_all_single(device):
        splits = [rank + p + 1 for p in range(world)]
        out = torch.empty(sum(splits), 2, device=device)
        dist.all_to_all_single(out, ranked(sum(splits), 2)(device), splits, splits)
        return [out]

    def async_work(device):
        t, u = ranked(4)(device), ranked(4)(device)
        work = dist.all_reduce(t, async_op=True)
        work.wait()
        future = dist.all_reduce(u, OPS.MAX, async_op=True).get_future()
        return [t, future.wait()[0]]

    def reduce(device):
        t = ranked(3)(device)
        dist.reduce(t, dst=0)
        return [t] if rank == 0 else []  # gloo leaves the others' input undefined

    def gather(device):
        outs = [torch.empty(3, device=device) for _ in range(world)] if rank == 0 else None
        dist.gather(ranked(3)(device), outs, dst=0)
        return outs or []

    def scatter(device):
        out = torch.empty(3, device=device)
        dist.scatter(out, [ranked(3)(device) + p for p in range(world)] if rank == 0 else None, src=0)
        return [out]

    def point_to_point(device):  # a ring: each rank sends to the next, receives from the one before
        t, received = ranked(4)(device), torch.empty(4, device=device)
        works = [dist.isend(t, (rank + 1) % world), dist.irecv(received, (rank - 1) % world)]
        for w in works:
            w.wait()
        return [received]

    table = {f"all_reduce {op} {dtype}": all_reduce(getattr(OPS, op), dtype)
             for op in ["SUM", "PRODUCT", "MIN", "MAX", "AVG"] for dtype in [torch.float32, torch.float64]}
    table.update({f"all_reduce {op} int64": all_reduce(getattr(OPS, op), torch.int64)
                  for op in ["SUM", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"]})
    table.update({f"reduce_scatter_tensor {op}": reduce_scatter_tensor(getattr(OPS, op)) for op in ["SUM", "MAX"]})
    for fn in [all_reduce_of_a_view, broadcast, all_gather, all_gather_into_tensor, reduce_scatter, all_to_all,
               all_to_all_single, async_work, reduce, gather, scatter, point_to_point]:
        table[fn.__name__] = fn
    return table


def recorded_collectives_do_not_sync(rank, world):
    torch_lazyplus.sync()
    torch_lazyplus.metrics.reset()
    t = torch.ones(3, device="lazyplus") * (rank + 1)
    dist.all_reduce(t)
    dist.all_reduce(t, OPS.MAX)
    before = torch_lazyplus.metrics.counters()
    value = t.cpu()
    return {"syncs_before_read": before.get("Sync", 0), "recorded": before.get("lazy::collective", 0),
            "value": value.tolist(), "expected": [float(world * (world + 1) / 2)] * 3}


def dropped_results_still_run_in_call_order(rank, world):
    """Rank 1 drops the result of its first all_reduce: the collective still runs, before the second."""
    first = torch.ones(4, device="lazyplus")
    dist.all_reduce(first)
    if rank == 1:
        del first
    second = torch.full((1000,), 2.0, device="lazyplus")
    dist.all_reduce(second)
    values = second.cpu().unique().tolist()
    if rank != 1:
        values += first.cpu().unique().tolist()
    return values


def eager_collectives_sync_first(rank, world):
    torch_lazyplus.debug.clear_explain()
    t = torch.ones(2, device="lazyplus") + rank  # pending when the send comes
    if rank == 0:
        dist.send(t, 1)
    elif rank == 1:
        dist.recv(t, 0)
    dist.barrier()
    return [e["cause"] for e in torch_lazyplus.debug.explain() if e["kind"] == "sync"]


def body(rank, world):
    results = {}
    for name, fn in cases(rank, world).items():
        lazy = [t.cpu() for t in fn("lazyplus")]
        cpu = fn("cpu")
        results[name] = len(lazy) == len(cpu) and all(torch.equal(a, b) for a, b in zip(lazy, cpu))
    return {"cases": results, "recorded": recorded_collectives_do_not_sync(rank, world),
            "dropped": dropped_results_still_run_in_call_order(rank, world),
            "sync_causes": eager_collectives_sync_first(rank, world)}


if __name__ == "__main__":
    common.run(body, timeout_s=20)
