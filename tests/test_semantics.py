"""Lazy tensors keep eager semantics: views alias, in-place ops write through views, errors are raised
at the op call, and fallbacks are correct and visible."""
import pytest
import threading
import torch
import warnings
from torch.testing import assert_close

import torch_lazyplus

DEV = "lazyplus"


def both(fn, *cpu_inputs):
    """Runs fn on CPU copies and on lazyplus copies of the inputs; returns both results on CPU."""
    cpu = [t.clone() for t in cpu_inputs]
    lazy = [t.to(DEV) for t in cpu_inputs]
    expected = fn(*cpu)
    actual = fn(*lazy)
    flatten = lambda r: [t for t in (r if isinstance(r, (tuple, list)) else [r]) if t is not None]
    return flatten(expected) + cpu, [a.cpu() for a in flatten(actual)] + [t.cpu() for t in lazy]


@pytest.mark.parametrize("name, fn", [
    ("inplace_through_view", lambda x: x[1:, ::2].mul_(10)),
    ("transpose_add_", lambda x: x.t().add_(torch.ones_like(x[0]) * 2)),
    ("diagonal_fill", lambda x: x.diagonal().fill_(-1)),
    ("split_pieces", lambda x: [p.mul_(2) for p in torch.split(x, 1)]),
    ("chunk_pieces", lambda x: [p.add_(1) for p in x.chunk(3, dim=1)]),
    ("unbind_pieces", lambda x: [p.sub_(5) for p in x.unbind(1)]),
    ("index_assign", lambda x: x.__setitem__((slice(None), 1), 7.0)),
    ("as_strided_write", lambda x: x.as_strided((2, 2), (1, 3)).zero_()),
    ("view_then_base", lambda x: (x.view(-1).add_(1), x * 2)),
    ("expand_read", lambda x: x[:1].expand(3, 3) + x),
    ("copy_broadcast", lambda x: x.copy_(torch.ones(3))),
])
def test_views_and_inplace_match_eager(name, fn):
    expected, actual = both(fn, torch.arange(9.0).reshape(3, 3))
    for e, a in zip(expected, actual):
        assert_close(a, e)


def test_inplace_on_base_is_seen_by_view():
    x = torch.zeros(4, device=DEV)
    v = x[2:]
    x.add_(3)
    assert v.cpu().tolist() == [3.0, 3.0]


def test_scalars_are_graph_inputs_not_constants():
    x = torch.randn(16, device=DEV)
    for a, b in [(1.0, 2.0), (3.0, 4.0), (5.0, 5.0)]:
        y = x * a + x * b
        assert_close(y.cpu(), x.cpu() * a + x.cpu() * b)
    counters = torch_lazyplus.metrics.counters()
    assert counters["UncachedCompile"] == 1, counters
    assert counters["CachedCompile"] == 2


def test_python_numbers_equal_in_value_but_not_in_bits_stay_apart_in_one_graph():
    # A program shares one host tensor among the equal `alpha`s of a graph: -0.0 is not 0.0 there.
    x, negative_zeros = torch.rand(64) + 1, -torch.zeros(64)
    lazy_x, lazy_zeros = x.to("lazyplus"), negative_zeros.to("lazyplus")
    got = [lazy_zeros.add(lazy_x, alpha=a) for a in (0.0, -0.0, 2, 2.0)]
    expected = [negative_zeros.add(x, alpha=a) for a in (0.0, -0.0, 2, 2.0)]
    for g, e in zip(got, expected):
        g = g.cpu()
        assert torch.equal(g, e) and torch.equal(torch.signbit(g), torch.signbit(e))


def test_learning_rate_change_does_not_recompile():
    w = torch.randn(8, device=DEV)
    for lr in [0.1, 0.01, 0.001]:
        w.sub_(w * lr)
        torch_lazyplus.sync()
    assert torch_lazyplus.metrics.counters()["UncachedCompile"] == 1


def test_shape_mismatch_raises_at_the_op():
    a, b = torch.ones(2, 3, device=DEV), torch.ones(4, device=DEV)
    with pytest.raises(RuntimeError, match=r"The size of tensor a \(3\) must match the size of tensor b \(4\)"):
        a + b
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)"):
        a @ a


def test_device_mismatch_raises_at_the_op():
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        torch.ones(3, device=DEV) + torch.ones(3)


def test_dtype_error_raises_at_the_op():
    x = torch.ones(3, dtype=torch.long, device=DEV)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        x.add_(1.5)


