"""The core library on its own: torch.classes.lazyplus.Graph and .Metrics, torch.ops.lazyplus.*, and
loading liblazyplus.so into processes that never import torch_lazyplus (modelled on PyTorch's
torchbind tests)."""
import copy
import io
import os
import pickle
import subprocess
import sys
import tempfile
import textwrap
from typing import List

import expecttest
import torch

import torch_lazyplus

DEV = "lazyplus"


def mlp(x, w):
    return (x @ w).relu() * 2 + x.sum()


def graph():
    return torch_lazyplus.trace(mlp, torch.randn(4, 8), torch.randn(8, 3)).script_object


def inputs(device="cpu"):
    torch.manual_seed(0)
    return [torch.randn(4, 8, device=device), torch.randn(8, 3, device=device)]


class HoldsGraph(torch.nn.Module):
    def __init__(self, g):
        super().__init__()
        self.g = g

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> List[torch.Tensor]:
        return self.g.run([x, w])


class CallsRunGraph(torch.nn.Module):
    def __init__(self, g):
        super().__init__()
        self.g = g

    def forward(self, x, w):
        return torch.ops.lazyplus.run_graph(self.g, [x, w])[0] + 1


class TestGraphClass(expecttest.TestCase):
    def test_runs_like_the_function(self):
        g = graph()
        self.assertIsInstance(g, torch.ScriptObject)
        torch.testing.assert_close(g.run(inputs())[0], mlp(*inputs()))
        self.assertEqual(g.num_nodes(), 12)
        self.assertIn("aten::mm", g.text())

    def test_lazyplus_inputs_run_lazily(self):
        out = graph().run(inputs(DEV))[0]
        self.assertEqual(out.device.type, DEV)
        self.assertGreater(torch_lazyplus._C._num_pending(), 0)  # recorded, not run
        torch.testing.assert_close(out.cpu(), mlp(*inputs()))

    def test_gradients_flow_through(self):
        for device in ("cpu", DEV):
            x, w = (t.requires_grad_() for t in inputs(device))
            (graph().run([x, w])[0] ** 2).sum().backward()
            xr, wr = (t.requires_grad_() for t in inputs())
            (mlp(xr, wr) ** 2).sum().backward()
            torch.testing.assert_close(x.grad.cpu(), xr.grad)
            torch.testing.assert_close(w.grad.cpu(), wr.grad)

    def test_pickle_torch_save_and_deepcopy_round_trip(self):
        g = graph()
        buffer = io.BytesIO()
        torch.save(g, buffer)
        buffer.seek(0)
        copies = [pickle.loads(pickle.dumps(g)), torch.load(buffer, weights_only=False), copy.deepcopy(g)]
        for c in copies:
            self.assertEqual(c.hash(), g.hash())  # the same nodes, so the same compiled program
            self.assertEqual(c.text(), g.text())  # lines of this file included
            torch.testing.assert_close(c.run(inputs())[0], mlp(*inputs()))

    def test_a_graph_that_creates_tensors_saves_loads_and_runs_on_both_devices_with_gradients(self):
        def shifted(x):
            return x + torch.zeros(3, device=x.device) + torch.ones(3, device=x.device) * 2 + torch.empty(
                3, device=x.device).fill_(1)
        buffer = io.BytesIO()
        torch.save(torch_lazyplus.trace(shifted, torch.randn(3)), buffer)
        buffer.seek(0)
        loaded = torch.load(buffer, weights_only=False)
        for device in ("cpu", DEV):
            x = torch.randn(3).to(device).requires_grad_()
            y = loaded.run(x)
            self.assertEqual(y.device, x.device)
            torch.testing.assert_close(y.cpu(), x.detach().cpu() + 3)
            (y * y).sum().backward()
            torch.testing.assert_close(x.grad.cpu(), 2 * (x.detach().cpu() + 3))

    def test_scripted_module_matches_eager_and_round_trips(self):
        module = HoldsGraph(graph())
        scripted = torch.jit.script(module)
        torch.testing.assert_close(scripted(*inputs()), module(*inputs()))
        buffer = io.BytesIO()
        torch.jit.save(scripted, buffer)
        buffer.seek(0)
        loaded = torch.jit.load(buffer)
        self.assertEqual(loaded.g.hash(), module.g.hash())
        torch.testing.assert_close(loaded(*inputs()), module(*inputs()))

    def test_export_traces_a_module_holding_a_graph(self):
        # Through the fake Graph class: the op and the method call both trace without running the graph.
        for module, call in ((CallsRunGraph(graph()), "lazyplus.run_graph.default"),
                             (HoldsGraph(graph()), "higher_order.call_torchbind")):
            program = torch.export.export(module, tuple(inputs()), strict=False)
            self.assertIn(call, str(program.graph))
            torch.testing.assert_close(program.module()(*inputs()), module(*inputs()))

    def test_wrong_inputs_raise_clear_errors(self):
        g = graph()
        x, w = inputs()
        with self.assertRaisesRegex(RuntimeError, r"input 0 must be Float\[4,8\] as traced, got Float\[4,8,1\]"):
            g.run([x.unsqueeze(-1), w])
        with self.assertRaisesRegex(RuntimeError, r"input 1 must be Float\[8,3\] as traced, got Long\[8,3\]"):
            g.run([x, w.long()])
        with self.assertRaisesRegex(RuntimeError, r"expected 2 inputs \(as traced\), got 1"):
            g.run([x])

    def test_another_format_version_is_refused(self):
        (version, payload), class_name = graph().__getstate__()  # what pickle saves: state, then class
        obj = torch.ScriptObject.__new__(torch.ScriptObject)
        with self.assertRaisesRegex(RuntimeError, f"the saved graph has format version {version + 1}, but this "
                                                  f"build of torch_lazyplus reads format version {version}"):
            obj.__setstate__(((version + 1, payload), class_name))

    def test_missing_class_raises_torchbinds_error(self):
        self.assertExpectedRaisesInline(RuntimeError, lambda: torch.classes.lazyplus.Nope(), """\
Tried to instantiate class 'lazyplus.Nope', but it does not exist! Ensure that it is registered via torch::class_""")


