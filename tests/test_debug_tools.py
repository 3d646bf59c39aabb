"""Debugging lazy code: every node names the line that recorded it, trace() captures a function as a
Graph, and the explainer says why each sync, compile and fallback happened and where."""
import inspect
import os
import re
import shutil
import subprocess
import sys
import time
import warnings

import pytest
import torch
from expecttest import TestCase

import torch_lazyplus
from torch_lazyplus import debug

DEV = "lazyplus"
HERE = os.path.basename(__file__)


def _line() -> int:
    """The caller's line number."""
    return inspect.currentframe().f_back.f_lineno


def _normalized(text: str) -> str:
    """Graph hashes and directories vary between runs and machines."""
    text = re.sub(r"0x[0-9a-f]{16}", "<hash>", text)
    return re.sub(r"\S*/" + re.escape(HERE), HERE, text)


class TestSourceLines(TestCase):
    def test_each_node_names_the_line_that_recorded_it(self):
        x = torch.randn(4, 8).to(DEV)
        y = x * 2
        z = y.relu().sum(dim=1)
        self.assertExpectedInline(debug.ir_text(z), """\
%0 = device_data() : Float[32]  # test_debug_tools.py:37
%1 = reshape(%0, size=[4, 8]) : Float[4,8]  # test_debug_tools.py:37
%2 = scalar(wrapped=True) : Long[]  # test_debug_tools.py:37
%3 = aten::mul.Tensor(%1, %2) : Float[4,8]  # test_debug_tools.py:37
%4 = aten::relu(%3) : Float[4,8]  # test_debug_tools.py:38
%5 = aten::sum.dim_IntList(%4, dim=[1], keepdim=False, dtype=None) : Float[4]  # test_debug_tools.py:38
return (%5)
""")

    def test_backward_nodes_name_the_line_of_their_forward_op(self):
        x = torch.randn(5).to(DEV).requires_grad_()
        forward_line = _line() + 1
        loss = (x.sin() * 3).sum()
        loss.backward()
        cos = [n for n in debug.nodes(x.grad) if n["op"] == "aten::cos"]
        self.assertEqual([n["source"] for n in cos], [f"{HERE}:{forward_line}"])
        torch.testing.assert_close(x.grad.cpu(), 3 * x.detach().cpu().cos())

    def test_library_frames_are_skipped(self):
        model = torch.nn.Linear(3, 2).to(DEV)
        line = _line() + 1
        out = model(torch.randn(4, 3).to(DEV))
        self.assertEqual(debug.nodes(out)[-1]["source"], f"{HERE}:{line}")

    def test_capture_can_be_switched_off(self):
        debug.set_source_capture(False)
        try:
            x = torch.randn(3).to(DEV) + 1
        finally:
            debug.set_source_capture(True)
        self.assertNotIn("#", debug.ir_text(x))
        self.assertEqual({n["location"] for n in debug.nodes(x)}, {""})


def _f(x, w):
    h = (x @ w).relu()
    return {"out": h + 1, "total": h.sum()}


