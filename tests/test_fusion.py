"""The fused lowering: which nodes become one tile program, and that its results equal the reference
lowering's and eager CPU's on hand-picked graphs (random graphs: test_random_graphs.py)."""
import os
import sys

import pytest
import torch
import torch.nn.functional as F

import torch_lazyplus
from torch_lazyplus import metrics

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
from workloads import chain, ln_gelu_primitives as ln_gelu  # noqa: E402  (the benchmarked graphs)
from cuda_kernels import assert_regions_compile_for_gpus, nvrtc_available  # noqa: E402

CUDA_COMPILE_CHECKS = nvrtc_available()
# What the CPU target runs: eager's oneDNN and flash-attention kernels, and reductions in eager's order.
cpu_target_only = pytest.mark.skipif(torch_lazyplus.target() != "cpu", reason="the CPU target's kernels and bits")


def run_lazy(fn, inputs, name="fused"):
    """fn's result under lowering `name`; under the fused lowering, every region of its graph also
    compiles for the CUDA target (NVRTC, sm_80 and sm_90, no register spills: cuda_kernels.py)."""
    with torch_lazyplus.use_lowering(name):
        out = fn(*[x.to("lazyplus") for x in inputs])
        if name == "fused" and CUDA_COMPILE_CHECKS:
            assert_regions_compile_for_gpus(out)
        return out.cpu()


def assert_matches_eager(fn, *inputs, rtol=1e-5, atol=1e-6):
    expected = fn(*inputs)
    fused = run_lazy(fn, inputs, "fused")
    reference = run_lazy(fn, inputs, "reference")
    torch.testing.assert_close(fused, expected, rtol=rtol, atol=atol, equal_nan=True)
    torch.testing.assert_close(fused, reference, rtol=rtol, atol=atol, equal_nan=True)


def fused_counts(fn, *inputs):
    """(regions, nodes) the fused lowering compiles for `fn`; compiled afresh, whatever ran before."""
    torch_lazyplus._C._clear_compile_cache()
    metrics.reset()
    run_lazy(fn, inputs)
    c = metrics.counters()
    return c.get("FusedRegions", 0), c.get("FusedNodes", 0)


def test_default_lowering_is_fused():
    assert torch_lazyplus.lowering() == "fused"
    assert torch_lazyplus.debug.tile_isa() in ("avx512", "avx2", "default")


def test_pointwise_chain_is_one_region():
    x = torch.randn(1000)
    assert fused_counts(chain, x) == (1, 7)
    assert_matches_eager(chain, x)


def test_layer_norm_and_gelu_from_primitives_is_one_region():
    x, w, b = torch.randn(6, 33), torch.randn(33), torch.randn(33)
    regions, nodes = fused_counts(ln_gelu, x, w, b)
    assert regions == 1 and nodes >= 14
    assert_matches_eager(ln_gelu, x, w, b)


@pytest.mark.parametrize("fn", [
    lambda x: torch.softmax(x, -1),
    lambda x: torch.log_softmax(x, -1),
    lambda x: F.layer_norm(x, (x.shape[-1],)),
    lambda x: x.amax(-1) + x.amin(-1, keepdim=True).squeeze(-1),
    lambda x: x.sum(-1, keepdim=True) * x,
    lambda x: F.gelu(x, approximate="tanh") + F.silu(x),
    lambda x: (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True) + x.var(-1, correction=0, keepdim=True),
    lambda x: torch.stack(torch.var_mean(x * 3, -1) + torch.std_mean(x, -1, correction=5)),
], ids=["softmax", "log_softmax", "layer_norm", "amax_amin", "sum_keepdim", "gelu_tanh_silu", "std_var",
        "var_mean_std_mean"])
def test_row_patterns_match_eager(fn):
    assert_matches_eager(fn, torch.randn(5, 77))


def adam_update(p, m, v, g):
    """The per-parameter arithmetic of AdamW (torch.optim's single-tensor path), weights on both sides of
    lerp's 0.5 switch."""
    m = m.lerp(g, 0.1)
    v = v.mul(0.95).addcmul(g, g, value=0.05)
    denom = (v.sqrt() / 0.9).add(1e-8)
    return p.mul(0.99).addcdiv(m, denom, value=-3e-3) + torch.lerp(m, g, 0.75)


