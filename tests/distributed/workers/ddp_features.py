"""DDP's features on lazyplus against CPU gloo DDP in the same processes (one group serves both devices):
several gradient buckets, gradient accumulation under no_sync(), find_unused_parameters, buffers
broadcast from rank 0. Reports the largest differences and the graphs each lazyplus step ran."""
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import common
import torch_lazyplus


class Net(nn.Module):
    def __init__(self, with_unused):
        super().__init__()
        self.a, self.b = nn.Linear(16, 64), nn.Linear(64, 4)
        self.unused = nn.Linear(16, 4) if with_unused else None  # gets no gradient
        self.norm = nn.BatchNorm1d(64)  # running statistics: buffers DDP broadcasts each forward

    def forward(self, x):
        return self.b(F.relu(self.norm(self.a(x))))


def train(device, rank, find_unused, accumulate, steps=4):
    torch.manual_seed(0)
    model = DistributedDataParallel(Net(find_unused).to(device), find_unused_parameters=find_unused,
                                    bucket_cap_mb=0.004)  # a few KB: several buckets
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    data = torch.Generator().manual_seed(100 + rank)  # each rank its own data
    losses, graphs = [], []
    for _ in range(steps):
        syncs = torch_lazyplus.metrics.counters().get("Sync", 0)
        micro = [(torch.randn(8, 16, generator=data), torch.randn(8, 4, generator=data)) for _ in range(accumulate)]
        for i, (x, y) in enumerate(micro):
            loss = F.mse_loss(model(x.to(device)), y.to(device))
            if i < accumulate - 1:
                with model.no_sync():
                    loss.backward()
            else:
                loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
        graphs.append(torch_lazyplus.metrics.counters().get("Sync", 0) - syncs)
    state = {k: v.detach().cpu() for k, v in model.module.state_dict().items()}
    return losses, state, graphs


def body(rank, world):
    results = {}
    for find_unused in (False, True):
        for accumulate in (1, 3):
            lazy_losses, lazy_state, graphs = train("lazyplus", rank, find_unused, accumulate)
            cpu_losses, cpu_state, _ = train("cpu", rank, find_unused, accumulate)
            results[f"find_unused={find_unused} accumulate={accumulate}"] = {
                "loss_difference": max(abs(a - b) for a, b in zip(lazy_losses, cpu_losses)),
                "state_difference": max((lazy_state[k].double() - cpu_state[k].double()).abs().max().item()
                                        for k in cpu_state),
                "graphs_per_step": graphs,
            }
    return results


if __name__ == "__main__":
    common.run(body)