class TestTrace(TestCase):
    def test_a_traced_graph_runs_on_new_inputs(self):
        g = torch_lazyplus.trace(_f, torch.randn(4, 8), torch.randn(8, 3))
        x, w = torch.randn(4, 8), torch.randn(8, 3)
        got, want = g.run(x, w), _f(x, w)
        self.assertEqual(set(got), {"out", "total"})
        for k in want:
            self.assertEqual(got[k].device.type, "cpu")
            torch.testing.assert_close(got[k], want[k])
        self.assertEqual(g.num_nodes, len(g.nodes()))

    def test_lazyplus_inputs_give_lazyplus_outputs(self):
        g = torch_lazyplus.trace(_f, torch.randn(4, 8), torch.randn(8, 3))
        x, w = torch.randn(4, 8), torch.randn(8, 3)
        got = g.run(x.to(DEV), w.to(DEV))
        self.assertEqual(got["out"].device.type, DEV)
        torch.testing.assert_close(got["total"].cpu(), _f(x, w)["total"])

    def test_the_same_function_traces_to_the_same_hash(self):
        a = torch_lazyplus.trace(_f, torch.randn(4, 8), torch.randn(8, 3))
        b = torch_lazyplus.trace(_f, torch.randn(4, 8), torch.randn(8, 3))
        c = torch_lazyplus.trace(_f, torch.randn(4, 8, dtype=torch.float64), torch.randn(8, 3, dtype=torch.float64))
        self.assertEqual(a.hash, b.hash)
        self.assertNotEqual(a.hash, c.hash)

    def test_text_and_dot_show_sources(self):
        g = torch_lazyplus.trace(_f, torch.randn(4, 8), torch.randn(8, 3))
        self.assertExpectedInline(g.text(), """\
%0 = device_data() : Float[32]  # test_debug_tools.py:105
%1 = reshape(%0, size=[4, 8]) : Float[4,8]  # test_debug_tools.py:75
%2 = device_data() : Float[24]  # test_debug_tools.py:105
%3 = reshape(%2, size=[8, 3]) : Float[8,3]  # test_debug_tools.py:75
%4 = aten::mm(%1, %3) : Float[4,3]  # test_debug_tools.py:75
%5 = aten::relu(%4) : Float[4,3]  # test_debug_tools.py:75
%6 = scalar(wrapped=True) : Long[]  # test_debug_tools.py:76
%7 = scalar() : Long[]  # test_debug_tools.py:76
%8 = aten::add.Tensor(%5, %6, %7) : Float[4,3]  # test_debug_tools.py:76
%9 = aten::sum(%5, dtype=None) : Float[]  # test_debug_tools.py:76
return (%8, %9)
""")
        dot = g.dot()
        self.assertIn("subgraph cluster_0", dot)  # relu, add and sum fuse into one region
        self.assertIn(f"{HERE}:75", dot)
        self.assertIn("n4 -> n5;", dot)
        with torch_lazyplus.use_lowering("reference"):  # one kernel per node, no region (the CUDA target: its own)
            self.assertEqual("subgraph cluster_" in g.dot(), torch_lazyplus.target() != "cpu")

    def test_wrong_inputs_raise_a_clear_error(self):
        g = torch_lazyplus.trace(_f, torch.randn(4, 8), torch.randn(8, 3))
        with self.assertRaisesRegex(RuntimeError, r"input 0 must be Float\[4,8\] as traced, got Float\[2,8\]"):
            g.run(torch.randn(2, 8), torch.randn(8, 3))
        with self.assertRaisesRegex(RuntimeError, r"input 1 must be Float\[8,3\] as traced, got Double\[8,3\]"):
            g.run(torch.randn(4, 8), torch.randn(8, 3, dtype=torch.float64))
        with self.assertRaisesRegex(RuntimeError, "expected 2 inputs"):
            g.run(torch.randn(4, 8))

    def test_fn_must_return_lazy_tensors(self):
        with self.assertRaisesRegex(TypeError, "must return lazyplus tensors"):
            torch_lazyplus.trace(lambda x: x.sum().item(), torch.randn(3))