def test_optimizer_arithmetic_is_one_region():
    inputs = [torch.randn(48, 64) for _ in range(4)]
    inputs[2] = inputs[2].abs()  # v: second moments are non-negative
    assert fused_counts(adam_update, *inputs) == (1, 10)
    assert_matches_eager(adam_update, *inputs)


def capturable_adam_step(step, p, m, v, g):
    """AdamW's capturable arithmetic for one weight: bias corrections computed on the device from the
    0-dim step count (torch.optim's capturable path), which the step returns updated."""
    step = step + 1
    m = m.lerp(g, 0.1)
    v = v.mul(0.95).addcmul(g, g, value=0.05)
    bias_correction1 = 0.9 ** step - 1
    step_size = (bias_correction1 / 3e-3).reciprocal()
    denom = (v.sqrt() / (-(0.95 ** step - 1)).sqrt()).add(1e-8)
    return step, p.mul(0.999).addcdiv(m, denom / step_size), m, v


def test_scalars_read_by_one_weights_update_are_computed_in_its_region():
    inputs = [torch.tensor(3.0)] + [torch.randn(48, 64) for _ in range(4)]
    inputs[3] = inputs[3].abs()
    lazy = capturable_adam_step(*[x.to("lazyplus") for x in inputs])
    # The step count, a result, is a region of its own; its bias corrections go to the memory of none:
    # each is computed in the update's region, once per task (debug.cuda_sources shows the partition).
    ops = {tuple(r["shape"]): r["ops"] for r in torch_lazyplus.debug.cuda_sources(lazy)}
    assert ops[()] == ["aten::add.Tensor"]
    assert ops[(48, 64)].count("aten::pow.Scalar") == 2 and ops[(48, 64)][-1] == "aten::addcdiv"
    # Close, not equal: eager's float sqrt is not correctly rounded (23 of 3072 of these differ from
    # float64's sqrt rounded to float; the tile's equal it).
    for actual, expected in zip(lazy, capturable_adam_step(*inputs)):
        torch.testing.assert_close(actual.cpu(), expected)


def test_a_step_count_met_after_part_of_the_update_runs_first_and_the_update_stays_one_region():
    """The graph's order can put the new step count after the second moment's square root (here: the
    update's results asked for first, as a tied weight's two gradients order them in GPT-2); scalars of
    graph inputs alone run first, so the update reads them inside one region."""
    inputs = [torch.tensor(3.0)] + [torch.randn(48, 64) for _ in range(4)]
    inputs[3] = inputs[3].abs()
    step, *update = capturable_adam_step(*[x.to("lazyplus") for x in inputs])
    regions = torch_lazyplus.debug.cuda_sources(update + [step])
    assert [tuple(r["shape"]) for r in regions] == [(), (48, 64)]
    expected_step, *expected_update = capturable_adam_step(*inputs)
    for actual, expected in zip(update + [step], expected_update + [expected_step]):
        torch.testing.assert_close(actual.cpu(), expected)


def test_scalars_read_by_a_node_without_a_tile_form_run_before_it():
    step = torch.tensor(2.0)
    fn = lambda step, x: x.mm(x) * (0.5 ** step).sqrt()  # mm: an ATen step reading the scalar chain's result
    x = torch.randn(8, 8)
    assert torch.equal(run_lazy(fn, [step, x]), fn(step, x))


def test_lerp_with_a_tensor_weight_matches_eager():
    start, end = torch.randn(300), torch.randn(300)
    weight = torch.linspace(-1, 2, 300)  # both branches of eager's formula, and extrapolation
    assert fused_counts(torch.lerp, start, end, weight) == (1, 1)
    assert_matches_eager(torch.lerp, start, end, weight)


def test_reading_an_input_again_through_a_new_view_stays_in_one_region():
    # Each read of x records its own reshape of x's storage; those views must not split the region.
    fn = lambda x: (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True) + x.var(-1, correction=0, keepdim=True)
    x = torch.randn(5, 77)
    assert fused_counts(fn, x) == (1, 6)
    assert_matches_eager(fn, x)


