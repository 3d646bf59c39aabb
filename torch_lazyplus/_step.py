"""torch_lazyplus.capture_step: a step function that, once two calls recorded the same graph, runs as
that graph's compiled program without running its Python again."""
import collections
import functools
import warnings

import torch
from torch.nn.modules.module import register_module_forward_pre_hook
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.utils._pytree import tree_flatten, tree_unflatten

from . import _C

__all__ = ["capture_step", "CapturedStep"]

# Calls in a row with one layout that may record before a warning says the step keeps running its Python.
_RECORDINGS_BEFORE_WARNING = 4


def _is_lazy(x):
    return isinstance(x, torch.Tensor) and x.device.type == "lazyplus"


def _layout(leaves, spec):
    """What a recorded step is specialized to: the structure of the arguments, each lazyplus tensor's
    layout (and which share a storage), every other value, and the modes that change what ops record."""
    storages, key = {}, [spec, torch.is_grad_enabled(), torch.is_inference_mode_enabled(),
                         torch.is_autocast_enabled("lazyplus")]
    for x in leaves:
        if isinstance(x, torch.Tensor):
            storage = x.untyped_storage()._cdata if _is_lazy(x) else None
            key.append((x.device, x.dtype, x.shape, x.stride(), x.storage_offset(), x.requires_grad,
                        storages.setdefault(storage, len(storages)) if storage is not None else None,
                        x.untyped_storage().nbytes() if storage is not None else None))
        else:
            try:
                hash(x)
                key.append((type(x), x))
            except TypeError:
                key.append((type(x), id(x)))
    return tuple(key)


class _Watched:
    """Python state that changes what a step computes without changing its arguments, watched from
    one recorded call to the next replay: the training mode of every module the call ran and the
    hyperparameters of every optimizer it stepped (a scheduler setting a float ``lr``), and the
    values of the user's ``guard``."""

    def __init__(self, guard):
        self._guard, self._modules, self._optimizers, self._hooks = guard, {}, {}, []

    def __enter__(self):
        self._hooks = [register_module_forward_pre_hook(self._ran),
                       register_optimizer_step_pre_hook(self._stepped)]
        return self

    def _ran(self, module, args):
        self._modules.setdefault(id(module), module)  # returns None: the hook leaves the arguments alone

    def _stepped(self, optimizer, args, kwargs):
        self._optimizers.setdefault(id(optimizer), optimizer)

    def __exit__(self, *exc):
        for hook in self._hooks:
            hook.remove()

    def values(self):
        hyperparameters = tuple((k, v) for opt in self._optimizers.values() for group in opt.param_groups
                                for k, v in group.items() if k != "params" and not isinstance(v, torch.Tensor))
        return (tuple(m.training for m in self._modules.values()), hyperparameters,
                self._guard() if self._guard is not None else None)


class _Recorded:
    """The latest recorded call of one layout, whether it replays, and what a replay checks first."""

    def __init__(self, step, out_spec, leaf_kinds, values, watched, why_not):
        self.step, self.out_spec, self.leaf_kinds, self.values = step, out_spec, leaf_kinds, values
        self.watched, self.watched_values, self.why_not = watched, watched.values(), why_not
        self.recordings_in_a_row = 1


