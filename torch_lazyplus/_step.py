"""torch_lazyplus.capture_step: a step function that, once a call recorded the same graph as an earlier one, runs as
that graph's compiled program without running its Python again."""
import collections
import functools
import threading
import warnings

import torch
from torch.nn.modules.module import register_module_forward_pre_hook
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.utils._pytree import tree_flatten, tree_unflatten

from . import _C

__all__ = ["capture_step", "CapturedStep"]

# Calls in a row with one layout that may record before a warning says the step keeps running its Python.
_RECORDINGS_BEFORE_WARNING = 4
# Recorded calls kept per layout, to find one that a new recording repeats (the paths a host read chooses).
_RECENT_RECORDINGS = 4


def _is_lazy(x):
    return isinstance(x, torch.Tensor) and x.device.type == "lazyplus"


def _flatten(args, kwargs):
    """The call's leaves and its structure: pytree's, or for tensors passed positionally alone, the
    arguments and their count (a training step's call: pytree's walk took 10 of the 27 µs a replay of
    the demo's step spent in this wrapper, 2-core EPYC)."""
    if not kwargs and all(type(x) is torch.Tensor for x in args):
        return list(args), len(args)
    return tree_flatten((args, kwargs))


def _layout(leaves, spec):
    """What a recorded step is specialized to: the structure of the arguments, each lazyplus tensor's
    layout (and which share a storage), every other value, and the modes that change what ops record."""
    storages, key = {}, [spec, torch.is_grad_enabled(), torch.is_inference_mode_enabled(),
                         torch.is_autocast_enabled("lazyplus")]
    for x in leaves:
        if isinstance(x, torch.Tensor):
            storage = x.untyped_storage() if _is_lazy(x) else None
            key.append((x.device, x.dtype, x.shape, x.stride(), x.storage_offset(), x.requires_grad,
                        storages.setdefault(storage._cdata, len(storages)) if storage is not None else None,
                        storage.nbytes() if storage is not None else None))
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


def _host_bytes(x):
    return x.detach().contiguous().view(-1).view(torch.uint8)


class _Recorded:
    """A recorded call, whether it replays (why_not is None), and what a replay checks first: the
    watched Python state, and the contents of the arguments that are not lazyplus tensors (a step
    moves them to lazyplus itself, so the recorded graph holds their values)."""

    def __init__(self, step, out_spec, leaf_kinds, values, watched, host_args, why_not):
        self.step, self.out_spec, self.leaf_kinds, self.values = step, out_spec, leaf_kinds, values
        self.watched, self.watched_values, self.why_not = watched, watched.values(), why_not
        self.host_args = [_host_bytes(x).clone() for x in host_args]

    def changed_since(self, host_args):
        """Why a replay would compute something else now; None if nothing changed."""
        if self.watched.values() != self.watched_values:
            return "a module's training mode, an optimizer's hyperparameters or the guard changed"
        if any(not torch.equal(_host_bytes(x), b) for x, b in zip(host_args, self.host_args)):
            return "an argument that is not a lazyplus tensor holds other values"
        return None

    def same_step(self, other):
        """Empty when `other` recorded the same step as this call; else how it differs."""
        if self.out_spec != other.out_spec or self.values != other.values:
            return "it returned other Python values than the call before"
        return self.step.difference(other.step)


class _LayoutSteps:
    """The recent recorded calls of one argument layout, newest first. Those that replay are its
    variants: a step whose host reads choose between paths (guard_host_reads) has one per path."""

    def __init__(self):
        self.recent = []
        self.recordings_in_a_row = 0