def test_layer_norm_with_affine_returns_all_outputs():
    x, w, b = torch.randn(4, 10), torch.randn(10), torch.randn(10)
    out, mean, rstd = torch.native_layer_norm(x, (10,), w, b, 1e-5)
    lazy = torch.native_layer_norm(x.to("lazyplus"), (10,), w.to("lazyplus"), b.to("lazyplus"), 1e-5)
    for got, expected in zip(lazy, (out, mean, rstd)):
        torch.testing.assert_close(got.cpu(), expected, rtol=1e-5, atol=1e-6)


def test_reductions_see_infinities_and_nans():
    x = torch.tensor([[-float("inf")] * 3, [1.0, float("nan"), 2.0], [float("inf"), 0.0, 1.0]])
    assert_matches_eager(lambda t: torch.stack([t.amax(-1), t.amin(-1), t.sum(-1)]), x)


def test_matmul_stays_aten_and_its_epilogue_fuses():
    a, b = torch.randn(8, 16), torch.randn(16, 4)
    assert fused_counts(lambda a, b: (a @ b).relu() * 2, a, b) == (1, 2)
    assert_matches_eager(lambda a, b: (a @ b).relu() * 2, a, b)


def test_broadcast_inputs_row_col_and_scalar():
    x, row, col = torch.randn(3, 4, 5), torch.randn(3, 4, 1), torch.randn(5)
    assert_matches_eager(lambda x, r, c: x * r + c - 0.5, x, row, col)
    # A broadcast with no row/col form ([3, 1, 5] against [3, 4, 5]) is expanded first.
    assert_matches_eager(lambda x, m: x * m, x, torch.randn(3, 1, 5))


@cpu_target_only
@pytest.mark.parametrize("shape", [(37, 24), (1000, 3), (130, 64), (3, 5, 1000)], ids=str)
def test_short_rows_share_a_tile_and_keep_eagers_results(shape):
    # Rows shorter than a tile run several to a tile (the last tile holds the rest); per-row values
    # (reductions, [rows, 1] inputs) and per-col inputs (affine weights) pair with their own rows.
    x, row, col = torch.randn(shape), torch.randn(*shape[:-1], 1), torch.randn(shape[-1])
    softmax = lambda t: torch.softmax(t * 2, -1)
    expected = softmax(x)
    assert torch.equal(run_lazy(softmax, [x]), expected)  # eager's row reduction, bit for bit
    stats = lambda t: torch.stack([t.amax(-1), t.sum(-1), t.var(-1)], -1)
    assert_matches_eager(stats, x, rtol=1e-4, atol=1e-5)  # sums add in another order than eager's
    # layer_norm's moments round differently from eager's (Welford): a few float32 ulps of its results
    assert_matches_eager(lambda t, w, b: F.layer_norm(t + 1, t.shape[-1:], w, b), x, col, col * 2, atol=1e-5)
    assert_matches_eager(lambda t, r, c: (t * r + c) * (r > 0), x, row, col)
    half = dict(rtol=1e-2, atol=1e-2)
    assert_matches_eager(lambda t, r, c: F.layer_norm(t * r, t.shape[-1:], c), x.bfloat16(), row.bfloat16(), col, **half)


@cpu_target_only
def test_a_lone_exact_gelu_runs_eagers_onednn_kernel():
    # Eager's float32 gelu is oneDNN's, faster than a one-node tile program: alone, gelu runs it (and
    # gives eager's bits); with neighbours it fuses.
    x = torch.randn(64, 300)
    assert fused_counts(F.gelu, x) == (0, 0)
    assert torch.equal(run_lazy(F.gelu, [x]), F.gelu(x))
    assert fused_counts(lambda t: F.gelu(t * 2), x) == (1, 2)
    assert fused_counts(lambda t: F.gelu(t, approximate="tanh"), x) == (1, 1)