def test_a_long_unsynced_chain_is_freed_and_computed_without_overflowing_the_stack():
    def loop_that_never_syncs():
        y = x
        for _ in range(30_000):
            y = y + 1
        return y

    def run():  # on a 256 KiB stack, where releasing the graph node by node, recursively, would overflow
        del_unsynced = loop_that_never_syncs()
        del del_unsynced
        results.append(loop_that_never_syncs().cpu())

    x = torch.ones(3, device=DEV)
    results = []
    old = threading.stack_size(256 << 10)
    try:
        worker = threading.Thread(target=run)
        worker.start()
        worker.join()
    finally:
        threading.stack_size(old)
    assert results[0].tolist() == [30_001.0] * 3


def test_fallback_is_correct_counted_and_warned():
    x = torch.tensor([3.0, -1.0, 2.0], device=DEV)
    torch_lazyplus._C._reset_fallback_warnings()  # the warning is once per op and process
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idx = torch.nonzero(x > 0)
    assert idx.cpu().tolist() == [[0], [2]]
    assert torch_lazyplus.metrics.counters()["aten::nonzero"] == 1
    assert any("aten::nonzero" in str(w.message) and w.filename == __file__ for w in caught)


def test_strict_mode_makes_fallback_an_error():
    torch_lazyplus.set_strict(True)
    with pytest.raises(RuntimeError, match="LAZYPLUS_STRICT"):
        torch.nonzero(torch.ones(2, device=DEV))


@pytest.mark.parametrize("a, b", [
    (torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])),
    (torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5])),
    (torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0, 3.0])),
    (torch.tensor([1, 2]), torch.tensor([1.0, 2.0])),
    (torch.tensor([float("nan")]), torch.tensor([float("nan")])),
    (torch.zeros(0, 3), torch.zeros(0, 3)),
], ids=["equal", "unequal", "sizes", "promoted", "nan", "empty"])
def test_torch_equal_matches_eager_in_one_sync_without_a_fallback(a, b):
    torch_lazyplus.set_strict(True)  # a CPU fallback would raise
    la, lb = a.to(DEV), b.to(DEV)
    torch_lazyplus.metrics.reset()
    assert torch.equal(la, lb) == torch.equal(a, b)
    assert torch_lazyplus.metrics.counters().get("Sync", 0) <= 1


def test_torch_equal_across_devices_raises_eagers_error():
    with pytest.raises(RuntimeError, match="Cannot compare two tensors on different devices"):
        torch.equal(torch.ones(2, device=DEV), torch.ones(2))


def test_mutating_fallback_writes_back():
    # nothing in ATen lowers this op lazily: it goes through the fallback and mutates its argument
    x = torch.zeros(4, device=DEV)
    x.index_put_((torch.tensor([1, 3], device=DEV),), torch.tensor(5.0, device=DEV), accumulate=True)
    assert x.cpu().tolist() == [0.0, 5.0, 0.0, 5.0]


def test_tensor_list_outputs():
    x = torch.arange(6.0)
    parts = torch.split_copy(x.to(DEV), 2)
    assert [p.cpu().tolist() for p in parts] == [p.tolist() for p in torch.split_copy(x, 2)]
    assert torch_lazyplus.metrics.counters()["lazy::split_copy"] == 1


@pytest.mark.parametrize("name, fn", [
    ("conj_to_cpu", lambda z: z.conj()),
    ("conj_into_mm", lambda z: z.conj() @ z),
    ("conj_clone", lambda z: z.conj().clone()),
    ("neg_view_of_conj_imag", lambda z: z.conj().imag * 2),
    ("copy_into_conj_view", lambda z: z.conj().copy_(z.t().contiguous())),
])
def test_conjugate_and_negative_bits_match_eager(name, fn):
    z = torch.randn(3, 3, dtype=torch.cfloat)
    expected, actual = both(fn, z)
    for a, e in zip(actual, expected):
        assert_close(a, e.resolve_conj().resolve_neg())


def test_cpu_index_tensors_index_lazy_tensors_as_in_eager():
    x = torch.randn(5, 4)
    rows, cols = torch.tensor([0, 3, 3]), torch.tensor([1, 0, 2])
    expected, actual = both(lambda t: (t[rows, cols], t.index_put_((rows,), torch.tensor(9.0))), x)
    for a, e in zip(actual, expected):
        assert_close(a, e)


