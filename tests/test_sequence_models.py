"""nn.LSTM runs as the CPU runs it: one oneDNN node per layer and direction over the whole sequence
(aten::mkldnn_rnn_layer, and one backward node each), with the CPU's values and gradients. What the CPU
decomposes (projections, packed sequences, oneDNN turned off, GRU and plain RNN) lazyplus decomposes too."""
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


def assert_matches_cpu(make_module, inputs, backward=True):
    torch.manual_seed(0)
    module = make_module()
    lazy_module = make_module()
    lazy_module.load_state_dict(module.state_dict())
    expected = run(module, inputs, "cpu", backward)
    actual = run(lazy_module, inputs, "lazyplus", backward)
    for e, a in zip(expected, actual, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-6)


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


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(seq=st.integers(1, 9), batch=st.integers(1, 5), features=st.integers(1, 6), hidden=st.integers(1, 9),
       num_layers=st.integers(1, 3), bidirectional=st.booleans(), batch_first=st.booleans(), bias=st.booleans())
def test_random_lstm_shapes_match_the_cpu(seq, batch, features, hidden, num_layers, bidirectional, batch_first,
                                          bias):
    x = torch.randn((batch, seq, features) if batch_first else (seq, batch, features))
    assert_matches_cpu(lambda: torch.nn.LSTM(features, hidden, num_layers, bias=bias, batch_first=batch_first,
                                             bidirectional=bidirectional), [x])


@pytest.mark.parametrize("case", ["projections", "packed", "onednn_off"])
def test_what_the_cpu_decomposes_is_decomposed_and_matches(case):
    x = torch.randn(6, 3, 4)
    if case == "projections":
        assert_matches_cpu(lambda: torch.nn.LSTM(4, 6, 2, proj_size=3), [x])
    elif case == "packed":
        packed = pack_padded_sequence(x, torch.tensor([6, 4, 2]))
        assert_matches_cpu(lambda: torch.nn.LSTM(4, 6, 2), [packed], backward=False)
    else:
        with torch.backends.mkldnn.flags(enabled=False):
            assert_matches_cpu(lambda: torch.nn.LSTM(4, 6, 2), [x])
    assert "lazy::mkldnn_rnn_layer" not in torch_lazyplus.metrics.counters()


@pytest.mark.parametrize("rnn", [torch.nn.GRU, torch.nn.RNN])
def test_gru_and_rnn_match_the_cpu(rnn):
    assert_matches_cpu(lambda: rnn(4, 6, 2, bidirectional=True), [torch.randn(6, 3, 4)])


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
