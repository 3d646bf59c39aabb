"""Several Python threads may record and sync at once. Recording an op and a sync exclude each other,
so a sync on any thread runs every op recorded so far, complete, on every thread: each thread's values
are what it would compute alone."""
import threading

import torch
import torch.nn.functional as F

import torch_lazyplus

DEV = "lazyplus"


def train(device, seed, steps=40):
    """A seeded MLP trained with SGD and momentum, reading the loss every step (a sync per step)."""
    g = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = torch.randn(64, 16, generator=g).to(device), torch.randint(4, (64,), generator=g).to(device)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def in_threads(fn, seeds):
    results, errors = {}, []

    def run(seed):
        try:
            results[seed] = fn(seed)
        except Exception as e:  # surfaced below, with the seed
            errors.append((seed, e))

    threads = [threading.Thread(target=run, args=(s,)) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_threads_training_at_once_get_the_losses_each_gets_alone():
    """Four threads, three rounds: before every read and write of a lazy tensor took the recording lock,
    3 of 48 thread-runs of this probe lost an update to another thread's sync."""
    seeds = range(4)
    alone = {s: train(DEV, s) for s in seeds}
    for s in seeds:
        torch.testing.assert_close(torch.tensor(alone[s]), torch.tensor(train("cpu", s)), rtol=1e-6, atol=0)
    for _ in range(3):
        together = in_threads(lambda s: train(DEV, s), seeds)
        for s in seeds:
            assert together[s] == alone[s], (s, together[s], alone[s])


def test_a_sync_on_one_thread_computes_what_another_recorded():
    """Thread 2 syncs while thread 1's tensor is pending: thread 1 then reads its own value."""
    x = torch.arange(6.0, device=DEV) * 2
    in_threads(lambda _: torch_lazyplus.sync(), [0])
    assert torch_lazyplus._C._num_pending() == 0
    assert x.cpu().tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]


def test_threads_running_attention_at_once_get_what_each_gets_alone():
    """The attention kernels' scratch is per thread: four threads' attention and its gradients, at once,
    equal what each computes alone."""
    def attend(seed):
        g = torch.Generator().manual_seed(seed)
        q, k, v, grad_out = (torch.randn(4, 2, 24, 16, generator=g).to(DEV) for _ in range(4))
        leaves = [t.requires_grad_() for t in (q, k, v)]
        out = F.scaled_dot_product_attention(*leaves, is_causal=True)
        return [t.cpu() for t in (out.detach(), *torch.autograd.grad(out, leaves, grad_out))]

    seeds = range(4)
    alone = {s: attend(s) for s in seeds}
    for _ in range(3):
        together = in_threads(attend, seeds)
        for s in seeds:
            assert all(torch.equal(a, b) for a, b in zip(together[s], alone[s], strict=True)), s


def test_threads_running_layer_norm_backward_at_once_get_what_each_gets_alone():
    """Layer norm's backward sums each part of the rows in per-thread scratch: four threads' gradients,
    at once, equal what each computes alone."""
    def norm_grads(seed):
        g = torch.Generator().manual_seed(seed)
        x, grad_out = (torch.randn(64, 48, generator=g).to(DEV) for _ in range(2))
        weight, bias = (torch.randn(48, generator=g).to(DEV).requires_grad_() for _ in range(2))
        x.requires_grad_()
        out = F.layer_norm(x, (48,), weight, bias)
        return [t.cpu() for t in torch.autograd.grad(out, (x, weight, bias), grad_out)]

    seeds = range(4)
    alone = {s: norm_grads(s) for s in seeds}
    for _ in range(3):
        together = in_threads(norm_grads, seeds)
        for s in seeds:
            assert all(torch.equal(a, b) for a, b in zip(together[s], alone[s], strict=True)), s
