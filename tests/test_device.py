"""lazyplus behaves as a first-class PyTorch device."""
import copy
import io
import pickle
import time

import pytest
import torch
from torch.testing import assert_close

import torch_lazyplus

DEV = "lazyplus"


def test_device_name_and_module():
    x = torch.ones(2, device=DEV)
    assert x.device == torch.device("lazyplus:0")
    assert x.is_lazyplus
    assert torch.lazyplus.is_available()
    assert torch.lazyplus.device_count() >= 1
    assert torch.lazyplus.current_device() == 0
    with torch.lazyplus.device(0):
        assert torch.lazyplus.current_device() == 0
    assert torch.float16 in torch.lazyplus.get_amp_supported_dtype()


def test_to_and_back_roundtrip():
    x = torch.randn(5, 7)
    assert torch.equal(x.to(DEV).cpu(), x)
    assert torch.equal(x.lazyplus().cpu(), x)
    assert torch.equal(x.to(DEV).to(torch.float64).cpu(), x.double())


def test_ops_are_lazy_until_sync():
    x = torch.randn(100).to(DEV)
    y = (x * 2 + 1).relu()
    counters = torch_lazyplus.metrics.counters()
    assert counters.get("Sync", 0) == 0
    assert counters["lazy::mul"] == 1 and counters["lazy::relu"] == 1
    y.cpu()
    assert torch_lazyplus.metrics.counters()["Sync"] == 1


def test_item_and_print_sync():
    x = torch.tensor([1.5, 2.5], device=DEV)
    assert (x.sum() * 2).item() == 8.0
    assert "lazyplus:0" in repr(x + 1)
    assert "Sync::item" in torch_lazyplus.metrics.counters()


@pytest.mark.parametrize("cpu", [
    torch.tensor([1.5, -2.25, float("nan"), float("inf")]),
    torch.arange(6, dtype=torch.int32).reshape(2, 3),
    torch.tensor([True, False]),
    torch.tensor([0.1, 1e-8]).bfloat16(),
    torch.tensor(3.0),
], ids=["float", "int32", "bool", "bfloat16", "0-dim"])
def test_printing_shows_what_eager_shows_in_one_sync_without_a_fallback(cpu):
    # PyTorch's formatter reads every element with .item() and calls masked_select: lazyplus formats a
    # host copy instead (one sync), so printing works under strict mode too.
    lazy = cpu.to(DEV).clone()  # pending
    torch_lazyplus.metrics.reset()
    torch_lazyplus.set_strict(True)
    try:
        text = repr(lazy)
    finally:
        torch_lazyplus.set_strict(False)
    assert text.replace(", device='lazyplus:0'", "") == repr(cpu)
    assert torch_lazyplus.metrics.counters()["Sync"] == 1


def test_printing_a_long_tensor_summarizes_it_in_one_sync():
    cpu = torch.randn(5000)
    lazy = cpu.to(DEV) + 0
    torch_lazyplus.metrics.reset()
    text = repr(lazy)
    values = "".join(text.replace("device='lazyplus:0'", "").split()).replace(",)", ")")
    assert "..." in text and values == "".join(repr(cpu).split())  # eager's format of the values
    assert torch_lazyplus.metrics.counters()["Sync"] == 1


def test_explicit_sync_materializes_everything():
    x = torch.randn(4, device=DEV)
    ys = [x + i for i in range(3)]
    assert torch_lazyplus._C._num_pending() >= 3
    torch_lazyplus.sync()
    assert torch_lazyplus._C._num_pending() == 0
    torch.lazyplus.synchronize()
    assert_close(ys[2].cpu(), x.cpu() + 2)


def test_manual_seed_reproduces_random_tensors():
    torch.manual_seed(0)
    a = torch.randn(8, device=DEV).cpu()
    torch.manual_seed(0)
    b = torch.randn(8, device=DEV).cpu()
    assert torch.equal(a, b)
    g = torch.Generator(device=DEV)
    g.manual_seed(3)
    c = torch.rand(4, device=DEV, generator=g).cpu()
    g.manual_seed(3)
    assert torch.equal(c, torch.rand(4, device=DEV, generator=g).cpu())
    state = torch.lazyplus.get_rng_state()
    d = torch.rand(3, device=DEV).cpu()
    torch.lazyplus.set_rng_state(state)
    assert torch.equal(d, torch.rand(3, device=DEV).cpu())


def test_save_and_load_keep_device_and_values(tmp_path):
    x = torch.randn(3, 4, device=DEV) * 2
    buf = io.BytesIO()
    torch.save({"w": x}, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)["w"]
    assert loaded.device.type == "lazyplus"
    assert torch.equal(loaded.cpu(), x.cpu())
    buf.seek(0)
    on_cpu = torch.load(buf, map_location="cpu", weights_only=True)["w"]
    assert on_cpu.device.type == "cpu" and torch.equal(on_cpu, x.cpu())


