"""Ranks that call a collective with different shapes, under TORCH_DISTRIBUTED_DEBUG=DETAIL: PyTorch's
checking wrapper raises its mismatch error at the call, on lazyplus as on CPU tensors (without it, gloo
aborts a rank on either device: its transport thread throws)."""
import torch
import torch.distributed as dist

import common


def error_of(device, rank):
    try:
        dist.all_reduce(torch.ones(4 + rank, device=device))
    except RuntimeError as e:
        return str(e).split("TensorDeviceTypes")[0]  # the device types differ, as they should
    return None


def body(rank, world):
    return {device: error_of(device, rank) for device in ("cpu", "lazyplus")}


if __name__ == "__main__":
    common.run(body)