class TestMetricsClass(expecttest.TestCase):
    def test_counters_from_torchscript(self):
        @torch.jit.script
        def syncs() -> int:
            return torch.classes.lazyplus.Metrics().counter("Sync")

        before = syncs()
        (torch.ones(3, device=DEV) * 2).cpu()
        self.assertEqual(syncs(), before + 1)
        m = torch.classes.lazyplus.Metrics()
        self.assertEqual(dict(m.counters()), torch_lazyplus.metrics.counters())
        m.reset()
        self.assertEqual(m.counter("Sync"), 0)


class TestOps(expecttest.TestCase):
    def test_sync_runs_pending_work(self):
        y = torch.ones(3, device=DEV) + 1
        self.assertGreater(torch_lazyplus._C._num_pending(), 0)
        torch.ops.lazyplus.sync()
        self.assertEqual(torch_lazyplus._C._num_pending(), 0)
        self.assertEqual(y.cpu().tolist(), [2.0, 2.0, 2.0])

    def test_opcheck(self):
        g = graph()
        x, w = inputs()
        cases = [
            (torch.ops.lazyplus.sync.default, ()),
            (torch.ops.lazyplus.run_graph.default, (g, [x, w])),
            (torch.ops.lazyplus.run_graph.default, (g, [x.clone().requires_grad_(), w])),
            (torch.ops.lazyplus.run_graph.default, (g, inputs(DEV))),
            (torch.ops.lazyplus.run_graph_backward.default, (g, [x, w], [torch.ones(4, 3)])),
        ]
        for op, args in cases:
            result = torch.library.opcheck(op, args)
            self.assertEqual(set(result.values()), {"SUCCESS"}, f"{op}: {result}")