def gelu_backward(approximate):
    return lambda grad, x: torch.ops.aten.gelu_backward(grad, x, approximate=approximate)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_backward_fuses_with_its_neighbours(approximate):
    grad, x = torch.randn(64, 300), torch.randn(64, 300) * 3
    backward = gelu_backward(approximate)
    assert fused_counts(lambda g, t: backward(g * 2, t) + 1, grad, x) == (1, 3)
    assert_matches_eager(lambda g, t: backward(g * 2, t) + 1, grad, x)
    assert_matches_eager(lambda g, t: backward(g * 2, t.bfloat16()).float(), grad.bfloat16(), x, rtol=1e-2, atol=1e-2)
    # The exact one runs ATen's kernel in float64: its CUDA kernel (erf and exp in double) would spill
    # registers.
    fused_float64 = (1, 2) if approximate == "tanh" else (1, 1)
    assert fused_counts(lambda g, t: backward(g * 2, t), grad.double(), x.double()) == fused_float64
    assert_matches_eager(lambda g, t: backward(g * 2, t), grad.double(), x.double())


@cpu_target_only
def test_a_lone_exact_gelu_backward_runs_eagers_onednn_kernel():
    # As gelu: eager's exact backward is oneDNN's but in float64; alone, it runs it, with eager's bits.
    grad, x = torch.randn(64, 300), torch.randn(64, 300) * 3
    backward = gelu_backward("none")
    for dtype in (torch.float32, torch.bfloat16):
        g, t = grad.to(dtype), x.to(dtype)
        assert fused_counts(backward, g, t) == (0, 0)
        assert torch.equal(run_lazy(backward, [g, t]), backward(g, t))
    # The tanh one is a region, with eager's bits where eager's vector loop runs (all of a 64 x 300
    # float32: its scalar tail's std::tanh rounds otherwise).
    assert fused_counts(gelu_backward("tanh"), grad, x) == (1, 1)
    assert torch.equal(run_lazy(gelu_backward("tanh"), [grad, x]), gelu_backward("tanh")(grad, x))


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.float16])
def test_floating_dtypes(dtype):
    x = torch.randn(7, 9, dtype=dtype)
    tol = {} if dtype == torch.float64 else dict(rtol=1e-2, atol=1e-2)
    assert_matches_eager(lambda t: torch.softmax(chain(t), -1), x, **tol)


def test_integer_and_bool_regions_are_exact():
    a, b = torch.randint(-50, 50, (6, 7)), torch.randint(-50, 50, (7,))
    fn = lambda a, b: torch.where((a > b) & (a != 3), a * b - 7, (-a).abs()).sum(-1)
    assert_matches_eager(fn, a, b, rtol=0, atol=0)


def assert_bits_match_eager(fn, *inputs):
    """Fused, reference and eager agree bit for bit (so -0.0 and +0.0 differ)."""
    expected = fn(*inputs)
    for name in ("fused", "reference"):
        actual = run_lazy(fn, inputs, name)
        if expected.is_floating_point():
            actual, expected_bits = actual.view(torch.int32), expected.view(torch.int32)
        else:
            expected_bits = expected
        assert torch.equal(actual, expected_bits), (name, fn(*inputs), run_lazy(fn, inputs, name))


SIGNED_ZEROS = torch.tensor([-0.0, 0.0, -1.0, 2.0, float("inf"), -float("inf")])


@pytest.mark.parametrize("fn", [
    lambda x: torch.relu(x * 1),  # eager's relu is clamp_min(x, 0): relu(-0.) is -0.
    lambda x: torch.clamp_min(x * 1, 0.0),
    lambda x: torch.clamp(x * 1, min=-0.0),  # +0. stays +0.
    lambda x: torch.clamp(x * 1, min=-0.5, max=0.0),
    lambda x: torch.atan2(torch.zeros_like(x), x.clamp_max(0.0)),  # atan2(0, -0.) is pi
], ids=["relu", "clamp_min", "clamp_min_negative_zero", "clamp_both", "atan2_of_negative_zero"])
def test_signed_zeros_as_eager(fn):
    assert_bits_match_eager(fn, SIGNED_ZEROS)


def test_bool_add_and_sub_compute_in_bool():
    """Eager casts alpha to bool: add(b, b, alpha=-1) is b or b, not b - b."""
    a = torch.tensor([True, False, True, False] * 5)
    b = torch.tensor([True, True, False, False] * 5)
    assert_bits_match_eager(lambda a, b: torch.add(a, b, alpha=-1), a, b)
    assert_bits_match_eager(lambda a, b: a.clone().add_(b), a, b)
    assert_bits_match_eager(lambda a, b: (a.clone().add_(b)).view(torch.uint8), a, b)  # stored as 0 or 1


