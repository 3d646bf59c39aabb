"""Loading a saved Graph is memory-safe: a payload from anywhere (corrupted, truncated, crafted)
either loads into a graph that runs or raises a clear error (ValueError or RuntimeError), through
pickle, torch.load and torch.jit.load alike. The sweep of crafted payloads runs in a subprocess, so
that a crash fails the test instead of ending the run."""
import io
import os
import pickle
import pickletools
import resource
import struct
import subprocess
import sys
import zipfile
import zlib

import pytest
import torch

import torch_lazyplus

CRAFTED_INTS = [-1, 200, 2**31 - 1, 2**40]
INT_OPCODES = {"BININT", "BININT1", "BININT2", "LONG1", "INT", "LONG", "LONG4"}


def example_graph():
    """Views, a reduction, a matmul, an alpha scalar and a conversion: most kinds of node and field."""
    def fn(x, w):
        h = torch.add(x @ w, x[:, :3], alpha=0.5)
        return h.relu().sum(-1).to(torch.float64), h.reshape(-1)[2:]
    return torch_lazyplus.trace(fn, torch.randn(4, 8), torch.randn(8, 3)).script_object


def example_inputs():
    return [torch.randn(4, 8), torch.randn(8, 3)]


def recurrent_graph():
    """A GRU's layer nodes and a training step's backward node: host kernels that read raw pointers."""
    torch.manual_seed(0)
    gru = torch.nn.GRU(4, 5).to("lazyplus")

    def fn(x):
        out, h = gru(x)
        return torch.autograd.grad(out.square().sum() + h.sum(), list(gru.parameters()))
    return torch_lazyplus.trace(fn, torch.randn(3, 2, 4, device="lazyplus")).script_object


def recurrent_inputs():
    return [torch.randn(3, 2, 4)]


GRAPHS = {"example": (example_graph, example_inputs), "recurrent": (recurrent_graph, recurrent_inputs)}


def state_of(graph):
    (version, payload), class_name = graph.__getstate__()
    return version, payload.numpy().tobytes(), class_name


def load(version, payload, class_name):
    obj = torch.ScriptObject.__new__(torch.ScriptObject)
    obj.__setstate__(((version, torch.frombuffer(bytearray(payload), dtype=torch.uint8)), class_name))
    return obj


def encode_int(value):
    """`value` as a pickle integer opcode."""
    if 0 <= value < 256:
        return b"K" + bytes([value])
    if -2**31 <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    raw = value.to_bytes(8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def archive_members(payload):
    """The payload is a zip archive (torch::jit::pickle_save with tensors): the pickle and the records."""
    archive = zipfile.ZipFile(io.BytesIO(payload))
    return [(info.filename, archive.read(info)) for info in archive.infolist()]


def with_pickle(members, pickled):
    """The archive again, its pickle replaced (a valid archive: the checks below are lazyplus's)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            archive.writestr(name, pickled if name.endswith("data.pkl") else data)
    return buffer.getvalue()


def crafted_payloads(payload, integers_only=False):
    """In the graph's pickle: every integer replaced by each crafted value, every truncation, one
    flipped bit per byte (rotating through the bit positions); and the archive itself truncated."""
    members = archive_members(payload)
    pickled = next(data for name, data in members if name.endswith("data.pkl"))
    ops = list(pickletools.genops(pickled))
    for k, (op, _, pos) in enumerate(ops):
        if op.name in INT_OPCODES:
            end = ops[k + 1][2] if k + 1 < len(ops) else len(pickled)
            for value in CRAFTED_INTS:
                yield with_pickle(members, pickled[:pos] + encode_int(value) + pickled[end:])
    if integers_only:
        return
    for n in range(len(pickled)):
        yield with_pickle(members, pickled[:n])
    for i in range(len(pickled)):
        flipped = bytearray(pickled)
        flipped[i] ^= 1 << (i % 8)
        yield with_pickle(members, bytes(flipped))
    for n in range(0, len(payload), 7):
        yield payload[:n]


def sweep(name="example", integers_only=False):
    """Loads every crafted payload; a loaded graph must also run or raise cleanly. Prints the counts."""
    make_graph, make_inputs = GRAPHS[name]
    version, payload, class_name = state_of(make_graph())
    counts = {"loaded": 0, "refused": 0}
    for crafted in crafted_payloads(payload, integers_only):
        try:
            graph = load(version, crafted, class_name)
        except (ValueError, RuntimeError, IndexError, TypeError):
            counts["refused"] += 1
            continue
        counts["loaded"] += 1
        try:
            graph.run(make_inputs())
        except (ValueError, RuntimeError, IndexError, TypeError):
            pass
    print(counts["loaded"], counts["refused"])


@pytest.mark.parametrize("name,integers_only", [("example", False), ("recurrent", True)])
def test_every_crafted_payload_loads_or_raises_without_crashing(name, integers_only):
    """The recurrent graph: every size and attribute crafted (its nodes check their operands' shapes
    before a cell reads a pointer)."""
    code = f"import test_graph_loading as t; t.sweep({name!r}, {integers_only})"
    out = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(__file__), capture_output=True, text=True,
                         timeout=1200)
    assert out.returncode == 0, f"the sweep crashed (exit {out.returncode}): {out.stderr[-3000:]}"
    loaded, refused = map(int, out.stdout.split()[-2:])
    version, payload, _ = state_of(GRAPHS[name][0]())
    assert loaded + refused == sum(1 for _ in crafted_payloads(payload, integers_only))
    assert refused > loaded  # most corruptions are caught by the checks, not by luck


def load_with_memo_put(index):
    """In a subprocess: loads the example graph with its pickle's first memo PUT naming entry `index`;
    prints the error and how much the process's peak memory grew, in KiB."""
    version, payload, class_name = state_of(example_graph())
    members = archive_members(payload)
    pickled = next(data for name, data in members if name.endswith("data.pkl"))
    put = next(pos for op, _, pos in pickletools.genops(pickled) if op.name == "BINPUT")
    crafted = with_pickle(members, pickled[:put] + b"r" + struct.pack("<I", index) + pickled[put + 2:])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        load(version, crafted, class_name)
        print("loaded")
    except ValueError as e:
        print(e)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak)


