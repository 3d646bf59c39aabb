"""The README demo's GPT trained with DistributedDataParallel (or FSDP), one process per share of each batch.

Every process draws the same seeded batch and trains on its share; DDP averages the gradients with
all_reduce, so the run matches one process training on the whole batch (train_gpt.py's run). With
--fsdp, `fully_shard` shards each block's parameters (all_gather before use, reduce_scatter of the
gradients) instead. On lazyplus the collectives are recorded into the step's graph, which runs at the
step's one sync (`loss.item()`); with --device cpu the same script runs on CPU tensors over gloo.

Run: torchrun --nproc-per-node 2 examples/train_ddp.py [--device lazyplus|cpu] [--fsdp] [--steps 50]
"""
import argparse
import json
import time

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.nn.parallel import DistributedDataParallel

import torch_lazyplus

from train_gpt import GPT, batch, load_text, optimizer, step

BACKENDS = {"lazyplus": "lazyplus", "cpu": "gloo"}


def parallel(model, device, fsdp):
    if not fsdp:
        return DistributedDataParallel(model)
    mesh = init_device_mesh(device, (dist.get_world_size(),))
    for block in model.blocks:
        fully_shard(block, mesh=mesh)
    return fully_shard(model, mesh=mesh)


def train(device, steps=50, batch_size=16, block_size=32, seed=0, times=None, fsdp=False):
    """This rank's run: the mean loss over all ranks per step, and the trained model."""
    rank, world = dist.get_rank(), dist.get_world_size()
    assert batch_size % world == 0, f"the batch ({batch_size}) must split evenly over {world} processes"
    share = slice(rank * batch_size // world, (rank + 1) * batch_size // world)
    data, vocab = load_text()
    torch.manual_seed(seed)
    model = parallel(GPT(len(vocab), block_size).to(device), device, fsdp)
    opt, schedule = optimizer(model, steps)
    batches = torch.Generator().manual_seed(seed)  # every rank draws the whole batch, as train_gpt.py
    losses = []
    for _ in range(steps):
        start = time.perf_counter()
        offsets = torch.randint(len(data) - block_size - 1, (batch_size,), generator=batches)[share]
        loss = step(model, opt, *batch(data, offsets, block_size, device)).detach().clone()
        schedule.step()
        dist.all_reduce(loss)
        losses.append(loss.item() / world)  # the step's only sync
        if times is not None:
            times.append(time.perf_counter() - start)
    return losses, model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=sorted(BACKENDS), default="lazyplus")
    parser.add_argument("--fsdp", action="store_true", help="fully_shard each block and the model, not DDP")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--json", help="rank 0 writes its losses, step times and graph counts here")
    parser.add_argument("--save", help="rank 0 saves the trained parameters (on the CPU) here")
    args = parser.parse_args()

    dist.init_process_group(BACKENDS[args.device])
    warmup = min(5, args.steps - 1)
    steps = _Steps()
    losses, model = train(args.device, args.steps, args.batch, times=steps, fsdp=args.fsdp)
    # Every rank takes part in gathering FSDP's shards.
    params = {k: (v.full_tensor() if args.fsdp else v).cpu() for k, v in model.state_dict().items()}
    if dist.get_rank() == 0:
        times = [seconds for seconds, _ in steps]
        median = sorted(times[warmup:])[(len(times) - warmup) // 2]
        print(f"{dist.get_world_size()} processes on {args.device} ({'FSDP' if args.fsdp else 'DDP'}), "
              f"global batch {args.batch}")
        for i in sorted({0, 1, 2, 9, len(losses) - 1} & set(range(len(losses)))):
            print(f"step {i:3d}  loss {losses[i]:.6f}")
        print(f"step time (median of steps {warmup + 1}-{len(times)}): {median * 1e3:.1f} ms; first step "
              f"{times[0] * 1e3:.0f} ms")
        graphs = compiled = None
        if args.device == "lazyplus":
            graphs, compiled = (steps.after(warmup, counter) / (len(times) - warmup)
                                for counter in ("Sync", "UncachedCompile"))
            print(f"per step after warm-up: {graphs:.2f} graphs run, {compiled:.2f} compiled")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"losses": losses, "step_times": times, "graphs_per_step": graphs,
                           "compiles_per_step": compiled, "world_size": dist.get_world_size()}, f)
        if args.save:
            torch.save({k.removeprefix("module."): v for k, v in params.items()}, args.save)
    # Without it, one run in three of the CPU gloo DDP (torch 2.13) aborted at exit ("terminate called
    # without an active exception"): a rank tore its group down while a peer's gloo threads still ran.
    dist.barrier()
    dist.destroy_process_group()


class _Steps(list):
    """train()'s step times, each noted with lazyplus's counters after the step."""

    def append(self, seconds):
        super().append((seconds, torch_lazyplus.metrics.counters()))

    def after(self, warmup, counter):
        """How much `counter` grew after the first `warmup` steps."""
        return self[-1][1].get(counter, 0) - self[warmup - 1][1].get(counter, 0)


if __name__ == "__main__":
    main()