def test_invalid_input_to_a_fallback_op_raises_without_counting_a_fallback():
    x = torch.ones(3, device=DEV)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "ran on the CPU" warning either
        with pytest.raises(RuntimeError):
            torch.nonzero(x, out=torch.empty(2, 2, dtype=torch.float32, device=DEV))
    assert "aten::nonzero.out" not in torch_lazyplus.metrics.counters()
    assert not any(k.startswith("aten::nonzero") for k in torch_lazyplus.metrics.counters())


def test_wrapped_numbers_and_0dim_tensors_promote_like_eager():
    # Same value and dtype, different promotion: shape inference must not mix them up.
    x = torch.arange(4)
    for fn in (lambda t: t + torch.tensor(1.5, dtype=torch.float64), lambda t: t + 1.5):
        out = fn(x.to("lazyplus"))
        assert out.dtype == fn(x).dtype
        torch.testing.assert_close(out.cpu(), fn(x))


def _number_arguments(x, n, b, z):
    # Scalar arguments of every host type: Long (alpha), Double (pow, clamp, lerp), Bool (masked_fill),
    # ComplexDouble (alpha); a graph feeds them from one shared host buffer.
    return (x.add(x, alpha=2), x.pow(2.5), x.clamp(0.1, 0.9), torch.lerp(x, x.flip(0), 0.3),
            n.add(n, alpha=-3), b.masked_fill(~b, True), z.add(z, alpha=2 + 1j))


def test_number_arguments_of_every_host_type_match_eager_in_a_sync_and_in_a_traced_graph():
    inputs = (torch.rand(5), torch.arange(5), torch.tensor([True, False, True, False, False]),
              torch.randn(5, dtype=torch.complex64))
    expected = _number_arguments(*inputs)
    synced = [t.cpu() for t in _number_arguments(*[t.to(DEV) for t in inputs])]
    traced = torch_lazyplus.trace(_number_arguments, *inputs).run(*inputs)
    for actual in (synced, traced):
        for a, e in zip(actual, expected):
            assert_close(a, e)


def test_shape_inference_sees_a_scalars_sign_not_its_value():
    """Meta results are cached per scalar type and sign, so a changing learning rate reuses them; the
    sign still reaches the meta kernel (eager's error for negative integer powers comes at the op),
    and factories whose size is a scalar's value (arange) see the value."""
    x = torch.tensor([2, 3]).to(DEV)
    assert_close((x ** 2).cpu(), torch.tensor([4, 9]))
    assert_close((x ** 3).cpu(), torch.tensor([8, 27]))
    with pytest.raises(RuntimeError, match="Integers to negative integer powers are not allowed"):
        x ** -1
    assert torch.arange(0, 5, device=DEV).shape == (5,)
    assert torch.arange(0, 7, device=DEV).shape == (7,)
    y = torch.ones(3).to(DEV)
    for lr in (0.1, 0.05, 0.025):
        assert_close((y * lr).cpu(), torch.full((3,), lr))


def test_uninitialized_memory_reads_the_same_bytes_every_time():
    """torch.empty may hold anything, but a tensor's value never changes by itself: each read sees the
    bytes of the previous one."""
    t = torch.empty(1, 1, device=DEV).expand(3, 4)
    first = t.cpu().contiguous().view(torch.int32)
    for _ in range(20):
        assert torch.equal(t.clone().cpu().view(torch.int32), first)
        assert torch.equal(t.cpu().contiguous().view(torch.int32), first)


def test_deterministic_algorithms_as_they_were_when_the_op_was_recorded():
    """index_copy with duplicate indices: its deterministic CPU kernel writes the last source row;
    recorded under the flag and synced after it, lazyplus still runs the deterministic kernel."""
    from torch.testing._internal.common_utils import DeterministicGuard

    index = torch.zeros(4096, dtype=torch.long)
    source = torch.arange(4096.0).unsqueeze(1).expand(4096, 64).contiguous()
    with DeterministicGuard(True):
        expected = torch.zeros(2, 64).index_copy(0, index, source)
        lazy = [torch.zeros(2, 64, device=DEV).index_copy(0, index.to(DEV), source.to(DEV)) for _ in range(5)]
    for result in lazy:  # the parallel kernel writes another row about half the time
        assert torch.equal(result.cpu(), expected)


@pytest.mark.parametrize("op", [lambda a, out: torch.neg(a, out=out), lambda a, out: torch.mul(a, 2, out=out)],
                         ids=["neg", "mul"])