class CapturedStep:
    """See :func:`capture_step`. ``why_not_replayed``: why the last call ran its Python and recorded
    (None when it replayed); ``replays``: how many calls replayed."""

    def __init__(self, fn, guard=None, max_layouts=8, guard_host_reads=False):
        functools.update_wrapper(self, fn)
        self._fn, self._guard, self._max_layouts = fn, guard, max_layouts
        self._guard_host_reads = guard_host_reads
        self._lock = threading.Lock()  # one call at a time: the recorded calls are this object's state
        self._layouts = collections.OrderedDict()  # layout -> _LayoutSteps
        self._warned = False
        self.why_not_replayed = None
        self.replays = 0

    def __call__(self, *args, **kwargs):
        with self._lock:
            return self._call(args, kwargs)

    def _call(self, args, kwargs):
        leaves, spec = _flatten(args, kwargs)
        layout = _layout(leaves, spec)
        tensors = [x for x in leaves if _is_lazy(x)]
        host_args = [x for x in leaves if isinstance(x, torch.Tensor) and not _is_lazy(x)]
        if any(x.requires_grad for x in tensors):
            self.why_not_replayed = "an argument requires grad: running the step sets its .grad"
            return self._fn(*args, **kwargs)
        steps = self._layouts.setdefault(layout, _LayoutSteps())
        self._layouts.move_to_end(layout)
        while len(self._layouts) > self._max_layouts:
            self._layouts.popitem(last=False)
        trigger = None  # why a replayable step records instead
        for recorded in [r for r in steps.recent if r.why_not is None]:
            changed = recorded.changed_since(host_args)
            if changed:
                recorded.why_not = trigger = changed
                continue
            outputs, why = recorded.step.replay(tensors)
            if outputs is not None:
                steps.recent.remove(recorded)
                steps.recent.insert(0, recorded)
                steps.recordings_in_a_row = 0
                self.why_not_replayed = None
                self.replays += 1
                return self._unflatten(outputs, recorded)
            trigger = why
            if "read on the host" not in why:  # another variant may read these values
                recorded.why_not = why
        result, latest = self._record(tensors, host_args, args, kwargs)
        matches = [r for r in steps.recent if not latest.why_not and not r.same_step(latest)]
        if latest.why_not is None and not matches:
            latest.why_not = (steps.recent[0].same_step(latest) if steps.recent else
                              "it is the first call with this argument layout: once a call records the same "
                              "step, later calls replay")
        steps.recent = [latest] + [r for r in steps.recent if r not in matches][:_RECENT_RECORDINGS - 1]
        steps.recordings_in_a_row = steps.recordings_in_a_row + 1 if latest.why_not else 0
        self._warn_if_recording(steps, latest)
        self.why_not_replayed = trigger or latest.why_not or \
            "it recorded the same step as a call before: the next call replays"
        return result

    def _record(self, tensors, host_args, args, kwargs):
        """Runs the step, recording it; returns its result and the recorded call."""
        device = tensors[0].device.index if tensors else torch.lazyplus.current_device()
        recording = _C._StepRecording(device, self._guard_host_reads)
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
        latest = _Recorded(step, out_spec, leaf_kinds, values, watched, host_args, step.unreplayable or None)
        return self._unflatten(outputs, latest), latest

    def _warn_if_recording(self, steps, latest):
        """Warns once when a step keeps recording."""
        if steps.recordings_in_a_row >= _RECORDINGS_BEFORE_WARNING and not self._warned:
            self._warned = True
            warnings.warn(f"torch_lazyplus.capture_step: {getattr(self._fn, '__qualname__', self._fn)} runs its "
                          f"Python at every call: {latest.why_not}", stacklevel=4)

    @staticmethod
    def _unflatten(outputs, recorded):
        tensors, values = iter(outputs), iter(recorded.values)
        leaves = [next(tensors) if is_tensor else next(values) for is_tensor in recorded.leaf_kinds]
        return tree_unflatten(leaves, recorded.out_spec)


def capture_step(fn=None, *, guard=None, max_layouts=8, guard_host_reads=False):
    """Wraps a step function (forward, ``backward``, ``optimizer.step()``: any computation on lazyplus
    tensors) so that its calls replay one compiled program without running its Python.

    A call records as usual: ``fn`` runs, and its work syncs at the end as one graph. Once a call
    records the same graph as one of the last four calls with the same argument layout, reading the same
    tensors and the same Python numbers, later calls replay it: the program runs on the new arguments and on the current
    values of every tensor the step reads (parameters, optimizer state, tensors set outside it), and
    its results go where the recorded call wrote them (parameters, ``.grad``, optimizer state updated in
    place). Returned tensors are new tensors at every call (detached: the step does its own backward).

    Arguments: lazyplus tensors are bound anew at each call (same dtype, sizes, strides and aliasing);
    other tensors are compared by contents (the step moves them to lazyplus itself, so the graph holds
    their values); other values by equality where they hash, by identity otherwise. A lazyplus argument
    that requires grad makes every call run ``fn`` as is (running it sets that argument's ``.grad``).

    A call never replays, and ``fn`` runs as usual, where the recorded call synced or read a value on the
    host (``.item()``, printing, a CPU fallback), drew random numbers or moved host data to lazyplus;
    nor where, since it recorded, a tensor it read or wrote was replaced (``p.data = ...``, ``.grad`` set
    to None), a module it ran changed training mode, an optimizer it stepped changed a hyperparameter
    (a scheduler setting a float ``lr``), or ``guard()`` returns another value. The reason is in
    ``why_not_replayed``; a warning says so after four recordings in a row.

    Like a CUDA graph, a replay does not run the step's Python: its side effects (appending to a list,
    counting calls) do not happen, and other Python numbers the step
    reads (a loss weight from a closure, a branch on a counter) must go in ``guard`` (a function
    returning them) or in tensors. Values that change at every call belong in tensors: Adam's bias
    correction with ``capturable=True``, a scheduled learning rate as ``lr=torch.tensor(...)``;
    otherwise every call records (correct, no faster). ``max_layouts`` argument layouts (batch
    sizes, say) keep their recorded step, least recently used first out.

    ``guard_host_reads=True`` lets a step that reads values on the host replay (a model that checks
    ``mask.all()`` to choose a path, as Hugging Face's attention masks do): the graphs before each read
    run first and the step replays only if every value read is the recorded one; otherwise nothing was
    written and ``fn`` runs. The Python that used those values does not run at a replay, so values read
    for a side effect (logging a loss) stay outside the step. A read after the step wrote a tensor it did
    not make (a parameter, an optimizer state) still prevents replays."""
    if fn is None:
        return functools.partial(capture_step, guard=guard, max_layouts=max_layouts, guard_host_reads=guard_host_reads)
    return CapturedStep(fn, guard, max_layouts, guard_host_reads)
