"""What every worker shares: it joins the group torchrun's environment describes, runs its body, and
writes what the body returns to <out_dir>/rank<r>.json (argv[1])."""
import json
import os
import sys
from datetime import timedelta

import torch.distributed as dist

import torch_lazyplus  # noqa: F401  (the "lazyplus" device and c10d backend)


def run(body, backend="cpu:gloo,lazyplus:lazyplus", timeout_s=60, teardown=True):
    """`body(rank, world, *argv[2:])`; `teardown=False` leaves at once after writing (a broken group)."""
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    rank, world = dist.get_rank(), dist.get_world_size()
    result = body(rank, world, *sys.argv[2:])
    with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as f:
        json.dump(result, f)
    if not teardown:
        os._exit(0)
    # A rank that tears its group down while a peer's gloo threads still run can abort that peer at exit.
    dist.barrier()
    dist.destroy_process_group()
