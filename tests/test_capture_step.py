"""torch_lazyplus.capture_step: a step function whose calls, once two in a row recorded the same graph,
replay its compiled program without running its Python. A replay computes exactly what running the
function computes, and every Python-side change a replay cannot see makes the call run (and record)
as usual instead."""
import copy
import sys
import threading
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torch_lazyplus

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import train_cnn  # noqa: E402
import train_gpt  # noqa: E402


def mlp_training(device, capturable=True, lr=1e-2):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4)).to(device)
    if capturable:
        lr = torch.tensor(lr, device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, capturable=capturable and device == "lazyplus")

    def step(x, y):
        loss = F.mse_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss
    return model, opt, step


def batches(n, rows=5):
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(rows, 8, generator=g), torch.randn(rows, 4, generator=g)) for _ in range(n)]


def run(step, data, device="lazyplus"):
    return [step(x.to(device), y.to(device)).item() for x, y in data]


def state(model, opt):
    tensors = [p for p in model.parameters()] + [p.grad for p in model.parameters()]
    tensors += [t for s in opt.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    return [t.cpu() for t in tensors]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_replays_compute_exactly_what_running_the_step_computes(asynchronous):
    data = batches(8)
    model, opt, step = mlp_training("lazyplus")
    plain = run(step, data)
    model2, opt2, step2 = mlp_training("lazyplus")
    captured = torch_lazyplus.capture_step(step2)
    previous = torch_lazyplus.set_async(asynchronous)
    try:
        replayed = run(captured, data)
    finally:
        torch_lazyplus.set_async(previous)
    assert replayed == plain
    assert captured.replays == 5 and torch_lazyplus.metrics.counters()["StepReplays"] == 5
    for a, b in zip(state(model, opt), state(model2, opt2)):
        assert torch.equal(a, b)


def test_once_two_calls_in_a_row_record_the_same_step_the_next_ones_replay():
    captured = torch_lazyplus.capture_step(mlp_training("lazyplus")[2])
    reasons = []
    for x, y in batches(4):
        captured(x.to("lazyplus"), y.to("lazyplus"))
        reasons.append(captured.why_not_replayed)
    assert "first call" in reasons[0]
    assert reasons[1].startswith("it recorded another graph, first at")  # AdamW's state began in call 1
    assert reasons[2] == "it recorded the same step as a call before: the next call replays"
    assert reasons[3] is None


def test_returned_tensors_are_new_tensors_at_every_call():
    data = batches(5)
    plain = run(mlp_training("lazyplus")[2], data)
    captured = torch_lazyplus.capture_step(mlp_training("lazyplus")[2])
    losses = [captured(x.to("lazyplus"), y.to("lazyplus")) for x, y in data]
    assert [loss.item() for loss in losses] == plain
    assert not any(loss.requires_grad for loss in losses)


def test_a_scheduler_changing_a_float_learning_rate_makes_the_next_call_record():
    """SGD keeps its learning rate in a Python float, which the graph holds as recorded: the call after
    StepLR changes it records again (the optimizer's hyperparameters are watched), then replays."""
    data = batches(9)

    def train(capture):
        model, opt, step = mlp_training("lazyplus", capturable=False)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        schedule = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.1)

        def sgd_step(x, y):
            loss = F.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        wrapped = torch_lazyplus.capture_step(sgd_step) if capture else sgd_step
        losses, reasons = [], []
        for x, y in data:
            losses.append(wrapped(x.to("lazyplus"), y.to("lazyplus")).item())
            reasons.append(getattr(wrapped, "why_not_replayed", None))
            schedule.step()
        return losses, reasons
    plain, _ = train(capture=False)
    captured, reasons = train(capture=True)
    assert captured == plain
    hyperparameters = "a module's training mode, an optimizer's hyperparameters or the guard changed"
    assert reasons[3] is None and reasons[4] == hyperparameters and reasons[6] is None
    assert reasons[8] == hyperparameters


