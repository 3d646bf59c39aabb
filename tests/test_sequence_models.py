"""Recurrent layers run over whole sequences, never as a graph of per-time-step ops.

- nn.LSTM: one oneDNN node per layer and direction (aten::mkldnn_rnn_layer, and one backward node
  each), as the CPU runs it: the CPU's values and gradients bit for bit.
- nn.GRU and nn.RNN in float32 and float64: one lazyplus node per layer and direction each way. The input
  projection of all steps is one GEMM (as on the CPU), each step one GEMM and one vectorized cell, and the
  backward takes the weight gradients of all steps as one GEMM each: the CPU's values and gradients to
  rounding (its tanh is MKL's, ours Sleef's; its weight gradients are summed step by step).
- What stays a loop of cells on the CPU (LSTMs with projections or with oneDNN off, GRU/RNN in reduced
  precision): one node running the CPU's own loop under autograd, and one backward node that takes the
  gradients through the graph it built: bit for bit.
- Packed sequences decompose into cells; dropout masks between layers come from the lazyplus generator."""
import copy

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import torch_lazyplus


def run(module, inputs, device, backward=True):
    """Outputs and (with `backward`) gradients of inputs and parameters of `module` on `device`."""
    module = module.to(device)
    inputs = [x.to(device) if isinstance(x, PackedSequence) else x.detach().to(device).requires_grad_(backward)
              for x in inputs]
    out, state = module(*inputs)
    flat = [out.data if hasattr(out, "batch_sizes") else out, *(state if isinstance(state, tuple) else (state,))]
    if not backward:
        return [t.cpu() for t in flat]
    sum(t.square().sum() for t in flat).backward()
    return [t.detach().cpu() for t in flat] + [t.grad.cpu() for t in [*inputs, *module.parameters()]]


def assert_matches_cpu(make_module, inputs, backward=True, exact=False, rtol=1e-5, atol=1e-6):
    torch.manual_seed(0)
    module = make_module()
    lazy_module = make_module()
    lazy_module.load_state_dict(module.state_dict())
    expected = run(module, inputs, "cpu", backward)
    actual = run(lazy_module, inputs, "lazyplus", backward)
    for e, a in zip(expected, actual, strict=True):
        torch.testing.assert_close(a, e, rtol=0 if exact else rtol, atol=0 if exact else atol)


@pytest.mark.parametrize("num_layers,bidirectional,batch_first,bias", [
    (1, False, False, True), (2, False, True, True), (2, True, False, True), (3, True, True, False)])
def test_an_lstm_matches_the_cpu_in_values_and_gradients(num_layers, bidirectional, batch_first, bias):
    x = torch.randn(6, 5, 4)
    assert_matches_cpu(lambda: torch.nn.LSTM(4, 7, num_layers, bias=bias, batch_first=batch_first,
                                             bidirectional=bidirectional), [x])
    counters = torch_lazyplus.metrics.counters()
    layers = num_layers * (2 if bidirectional else 1)
    assert counters["lazy::mkldnn_rnn_layer"] == layers and counters["lazy::mkldnn_rnn_layer_backward"] == layers
    assert "lazy::mm" not in counters and "lazy::addmm" not in counters, counters  # no per-step GEMMs


def test_an_lstm_with_an_initial_state_matches_the_cpu():
    class WithState(torch.nn.LSTM):  # takes (h0, c0) as separate inputs, so both get gradients
        def forward(self, x, h0, c0):
            return super().forward(x, (h0, c0))

    assert_matches_cpu(lambda: WithState(4, 5, 2), [torch.randn(7, 3, 4), torch.randn(2, 3, 5), torch.randn(2, 3, 5)])


def test_an_unbatched_sequence_matches_the_cpu():
    assert_matches_cpu(lambda: torch.nn.LSTM(4, 5, 2), [torch.randn(7, 4)])