def test_pickle_and_the_legacy_format_keep_device_values_views_and_shared_storage(tmp_path):
    """pickle and torch.save's legacy format write a storage's host copy and read the bytes back into a
    lazyplus storage, pending values included."""
    x = torch.arange(6.0, device=DEV).reshape(2, 3) * 2  # pending until pickled
    weight = torch.nn.Parameter(torch.ones(2, device=DEV))
    row = pickle.loads(pickle.dumps(x[1:]))
    assert row.device.type == "lazyplus" and row.storage_offset() == 3
    assert torch.equal(row.cpu(), torch.tensor([[6.0, 8.0, 10.0]]))
    copied = pickle.loads(pickle.dumps(weight))
    assert isinstance(copied, torch.nn.Parameter) and copied.requires_grad and copied.device.type == "lazyplus"
    assert pickle.loads(pickle.dumps(x.bfloat16())).dtype == torch.bfloat16
    path = tmp_path / "legacy.pt"
    torch.save([x, x[0]], path, _use_new_zipfile_serialization=False)
    whole, first = torch.load(path, weights_only=False)
    assert torch.equal(whole.cpu(), x.cpu()) and torch.equal(first.cpu(), x[0].cpu())
    first.mul_(0)  # one storage, as saved
    assert torch.equal(whole.cpu()[0], torch.zeros(3))


def test_deepcopy():
    x = torch.arange(6.0, device=DEV).reshape(2, 3)
    y = copy.deepcopy(x)
    x.add_(1)
    assert torch.equal(y.cpu(), torch.arange(6.0).reshape(2, 3))


def test_accelerator_and_memory_stats():
    assert torch.accelerator.is_available()
    assert torch.accelerator.current_accelerator().type == "lazyplus"
    before = torch.accelerator.memory_allocated()
    x = torch.ones(1024, 1024, device=DEV) + 1
    torch_lazyplus.sync()
    assert torch.accelerator.memory_allocated() >= before + 4 * 1024 * 1024
    del x


def test_pin_memory_and_dataloader():
    pinned = torch.randn(4).pin_memory()
    assert pinned.is_pinned()
    ds = torch.utils.data.TensorDataset(torch.arange(8.0))
    batches = list(torch.utils.data.DataLoader(ds, batch_size=4, pin_memory=True))
    assert all(b[0].is_pinned() for b in batches)
    assert torch.equal(batches[0][0].to(DEV).cpu(), torch.arange(4.0))


def test_autocast_does_not_break_ops():
    x = torch.randn(4, 4, device=DEV)
    with torch.autocast(device_type="lazyplus", dtype=torch.bfloat16):
        y = x @ x
    assert_close(y.float().cpu(), x.cpu() @ x.cpu(), atol=0.1, rtol=0.05)


def test_module_to_device_trains():
    model = torch.nn.Linear(3, 2).to(DEV)
    assert next(model.parameters()).device.type == "lazyplus"
    loss = model(torch.randn(4, 3, device=DEV)).pow(2).mean()
    loss.backward()
    assert model.weight.grad.device.type == "lazyplus"
    assert model.weight.grad.shape == (2, 3)


def test_module_to_device_keeps_parameter_objects_so_ties_and_optimizers_survive():
    """As between CPU and CUDA: `.to()` moves each Parameter in place (`param.data = moved`)."""
    torch.manual_seed(0)
    embedding, head = torch.nn.Embedding(10, 4), torch.nn.Linear(4, 10, bias=False)
    head.weight = embedding.weight  # tied, as GPT-2's lm_head and token embedding are
    model = torch.nn.ModuleDict({"embedding": embedding, "head": head})
    reference = copy.deepcopy(model)
    weight = embedding.weight
    opt = torch.optim.SGD(model.parameters(), lr=0.1)  # built before the move
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    model.to(DEV)
    assert model.embedding.weight is weight and model.head.weight is weight and weight.device.type == "lazyplus"
    tokens = torch.tensor([1, 2, 3])
    for m, o, x in [(model, opt, tokens.to(DEV)), (reference, ref_opt, tokens)]:
        m["head"](m["embedding"](x)).square().sum().backward()
        o.step()
    assert_close(weight.cpu(), reference.embedding.weight.detach())
    model.to("cpu")
    assert model.head.weight is weight and weight.device.type == "cpu"


def test_device_module_has_torch_cudas_rng_and_init_api():
    m = torch.lazyplus
    m.init()
    assert m.is_initialized()
    states = m.get_rng_state_all()
    assert len(states) == m.device_count()
    first = torch.rand(4, device=DEV).cpu()
    m.set_rng_state_all(states)
    assert torch.equal(torch.rand(4, device=DEV).cpu(), first)
    m.seed_all()
    seeded = m.initial_seed()
    m.manual_seed_all(seeded)
    assert m.initial_seed() == seeded