def test_a_memo_index_past_the_pickles_own_is_refused_before_the_unpickler_makes_room_for_it():
    """torch's unpickler grows its memo to any index a PUT names (one flipped byte made it fill 12 GB
    and take 43 s); torch's pickler numbers its memo in order, and a PUT past it is refused first."""
    code = f"import test_graph_loading as t; t.load_with_memo_put({2**26})"
    out = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(__file__), capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    message, grown_kib = out.stdout.strip().rsplit("\n", 1)
    assert "corrupt saved graph: the payload does not unpickle: byte" in message
    assert f"names memo entry {2**26} of " in message
    assert int(grown_kib) < 256 * 1024  # the memo of 2**26 entries is 1 GiB


def test_a_graph_whose_pickle_numbers_its_memo_past_255_loads_and_runs():
    """Past 255 entries torch's pickler writes 4-byte memo indices (LONG_BINPUT), which the walk before
    unpickling reads as it does 1-byte ones."""
    def fn(x, w):
        for i in range(40):
            x = torch.nn.functional.gelu(x @ w + i * 0.5).clamp(-3.0, 3.0)
        return x.sum()
    graph = torch_lazyplus.trace(fn, torch.randn(4, 8), torch.randn(8, 8)).script_object
    version, payload, class_name = state_of(graph)
    pickled = next(data for name, data in archive_members(payload) if name.endswith("data.pkl"))
    assert any(op.name == "LONG_BINPUT" for op, _, _ in pickletools.genops(pickled))
    x, w = torch.randn(4, 8), torch.randn(8, 8)
    assert torch.equal(load(version, payload, class_name).run([x, w])[0], fn(x, w))


def test_crafted_output_indices_are_clear_errors():
    """The graph's outputs, the pickle's last (node, output) pairs: each crafted value is refused with
    a message saying what is wrong (never a crash, never a C++ backtrace)."""
    version, payload, class_name = state_of(example_graph())
    members = archive_members(payload)
    pickled = next(data for name, data in members if name.endswith("data.pkl"))
    ops = list(pickletools.genops(pickled))
    ints = [(k, pos) for k, (op, _, pos) in enumerate(ops) if op.name in INT_OPCODES]
    outputs = ints[-12:-8]  # two (node, output) pairs; then 4 integers per input: node, dtype, 2 sizes
    for k, pos in outputs:
        for value in CRAFTED_INTS:
            crafted = with_pickle(members, pickled[:pos] + encode_int(value) + pickled[ops[k + 1][2]:])
            with pytest.raises(ValueError, match="corrupt saved graph: a value names (node|output)") as info:
                load(version, crafted, class_name)
            assert "Exception raised from" not in str(info.value)


def replace_payload(blob, old, new):
    assert blob.count(old) == 1 and len(old) == len(new)
    return blob.replace(old, new)


def patched_in_place(payload, pos, new):
    """The payload with the pickle's bytes at `pos` replaced by `new` (same length), its CRC updated:
    same size, so it can be spliced into any container that stores the payload's bytes as they are."""
    archive = zipfile.ZipFile(io.BytesIO(payload))
    info = next(i for i in archive.infolist() if i.filename.endswith("data.pkl"))
    name_len, extra_len = struct.unpack("<HH", payload[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    patched = bytearray(payload)
    patched[start + pos:start + pos + len(new)] = new
    old_crc, new_crc = struct.pack("<I", info.CRC), struct.pack("<I", zlib.crc32(patched[start:start + info.file_size]))
    assert 1 <= bytes(patched).count(old_crc) <= 3  # local header, central directory, data descriptor
    return bytes(patched).replace(old_crc, new_crc)


@pytest.fixture
def corrupt():
    """A graph, and its payload with the pickle's first integer 0 (a captured tensor's storage
    offset) set to 200."""
    graph = example_graph()
    version, payload, _ = state_of(graph)
    pickled = next(data for name, data in archive_members(payload) if name.endswith("data.pkl"))
    pos = next(pos for op, arg, pos in pickletools.genops(pickled) if op.name == "BININT1" and arg == 0)
    return graph, payload, patched_in_place(payload, pos, encode_int(200))


def test_pickle_and_torch_load_raise_a_clear_error(corrupt):
    graph, payload, crafted = corrupt
    blob = replace_payload(pickle.dumps(graph), payload, crafted)
    with pytest.raises(ValueError, match="corrupt saved graph: .* storage offset 200 is out of bounds") as info:
        pickle.loads(blob)
    assert "Exception raised from" not in str(info.value)
    buffer = io.BytesIO()
    torch.save(graph, buffer)
    blob = replace_payload(buffer.getvalue(), payload, crafted)
    with pytest.raises(ValueError, match="corrupt saved graph"):
        torch.load(io.BytesIO(blob), weights_only=False)


class HoldsGraph(torch.nn.Module):
    def __init__(self, graph):
        super().__init__()
        self.g = graph

    def forward(self, x, w):
        return self.g.run([x, w])


def test_torch_jit_load_raises_a_clear_error(corrupt):
    graph, payload, crafted = corrupt
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(HoldsGraph(graph)), buffer)
    blob = replace_payload(buffer.getvalue(), payload, crafted)
    with pytest.raises(ValueError, match="corrupt saved graph"):
        torch.jit.load(io.BytesIO(blob))
