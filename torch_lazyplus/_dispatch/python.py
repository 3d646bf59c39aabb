"""Crossref checking of lazyplus ops against eager PyTorch, modelled on ``torch/_dispatch/python.py``.

Under :func:`enable_crossref_functionalize`, every ATen op that runs on lazyplus tensors (or that a factory
call places on lazyplus) is checked when it is traced, not at the next sync:

* metadata: each output's sizes, dtype, device type and significant strides (strides of dimensions of
  size 1 do not count) must match a FakeTensor reference (``FakeTensorMode``, which runs meta kernels);
* values (``values=True``): the op also runs on CPU copies of its inputs, and the lazyplus outputs,
  copied to the CPU (a sync), must match them (``torch.testing.assert_close``, ``equal_nan=True``).

Where the meta reference and eager CPU disagree, the CPU wins: when the lazyplus result differs from the
fake one, the op is rerun on the CPU, and if the CPU agrees with lazyplus the op passes and is recorded in
:data:`META_CPU_DISAGREEMENTS`. Ops the fake reference cannot run (data-dependent output shapes such as
``nonzero``, ops without a meta kernel) are checked against the CPU directly.

In-place and ``out=`` ops are checked on the arguments they write; random ops
(``torch.Tag.nondeterministic_seeded``) by metadata only; ops returning no tensor are not checked.
A mismatch raises ``AssertionError`` naming the op overload, what differs, a repro call with
``torch.empty_strided`` stand-ins (as PyTorch's crossref prints it) and the user's ``file:line``.

Mechanism: PyTorch's crossref hooks the Functionalize key of wrapper tensors; lazyplus tensors are plain
tensors (laziness lives in the storage), so a ``TorchDispatchMode`` is used instead. It sees each ATen op
after autograd and CompositeImplicit decompositions, just above the PrivateUse1 kernel that traces it.

Slow (~1 ms per op for the fake reference; with ``values=True`` a sync and CPU copies per op): meant for
tests and debugging.
"""
import collections
import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator

import torch
import torch.utils._pytree as pytree
from torch._dispatch.python import all_py_loaded_overloads
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["enable_crossref_functionalize", "check_tensor_metadata_matches", "check_metadata_matches",
           "all_py_loaded_overloads", "user_frame", "META_CPU_DISAGREEMENTS", "CPU_ONLY_CHECKS"]

DEVICE = "lazyplus"

# Ops whose fake (meta) metadata differed from eager CPU's while CPU agreed with lazyplus, filled as the
# crossref mode meets them: "aten.op.overload" -> what the meta reference said (the first such case).
META_CPU_DISAGREEMENTS: dict[str, str] = {}
# Ops the fake reference could not run, checked against the CPU only: "aten.op.overload" -> why.
CPU_ONLY_CHECKS: dict[str, str] = {}

# Outputs that are uninitialized memory: metadata only.
_UNDEFINED_VALUES = {"empty", "empty_like", "empty_strided", "empty_permuted", "new_empty", "new_empty_strided",
                     "resize_", "resize_as_"}
# PyTorch's crossref skips it too: lifting a constant is not an op on device data.
_SKIP = {torch.ops.aten.lift_fresh.default}

_SKIP_DIRS = (os.path.dirname(torch.__file__) + os.sep,
              os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep)


def user_frame() -> str:
    """``file:line`` of the innermost calling frame outside torch/ and torch_lazyplus/."""
    f = sys._getframe(1)
    while f is not None and f.f_code.co_filename.startswith(_SKIP_DIRS):
        f = f.f_back
    return f"{f.f_code.co_filename}:{f.f_lineno}" if f is not None else "<unknown>"


# PyTorch's check_tensor_metadata_matches/check_metadata_matches, wrapped rather than re-exported: theirs
# prints sizes as torch.Size([2, 3]) (we print (2, 3)), requires a callable desc (we take a str too),
# raises AttributeError when a reference tensor faces a non-tensor, and reports a count mismatch without
# saying where. The checks are the same: sizes, dtype, significant strides (check_significant_strides).
def check_tensor_metadata_matches(nv: torch.Tensor, rv: torch.Tensor, desc: "str | Callable[[], str]") -> None:
    """Raises ``AssertionError`` unless ``nv`` (the tensor under test) has ``rv``'s (the reference's) sizes,
    dtype and significant strides."""
    d = desc if callable(desc) else (lambda: desc)
    if nv.size() != rv.size():
        raise AssertionError(f"{d()}: sizes {tuple(nv.size())} != {tuple(rv.size())}")
    if nv.dtype != rv.dtype:
        raise AssertionError(f"{d()}: dtype {nv.dtype} != {rv.dtype}")
    if nv.layout != rv.layout:
        raise AssertionError(f"{d()}: layout {nv.layout} != {rv.layout}")
    if nv.layout != torch.strided:
        return
    same, idx = torch._prims_common.check_significant_strides(nv, rv, only_cuda=False)
    if not same:
        raise AssertionError(f"{d()}: strides {nv.stride()} != {rv.stride()} (mismatch at index {idx})")