def test_device_capability_and_properties():
    assert torch.float32 in torch.accelerator.get_device_capability()["supported_dtypes"]
    props = torch.lazyplus.get_device_properties()
    assert props.name.startswith("lazyplus:0") and props.total_memory > 0 and props.multi_processor_count >= 1


def test_streams_belong_to_the_current_device_and_events_time_what_ran_between_them():
    """Work runs at sync points on the calling thread, so streams and events are always complete; an
    event holds the host time it was recorded at."""
    stream = torch.Stream(DEV)
    assert stream.device_index == torch.lazyplus.current_device() and stream.query()
    start, end = torch.Event(DEV, enable_timing=True), torch.Event(DEV, enable_timing=True)
    start.record()
    time.sleep(0.02)
    end.record()
    end.synchronize()
    assert end.query() and 15 <= start.elapsed_time(end) < 5000


def test_profiler_records_lazyplus_ops_and_their_execution():
    """The PrivateUse1 activity and use_device="lazyplus" profile as for CUDA. An op's device time is
    the time its call took (recording); the sync's execution shows as lazyplus::fused_region."""
    x = torch.randn(64, 64, device=DEV)
    profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                                  torch.profiler.ProfilerActivity.PrivateUse1])
    with profiler:
        ((x * 2).sin() + 1).sum().item()
    names = {e.key for e in profiler.key_averages()}
    assert {"aten::mul", "aten::item", "lazyplus::fused_region"} <= names
    with torch.autograd.profiler.profile(use_device=DEV) as legacy:
        (x * 2).sum().item()
    events = legacy.function_events
    assert "aten::mul" in {e.name for e in events}
    assert all(0 <= e.device_time < 10e6 for e in events)  # µs: no garbage from unregistered hooks


def test_a_pointer_inside_a_pinned_block_is_pinned():
    pinned = torch.ones(64).pin_memory()
    assert pinned[7:].is_pinned() and pinned[63:].is_pinned()
    assert not torch.ones(64)[7:].is_pinned()


@pytest.mark.parametrize("count", ["2"])
def test_a_second_device_holds_tensors_guards_generators_and_copies(count, tmp_path):
    """Each device count is fixed at import, so this runs in a fresh interpreter."""
    import subprocess
    import sys
    script = tmp_path / "second_device.py"
    script.write_text(
        "import torch, torch_lazyplus\n"
        "assert torch.lazyplus.device_count() == 2\n"
        "a = torch.arange(4.0, device='lazyplus:1')\n"
        "assert (a * 2).device == torch.device('lazyplus:1') and (a * 2).cpu().tolist() == [0, 2, 4, 6]\n"
        "b = a.to('lazyplus:0')\n"
        "assert b.device.index == 0 and b.cpu().tolist() == a.cpu().tolist()\n"
        "with torch.lazyplus.device(1):\n"
        "    assert torch.zeros(2, device='lazyplus').device.index == 1\n"
        "    assert torch.Stream('lazyplus').device_index == 1\n"
        "g = torch.Generator('lazyplus:1').manual_seed(3)\n"
        "r1 = torch.rand(3, device='lazyplus:1', generator=g).cpu()\n"
        "g.manual_seed(3)\n"
        "assert torch.equal(torch.rand(3, device='lazyplus:1', generator=g).cpu(), r1)\n"
        "try:\n"
        "    a + b\n"
        "except RuntimeError as e:\n"
        "    assert 'lazyplus:1 and lazyplus:0' in str(e)\n"
        "else:\n"
        "    raise AssertionError('mixing devices must raise')\n"
        # One pending list per device: reading or synchronizing a device runs its work alone.
        "pending = torch_lazyplus._C._num_pending\n"
        "torch_lazyplus.sync()\n"
        "x0, x1 = torch.ones(3, device='lazyplus:0') * 2, torch.ones(3, device='lazyplus:1') * 3\n"
        "assert pending() == 2 and x1.cpu().tolist() == [3.0] * 3 and pending() == 1\n"
        "torch.lazyplus.synchronize(0)\n"
        "assert pending() == 0 and x0.cpu().tolist() == [2.0] * 3\n"
        "y0, y1 = x0 + 1, (x0 * 5).to('lazyplus:1') + x1\n"
        "torch.lazyplus.synchronize(1)\n"
        "assert pending() == 1 and y1.cpu().tolist() == [13.0] * 3 and y0.cpu().tolist() == [3.0] * 3\n")
    env = dict(__import__("os").environ, LAZYPLUS_DEVICE_COUNT=count)
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_transformer_encoder_fast_path_with_nested_tensors_matches_cpu():
    """In evaluation with a padding mask, nn.TransformerEncoder packs the batch into a nested tensor
    (PyTorch's fast path, taken on PrivateUse1 devices); lazyplus runs its nested ops on the host."""
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
    encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=True).eval()
    src = torch.randn(3, 5, 16)
    padding = torch.tensor([[False] * 5, [False] * 3 + [True] * 2, [False] * 2 + [True] * 3])
    with torch.no_grad():
        expected = encoder(src, src_key_padding_mask=padding)
        actual = copy.deepcopy(encoder).to(DEV)(src.to(DEV), src_key_padding_mask=padding.to(DEV))
    assert actual.device.type == "lazyplus"
    assert_close(actual.cpu(), expected)  # padded positions too, as the CPU fills them


