"""Recurrent layers run as the CPU runs them, never as a graph of per-time-step ops. nn.LSTM: one oneDNN
node per layer and direction over the whole sequence (aten::mkldnn_rnn_layer, and one backward node
each). What the CPU computes as a loop of cells (nn.GRU, nn.RNN, LSTMs with projections or with oneDNN
off): one node running the CPU's own loop under autograd, and one backward node that takes the gradients
through the graph it built (or runs the loop again, where a sync in between stored the outputs). Both
give the CPU's values and gradients. Packed sequences, and dropout between layers (whose masks come from
the lazyplus generator), decompose into cells."""
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


def assert_matches_cpu(make_module, inputs, backward=True, exact=False):
    torch.manual_seed(0)
    module = make_module()
    lazy_module = make_module()
    lazy_module.load_state_dict(module.state_dict())
    expected = run(module, inputs, "cpu", backward)
    actual = run(lazy_module, inputs, "lazyplus", backward)
    for e, a in zip(expected, actual, strict=True):
        torch.testing.assert_close(a, e, rtol=0 if exact else 1e-5, atol=0 if exact else 1e-6)


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


@pytest.mark.parametrize("rnn,kwargs", [(torch.nn.GRU, {}), (torch.nn.GRU, {"batch_first": True, "bias": False}),
                                         (torch.nn.RNN, {}), (torch.nn.RNN, {"nonlinearity": "relu"}),
                                         (torch.nn.LSTM, {"proj_size": 3})])
def test_a_loop_of_cells_on_the_cpu_is_one_node_each_way_with_the_cpus_values(rnn, kwargs):
    x = torch.randn(6, 3, 4)
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

    assert_matches_cpu(lambda: WithState(4, 5, 2), [torch.randn(7, 3, 4), torch.randn(2, 3, 5)], exact=True)


def test_packed_sequences_decompose_and_match_the_cpu():
    packed = pack_padded_sequence(torch.randn(6, 3, 4), torch.tensor([6, 4, 2]))
    for rnn in (torch.nn.LSTM, torch.nn.GRU):
        assert_matches_cpu(lambda: rnn(4, 6, 2), [packed], backward=False)
    counters = torch_lazyplus.metrics.counters()
    assert "lazy::rnn_sequence" not in counters and "lazy::mkldnn_rnn_layer" not in counters


def test_a_differentiable_backward_through_a_sequence_node_raises_instead_of_a_wrong_answer():
    gru = torch.nn.GRU(4, 5).to("lazyplus")
    out, _ = gru(torch.randn(3, 2, 4, device="lazyplus"))
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


def cpu_gru_calls(run):
    """How many times the programs that `run` syncs call the CPU's GRU loop."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        run()
    return sum(e.name == "aten::gru" for e in prof.events())


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


def test_forward_and_backward_in_one_graph_run_the_cpus_loop_once():
    """As in eager, the forward's autograd graph serves the backward: no second pass over the sequence."""
    gru, x = gru_and_input("lazyplus")
    out, h = gru(x)
    (out.square().sum() + h.sum()).backward()
    assert cpu_gru_calls(torch_lazyplus.sync) == 1


@pytest.mark.parametrize("between", [
    pytest.param(lambda out: out.cpu(), id="sync between forward and backward"),
    pytest.param(lambda out: out.mul_(2), id="output changed in place"),
])
def test_gradients_equal_the_cpus_whatever_happens_between_forward_and_backward(between):
    expected = gru_gradients("cpu", between)
    torch.testing.assert_close(gru_gradients("lazyplus", between), expected, rtol=0, atol=0)


def test_a_second_backward_through_a_retained_graph_equals_the_cpus():
    torch.testing.assert_close(gru_gradients("lazyplus", retain=True), gru_gradients("cpu", retain=True),
                               rtol=0, atol=0)


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
    torch.nn.GRU(4, 6, 2, dropout=0.5).to("lazyplus")(x)[0].cpu()
    assert "lazy::rnn_sequence" not in torch_lazyplus.metrics.counters()  # the GRU's cells, with masks


def test_an_lstm_language_model_trains_like_the_cpu_in_one_graph_per_step():
    def train(device):
        torch.manual_seed(0)
        embed, lstm, head = torch.nn.Embedding(50, 16), torch.nn.LSTM(16, 32, 2), torch.nn.Linear(32, 50)
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
    assert counters["lazy::mkldnn_rnn_layer"] == 10 and counters["lazy::mkldnn_rnn_layer_backward"] == 10


def test_a_traced_gru_saves_loads_and_runs_with_the_cpus_values(tmp_path):
    torch.manual_seed(0)
    gru = torch.nn.GRU(4, 5, 2, bidirectional=True)
    lazy = torch.nn.GRU(4, 5, 2, bidirectional=True)
    lazy.load_state_dict(gru.state_dict())
    lazy.to("lazyplus")
    x = torch.randn(3, 2, 4)
    graph = torch_lazyplus.trace(lambda t: lazy(t)[0], x.to("lazyplus"))
    assert [n["op"] for n in graph.nodes() if "rnn" in n["op"]] == ["lazyplus::rnn_sequence"]
    torch.save(graph, tmp_path / "gru.pt")
    loaded = torch.load(tmp_path / "gru.pt", weights_only=False)
    with torch.no_grad():
        expected = gru(x)[0]
    torch.testing.assert_close(loaded.run(x), expected, rtol=0, atol=0)  # shaped as the traced function's output