def check_metadata_matches(n: object, r: object, desc: "str | Callable[[], str]") -> None:
    """Checks every tensor leaf of ``r`` (the reference) against the leaf at the same place in ``n``."""
    d = desc if callable(desc) else (lambda: desc)
    n_vals, r_vals = pytree.tree_leaves(n), pytree.tree_leaves(r)
    if len(n_vals) != len(r_vals):
        raise AssertionError(f"{d()}: {len(n_vals)} outputs != {len(r_vals)}")
    for i, (nv, rv) in enumerate(zip(n_vals, r_vals)):
        if not isinstance(rv, torch.Tensor):
            continue
        if not isinstance(nv, torch.Tensor):
            raise AssertionError(f"{d()} output {i}: {type(nv).__name__} != Tensor")
        check_tensor_metadata_matches(nv, rv, lambda: f"{d()} output {i}")


class _Lit:
    def __init__(self, s):
        self.s = s

    def __repr__(self):
        return self.s


def _fmt(a):
    """PyTorch's crossref repro stand-ins; the device is named when it is not the CPU."""
    if isinstance(a, torch.Tensor):
        device = "" if a.device.type == "cpu" else f", device='{a.device.type}'"
        if a.layout != torch.strided:
            return _Lit(f"torch.empty({tuple(a.size())}, dtype={a.dtype}, layout={a.layout}{device})")
        return _Lit(f"torch.empty_strided({tuple(a.size())}, {a.stride()}, dtype={a.dtype}{device})")
    if isinstance(a, torch.device):
        return _Lit(repr(str(a)))
    return a


def _repro(func, args, kwargs, formatted=None) -> str:
    """``func`` called on stand-ins of ``args``; ``formatted``: id -> stand-in of arguments the op changed."""
    def fmt(a):
        return formatted[id(a)] if formatted and id(a) in formatted else _fmt(a)

    parts = [repr(pytree.tree_map(fmt, a)) for a in args]
    parts += [f"{k}={pytree.tree_map(fmt, v)!r}" for k, v in kwargs.items()]
    return f"{func}({', '.join(parts)})"


# ATen arguments nest at most one level (Tensor[], Tensor?[]): shallow maps are ~5x cheaper than pytree's.
def _map_args(fn, args, kwargs):
    def one(a):
        return type(a)(fn(x) for x in a) if isinstance(a, (list, tuple)) else fn(a)

    return tuple(one(a) for a in args), {k: one(v) for k, v in kwargs.items()}