def test_from_dlpack_of_a_lazyplus_tensor_shares_its_storage():
    x = torch.arange(6.0, device=DEV) * 2  # pending: the export computes it
    assert x.__dlpack_device__() == (torch.utils.dlpack.DLDeviceType.kDLExtDev, 0)
    y = torch.from_dlpack(x)
    assert y.device == x.device and torch.equal(y.cpu(), torch.arange(6.0) * 2)
    y.add_(1)  # one storage, as DLPack promises: each sees the other's writes
    assert torch.equal(x.cpu(), torch.arange(6.0) * 2 + 1)
    x[0] = -1
    assert y[0].item() == -1


def test_a_dlpack_capsule_of_a_view_imports_that_view_later():
    base = torch.arange(12.0, device=DEV).reshape(3, 4)
    capsule = base[1:, 1:3].__dlpack__()
    base.mul_(10)  # after the export: the import shares the storage, so it sees this
    view = torch.utils.dlpack.from_dlpack(capsule)
    assert torch.equal(view.cpu(), torch.arange(12.0).reshape(3, 4)[1:, 1:3] * 10)
    assert torch.equal(view.sum().cpu(), view.cpu().sum())


def test_dlpack_of_cpu_tensors_is_unchanged():
    t = torch.arange(4)
    assert t.__dlpack_device__()[0] == torch.utils.dlpack.DLDeviceType.kDLCPU
    assert torch.from_dlpack(t).data_ptr() == t.data_ptr()


def test_each_dlpack_capsule_of_a_tensor_imports_its_storage_in_any_order():
    x = torch.arange(4.0, device=DEV)
    first = x.__dlpack__()
    x.add_(1)
    second = x.__dlpack__()
    b = torch.utils.dlpack.from_dlpack(second)
    a = torch.utils.dlpack.from_dlpack(first)
    a.mul_(2)
    assert torch.equal(b.cpu(), (torch.arange(4.0) + 1) * 2) and torch.equal(x.cpu(), b.cpu())


def test_pending_tensors_point_at_aligned_memory_of_their_size():
    # data_ptr() users (torch.save's bookkeeping, C extensions) see memory aligned as CPU tensors'.
    tensors = [torch.ones(n, device="lazyplus") * 2 for n in (1, 3, 1000)]
    assert all(t.data_ptr() % 64 == 0 for t in tensors)
    assert len({t.data_ptr() for t in tensors}) == 3
    assert [t.cpu().tolist() for t in tensors] == [[2.0] * n for n in (1, 3, 1000)]


def test_a_freed_large_placeholder_is_kept_for_the_next_pending_tensor_of_its_size():
    # Pending tensors of 256 KiB and more point at mapped address ranges that hold no memory; mapping
    # and unmapping one per recorded op made the README demo's step 4 % slower.
    ones = torch.ones((1 << 18) + 16, device=DEV)  # 1 MiB and 64 bytes: a size no other test frees
    first = ones * 2
    address = first.data_ptr()
    del first
    maps = torch_lazyplus.metrics.counters().get("PlaceholderMaps", 0)
    again = ones * 3
    assert torch_lazyplus.metrics.counters().get("PlaceholderMaps", 0) == maps  # nothing mapped
    assert again.data_ptr() == address
    other = ones * 4
    assert len({ones.data_ptr(), again.data_ptr(), other.data_ptr()}) == 3
    assert again.cpu().eq(3).all() and other.cpu().eq(4).all()


@pytest.mark.skipif(torch_lazyplus.target() != "cpu", reason="the CPU target's values live in the host pool")
def test_a_new_result_takes_the_block_freed_last_the_one_still_in_cache():
    def memory_address(t):
        t.cpu()  # a read attaches the computed memory (until then an asynchronous result shows its placeholder)
        return t.data_ptr()

    ones = torch.ones(16384, device="lazyplus")  # 64 KiB results
    results = [ones * k for k in (2, 3, 4)]
    addresses = [memory_address(r) for r in results]
    del results[0], results[0]  # frees ones * 2, then ones * 3
    again = ones * 5
    assert memory_address(again) == addresses[1]
    assert again.cpu().eq(5).all()
