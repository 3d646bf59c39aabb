"""Errors that need only metadata (dtypes, shapes, devices, scalar arguments) are raised by the op's
call, as in eager, with eager's class and message, even where PyTorch's meta kernel checks less than
its CPU kernel: the first time an op meets new metadata, lazyplus also runs it on tiny host probes of
the operands' dtypes and keeps the errors that only metadata can cause."""
import concurrent.futures
import warnings

import pytest
import torch
import torch.nn.functional as F

import torch_lazyplus

DEV = "lazyplus"


def ones(*size, dtype=torch.float32, device=DEV):
    return torch.ones(*size, dtype=dtype, device=device)


def index_put_wrong_value_shape(device):
    a = torch.zeros(1, 1, 2, 3, device=device)
    a[torch.tensor(True)] = a.expand(5, 1, 2, 3)


# Each raises on the CPU at the call; none reads a result, so lazyplus must raise at the call too.
RAISE_AT_THE_OP = {
    "index_put_value_shape": index_put_wrong_value_shape,
    "index_put_long_index_value_shape": lambda d: ones(4, 3, device=d).index_put_(
        (torch.tensor([0, 1], device=d),), ones(3, 3, device=d)),
    "index_fill_complex_into_float": lambda d: ones(3, device=d).index_fill(0, torch.tensor([0], device=d), 1j),
    "floor_divide_int_by_zero": lambda d: torch.arange(3, device=d) // 0,
    "remainder_int_by_zero": lambda d: torch.arange(3, device=d) % 0,
    "div_floor_int_by_zero": lambda d: torch.div(torch.arange(3, device=d), 0, rounding_mode="floor"),
    "floor_divide__int_by_zero": lambda d: torch.arange(3, device=d).floor_divide_(0),
    "softmax_int64": lambda d: torch.arange(3, device=d).softmax(0),
    "log_softmax_int64": lambda d: torch.arange(3, device=d).log_softmax(0),
    "mm_int64_float": lambda d: torch.mm(ones(2, 2, dtype=torch.long, device=d), ones(2, 2, device=d)),
    "matmul_int64_float": lambda d: ones(2, 2, dtype=torch.long, device=d) @ ones(2, 2, device=d),
    "bmm_float64_float32": lambda d: torch.bmm(ones(1, 2, 2, dtype=torch.double, device=d), ones(1, 2, 2, device=d)),
    "float_and": lambda d: ones(2, device=d) & ones(2, device=d),
    "float_xor_int": lambda d: ones(2, device=d) ^ 1,
    "lgamma_complex": lambda d: torch.lgamma(ones(2, dtype=torch.cfloat, device=d)),
    "max_complex": lambda d: ones(2, dtype=torch.cfloat, device=d).max(),
    "sort_complex": lambda d: torch.sort(ones(2, dtype=torch.cfloat, device=d)),
    "cumsum_to_bool": lambda d: ones(2, device=d).cumsum(0, dtype=torch.bool),
    "std_int64": lambda d: ones(2, dtype=torch.long, device=d).std(),
    "argmax_bool": lambda d: ones(2, dtype=torch.bool, device=d).argmax(),
    "topk_bool": lambda d: ones(2, dtype=torch.bool, device=d).topk(1),
    "relu_bool": lambda d: torch.relu(ones(2, dtype=torch.bool, device=d)),
    "lerp_int64": lambda d: torch.lerp(ones(2, dtype=torch.long, device=d), ones(2, dtype=torch.long, device=d), 0.5),
    "round_decimals_int64": lambda d: torch.round(ones(2, dtype=torch.long, device=d), decimals=1),
    "index_select_float_index": lambda d: ones(2, device=d).index_select(0, torch.zeros(1, device=d)),
    "setitem_uint8_mask": lambda d: ones(3, device=d).__setitem__(torch.tensor([1, 0, 1], dtype=torch.uint8,
                                                                               device=d), 0.0),
    "dropout_int64": lambda d: F.dropout(ones(2, dtype=torch.long, device=d)),
}


@pytest.mark.parametrize("case", RAISE_AT_THE_OP, ids=list(RAISE_AT_THE_OP))
def test_metadata_error_is_eagers_raised_at_the_op(case):
    fn = RAISE_AT_THE_OP[case]
    with pytest.raises(Exception) as eager:
        fn("cpu")
    for _ in range(2):  # and again: a failed check is never cached as a success
        with pytest.raises(eager.type) as lazy:
            fn(DEV)
        assert str(lazy.value).splitlines()[0] == str(eager.value).splitlines()[0]


