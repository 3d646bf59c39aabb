"""PyTorch's OpInfo database, float32: every op on lazyplus gives the CPU's results.

Samples are built on the CPU and copied to lazyplus; outputs are compared with eager CPU (as upstream's
TestCommon.test_compare_cpu does). Random ops are compared by metadata only.
"""
import torch
from torch.testing._internal.common_device_type import instantiate_device_type_tests, ops
from torch.testing._internal.common_methods_invocations import op_db
from torch.testing._internal.common_utils import TestCase
from torch.utils._pytree import tree_flatten, tree_map

import torch_lazyplus

# Ops that fail today, with the reason (see the issue notes). They run and must keep failing
# (xfail strict): a fixed op is noticed and removed from here.
KNOWN_FAILURES = {
    "as_strided.partial_views": "overlapping partial views of one storage read stale elements",
    "fft.ifft": "complex results through the CPU fallback differ",
    "fft.hfft2": "complex results through the CPU fallback differ",
    "fft.hfftn": "complex results through the CPU fallback differ",
    "fft.ihfft": "complex results through the CPU fallback differ",
    "fft.ihfft2": "complex results through the CPU fallback differ",
    "fft.ihfftn": "complex results through the CPU fallback differ",
    "sparse.sampled_addmm": "sparse layouts are not supported",
    "to_sparse": "sparse layouts are not supported",
    "tensor_split": "the sample moves a CPU-only index tensor to the device (eager rejects it too)",
}

OPS = [op for op in op_db if torch.float32 in op.supported_dtypes("cpu")]


def _to(device):
    return lambda x: x.to(device) if isinstance(x, torch.Tensor) else x


def _run(op, sample, seed=0):
    torch.manual_seed(seed)
    out = op(sample.input, *sample.args, **sample.kwargs)
    return sample.output_process_fn_grad(out)


def _leaves(out):
    return [x for x in tree_flatten(out)[0] if isinstance(x, torch.Tensor)]


def _is_random(op, sample, expected):
    again = _leaves(_run(op, sample, seed=1))
    return any(not torch.equal(a, b) for a, b in zip(again, expected) if a.shape == b.shape)


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
        for sample in op.sample_inputs("cpu", dtype):
            expected = _leaves(_run(op, sample))
            lazy_sample = sample.transform(_to(device))
            actual = [t.cpu() for t in _leaves(_run(op, lazy_sample))]
            self.assertEqual([(t.shape, t.dtype) for t in actual], [(t.shape, t.dtype) for t in expected])
            try:
                for a, e in zip(actual, expected):
                    torch.testing.assert_close(a, e, atol=1e-4, rtol=1e-4, equal_nan=True)
            except AssertionError:
                if not _is_random(op, sample, expected):
                    raise


instantiate_device_type_tests(TestLazyplusOpInfo, globals(), only_for="lazyplus")