class TestExplainer(TestCase):
    def setUp(self):
        torch_lazyplus.sync()
        debug.clear_explain()
        torch_lazyplus._C._clear_compile_cache()

    def events(self, kind):
        return [e for e in debug.explain() if e["kind"] == kind]

    def test_an_item_sync_names_its_cause_and_line(self):
        x = torch.randn(3).to(DEV)
        line = _line() + 1
        (x * 2).sum().item()
        sync = self.events("sync")[-1]
        self.assertEqual(sync["cause"], ".item()")
        self.assertEqual(_normalized(sync["location"]),
                         f"{HERE}:{line} in TestExplainer.test_an_item_sync_names_its_cause_and_line")
        self.assertRegex(sync["detail"], r"graph 0x[0-9a-f]+ \(\d+ nodes, compiled\): trace [\d.e-]+ ms")

    def test_a_changed_shape_recompiles_and_says_where_the_graphs_differ(self):
        def step(x):
            return (x * 2).relu().sum().item()

        step(torch.randn(4, 8).to(DEV))
        step(torch.randn(4, 8).to(DEV))  # cached
        step(torch.randn(4, 4).to(DEV))
        self.assertEqual([e["cause"] for e in self.events("compile")], ["first graph", "new graph"])
        self.assertExpectedInline(_normalized(self.events("compile")[-1]["detail"]), """graph <hash> (6 nodes) differs from cached graph <hash> (6 nodes) first at %1 = reshape(%0, size=[4, 4]) : Float[4,4] from test_debug_tools.py:161 in TestExplainer.test_a_changed_shape_recompiles_and_says_where_the_graphs_differ.<locals>.step; the cached graph has reshape : Float[4,8]""")

    def test_a_size_that_now_equals_another_is_named(self):
        # Graph keys see sizes as equality classes: batch 6 now equals the bias size, which makes a new graph,
        # although every node prints as in the cached one.
        bias = torch.randn(6).to(DEV)

        def step(x):
            return (x + bias).sum().item()

        step(torch.randn(8, 1).to(DEV))
        step(torch.randn(6, 1).to(DEV))
        self.assertExpectedInline(_normalized(self.events("compile")[-1]["detail"]), """graph <hash> (6 nodes) differs from cached graph <hash> (6 nodes) first at %2 = device_data() : Float[6] from test_debug_tools.py:175 in TestExplainer.test_a_size_that_now_equals_another_is_named.<locals>.step; the cached graph has device_data : Float[6], but 6 is now also a size of %0 = device_data() : Float[6] from test_debug_tools.py:175 in TestExplainer.test_a_size_that_now_equals_another_is_named.<locals>.step (graph keys see which sizes are equal, not their values)""")

    def test_sync_causes(self):
        x = torch.randn(3).to(DEV)
        torch_lazyplus.sync()  # nothing pending: no event
        (x + 1).cpu()
        print(x * 3, file=open(os.devnull, "w"))
        torch.nonzero(x > 0)
        y = x - 1
        torch_lazyplus.sync()
        causes = [e["cause"] for e in self.events("sync")]
        # printing formats a host copy: one sync, whose cause is "print"
        self.assertEqual(causes, [".cpu()", "print", "data-dependent shape", "explicit sync"])
        self.assertIn(("data-dependent shape", "aten::nonzero"),
                      [(e["cause"], e["detail"]) for e in self.events("fallback")])
        self.assertTrue(all(HERE in e["location"] for e in debug.explain()))
        del y

    def test_one_line_with_many_graphs_warns(self):
        previous = debug.set_max_graphs_per_site(2)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for rank in range(1, 5):
                    torch.ones([2] * rank, device=DEV).sum().item()
        finally:
            debug.set_max_graphs_per_site(previous)
        self.assertEqual(len([w for w in caught if "distinct graphs" in str(w.message)]), 1)
        self.assertEqual(len(self.events("warning")), 1)

    def test_per_graph_times(self):
        w = torch.randn(64, 64).to(DEV)
        for _ in range(3):
            (w @ w).relu().sum().item()
        (g,) = torch_lazyplus.metrics.graphs()
        self.assertEqual((g["runs"], g["compiles"]), (3, 1))
        self.assertGreater(g["execute_ms"], 0)
        self.assertGreater(g["trace_ms"], 0)
        self.assertGreater(g["compile_ms"], 0)
        self.assertGreater(g["transfer_ms"], 0)

    def test_graph_times_are_wall_clock_milliseconds(self):
        # The timers read the time-stamp counter scaled to nanoseconds: a graph's trace, compile and
        # execute times fit inside the wall time of the code that recorded and ran it.
        w = torch.randn(64, 64).to(DEV)
        start = time.perf_counter()
        y = w
        for _ in range(200):
            y = (y @ w).tanh()
        y.sum().item()
        wall_ms = (time.perf_counter() - start) * 1e3
        (g,) = torch_lazyplus.metrics.graphs()
        self.assertGreater(g["trace_ms"], 0)
        self.assertLessEqual(g["trace_ms"] + g["compile_ms"] + g["execute_ms"], wall_ms)

    def test_lazyplus_debug_prints_events(self):
        code = "import torch, torch_lazyplus\nx = torch.ones(3, device='lazyplus')\nprint((x * 2).sum().item())\n"
        env = dict(os.environ, LAZYPLUS_DEBUG="1")
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        self.assertIn("[lazyplus] compile (first graph) at <string>:3 in <module>", out.stderr)
        self.assertIn("[lazyplus] sync (.item()) at <string>:3 in <module>", out.stderr)


