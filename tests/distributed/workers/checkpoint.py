"""torch.distributed.checkpoint from lazyplus ranks: `save` writes an FSDP-sharded model's state (and,
from rank 0, its full parameters as the reference); `load` reads it into an FSDP model sharded over
this run's world size and reports whether every parameter equals the reference."""
import os

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp

import common
from train_ddp import parallel
from train_gpt import GPT


def body(rank, world, mode, directory):
    torch.manual_seed(0 if mode == "save" else 1)  # the loading model starts from other values
    model = parallel(GPT(30, 32).to("lazyplus"), "lazyplus", fsdp=True)
    reference = os.path.join(directory, "reference.pt")
    if mode == "save":
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1.5).add_(0.25)
        dcp.save(model.state_dict(), checkpoint_id=os.path.join(directory, "checkpoint"))
        full = {k: v.full_tensor().cpu() for k, v in model.state_dict().items()}
        if rank == 0:
            torch.save(full, reference)
        return {"saved": len(full)}
    state = model.state_dict()
    dcp.load(state, checkpoint_id=os.path.join(directory, "checkpoint"))
    model.load_state_dict(state)
    full, expected = {k: v.full_tensor().cpu() for k, v in model.state_dict().items()}, torch.load(reference)
    return {"equal": {k: torch.equal(full[k], expected[k]) for k in expected}}


if __name__ == "__main__":
    common.run(body)