def test_true_division_of_integers_is_floating():
    a, b = torch.randint(1, 9, (5,)), torch.randint(1, 9, (5,))
    assert_matches_eager(lambda a, b: a / b + 1, a, b)


def test_conversions_inside_a_region():
    x = torch.randn(4, 6) * 3
    assert_matches_eager(lambda t: (t.to(torch.bfloat16) * 3).float() + t.bool().float(), x)
    assert_matches_eager(lambda t: t.long() * 2, x, rtol=0, atol=0)


def test_large_outputs_bypass_the_cache_and_stay_exact():
    # >= 4 MiB of output is written with non-temporal stores; 1025 columns leave unaligned row starts.
    x = torch.randn(1024, 1025)
    assert_matches_eager(lambda t: torch.softmax(t, -1), x)
    assert_matches_eager(chain, x)
    assert_matches_eager(lambda t: (t > 0).long() * 3, x, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["fused", "reference"])
def test_new_batch_size_reuses_the_compiled_program(name):
    torch.manual_seed(0)
    w, b = torch.randn(8), torch.randn(8)
    fn = lambda x, w, b: ln_gelu(torch.softmax(x * 2, -1), w, b).sum(-1)
    with torch_lazyplus.use_lowering(name):
        run_lazy(fn, (torch.randn(4, 8), w, b), name)
        metrics.reset()
        for batch in (7, 4, 30):
            x = torch.randn(batch, 8)
            torch.testing.assert_close(run_lazy(fn, (x, w, b), name), fn(x, w, b), rtol=1e-5, atol=1e-5)
    assert metrics.counters().get("UncachedCompile", 0) == 0


def test_graph_key_sees_sizes_only_as_equality_classes():
    key = lambda *shape: torch_lazyplus.debug.graph_hash((torch.ones(*shape).to("lazyplus") * 2).relu())
    assert key(4, 8) == key(6, 8) == key(40, 3)
    assert key(4, 8) != key(8, 8)  # two equal dims are a different structure
    assert key(4, 8) != key(1, 8)  # a dim of 1 broadcasts
    assert key(4, 8) != key(4, 8, 2)


def test_rows_too_long_for_a_tile_get_their_own_program():
    softmax = lambda t: torch.softmax(t, -1) * 2
    assert_matches_eager(softmax, torch.randn(3, 100))
    assert_matches_eager(softmax, torch.randn(3, 20000))  # same structure, but the row runs in ATen


def test_changed_scalar_reuses_the_program():
    x = torch.randn(100).to("lazyplus")
    (x * 2.0 + 1).cpu()
    metrics.reset()
    y = (x * 3.0 + 5).cpu()
    assert metrics.counters().get("UncachedCompile", 0) == 0
    torch.testing.assert_close(y, x.cpu() * 3 + 5)


# -- in-place updates ----------------------------------------------------------------------------
def test_in_place_update_writes_over_the_old_value():
    p = torch.randn(64, 64).to("lazyplus")
    torch_lazyplus.sync()
    memory = p.data_ptr()
    expected = p.cpu() * 0.5 + 1
    p.mul_(0.5).add_(1)
    torch_lazyplus.sync()
    assert p.data_ptr() == memory  # donated: no second buffer, as in eager
    torch.testing.assert_close(p.cpu(), expected)


def test_updates_of_tensors_of_two_dtypes_in_one_region_each_write_over_their_own_old_value():
    # Each output takes an old value of its own dtype and size (a bfloat16 update must not land in a
    # float32 tensor's memory); many of each, as an optimizer's region has.
    full = [torch.randn(64, 64).to("lazyplus") for _ in range(5)]
    half = [torch.randn(64, 64).bfloat16().to("lazyplus") for _ in range(5)]
    torch_lazyplus.sync()
    memory = [t.data_ptr() for t in full + half]
    expected = [f.cpu() * 0.5 for f in full] + [h.cpu() + (f.cpu() * 2).bfloat16() for f, h in zip(full, half)]
    for f, h in zip(full, half):  # the region reads full[0], half[0], full[1], ...
        h.add_((f * 2).bfloat16())
    for f in full:  # and writes half[0], ..., half[4], then full[0], ...
        f.mul_(0.5)
    torch_lazyplus.sync()
    assert [t.data_ptr() for t in full + half] == memory
    for t, e in zip(full + half, expected):
        torch.testing.assert_close(t.cpu(), e)