class TestRender(TestCase):
    def test_dot_source_needs_no_graphviz(self):
        x = torch.randn(8, 16).to(DEV)
        path = os.path.join(self.tmpdir(), "g.dot")
        debug.render(torch.softmax(x * 2, dim=-1), path)
        text = open(path).read()
        self.assertIn("subgraph cluster_0", text)
        self.assertIn("aten::_softmax", text)

    @pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
    def test_svg_and_png(self):
        x = torch.randn(8, 16).to(DEV)
        y = torch.softmax(x * 2, dim=-1)
        for suffix, magic in ((".svg", b"<?xml"), (".png", b"\x89PNG")):
            path = debug.render(y, os.path.join(self.tmpdir(), "g" + suffix))
            self.assertTrue(open(path, "rb").read().startswith(magic))

    def tmpdir(self):
        import tempfile
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        return d


def test_fused_regions_show_in_torch_profiler():
    x = torch.randn(1000).to("lazyplus")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        ((x * 2 + 1).relu() * x).sigmoid().cpu()
    assert "lazyplus::fused_region" in [e.key for e in prof.key_averages()]


def test_torch_profiler_shows_a_sync_running_its_kernels_inside_one_execute_range():
    x = torch.randn(64, 32).to("lazyplus")
    w = torch.randn(32, 16).to("lazyplus")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        y = (x @ w).relu() * 2  # recorded: aten::mm dispatched to lazyplus, nothing computed
        y.cpu()                 # the sync: MKL's mm and a fused region, inside lazyplus::execute
    def inside_execute(e):
        while e is not None and e.name != "lazyplus::execute":
            e = e.cpu_parent
        return e is not None
    mms = [inside_execute(e) for e in prof.events() if e.name == "aten::mm"]
    assert mms[0] is False and mms.count(True) == 1  # recording's first, then the program's one GEMM
    assert all(inside_execute(e) for e in prof.events() if e.name == "lazyplus::fused_region")
    assert [e.name for e in prof.events()].count("lazyplus::execute") == 1


@pytest.mark.skipif(torch_lazyplus.target() != "cpu", reason="the CPU backend's own kernels")
def test_own_kernels_show_in_torch_profiler_with_the_shapes_they_ran_on():
    x = torch.randn(8, 16, requires_grad=True)
    lazy = x.detach().to("lazyplus").requires_grad_()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True) as prof:
        torch.nn.functional.layer_norm(lazy, (16,)).square().sum().backward()
        lazy_grad = lazy.grad.cpu()
    torch.nn.functional.layer_norm(x, (16,)).square().sum().backward()
    shapes = {e.key: e.input_shapes for e in prof.key_averages(group_by_input_shape=True)}
    assert shapes["lazyplus::LayerNormBackward"][:2] == [[8, 16], [8, 16]]
    assert any(s for s in shapes["lazyplus::fused_region"])  # a region's operands, not an empty list
    torch.testing.assert_close(lazy_grad, x.grad)


def test_threads_recording_through_library_frames_each_get_their_own_lines():
    """A module called from two threads at once: every op of every call names its own thread's line
    (each thread walks its own frames; the sites they share are interned once)."""
    import threading
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GELU()).to(DEV)
    lines = [_line() + 1, _line() + 2]
    calls = [lambda: model(torch.ones(2, 4, device=DEV)),
             lambda: model(torch.ones(2, 4, device=DEV))]
    sources, barrier = {}, threading.Barrier(2)

    def record(i):
        barrier.wait()
        sources[i] = [{n["source"] for n in debug.nodes(calls[i]())[-2:]} for _ in range(50)]

    threads = [threading.Thread(target=record, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in (0, 1):
        assert sources[i] == [{f"{HERE}:{lines[i]}"}] * 50