def test_inference_without_grad_mode_keeps_no_workspace_as_the_cpu():
    assert_matches_cpu(lambda: torch.nn.LSTM(4, 5, 2).eval(), [torch.randn(7, 3, 4)], backward=False)
    layer_args = ([torch.randn(7, 3, 4), torch.randn(20, 4), torch.randn(20, 5), torch.randn(20), torch.randn(20),
                   torch.randn(3, 5), torch.randn(3, 5)], [False, [], 2, 5, 1, True, False, False, False])
    for device in ("cpu", "lazyplus"):
        tensors = [t.to(device) for t in layer_args[0]]
        with torch.no_grad():
            assert torch.ops.aten.mkldnn_rnn_layer(*tensors, *layer_args[1])[3] is None
        workspace = torch.ops.aten.mkldnn_rnn_layer(*tensors, *layer_args[1])[3]
        assert workspace.dtype == torch.uint8 and workspace.numel() > 0


@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(rnn=st.sampled_from([torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN]), seq=st.integers(1, 9),
       batch=st.integers(1, 5), features=st.integers(1, 6), hidden=st.integers(1, 9), num_layers=st.integers(1, 3),
       bidirectional=st.booleans(), batch_first=st.booleans(), bias=st.booleans())
def test_random_recurrent_shapes_match_the_cpu(rnn, seq, batch, features, hidden, num_layers, bidirectional,
                                               batch_first, bias):
    x = torch.randn((batch, seq, features) if batch_first else (seq, batch, features))
    assert_matches_cpu(lambda: rnn(features, hidden, num_layers, bias=bias, batch_first=batch_first,
                                   bidirectional=bidirectional), [x])


def assert_recorded_as_sequences(count):
    counters = torch_lazyplus.metrics.counters()
    assert counters.get("lazy::rnn_sequence") == count and counters.get("lazy::rnn_sequence_backward") == count
    assert "lazy::mkldnn_rnn_layer" not in counters and "lazy::mm" not in counters, counters


def assert_recorded_as_layers(count):
    counters = torch_lazyplus.metrics.counters()
    assert counters.get("lazy::recurrent_layer") == count and counters.get("lazy::recurrent_layer_backward") == count
    assert not any(op in counters for op in ("lazy::rnn_sequence", "lazy::mm", "lazy::addmm", "lazy::sigmoid")), counters


@pytest.mark.parametrize("rnn,kwargs", [(torch.nn.GRU, {}), (torch.nn.GRU, {"batch_first": True, "bias": False}),
                                         (torch.nn.RNN, {}), (torch.nn.RNN, {"nonlinearity": "relu"}),
                                         (torch.nn.GRU, {"dtype": torch.float64})])
def test_a_gru_or_rnn_is_one_node_per_layer_and_direction_each_way(rnn, kwargs):
    x = torch.randn(6, 3, 4, dtype=kwargs.get("dtype", torch.float32))
    assert_matches_cpu(lambda: rnn(4, 6, 2, bidirectional=True, **kwargs), [x])
    assert_recorded_as_layers(4)


def test_long_sequences_and_wide_layers_are_as_accurate_as_the_cpu():
    """Whole vectors of every ISA and rows split between threads (B x H of 128 x 512). A weight gradient
    sums 6,400 products here, the CPU's step by step and ours in one GEMM: measured against float64, our
    error stays within twice the CPU's own."""
    for rnn in (torch.nn.GRU, torch.nn.RNN):
        torch.manual_seed(0)
        module, x = rnn(40, 512, 1), torch.randn(50, 128, 40)
        cpu, actual = run(copy.deepcopy(module), [x], "cpu"), run(copy.deepcopy(module), [x], "lazyplus")
        exact = run(module.double(), [x.double()], "cpu")
        for c, a, e in zip(cpu, actual, exact, strict=True):
            assert (a.double() - e).abs().max() <= 2 * (c.double() - e).abs().max() + 1e-6 * e.abs().max()


@pytest.mark.parametrize("rnn,kwargs", [(torch.nn.LSTM, {"proj_size": 3}), (torch.nn.GRU, {"dtype": torch.bfloat16}),
                                         (torch.nn.RNN, {"dtype": torch.bfloat16, "nonlinearity": "relu"})])
def test_a_loop_of_cells_on_the_cpu_is_one_node_each_way_with_the_cpus_values(rnn, kwargs):
    x = torch.randn(6, 3, 4, dtype=kwargs.get("dtype", torch.float32))
    assert_matches_cpu(lambda: rnn(4, 6, 2, bidirectional=True, **kwargs), [x], exact=True)
    assert_recorded_as_sequences(1)


