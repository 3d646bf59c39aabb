"""PyTorch's OpInfo database, float32: every op on lazyplus gives the CPU's results.

Samples are built on lazyplus and copied to the CPU; outputs of the fused and of the reference lowering
are compared with eager CPU (as upstream's TestCommon.test_compare_cpu does). Random ops are compared by
metadata only.

With LAZYPLUS_OPINFO_LOG=<path>, each test appends "<op>\t<fallback ops>" to that file, which is how
the share of ops that ran lowered (no CPU fallback) is measured.
"""
import os

import torch
from torch.testing._internal.common_device_type import instantiate_device_type_tests, ops
from torch.testing._internal.common_methods_invocations import op_db
from torch.testing._internal.common_utils import TestCase
from torch.utils._pytree import tree_flatten, tree_map

import torch_lazyplus

# Ops that fail today, with the reason (see the issue notes). They run and must keep failing
# (xfail strict): a fixed op is noticed and removed from here.
KNOWN_FAILURES = {
    "as_strided.partial_views": "the CPU copy of a partial view loses its base storage (upstream xfails it too)",
    "sparse.sampled_addmm": "sparse layouts are not supported",
    "to_sparse": "sparse layouts are not supported",
}

# Factories whose values are uninitialized memory: only shapes and dtypes are compared.
UNDEFINED_VALUES = {"empty", "empty_like", "empty_strided", "empty_permuted", "new_empty", "new_empty_strided"}

# Every sample runs under both lowerings; each must match eager CPU.
LOWERINGS = ("fused", "reference")

OPS = [op for op in op_db if torch.float32 in op.supported_dtypes("cpu")]


def _on_cpu(x):
    """Tensors copied to the CPU, lazyplus devices (factory arguments) replaced by the CPU."""
    if isinstance(x, torch.Tensor):
        return x.to("cpu")
    if isinstance(x, (str, torch.device)) and str(x).startswith("lazyplus"):
        return "cpu"
    return x


def _cpu_sample(sample):
    cpu = sample.transform(_on_cpu)
    cpu.args = tuple(_on_cpu(a) for a in cpu.args)
    cpu.kwargs = {k: _on_cpu(v) for k, v in cpu.kwargs.items()}
    return cpu


def _run(op, sample, seed=0):
    torch.manual_seed(seed)
    out = op(sample.input, *sample.args, **sample.kwargs)
    return sample.output_process_fn_grad(out)


def _leaves(out):
    return [x for x in tree_flatten(out)[0] if isinstance(x, torch.Tensor)]


def _is_random(op, sample, expected):
    again = _leaves(_run(op, sample, seed=1))
    return any(not torch.equal(a, b) for a, b in zip(again, expected) if a.shape == b.shape)


def _log(op, fallbacks):
    path = os.environ.get("LAZYPLUS_OPINFO_LOG")
    if path:
        with open(path, "a") as f:
            f.write(f"{op.name}.{op.variant_test_name}\t{','.join(sorted(fallbacks))}\n")


class TestLazyplusOpInfo(TestCase):
    @ops(OPS, allowed_dtypes=(torch.float32,))
    def test_compare_cpu(self, device, dtype, op):
        name = f"{op.name}.{op.variant_test_name}" if op.variant_test_name else op.name
        if name in KNOWN_FAILURES:
            with self.assertRaises(Exception, msg=f"{name} passes now: remove it from KNOWN_FAILURES"):
                self._compare(device, dtype, op)
        else:
            self._compare(device, dtype, op)

    def _compare(self, device, dtype, op):
        fallbacks = set()
        for lazy_sample in op.sample_inputs(device, dtype):
            sample = _cpu_sample(lazy_sample)
            expected = _leaves(_run(op, sample))
            for lowering in LOWERINGS:
                with torch_lazyplus.use_lowering(lowering):
                    torch_lazyplus.metrics.reset()
                    actual = [t.cpu() for t in _leaves(_run(op, lazy_sample))]
                fallbacks |= {k for k in torch_lazyplus.metrics.counters() if k.startswith("aten::")}
                self.assertEqual([(t.shape, t.dtype) for t in actual], [(t.shape, t.dtype) for t in expected])
                if op.name in UNDEFINED_VALUES:
                    continue
                try:
                    for a, e in zip(actual, expected):
                        torch.testing.assert_close(a, e, atol=1e-4, rtol=1e-4, equal_nan=True,
                                                   msg=lambda m: f"{lowering} lowering: {m}")
                except AssertionError:
                    if not _is_random(op, sample, expected):
                        raise
        _log(op, fallbacks)


instantiate_device_type_tests(TestLazyplusOpInfo, globals(), only_for="lazyplus")
