"""PyTorch's module database (common_modules.module_db), float32, in training and in evaluation mode,
under both lowerings: every module on lazyplus gives the CPU's forward outputs, gradients of its inputs
and parameters, and buffers after the step (batch norm's running statistics).

The CPU module is built first; the lazyplus module is a deep copy moved with ``.to("lazyplus")``, lazy
modules (``nn.LazyLinear`` ...) too: ``.to()`` moves each parameter object in place, an
``UninitializedParameter`` included, as it does for CUDA.
"""
import copy

import pytest
import torch
from torch.nn.modules.lazy import LazyModuleMixin
from torch.testing._internal.common_modules import module_db
from torch.utils._pytree import tree_flatten, tree_map

pytestmark = pytest.mark.usefixtures("each_lowering")

# Modules that fail today, with the reason. They run and must keep failing (xfail strict).
KNOWN_FAILURES = {}


def _to(device, tree):
    def move(t):
        return t.detach().to(device).requires_grad_(t.requires_grad) if isinstance(t, torch.Tensor) else t
    return tree_map(move, tree)


def _step(module, args, kwargs):
    """Forward, then backward of every differentiable output with all-ones gradients. Returns the
    outputs, the gradients of the inputs and parameters, and the buffers, all on the CPU."""
    outputs = [o for o in tree_flatten(module(*args, **kwargs))[0] if isinstance(o, torch.Tensor)]
    differentiable = [o for o in outputs if o.requires_grad]
    leaves = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor) and t.requires_grad]
    leaves += [p for p in module.parameters() if p.requires_grad]
    grads = []
    if differentiable and leaves:
        grads = torch.autograd.grad(differentiable, leaves, [torch.ones_like(o) for o in differentiable],
                                    allow_unused=True)
    return tree_map(lambda t: t.cpu() if isinstance(t, torch.Tensor) else t,
                    (outputs, list(grads), list(module.buffers())))


def _module_pair(info, module_input, training):
    """The module on the CPU and an equal one on lazyplus. A lazy module takes its shapes from its first
    input, so both run it once, and the lazyplus one then takes the CPU's values."""
    args, kwargs = module_input.constructor_input.args, module_input.constructor_input.kwargs
    torch.manual_seed(0)
    cpu = info.module_cls(*args, **kwargs).float().train(training)
    lazy = copy.deepcopy(cpu).to("lazyplus")
    if issubclass(info.module_cls, LazyModuleMixin):
        forward = module_input.forward_input
        with torch.no_grad():
            cpu(*_to("cpu", forward.args), **_to("cpu", forward.kwargs))
            lazy(*_to("lazyplus", forward.args), **_to("lazyplus", forward.kwargs))
        lazy.load_state_dict(cpu.state_dict())
    return cpu, lazy


def _cases():
    for info in module_db:
        name = info.formatted_name
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[name])] if name in KNOWN_FAILURES else []
        yield pytest.param(info, id=name, marks=marks)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("info", _cases())
def test_module_matches_cpu(info, training):
    module_inputs = info.module_inputs_func(info, device="cpu", dtype=torch.float32, requires_grad=True,
                                            training=training)
    checked = 0
    for module_input in module_inputs:
        if module_input.forward_input is None:
            continue
        cpu, lazy = _module_pair(info, module_input, training)
        forward = module_input.forward_input
        torch.manual_seed(1)  # dropout draws the same masks on both devices
        expected = _step(cpu, _to("cpu", forward.args), _to("cpu", forward.kwargs))
        torch.manual_seed(1)
        actual = _step(lazy, _to("lazyplus", forward.args), _to("lazyplus", forward.kwargs))
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5, equal_nan=True)
        checked += 1
    assert checked > 0, f"{info.formatted_name} has no sample with a forward input"