class OnLazyplus(torch.nn.Module):
    """TorchScript that moves its input to lazyplus and back: runs wherever the core library is loaded."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.to("lazyplus") * 2).sum(1).cpu()


# Runs in a fresh interpreter that never imports torch_lazyplus (autoload off).
CORE_ONLY = """
import sys, torch
path, graph_file, graph_module_file, lazy_module_file = sys.argv[1:]
torch.classes.load_library(path)
torch.ops.load_library(path)  # again: harmless
try:
    torch.classes.load_library(path + ".missing")
except OSError as e:
    print("bad path:", type(e).__name__, "-", str(e).replace(path, "<path>"), "-", str(e.__cause__).replace(path, "<path>"))
y = torch.ops.aten.ones.default([2, 3], device=torch.device("lazyplus"))
print("aten op on lazyplus:", y.device, (y * 2).sum(1).cpu().tolist())
print("scripted module on lazyplus:", torch.jit.load(lazy_module_file)(torch.ones(2, 3)).tolist())
print("syncs:", torch.classes.lazyplus.Metrics().counter("Sync"))
g = torch.load(graph_file, weights_only=False)
x, w = torch.ones(4, 8), torch.ones(8, 3)
print("saved graph:", g.num_nodes(), "nodes,", g.run([x, w])[0][0].tolist())
print("scripted module holding it:", torch.jit.load(graph_module_file)(x, w)[0][0].tolist())
print("ops:", sorted(n for n in torch._C._dispatch_get_all_op_names() if n.startswith("lazyplus::")))
try:
    torch.ones(2, device="lazyplus")
except ModuleNotFoundError as e:
    print("Python factories need the device module:", e)
print("python package imported:", "torch_lazyplus" in sys.modules)
"""


class TestCoreLibraryAlone(expecttest.TestCase):
    maxDiff = None
    def test_core_library_loads_without_the_python_package(self):
        g = graph()
        with tempfile.TemporaryDirectory() as d:
            files = [os.path.join(d, name) for name in ("graph.pt", "graph_module.pt", "lazy_module.pt")]
            torch.save(g, files[0])
            torch.jit.save(torch.jit.script(HoldsGraph(g)), files[1])
            torch.jit.save(torch.jit.script(OnLazyplus()), files[2])
            env = dict(os.environ, TORCH_DEVICE_BACKEND_AUTOLOAD="0")
            env.pop("PYTHONPATH", None)
            out = subprocess.run([sys.executable, "-c", CORE_ONLY, torch_lazyplus.library_path(), *files],
                                 env=env, capture_output=True, text=True, cwd=d)
        self.assertEqual(out.returncode, 0, out.stderr)
        expected = mlp(torch.ones(4, 8), torch.ones(8, 3))[0].tolist()
        self.assertEqual(out.stdout, textwrap.dedent(f"""\
            bad path: OSError - Could not load this library: <path>.missing - <path>.missing: cannot open shared object file: No such file or directory
            aten op on lazyplus: lazyplus:0 [6.0, 6.0]
            scripted module on lazyplus: [6.0, 6.0]
            syncs: 2
            saved graph: 12 nodes, {expected}
            scripted module holding it: {expected}
            ops: ['lazyplus::run_cuda_region', 'lazyplus::run_graph', 'lazyplus::run_graph_backward', 'lazyplus::sync']
            Python factories need the device module: No module named 'torch.lazyplus'
            python package imported: False
            """))

    def test_core_library_has_no_python(self):
        symbols = subprocess.run(["nm", "-D", "--undefined-only", torch_lazyplus.library_path()],
                                 capture_output=True, text=True, check=True).stdout
        self.assertNotRegex(symbols, r"\bU _?Py")
        needed = subprocess.run(["readelf", "-d", torch_lazyplus.library_path()],
                                capture_output=True, text=True, check=True).stdout
        self.assertNotIn("python", needed.lower())
        self.assertIn("libtorch_cpu.so", needed)
