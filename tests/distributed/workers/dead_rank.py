"""A peer that is gone (`dies`: exits after joining) or silent (`silent`: never calls the collective):
rank 0's recorded all_reduce raises when its value is read, within the group's timeout."""
import os
import time

import torch
import torch.distributed as dist

import common

TIMEOUT_S = 5


def body(rank, world, mode):
    if rank != 0:
        if mode == "dies":
            os._exit(3)
        time.sleep(TIMEOUT_S + 10)
        os._exit(0)
    t = torch.ones(3, device="lazyplus")
    dist.all_reduce(t)
    start = time.monotonic()
    try:
        t.cpu()
        error = None
    except RuntimeError as e:
        error = str(e)
    return {"error": error, "seconds": time.monotonic() - start, "timeout": TIMEOUT_S}


if __name__ == "__main__":
    common.run(body, timeout_s=TIMEOUT_S, teardown=False)
