"""Mistakes in collective calls on lazyplus tensors: each raises at the call, with gloo's error for the
same call on CPU tensors, and leaves the tensors as they were (nothing is recorded)."""
import torch
import torch.distributed as dist

import common
import torch_lazyplus

OPS = dist.ReduceOp


def mistakes(world):
    """name -> fn(device, group) that makes the mistake."""
    return {
        "all_gather into a wrong size": lambda d, g: dist.all_gather([torch.empty(5, device=d)] * world,
                                                                     torch.ones(4, device=d), group=g),
        "all_gather into a wrong dtype": lambda d, g: dist.all_gather(
            [torch.empty(4, dtype=torch.float64, device=d)] * world, torch.ones(4, device=d), group=g),
        "all_gather into too few tensors": lambda d, g: dist.all_gather(
            [torch.empty(4, device=d)] * (world + 1), torch.ones(4, device=d), group=g),
        "all_gather_into_tensor of a wrong size": lambda d, g: dist.all_gather_into_tensor(
            torch.empty(4 * world + 1, device=d), torch.ones(4, device=d), group=g),
        "all_to_all of unequal parts": lambda d, g: dist.all_to_all(
            [torch.empty(p + 1, device=d) for p in range(world)], [torch.ones(p + 1, device=d) for p in range(world)],
            group=g),
        "all_reduce BAND of floats": lambda d, g: dist.all_reduce(torch.ones(3, device=d), OPS.BAND, group=g),
        "all_reduce AVG of integers": lambda d, g: dist.all_reduce(torch.ones(3, dtype=torch.int64, device=d),
                                                                   OPS.AVG, group=g),
        "all_reduce PREMUL_SUM": lambda d, g: dist.all_reduce(torch.ones(3, device=d),
                                                              dist._make_nccl_premul_sum(2.0), group=g),
    }


def error_of(fn, device, group=None):
    try:
        fn(device, group)
    except Exception as e:  # noqa: BLE001  (the type is part of what must match)
        message = str(e).splitlines()[0].replace("lazyplus:0", "cpu").replace("lazyplus", "cpu")
        return f"{type(e).__name__}: {message}"
    return None


def body(rank, world):
    # gloo's CPU mistakes fail in its worker threads, and a failed work can still count as in progress when
    # the closing barrier starts, which then raises its error: they run in a group of their own.
    cpu_group = dist.new_group(backend="gloo")
    same, at_the_call = {}, {}
    for name, fn in mistakes(world).items():
        torch_lazyplus.sync()
        pending = torch_lazyplus._C._num_pending()
        lazy, cpu = error_of(fn, "lazyplus"), error_of(fn, "cpu", cpu_group)
        same[name] = [lazy, cpu]
        at_the_call[name] = torch_lazyplus._C._num_pending() == pending  # nothing recorded
    t = torch.arange(4.0, device="lazyplus")
    mixed = error_of(lambda d, g: dist.all_gather([torch.empty(4)] * world, t), "lazyplus")
    return {"errors": same, "nothing_recorded": at_the_call, "mixed_devices": mixed, "unchanged": t.tolist()}


if __name__ == "__main__":
    common.run(body)