@pytest.mark.parametrize("name", ["fused", "reference"])
def test_writes_through_views_of_a_donated_storage_go_into_its_buffer_one_after_another(name):
    """DDP copies each gradient into a view of its flat bucket: the writes land in the bucket's own
    buffer instead of copying the whole storage once per write."""
    with torch_lazyplus.use_lowering(name):
        bucket_cpu = torch.randn(1000)
        bucket = bucket_cpu.to("lazyplus")
        torch_lazyplus.sync()
        memory = bucket.data_ptr()
        for i in range(10):
            grad = torch.randn(100)
            bucket[i * 100:(i + 1) * 100].copy_(grad.to("lazyplus"))
            bucket_cpu[i * 100:(i + 1) * 100] = grad
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            torch.lazyplus.synchronize()
        assert not [e for e in prof.events() if e.name == "aten::clone"]
        assert bucket.data_ptr() == memory
        torch.testing.assert_close(bucket.cpu(), bucket_cpu)
        bucket[:50].copy_(bucket[50:100])  # a source in the same storage: read before it is overwritten
        bucket_cpu[:50] = bucket_cpu[50:100].clone()
        torch.testing.assert_close(bucket.cpu(), bucket_cpu)


@pytest.mark.parametrize("name", ["fused", "reference"])
def test_old_values_still_read_in_the_same_graph_survive_an_update(name):
    with torch_lazyplus.use_lowering(name):
        p_cpu, q_cpu = torch.randn(32, 32), torch.randn(32, 32)
        p, q = p_cpu.to("lazyplus"), q_cpu.to("lazyplus")
        snapshot, doubled = p.clone(), p * 2
        p.add_(q)
        q.add_(p)  # reads the updated p
        p_cpu_old = p_cpu.clone()
        p_cpu.add_(q_cpu)
        q_cpu.add_(p_cpu)
        for lazy, expected in ((p, p_cpu), (q, q_cpu), (snapshot, p_cpu_old), (doubled, p_cpu_old * 2)):
            torch.testing.assert_close(lazy.cpu(), expected)


@cpu_target_only
def test_attention_records_one_flash_attention_node_as_the_cpu_picks():
    """scaled_dot_product_attention picks the backend the CPU would: one flash-attention node forward
    and one backward (run by lazyplus's small-attention kernels or ATen's: test_small_attention.py),
    with the CPU's values; with dropout it stays the math decomposition, whose random mask comes from
    the lazyplus generator."""
    q, k, v = (torch.randn(2, 4, 16, 8) for _ in range(3))
    results = {}
    for device in ("cpu", "lazyplus"):
        leaves = [t.to(device).requires_grad_() for t in (q, k, v)]
        out = F.scaled_dot_product_attention(*leaves, is_causal=True)
        if device == "lazyplus":
            text = torch_lazyplus.debug.ir_text([out], sources=False)
            assert text.count("aten::_scaled_dot_product_flash_attention_for_cpu(") == 1 and "bmm" not in text
        results[device] = [out.detach().cpu()] + [g.cpu() for g in torch.autograd.grad(out.square().sum(), leaves)]
    torch.testing.assert_close(results["lazyplus"], results["cpu"])
    assert metrics.counters()["lazy::_scaled_dot_product_flash_attention_for_cpu_backward"] == 1
    dropped = F.scaled_dot_product_attention(*(t.to("lazyplus") for t in (q, k, v)), dropout_p=0.5)
    assert "bmm" in torch_lazyplus.debug.ir_text([dropped], sources=False)