def test_switching_a_module_to_eval_mode_makes_the_next_call_record():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8)).to("lazyplus")
    forward = torch_lazyplus.capture_step(lambda x: model(x))
    cpu = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
    cpu.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
    for i, (x, _) in enumerate(batches(8)):
        if i == 4:
            model.eval()
            cpu.eval()
        torch.testing.assert_close(forward(x.to("lazyplus")).cpu(), cpu(x), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(model[1].running_mean.cpu(), cpu[1].running_mean, rtol=1e-6, atol=1e-6)
    assert forward.replays == 4  # calls 3, 4 in training mode; 7, 8 in eval mode


def test_a_step_that_reads_a_value_on_the_host_never_replays():
    model, opt, step = mlp_training("lazyplus")
    losses = []

    def logging_step(x, y):
        loss = step(x, y)
        losses.append(loss.item())
        return loss
    captured = torch_lazyplus.capture_step(logging_step)
    run(captured, batches(4))
    assert captured.replays == 0 and len(losses) == 4
    line = logging_step.__code__.co_firstlineno + 2
    assert captured.why_not_replayed == f"it read a value on the host (item) at test_capture_step.py:{line}"


def test_replays_draw_random_numbers_anew_as_running_the_step_would():
    """Dropout masks, randn and randperm are drawn on the host: a replay draws them again from the same
    generator, in the recorded order, so values and the generator's state match running the step."""
    def train(capture):
        torch.manual_seed(0)
        layer = nn.Linear(8, 8).to("lazyplus")
        opt = torch.optim.SGD(layer.parameters(), lr=0.1)

        def step(x):
            noise = torch.randn(3, device="lazyplus").sum() + torch.randperm(5, device="lazyplus")[0]
            loss = F.dropout(layer(x), 0.5).sum() + noise
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        wrapped = torch_lazyplus.capture_step(step) if capture else step
        losses = [wrapped(x.to("lazyplus")).item() for x, _ in batches(6)]
        return losses, wrapped, torch.lazyplus.get_rng_state()
    plain, _, plain_rng = train(capture=False)
    captured, step, captured_rng = train(capture=True)
    assert captured == plain and step.replays == 4
    assert torch.equal(captured_rng, plain_rng)


def test_a_draw_that_reads_lazy_values_prevents_replays():
    probabilities = torch.full((4,), 0.5, device="lazyplus")
    captured = torch_lazyplus.capture_step(lambda: torch.bernoulli(probabilities).sum())
    for _ in range(4):
        captured()
    assert captured.replays == 0 and captured.why_not_replayed.startswith("it read a value on the host (random)")


def test_with_guard_host_reads_each_path_a_host_read_chooses_replays():
    """A step that branches on a value it reads (as Hugging Face's attention masks do) replays with
    guard_host_reads: the graph before the read runs first, and the step replays the recorded call
    whose read value it finds, or runs its Python."""
    scale = torch.tensor([2.0, 3.0], device="lazyplus")

    def branchy(x):
        if (x.sum() > 0).item():
            return x * scale
        return x - scale
    captured = torch_lazyplus.capture_step(branchy, guard_host_reads=True)
    inputs = [torch.tensor(v) for v in ([1.0, 2.0], [-1.0, -2.0], [3.0, 4.0], [-3.0, -4.0])] * 3
    for x in inputs:
        torch.testing.assert_close(captured(x.to("lazyplus")).cpu(), branchy(x.to("lazyplus")).cpu())
    assert captured.replays == 8  # calls 3 and 4 record each path a second time


def test_a_guarded_read_of_an_argument_itself_is_checked_before_anything_runs():
    """The guard is the value read, byte for byte (here a flag; `x[0].item() > 0` would guard on x[0])."""
    def flagged(x, flag):
        return x * 2 if flag.item() else x * 3
    captured = torch_lazyplus.capture_step(flagged, guard_host_reads=True)
    for i in range(6):
        x, flag = torch.tensor([float(i), 1.0]), torch.tensor(i % 2 == 0)
        assert captured(x.to("lazyplus"), flag.to("lazyplus")).tolist() == flagged(x, flag).tolist()
    assert captured.replays == 2  # calls 5 and 6: each flag's path recorded twice first


def test_a_guarded_host_read_after_a_write_to_existing_state_prevents_replays():
    """A replay whose read then differs runs the Python instead, so nothing may have been written yet."""
    total = torch.zeros(2, device="lazyplus")

    def accumulate(x):
        total.add_(x)
        return x * 2 if (total.sum() > 0).item() else x
    captured = torch_lazyplus.capture_step(accumulate, guard_host_reads=True)
    for _ in range(4):
        captured(torch.ones(2, device="lazyplus"))
    assert captured.replays == 0 and total.tolist() == [4.0, 4.0]
    assert captured.why_not_replayed.startswith("it synced (item) after writing a tensor it did not make")


def test_a_tensor_computed_before_a_guarded_read_and_kept_prevents_replays():
    """A replay computes the values before a read as temporaries: one the step keeps would not change."""
    kept = []

    def keeping(x):
        y = x * 2
        kept.append(y)
        return y + 1 if (y.sum() > 0).item() else y
    captured = torch_lazyplus.capture_step(keeping, guard_host_reads=True)
    for _ in range(4):
        captured(torch.ones(2, device="lazyplus"))
    assert captured.replays == 0 and captured.why_not_replayed == "it keeps a tensor it computed before a host read"


def test_gradients_set_to_none_outside_the_step_make_every_call_record():
    """A replay writes the gradients into the tensors the recorded call made; once `.grad` is set to
    None they are gone, so the call records (and sets `.grad`) as running the step would."""
    data = batches(5)
    model, opt, step = mlp_training("lazyplus")
    plain = run(step, data)

    model2, opt2, _ = mlp_training("lazyplus")

    def step_without_zero_grad(x, y):
        loss = F.mse_loss(model2(x), y)
        loss.backward()
        opt2.step()
        return loss
    captured = torch_lazyplus.capture_step(step_without_zero_grad)
    losses = []
    for x, y in data:
        opt2.zero_grad(set_to_none=True)
        losses.append(captured(x.to("lazyplus"), y.to("lazyplus")).item())
    assert losses == plain and captured.replays == 0
    assert captured.why_not_replayed.startswith("a tensor the step reads or writes is no longer referenced")
    assert all(p.grad is not None for p in model2.parameters())


def test_a_replaced_parameter_makes_the_next_call_record():
    model, opt, step = mlp_training("lazyplus", capturable=False)
    captured = torch_lazyplus.capture_step(lambda x: model(x).sum())
    x = torch.ones(2, 8, device="lazyplus")
    for _ in range(3):
        captured(x)
    assert captured.replays == 1
    with torch.no_grad():
        model[0].weight.data = torch.zeros(16, 8, device="lazyplus")
    assert captured(x).item() == pytest.approx(model(x).sum().item())
    assert captured.replays == 1


def test_argument_layouts_record_and_replay_separately():
    """Alternating batch sizes keep a recorded step each."""
    torch.manual_seed(0)
    cpu_layer = nn.Linear(8, 4)
    layer = copy.deepcopy(cpu_layer).to("lazyplus")
    captured = torch_lazyplus.capture_step(lambda x: torch.softmax(layer(x), -1))
    for i in range(8):
        x = torch.randn(6 if i % 2 else 3, 8)
        torch.testing.assert_close(captured(x.to("lazyplus")).cpu(), torch.softmax(cpu_layer(x), -1))
    assert captured.replays == 4


def test_keyword_arguments_are_a_layout_of_their_own():
    """A call by keyword passes the same tensors in another order: it never replays a positional call's step."""
    captured = torch_lazyplus.capture_step(lambda x, y: x - y)
    a, b = torch.full((3,), 5.0, device="lazyplus"), torch.ones(3, device="lazyplus")
    for _ in range(3):
        assert captured(a, b).tolist() == [4.0] * 3
    assert captured.replays == 1
    for _ in range(3):
        assert captured(y=b, x=a).tolist() == [4.0] * 3
    assert captured.replays == 2


def test_host_tensor_arguments_replay_only_while_their_contents_are_the_recorded_ones():
    """The step moves a CPU argument to lazyplus itself, so the recorded graph holds its values."""
    captured = torch_lazyplus.capture_step(lambda x: x.to("lazyplus") * 2)
    staging = torch.ones(3)
    results = []
    for i in range(6):
        if i == 3:
            staging.fill_(5.0)  # the same tensor object, new contents
        results.append(captured(staging).tolist())
    assert results == [[2.0] * 3] * 3 + [[10.0] * 3] * 3
    assert captured.replays == 2  # calls 3 and 6


def test_an_argument_that_requires_grad_runs_the_step_as_is():
    weight = torch.ones(3, device="lazyplus", requires_grad=True)
    captured = torch_lazyplus.capture_step(lambda w: (w * 2).sum().backward())
    for _ in range(3):
        captured(weight)
    assert weight.grad.tolist() == [6.0] * 3 and captured.replays == 0
    assert captured.why_not_replayed == "an argument requires grad: running the step sets its .grad"


def test_the_step_may_update_its_arguments_in_place():
    def accumulate(total, x):
        total.add_(x)
        return total * 2
    captured = torch_lazyplus.capture_step(accumulate)
    total = torch.zeros(3, device="lazyplus")
    for i in range(5):
        doubled = captured(total, torch.full((3,), float(i), device="lazyplus"))
    assert total.tolist() == [10.0] * 3 and doubled.tolist() == [20.0] * 3
    assert captured.replays == 3


def test_an_error_in_the_step_raises_at_its_line_and_the_next_call_records():
    layer = nn.Linear(8, 4).to("lazyplus")
    captured = torch_lazyplus.capture_step(lambda x: layer(x))
    with pytest.raises(RuntimeError, match="mat1 and mat2 shapes cannot be multiplied"):
        captured(torch.ones(2, 5, device="lazyplus"))
    for _ in range(3):
        out = captured(torch.ones(2, 8, device="lazyplus"))
    torch.testing.assert_close(out.cpu(), layer.cpu()(torch.ones(2, 8)))
    assert captured.replays == 1


def test_python_numbers_the_step_reads_go_in_its_guard():
    weight = {"value": 1.0}
    captured = torch_lazyplus.capture_step(lambda x: x * weight["value"], guard=lambda: weight["value"])
    x = torch.ones(2, device="lazyplus")
    results = []
    for i in range(6):
        weight["value"] = 1.0 if i < 3 else 5.0
        results.append(captured(x).tolist())
    assert results == [[1.0, 1.0]] * 3 + [[5.0, 5.0]] * 3
    assert captured.replays == 2  # calls 3 and 6


def test_threads_each_running_their_own_captured_step_compute_what_one_thread_computes():
    """To rounding: a sync (a call's recording or replay) computes every thread's pending work, and
    fusing another thread's partial step can round an op differently (1e-7 relative, as without
    capture_step: issue note of 2026-12-04). A recording another thread's work joins does not replay."""
    data = batches(6)
    expected = run(mlp_training("lazyplus")[2], data)
    steps = [torch_lazyplus.capture_step(mlp_training("lazyplus")[2]) for _ in range(3)]  # seeded here
    results = {}

    def worker(i):
        results[i] = run(steps[i], data)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(3):
        torch.testing.assert_close(torch.tensor(results[i]), torch.tensor(expected), rtol=1e-6, atol=0)


@pytest.mark.parametrize("example", [train_gpt, train_cnn], ids=["gpt", "cnn"])
def test_the_readme_demos_with_capture_step_match_their_plain_runs(example):
    """The GPT demo's captured step uses AdamW(capturable=True) with the learning rate in a tensor, so
    Adam's bias correction is computed on the device in float32 rather than on the host in float64."""
    plain = example.train("lazyplus", steps=12)
    torch_lazyplus.metrics.reset()
    captured = example.train("lazyplus", steps=12, capture=True)
    torch.testing.assert_close(torch.tensor(captured), torch.tensor(plain), rtol=1e-6, atol=0)
    assert torch_lazyplus.metrics.counters()["StepReplays"] == 9