def _tensors(args, kwargs):
    for a in (*args, *kwargs.values()):
        if isinstance(a, torch.Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from (x for x in a if isinstance(x, torch.Tensor))


def _is_lazy_device(d) -> bool:
    if isinstance(d, torch.device):
        return d.type == DEVICE
    return isinstance(d, str) and d.split(":")[0] == DEVICE


def _written(func, args, kwargs):
    """(name, tensor) of the arguments ``func`` writes (in-place ``self``, ``out=``)."""
    found = []
    for i, a in enumerate(func._schema.arguments):
        if a.alias_info is not None and a.alias_info.is_write:
            v = args[i] if i < len(args) else kwargs.get(a.name)
            found += [(a.name, t) for t in pytree.tree_leaves(v) if isinstance(t, torch.Tensor)]
    return found


def _results(func, out, args, kwargs):
    """What the op produced: its tensor outputs, then the written arguments that it does not return."""
    outs = [(f"output {i}", t) for i, t in enumerate(pytree.tree_leaves(out)) if isinstance(t, torch.Tensor)]
    seen = {id(t) for _, t in outs}
    return (outs
            + [(f"argument {name}", t) for name, t in _written(func, args, kwargs) if id(t) not in seen])


def _cpu_copy(t, memo):
    """A CPU copy of ``t`` over a copy of its whole storage: same strides and offset, and arguments that
    share a storage still share it (as_strided of a partial view, in-place ops on aliases)."""
    t = t.detach()
    if t.layout != torch.strided or t.is_conj() or t.is_neg():
        return t.to("cpu", copy=True)
    key = (t.device, t.untyped_storage()._cdata, t.dtype)
    base = memo.get(key)
    if base is None:
        n = t.untyped_storage().nbytes() // t.element_size()
        base = memo[key] = torch.as_strided(t, (n,), (1,), 0).to("cpu", copy=True)
    return base.as_strided(t.size(), t.stride(), t.storage_offset())


@functools.cache
def _fake_mode():
    """One FakeTensorMode for all checks: creating one costs ~0.3 ms (it records a stack trace)."""
    return FakeTensorMode()


def _fake(fake_mode, t, memo):
    """A FakeTensor like ``t`` (sizes, strides, offset, dtype, device; arguments that share a storage share
    one). Built from a meta tensor: ``fake_mode.from_tensor`` costs ~1 ms a tensor, this ~30 µs."""
    if t.layout != torch.strided or t.is_conj() or t.is_neg():
        return fake_mode.from_tensor(t)
    key = (t.device, t.untyped_storage()._cdata, t.dtype)
    base = memo.get(key)
    if base is None:
        n = t.untyped_storage().nbytes() // t.element_size()
        base = memo[key] = torch.empty(n, dtype=t.dtype, device="meta")
    meta = base.as_strided(t.size(), t.stride(), t.storage_offset())
    return fake_mode.fake_tensor_converter.from_meta_and_device(fake_mode, meta, t.device)


def _to_cpu(args, kwargs, memo, stand_ins=None):
    """Arguments for the CPU reference: tensors copied (or replaced by ``stand_ins`` by identity), lazyplus
    devices replaced by the CPU, lazyplus generators dropped."""
    stand_ins = stand_ins or {}

    def conv(x):
        if isinstance(x, torch.Tensor):
            return stand_ins[id(x)] if id(x) in stand_ins else _cpu_copy(x, memo)
        if _is_lazy_device(x):
            return torch.device("cpu")
        if isinstance(x, torch.Generator) and x.device.type == DEVICE:
            return None
        return x

    return _map_args(conv, args, kwargs)


def _first_mismatch(actual, expected, check_device):
    """The first metadata difference between two _results lists, or None."""
    if len(actual) != len(expected):
        return f"{len(actual)} results != {len(expected)}"
    for (name, a), (_, e) in zip(actual, expected):
        try:
            if check_device and a.device.type != e.device.type:
                raise AssertionError(f"{name}: device {a.device.type} != {e.device.type}")
            check_tensor_metadata_matches(a, e, name)
        except AssertionError as err:
            return str(err)
    return None


@functools.cache
def _makes_tensors(func) -> bool:
    """Whether ``func`` returns or writes a tensor (ops that do neither are not checked)."""
    if func in _SKIP or not isinstance(func, torch._ops.OpOverload):
        return False
    schema = func._schema
    return any("Tensor" in str(r.type) for r in schema.returns) \
        or any(a.alias_info is not None and a.alias_info.is_write for a in schema.arguments)


class CrossRefMode(TorchDispatchMode):
    """The dispatch mode behind :func:`enable_crossref_functionalize`. Inside ``__torch_dispatch__`` the
    mode is off, so the references (and the op itself) are not intercepted again."""

    def __init__(self, values=False, rtol=None, atol=None):
        super().__init__()
        self.values, self.rtol, self.atol = values, rtol, atol
        self.checked = collections.Counter()  # "aten.op.overload" -> how many calls were checked

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not self._applies(func, args, kwargs):
            return func(*args, **kwargs)
        return self._check(func, args, kwargs)

    @staticmethod
    def _applies(func, args, kwargs):
        if not _makes_tensors(func):
            return False
        return any(t.device.type == DEVICE for t in _tensors(args, kwargs)) \
            or _is_lazy_device(kwargs.get("device"))

    def _check(self, func, args, kwargs):
        self.checked[str(func)] += 1
        random = torch.Tag.nondeterministic_seeded in func.tags
        written = _written(func, args, kwargs)
        # The repro is formatted on failure only; arguments the op writes (and may resize) are formatted now.
        formatted = {id(t): _fmt(t) for _, t in written}
        before = {id(t): (t.size(), t.stride(), t.storage_offset(), t.dtype, t.untyped_storage().nbytes())
                  for _, t in written if t.layout == torch.strided}
        check_values = self.values and not random and func.overloadpacket.__name__ not in _UNDEFINED_VALUES

        # Fake reference.
        fake_mode = _fake_mode()
        fake, fake_error = None, None
        try:
            memo = {}
            f_args, f_kwargs = _map_args(lambda t: _fake(fake_mode, t, memo) if isinstance(t, torch.Tensor) else t,
                                         args, kwargs)
            with fake_mode:
                f_out = func(*f_args, **f_kwargs)
            fake = _results(func, f_out, f_args, f_kwargs)
        except Exception as e:  # data-dependent shapes, no meta kernel, ...: the CPU answers instead
            fake_error = e
            CPU_ONLY_CHECKS.setdefault(str(func), f"{type(e).__name__}: {e}"[:200])

        # CPU copies are taken before the op when the CPU will be needed: values, or no fake reference.
        cpu_inputs = None
        if check_values or fake is None:
            cpu_inputs = _to_cpu(args, kwargs, {})

        out = func(*args, **kwargs)
        actual = _results(func, out, args, kwargs)

        cpu = None

        def cpu_reference():
            nonlocal cpu, cpu_inputs
            if cpu is None:
                if cpu_inputs is None:
                    # Metadata mode, after the op: written arguments are rebuilt as they were (zeros; no
                    # in-place op's output shape depends on the values it overwrites).
                    stand_ins = {}
                    for key, (size, stride, offset, dtype, nbytes) in before.items():
                        storage = torch.zeros(max(nbytes // dtype.itemsize, 1), dtype=dtype)
                        stand_ins[key] = storage.as_strided(size, stride, offset)
                    cpu_inputs = _to_cpu(args, kwargs, {}, stand_ins)
                c_args, c_kwargs = cpu_inputs
                with torch.no_grad():
                    c_out = func(*c_args, **c_kwargs)
                cpu = _results(func, c_out, c_args, c_kwargs)
            return cpu

        def fail(what, details=""):
            repro = _repro(func, args, kwargs, formatted)
            raise AssertionError(f"crossref: {func} {what}\n  repro: {repro}\n  at: {user_frame()}{details}")

        if fake is not None:
            problem = _first_mismatch(actual, fake, check_device=True)
            if problem is not None:
                try:
                    cpu_reference()
                except Exception as e:
                    fail(f"{problem} (lazyplus != meta)", f"\n  the CPU reference raised {type(e).__name__}: {e}")
                meta_vs_cpu = _first_mismatch(cpu, fake, check_device=False)
                if meta_vs_cpu is None:
                    fail(f"{problem} (lazyplus != meta)")
                META_CPU_DISAGREEMENTS.setdefault(str(func), f"{meta_vs_cpu} (cpu != meta)")
                cpu_problem = _first_mismatch(actual, cpu, check_device=False)
                if cpu_problem is not None:
                    fail(f"{cpu_problem} (lazyplus != cpu)",
                         f"\n  meta and CPU disagree too, and the CPU wins: {meta_vs_cpu} (cpu != meta)")
        else:
            try:
                cpu_reference()
            except Exception as e:
                fail("ran, but neither reference could",
                     f"\n  meta raised {type(fake_error).__name__}: {fake_error}"
                     f"\n  the CPU raised {type(e).__name__}: {e}")
            problem = _first_mismatch(actual, cpu, check_device=False)
            if problem is not None:
                fail(f"{problem} (lazyplus != cpu)")

        if check_values:
            for (name, a), (_, e) in zip(actual, cpu_reference()):
                try:
                    torch.testing.assert_close(a.detach().cpu(), e, rtol=self.rtol, atol=self.atol, equal_nan=True,
                                               check_device=False, check_stride=False)
                except AssertionError as err:
                    fail(f"{name}: values differ (lazyplus != cpu)", "\n" + str(err))
        return out


@contextlib.contextmanager
def enable_crossref_functionalize(values: bool = False, *, rtol: "float | None" = None,
                                  atol: "float | None" = None) -> Iterator[CrossRefMode]:
    """Checks every ATen op on lazyplus tensors inside the ``with`` block against eager PyTorch: output
    metadata against FakeTensor (meta) results, and with ``values=True`` also the values against the op
    run on CPU copies of its inputs (``rtol``/``atol`` as in ``torch.testing.assert_close``; ``None``
    picks its defaults for the dtype). Raises ``AssertionError`` at the first op that differs.

    >>> with enable_crossref_functionalize(values=True):
    ...     y = torch.ones(2, 3, device="lazyplus").sum(0)
    """
    with CrossRefMode(values, rtol, atol) as mode:
        yield mode