# -- views of results whose memory is not row-major ----------------------------------------------
def executed_copies(run):
    """Shapes of the copies (copy_, clone, contiguous) the program executes when `run` syncs."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True) as prof:
        run()
    return [e.input_shapes[0] for e in prof.events() if e.name in ("aten::copy_", "aten::clone")]


@cpu_target_only
def test_attention_heads_go_back_to_the_projection_without_a_copy():
    """CPU flash attention returns (batch, heads, time, dim) in (batch, time, heads, dim) memory, so the
    model's transpose(1, 2).reshape(...) before the output projection is free in eager; the program
    views that memory as eager does instead of copying it to row-major order twice."""
    x, w = torch.randn(4, 16, 32), torch.randn(32, 32)

    def attention_block(x, w):
        q, k, v = (t.view(4, 16, 2, 16).transpose(1, 2) for t in (x, x * 2, x * 3))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return y.transpose(1, 2).reshape(4, 16, 32) @ w

    lazy = attention_block(x.to("lazyplus"), w.to("lazyplus"))
    copies = executed_copies(torch_lazyplus.sync)
    assert [4, 16, 2, 16] not in copies and [4, 2, 16, 16] not in copies, copies
    torch.testing.assert_close(lazy.cpu(), attention_block(x, w))


@pytest.mark.parametrize("name", ["fused", "reference"])
@pytest.mark.parametrize("view", [
    lambda y: y.transpose(1, 2),                 # back to memory order
    lambda y: y.permute(3, 0, 2, 1),
    lambda y: y[:, 1],                           # select
    lambda y: y[1:, :, 3:11:2, -5:],             # slices with a step
    lambda y: y.transpose(1, 2)[:, 2:6].unsqueeze(0),
    lambda y: y.diagonal(dim1=2, dim2=3),        # steps across two dims: copied to row-major first
    lambda y: y.flatten(1),                      # merges dims that are not adjacent in memory
])
def test_views_of_a_result_in_permuted_memory_equal_eager(view, name):
    q, k, v = (torch.randn(2, 3, 16, 16) for _ in range(3))
    expected = view(F.scaled_dot_product_attention(q, k, v)) * 2
    with torch_lazyplus.use_lowering(name):
        lazy = view(F.scaled_dot_product_attention(*(t.to("lazyplus") for t in (q, k, v)))) * 2
        torch.testing.assert_close(lazy.cpu(), expected)


# -- regions over permuted memory: channels-last images, transposed matrices ----------------------
def channels_last(*shape):
    return torch.randn(*shape).contiguous(memory_format=torch.channels_last)


LAYOUTS = {"channels_last": lambda: channels_last(4, 8, 6, 5), "transposed": lambda: torch.randn(40, 24).t()}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_region_visits_inputs_sharing_a_memory_order_in_it_and_copies_nothing(layout):
    """Eager's pointwise results take their inputs' memory order. A region whose inputs share one visits
    the elements in that order: the upload, the inputs and the result are not copied to row-major order
    and back (a channels-last ResNet step spent 1.8x eager's time on such copies and what they caused)."""
    x, y = LAYOUTS[layout](), LAYOUTS[layout]()

    def f(x, y):
        return torch.relu(x + y) * 3 - y.sigmoid()

    lazy = f(x.to("lazyplus"), y.to("lazyplus"))
    assert executed_copies(torch_lazyplus.sync) == []
    expected = f(x, y)
    assert lazy.stride() == expected.stride()
    torch.testing.assert_close(lazy.cpu(), expected)


PERMUTED_REGIONS = [
    lambda x, y: x + y.contiguous(),                              # layouts mixed: visited row-major
    lambda x, y: x * y[..., :1],                                  # a broadcast: row-major tiles
    lambda x, y: x.sum(0, keepdim=True).expand_as(x) / 30 + y,     # an expanded view beside them
    lambda x, y: torch.softmax(x, -1) + y,                        # a row reduction: row-major
    lambda x, y: x.add_(y).mul_(0.5),                             # in place, over x's memory
    lambda x, y: x.transpose(0, -1) * 2 + 1,                      # another order than memory's
]


@pytest.mark.parametrize("f", PERMUTED_REGIONS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_regions_over_permuted_inputs_give_eagers_values_and_layouts(f, layout):
    x, y = LAYOUTS[layout](), LAYOUTS[layout]()
    lx = x.to("lazyplus")
    expected, lazy = f(x, y), f(lx, y.to("lazyplus"))
    assert lazy.stride() == expected.stride()
    torch.testing.assert_close(lazy.cpu(), expected)
    torch.testing.assert_close(lx.cpu(), x)  # what an in-place op wrote


def test_an_update_of_a_whole_channels_last_weight_writes_over_it_without_reading_it():
    """An optimizer's in-place update of a channels-last weight rewrites the whole storage: it becomes
    the region's result, in the weight's memory order, instead of a scatter into a copy of the old one."""
    w, buf, g = channels_last(8, 3, 3, 3), channels_last(8, 3, 3, 3), channels_last(8, 3, 3, 3)
    lw, lbuf, lg = (t.to("lazyplus") for t in (w, buf, g))
    for weight, momentum, grad in ((w, buf, g), (lw, lbuf, lg)):
        momentum.mul_(0.9).add_(grad)
        weight.add_(momentum, alpha=-0.1)
    assert executed_copies(torch_lazyplus.sync) == []
    assert lw.stride() == w.stride() and lbuf.stride() == buf.stride()
    torch.testing.assert_close([lw.cpu(), lbuf.cpu()], [w, buf])


def test_a_channels_last_conv_net_trains_as_eager_with_its_activations_in_place():
    """Convolutions, batch norms and ReLUs on channels-last images, SGD with momentum: eager's losses and
    weights; no activation is copied but the pooled gradient, which the backward broadcasts."""
    def net():
        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4),
        ).to(memory_format=torch.channels_last)

    x, y = channels_last(4, 3, 10, 10), torch.randint(4, (4,))
    models = {"cpu": net(), "lazyplus": net().to("lazyplus")}
    optimizers = {d: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for d, m in models.items()}
    for _ in range(3):
        losses = {}
        for device, model in models.items():
            loss = F.cross_entropy(model(x.to(device)), y.to(device))
            optimizers[device].zero_grad()
            loss.backward()
            optimizers[device].step()
            losses[device] = loss
        activation_copies = [s for s in executed_copies(torch_lazyplus.sync) if s in ([4, 8, 10, 10], [4, 10, 10, 8])]
        assert len(activation_copies) <= 2, activation_copies  # the pooled gradient's: clone and its copy_
        torch.testing.assert_close(losses["lazyplus"].cpu(), losses["cpu"])
    for lazy, eager in zip(models["lazyplus"].parameters(), models["cpu"].parameters()):
        assert lazy.stride() == eager.stride()
        torch.testing.assert_close(lazy.cpu(), eager)