def test_an_lstm_with_onednn_off_is_the_cpus_loop_of_cells():
    with torch.backends.mkldnn.flags(enabled=False):
        assert_matches_cpu(lambda: torch.nn.LSTM(4, 6, 2), [torch.randn(6, 3, 4)], exact=True)
    assert_recorded_as_sequences(1)


def test_a_gru_with_an_initial_state_matches_the_cpu():
    class WithState(torch.nn.GRU):
        def forward(self, x, h0):
            return super().forward(x, h0)

    assert_matches_cpu(lambda: WithState(4, 5, 2), [torch.randn(7, 3, 4), torch.randn(2, 3, 5)])


def test_packed_sequences_decompose_and_match_the_cpu():
    packed = pack_padded_sequence(torch.randn(6, 3, 4), torch.tensor([6, 4, 2]))
    for rnn in (torch.nn.LSTM, torch.nn.GRU):
        assert_matches_cpu(lambda: rnn(4, 6, 2), [packed], backward=False)
    counters = torch_lazyplus.metrics.counters()
    assert not any(op in counters for op in ("lazy::rnn_sequence", "lazy::mkldnn_rnn_layer", "lazy::recurrent_layer"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["layer node", "sequence node"])
def test_a_differentiable_backward_through_a_recurrent_node_raises_instead_of_a_wrong_answer(dtype):
    gru = torch.nn.GRU(4, 5, dtype=dtype).to("lazyplus")
    out, _ = gru(torch.randn(3, 2, 4, device="lazyplus", dtype=dtype))
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(out.sum(), gru.weight_hh_l0, create_graph=True)


@pytest.mark.parametrize("rnn,kwargs", [(torch.nn.GRU, {"batch_first": True}), (torch.nn.RNN, {"bidirectional": True}),
                                         (torch.nn.LSTM, {"proj_size": 3, "batch_first": True, "bidirectional": True})])
def test_outputs_are_shaped_and_strided_as_the_cpus(rnn, kwargs):
    """Their sizes come from the operands' sizes (a meta call would run the loop of cells op by op)."""
    torch.manual_seed(0)
    module, x = rnn(4, 6, 2, **kwargs), torch.randn(5, 3, 4)
    with torch.backends.mkldnn.flags(enabled=False):
        expected = module(x)
        actual = module.to("lazyplus")(x.to("lazyplus"))
    flat = lambda outputs: [outputs[0], *(outputs[1] if isinstance(outputs[1], tuple) else (outputs[1],))]
    for a, e in zip(flat(actual), flat(expected), strict=True):
        assert (a.shape, a.stride()) == (e.shape, e.stride())


def test_operands_that_do_not_fit_raise_the_cpus_error_at_the_call():
    gru = torch.nn.GRU(4, 6)
    params = list(gru.parameters())
    for device in ("cpu", "lazyplus"):
        wrong_state = torch.zeros(1, 3, 5, device=device)  # hidden size 6, not 5
        with pytest.raises(RuntimeError, match="mat1 and mat2 shapes cannot be multiplied"):
            torch.gru(torch.randn(5, 3, 4).to(device), wrong_state, [p.to(device) for p in params],
                      True, 1, 0.0, True, False, False)


def gru_and_input(device):
    torch.manual_seed(0)
    return torch.nn.GRU(4, 5, 2).to(device), torch.randn(6, 3, 4).to(device)


def gru_gradients(device, between=lambda out: None, retain=False):
    """Gradients of a GRU's weights: after one backward, or two with `retain`; `between` runs on the
    output after the forward."""
    gru, x = gru_and_input(device)
    out, _ = gru(x)
    between(out)
    loss = out.square().sum()
    loss.backward(retain_graph=retain)
    if retain:
        loss.backward()
    return [p.grad.cpu() for p in gru.parameters()]


def test_forward_and_backward_in_one_graph_record_each_layer_once_each_way():
    """The backward reads what the forward saved: no second pass over the sequence."""
    gru, x = gru_and_input("lazyplus")
    out, h = gru(x)
    (out.square().sum() + h.sum()).backward()
    torch_lazyplus.sync()
    assert_recorded_as_layers(2)


@pytest.mark.parametrize("between", [
    pytest.param(lambda out: out.cpu(), id="sync between forward and backward"),
    pytest.param(lambda out: out.mul_(2), id="output changed in place"),
])
def test_gradients_match_the_cpus_whatever_happens_between_forward_and_backward(between):
    torch.testing.assert_close(gru_gradients("lazyplus", between), gru_gradients("cpu", between))


def test_a_second_backward_through_a_retained_graph_matches_the_cpus():
    torch.testing.assert_close(gru_gradients("lazyplus", retain=True), gru_gradients("cpu", retain=True))


def test_a_weight_changed_in_place_before_the_backward_raises_as_on_the_cpu():
    for device in ("cpu", "lazyplus"):
        gru, x = gru_and_input(device)
        out, _ = gru(x)
        with torch.no_grad():
            gru.weight_hh_l0.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.sum().backward()


def test_dropout_between_layers_draws_from_the_lazyplus_generator():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(4, 6, 3, dropout=0.5).to("lazyplus")
    x = torch.randn(6, 3, 4).to("lazyplus")
    torch.lazyplus.manual_seed(3)
    first = lstm(x)[0].cpu()
    torch.lazyplus.manual_seed(3)
    torch.testing.assert_close(lstm(x)[0].cpu(), first, rtol=0, atol=0)
    assert not torch.equal(lstm(x)[0].cpu(), first)  # the next draw differs
    assert torch_lazyplus.metrics.counters()["lazy::mkldnn_rnn_layer"] == 9
    torch_lazyplus.metrics.reset()
    torch.lazyplus.manual_seed(3)
    gru = torch.nn.GRU(4, 6, 3, dropout=0.5).to("lazyplus")
    first = gru(x)[0].cpu()
    torch.lazyplus.manual_seed(3)
    torch.testing.assert_close(gru(x)[0].cpu(), first, rtol=0, atol=0)
    assert not torch.equal(gru(x)[0].cpu(), first)
    assert torch_lazyplus.metrics.counters()["lazy::recurrent_layer"] == 9  # 3 calls of 3 layers


@pytest.mark.parametrize("rnn,node", [(torch.nn.LSTM, "mkldnn_rnn_layer"), (torch.nn.GRU, "recurrent_layer")])
def test_a_language_model_trains_like_the_cpu_in_one_graph_per_step(rnn, node):
    def train(device):
        torch.manual_seed(0)
        embed, lstm, head = torch.nn.Embedding(50, 16), rnn(16, 32, 2), torch.nn.Linear(32, 50)
        modules = torch.nn.ModuleList([embed, lstm, head]).to(device)
        opt = torch.optim.Adam(modules.parameters(), lr=1e-2)
        tokens = torch.randint(0, 50, (12, 4)).to(device)
        losses = []
        for _ in range(5):
            opt.zero_grad()
            out, _ = lstm(embed(tokens[:-1]))
            loss = torch.nn.functional.cross_entropy(head(out).flatten(0, 1), tokens[1:].flatten())
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    torch_lazyplus._C._clear_compile_cache()
    lazy = train("lazyplus")
    counters = torch_lazyplus.metrics.counters()
    torch.testing.assert_close(torch.tensor(lazy), torch.tensor(train("cpu")), rtol=1e-5, atol=0)
    assert counters["UncachedCompile"] == 2 and counters["Sync"] == 5, counters
    assert counters[f"lazy::{node}"] == 10 and counters[f"lazy::{node}_backward"] == 10


def test_a_traced_gru_saves_loads_and_runs_as_the_cpu(tmp_path):
    torch.manual_seed(0)
    gru = torch.nn.GRU(4, 5, 2, bidirectional=True)
    lazy = torch.nn.GRU(4, 5, 2, bidirectional=True)
    lazy.load_state_dict(gru.state_dict())
    lazy.to("lazyplus")
    x = torch.randn(3, 2, 4)
    graph = torch_lazyplus.trace(lambda t: lazy(t)[0], x.to("lazyplus"))
    assert [n["op"] for n in graph.nodes() if "recurrent" in n["op"]] == ["lazyplus::recurrent_layer"] * 4
    torch.save(graph, tmp_path / "gru.pt")
    loaded = torch.load(tmp_path / "gru.pt", weights_only=False)
    with torch.no_grad():
        expected = gru(x)[0]
    torch.testing.assert_close(loaded.run(x), expected)  # shaped as the traced function's output
