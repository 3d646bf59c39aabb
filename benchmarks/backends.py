"""The ways of running a PyTorch function that the benchmarks compare.

Each backend moves inputs to its device, wraps the model (torch.compile for inductor) or the whole step
(torch_lazyplus.capture_step for lazyplus_capture, which also wants optimizers `capturable`) and waits
for results (a sync for the lazy backends, waiting for the program it launched). A lazy backend's time
therefore includes tracing, the graph cache lookup and execution, not the copy back to the CPU.
"""
import torch


class Backend:
    name = ""
    device = "cpu"
    capturable = False  # the optimizers' `capturable` flag: Adam's step count in a device tensor

    def to(self, x):
        return x.to(self.device) if isinstance(x, (torch.Tensor, torch.nn.Module)) else x

    def wrap(self, fn):
        return fn

    def wrap_step(self, fn):
        return fn

    def sync(self):
        pass


class Eager(Backend):
    name = "eager"


class Inductor(Backend):
    name = "inductor"

    def wrap(self, fn):
        return torch.compile(fn)


class LTC(Backend):
    """PyTorch's lazy tensor core with its TorchScript backend (torch._lazy)."""
    name = "ltc_ts"
    device = "lazy"

    def __init__(self):
        import torch._lazy
        import torch._lazy.ts_backend

        torch._lazy.ts_backend.init()
        self._lazy = torch._lazy

    def sync(self):
        self._lazy.mark_step()
        self._lazy.wait_device_ops()


class Lazyplus(Backend):
    name = "lazyplus"
    device = "lazyplus"

    def __init__(self):
        import torch_lazyplus

        self._lp = torch_lazyplus

    def sync(self):
        torch.lazyplus.synchronize()  # runs the pending graph and waits for it (a sync alone returns at once)


class LazyplusCapture(Lazyplus):
    """lazyplus with the step in torch_lazyplus.capture_step: replayed without its Python (host reads
    as guards: Hugging Face's BERT checks its padding mask on the host)."""
    name = "lazyplus_capture"
    capturable = True

    def __init__(self):
        super().__init__()
        self.captured = []

    def wrap_step(self, fn):
        self.captured.append(self._lp.capture_step(fn, guard_host_reads=True))
        return self.captured[-1]


BACKENDS = [Eager, Lazyplus, LazyplusCapture, Inductor, LTC]


def all_backends():
    return [b() for b in BACKENDS]


def backend_named(name):
    return next(b for b in BACKENDS if b.name == name)()