def probes_run(fn):
    torch_lazyplus.metrics.reset()
    fn()
    return torch_lazyplus.metrics.counters().get("ProbedCalls", 0)


def in_a_new_thread(fn):
    """Runs fn where no probe has passed yet (each thread remembers its own) and returns its result."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def test_a_probe_that_passed_is_not_run_again_for_sizes_it_caps_to():
    """A model's first step meets each op at many sizes; probes cap them to at most 2 per dim, so an op
    with the same dtypes and arguments is probed once (each probe is a kernel call, oneDNN's gelu on
    new sizes creates a primitive). New sizes still infer their own shapes."""
    a, b, c, d = ones(5, 7), ones(7, 3), ones(6, 8), ones(8, 9)
    c64, d64 = c.double(), d.double()
    assert in_a_new_thread(lambda: [probes_run(lambda: torch.mm(a, b)), probes_run(lambda: torch.mm(c, d)),
                                    probes_run(lambda: torch.mm(c64, d64))]) == [1, 0, 1]
    assert torch.mm(c, d).shape == (6, 9)


def test_a_remembered_probe_still_sees_the_scalar_that_decides_the_error():
    x = torch.arange(5, device=DEV)
    x // 2
    x // torch.tensor(2)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        x // 0
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        x // torch.tensor(0)
    with pytest.raises(RuntimeError, match="not implemented for 'Long'"):
        torch.arange(7, device=DEV).softmax(0)


def test_an_out_tensor_on_another_device_raises_the_device_error_at_the_op():
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, but found at least two "
                                           "devices, lazyplus:0 and cpu!"):
        torch.nonzero(ones(2), out=torch.empty(0, 1, dtype=torch.long))


def test_the_uint8_mask_warning_reaches_the_callers_catch_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ones(3)[torch.tensor([1, 0, 1], dtype=torch.uint8, device=DEV)]
    assert any("indexing with dtype torch.uint8 is now deprecated" in str(w.message) for w in caught)


# The probes have at most 2 elements per dim and hold ones, so they fail where the real call does not:
# a size argument larger than the probe, a window larger than the probe, an index past it. Such errors
# are the probe's own and never reach the user.
VALID_ON_REAL_SIZES = {
    "view": lambda d: ones(4, 4, device=d).view(2, 8),
    "narrow": lambda d: ones(5, device=d).narrow(0, 3, 2),
    "max_pool_window_of_3": lambda d: F.max_pool2d(ones(1, 1, 6, 6, device=d), 3),
    "reflection_pad_of_3": lambda d: F.pad(ones(1, 1, 5, 5, device=d), (3, 3, 3, 3), mode="reflect"),
    "embedding_index_4": lambda d: F.embedding(torch.tensor([4], device=d), ones(5, 2, device=d)),
    "gather_index_3": lambda d: ones(4, device=d).gather(0, torch.tensor([3], device=d)),
    "integer_divisor_tensor": lambda d: torch.arange(4, device=d) // torch.full((4,), 3, device=d),
}


@pytest.mark.parametrize("case", VALID_ON_REAL_SIZES, ids=list(VALID_ON_REAL_SIZES))
def test_a_probes_own_failure_never_reaches_the_user(case):
    fn = VALID_ON_REAL_SIZES[case]
    torch.testing.assert_close(fn(DEV).cpu(), fn("cpu"))


def test_errors_only_data_reveals_still_wait_for_a_read():
    """A tensor divisor of zeros: eager raises at the op, lazyplus at the first read (test_failures.py)."""
    quotient = torch.arange(3, device=DEV) // torch.zeros(3, dtype=torch.long, device=DEV)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        quotient.cpu()


def test_under_no_grad_a_cpu_only_dtype_check_raises_at_the_first_read():
    """Probes run with grad mode on only (README limits): under no_grad, and in the backward pass, an error
    of eager's CPU kernel that the meta kernel does not check is eager's, raised by the first read."""
    with pytest.raises(NotImplementedError) as eager:
        torch.arange(3).softmax(0)
    with torch.no_grad():
        result = torch.arange(3, device=DEV).softmax(0)  # recorded: nothing raises yet
    with pytest.raises(NotImplementedError) as lazy:
        result.cpu()
    assert str(eager.value).splitlines()[0] in str(lazy.value)