class CapturedStep:
    """See :func:`capture_step`. ``why_not_replayed``: why the last call ran its Python and recorded
    (None when it replayed); ``replays``: how many calls replayed."""

    def __init__(self, fn, guard=None, max_layouts=8):
        functools.update_wrapper(self, fn)
        self._fn, self._guard, self._max_layouts = fn, guard, max_layouts
        self._recorded = collections.OrderedDict()  # layout -> _Recorded
        self._warned = False
        self.why_not_replayed = None
        self.replays = 0

    def __call__(self, *args, **kwargs):
        leaves, spec = tree_flatten((args, kwargs))
        layout = _layout(leaves, spec)
        tensors = [x for x in leaves if _is_lazy(x)]
        recorded = self._recorded.get(layout)
        trigger = None  # why a replayable step records instead
        if recorded is not None and recorded.why_not is None:
            if recorded.watched.values() != recorded.watched_values:
                trigger = "a module's training mode, an optimizer's hyperparameters or the guard changed"
            else:
                outputs = recorded.step.replay(tensors)
                if outputs is not None:
                    self._recorded.move_to_end(layout)
                    self.why_not_replayed = None
                    self.replays += 1
                    return self._unflatten(outputs, recorded)
                trigger = ("a tensor the step reads or writes is no longer referenced outside it (a parameter "
                           "replaced, a .grad set to None: zero gradients inside the step)")
        result, latest = self._record(tensors, args, kwargs, recorded)
        self._remember(layout, latest)
        self.why_not_replayed = trigger or latest.why_not or \
            "it recorded the same step as the call before: the next call replays"
        return result

    def _record(self, tensors, args, kwargs, previous):
        """Runs the step, recording it; returns its result and the recorded call."""
        device = tensors[0].device.index if tensors else torch.lazyplus.current_device()
        recording = _C._StepRecording(device)
        with _Watched(self._guard) as watched:
            result = self._fn(*args, **kwargs)
        leaves, out_spec = tree_flatten(result)
        leaf_kinds = [isinstance(x, torch.Tensor) for x in leaves]
        outputs = [x.detach() for x in leaves if isinstance(x, torch.Tensor)]
        values = [x for x in leaves if not isinstance(x, torch.Tensor)]
        # The outputs' autograd graph goes first: tensors only it keeps (saved activations) are no
        # results of the step.
        del result, leaves
        step = recording.finish(tensors, outputs)
        why_not = step.unreplayable or None
        if why_not is None and previous is None:
            why_not = "its first call with these arguments records it; the next call that records the same step replays"
        elif why_not is None and (previous.out_spec != out_spec or previous.values != values):
            why_not = "it returned other Python values than the call before"
        elif why_not is None:
            why_not = previous.step.difference(step) or None
        latest = _Recorded(step, out_spec, leaf_kinds, values, watched, why_not)
        if previous is not None and why_not is not None:
            latest.recordings_in_a_row = previous.recordings_in_a_row + 1
        return self._unflatten(outputs, latest), latest

    def _remember(self, layout, latest):
        """Keeps the latest recorded call of `layout`, warning once when a step keeps recording."""
        self._recorded[layout] = latest
        self._recorded.move_to_end(layout)
        while len(self._recorded) > self._max_layouts:
            self._recorded.popitem(last=False)
        if latest.recordings_in_a_row >= _RECORDINGS_BEFORE_WARNING and not self._warned:
            self._warned = True
            warnings.warn(f"torch_lazyplus.capture_step: {getattr(self._fn, '__qualname__', self._fn)} runs its "
                          f"Python at every call: {latest.why_not}", stacklevel=4)

    @staticmethod
    def _unflatten(outputs, recorded):
        tensors, values = iter(outputs), iter(recorded.values)
        leaves = [next(tensors) if is_tensor else next(values) for is_tensor in recorded.leaf_kinds]
        return tree_unflatten(leaves, recorded.out_spec)


def capture_step(fn=None, *, guard=None, max_layouts=8):
    """Wraps a step function (forward, ``backward``, ``optimizer.step()``: any computation on lazyplus
    tensors) so that its calls replay one compiled program without running its Python.

    A call records as usual: ``fn`` runs, and its work syncs at the end as one graph. Once two calls in
    a row with the same argument layout record the same graph, reading the same tensors and the same
    Python numbers, later calls replay it: the program runs on the new arguments and on the current
    values of every tensor the step reads (parameters, optimizer state, tensors set outside it), and
    its results go where the recorded call wrote them (parameters, ``.grad``, optimizer state updated in
    place). Returned tensors are new tensors at every call (detached: the step does its own backward).

    A call never replays, and ``fn`` runs as usual, where the recorded call synced or read a value on the
    host (``.item()``, printing, a CPU fallback), drew random numbers or moved host data to lazyplus;
    nor where, since it recorded, a tensor it read or wrote was replaced (``p.data = ...``, ``.grad`` set
    to None), a module it ran changed training mode, an optimizer it stepped changed a hyperparameter
    (a scheduler setting a float ``lr``), or ``guard()`` returns another value. The reason is in
    ``why_not_replayed``; a warning says so after four recordings in a row.

    Like a CUDA graph, a replay repeats the recorded call's Python: other Python numbers the step
    reads (a loss weight from a closure, a branch on a counter) must go in ``guard`` (a function
    returning them) or in tensors. Values that change at every call belong in tensors: Adam's bias
    correction with ``capturable=True``, a scheduled learning rate as ``lr=torch.tensor(...)``;
    otherwise every call records (correct, no faster). ``max_layouts`` argument layouts (batch
    sizes, say) keep their recorded step, least recently used first out."""
    if fn is None:
        return functools.partial(capture_step, guard=guard, max_layouts=max_layouts)
    return CapturedStep(fn, guard, max_layouts)