# -- cross-entropy's backward --------------------------------------------------------------------
def cross_entropy_grad(device, classes, weighted=False, reduction="mean", ignore=False):
    torch.manual_seed(0)
    logits, target = torch.randn(37, classes), torch.randint(classes, (37,))
    weight = torch.rand(classes) if weighted else None
    if ignore:
        target[::3] = -100
    x = logits.to(device).requires_grad_()
    loss = F.cross_entropy(x, target.to(device), weight=None if weight is None else weight.to(device),
                           reduction=reduction)
    grad = torch.linspace(-1, 1, 37).to(device) if reduction == "none" else torch.tensor(0.75).to(device)
    loss.backward(grad)
    return x.grad.cpu()


@cpu_target_only
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted,ignore", [(False, False), (True, False), (True, True), (False, True)])
@pytest.mark.parametrize("classes", [1000, 67, 7])  # 7: shorter than the one pass takes
def test_cross_entropy_backward_equals_eagers_bits(classes, weighted, reduction, ignore):
    expected = cross_entropy_grad("cpu", classes, weighted, reduction, ignore)
    torch.testing.assert_close(cross_entropy_grad("lazyplus", classes, weighted, reduction, ignore), expected,
                               rtol=0, atol=0)


@cpu_target_only
def test_cross_entropy_backward_never_writes_the_one_hot_gradient():
    """nll_loss_backward's one-hot gradient, as large as the logits, is neither written nor read: the
    log-softmax backward computes from the targets."""
    x = torch.randn(64, 500).to("lazyplus").requires_grad_()
    F.cross_entropy(x, torch.randint(500, (64,)).to("lazyplus")).backward()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        torch_lazyplus.sync()
    ran = {e.name for e in prof.events()}
    assert "aten::nll_loss_backward" not in ran and "aten::_log_softmax_backward_data" not in ran, ran