def test_out_overlapping_an_input_in_part_raises_eagers_error_at_the_op(op):
    t = torch.arange(4.0, device=DEV)
    with pytest.raises(RuntimeError, match="some elements of the input tensor and the written-to tensor refer to a "
                                           "single memory location"):
        op(t[:3], t[1:])
    op(t, t)  # the same memory in full is an in-place update, as in eager
    assert t.cpu().tolist() == op(torch.arange(4.0), torch.empty(4)).tolist()


def _on(a, *values, **kw):
    return torch.tensor(*values, device=a.device, **kw)


@pytest.mark.filterwarnings("ignore:Use of (masked_fill_|index_put_) on expanded tensors is deprecated")
@pytest.mark.parametrize("write", [
    lambda a: a[:1].expand(3, 1).fill_(3.0),
    lambda a: a.expand(2, 2).transpose(0, 1)[0].zero_(),
    lambda a: a.expand(2, 2).diagonal().zero_(),
    lambda a: a.expand(3, 2)[..., :1].fill_(2),
    # a location takes the value if the mask is true at any element that views it
    lambda a: a.expand(2, 2).masked_fill_(_on(a, [[True, False], [False, False]]), 3.0),
    lambda a: a.expand(2, 2).__setitem__(_on(a, [[False, False], [False, True]]), 0.0),
    # a location takes the last value written to it, or with accumulate their sum
    lambda a: a.expand(3, 2).index_put_((_on(a, [0, 2]),), _on(a, [[7.0, 8.0], [9.0, 10.0]])),
    lambda a: a.expand(3, 2).index_put_((_on(a, [1, 2, 0]), _on(a, [0, 1, 1])), _on(a, 4.0)),
    lambda a: a.expand(3, 2).index_put_((_on(a, [0, 2]),), torch.tensor(4.0)),  # a 0-dim CPU value
    lambda a: a.expand(3, 2).index_put_((_on(a, [0, 2]),), torch.ones(2, 2, device=a.device), accumulate=True),
], ids=["fill_", "transposed_zero_", "diagonal_zero_", "ellipsis_fill_", "masked_fill_", "bool_mask_setitem",
        "index_put_", "index_put_one_value", "index_put_cpu_value", "index_put_accumulate"])
def test_writes_through_an_expanded_view_that_eager_allows_write_as_in_eager(write):
    expected, actual = both(lambda a: (write(a), a)[1], torch.tensor([5.0, 6.0]))
    for e, a in zip(expected, actual):
        assert torch.equal(a, e)


@pytest.mark.parametrize("write, op", [
    (lambda t: t.masked_fill_(_on(t, True), 1.0), "masked_fill_"),
    (lambda t: t.index_put_((_on(t, [0]),), _on(t, 1.0)), "index_put_"),
], ids=["masked_fill_", "index_put_"])
def test_masked_and_indexed_writes_through_an_expanded_view_warn_as_eager(write, op):
    for device in ("cpu", DEV):
        with pytest.warns(UserWarning, match=f"Use of {op} on expanded tensors is deprecated"):
            write(torch.zeros(1, 2, device=device).expand(3, 2))


@pytest.mark.parametrize("write", [lambda a: a.expand(3, 2).add_(1), lambda a: a.expand(3, 2).copy_(torch.ones(3, 2)),
                                   lambda a: torch.neg(torch.ones(3, 2, device=a.device), out=a.expand(3, 2))],
                         ids=["add_", "copy_", "out="])
def test_other_writes_through_an_expanded_view_raise_eagers_error(write):
    for device in ("cpu", DEV):
        with pytest.raises(RuntimeError, match="more than one element of the written-to tensor refers to a single"):
            write(torch.tensor([5.0, 6.0], device=device))


@pytest.mark.parametrize("lowering", ["fused", "reference"])
@pytest.mark.parametrize("keep_source", [True, False], ids=["source_alive", "source_freed"])
def test_copy_from_a_slice_that_starts_inside_its_storage_copies_the_slice(lowering, keep_source):
    """Found by test_random_graphs: dst.copy_(x[1:]) computed dst as a view into x's buffer at offset 1,
    and dst then read that buffer from its first element ([0, 1, 2, 3] instead of [1, 2, 3, 4])."""
    with torch_lazyplus.use_lowering(lowering):
        source = torch.arange(5.0, device=DEV) * 1
        dst = torch.zeros(4, device=DEV)
        dst.copy_(source[1:])
        if not keep_source:
            del source
        assert dst.cpu().tolist() == [1.0, 2.0, 3.0, 4.0]
