"""Real models on eager, lazyplus (also with its step in torch_lazyplus.capture_step), torch.compile
(inductor) and LTC's TorchScript backend, side by side.

Each model's step (a training step: forward, loss, backward, optimizer, sync; BERT: inference) runs on
every backend, each backend in a process of its own, in interleaved rounds: each round times K steps of
every backend in turn, so a noisy neighbour slows all of them alike. The rounds are split between fresh
sets of processes (`--processes`), since one process can run slower than the next for its whole life.
We report the median ms per step and the median of per-round ratios to eager. The **GEMM floor** is the
summed self time of the step's GEMM, convolution, attention and oneDNN RNN kernels in a torch.profiler
profile of eager; a backend's time outside it is its step time minus the floor (the backends call eager's
kernels for those, but lazyplus runs an NCHW model's convolutions channels-last, faster than eager's).

    python benchmarks/models.py [--rounds 6] [--processes 2] [--only demo_gpt,lstm_lm] [--backends eager,lazyplus]
    python benchmarks/models.py --memory   # peak host memory and first step (alone, and after eager's), a process each

Needs `pip install -r benchmarks/requirements.txt` (HF transformers builds the GPT-2 and BERT models
from configs with random weights; matplotlib draws the chart). Writes benchmarks/models.json and
benchmarks/models.png.
"""
import argparse
import itertools
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from backends import backend_named  # noqa: E402
from workloads import gpt_step  # noqa: E402

# Self time of these kernels is the floor no backend goes below: every backend calls them.
GEMM_KERNELS = {
    "aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addbmm", "aten::_addmm_activation",
    "aten::mkldnn_convolution", "aten::convolution_backward", "aten::mkldnn_rnn_layer",
    "aten::mkldnn_rnn_layer_backward", "aten::_scaled_dot_product_flash_attention_for_cpu",
    "aten::_scaled_dot_product_flash_attention_for_cpu_backward",
}


def hf_gpt2(layers, dim, heads, batch, seq=128):
    def make(backend):
        from transformers import GPT2Config, GPT2LMHeadModel

        torch.manual_seed(0)
        config = GPT2Config(n_layer=layers, n_embd=dim, n_head=heads, n_positions=seq)
        model = backend.to(GPT2LMHeadModel(config).train())
        forward = backend.wrap(model)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, capturable=backend.capturable)
        ids = backend.to(torch.randint(config.vocab_size, (batch, seq)))

        @backend.wrap_step
        def step():
            loss = forward(input_ids=ids, labels=ids).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss

        return step

    return make


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.skip = (nn.Sequential() if stride == 1 and cin == cout else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x):
        return F.relu(self.body(x) + self.skip(x))


def resnet_cnn(backend, batch=16, memory_format=torch.contiguous_format):
    """A ResNet-style CNN: a stem and three stages of one basic block (32, 64, 128 channels), SGD momentum;
    its weights and images in `memory_format`."""
    torch.manual_seed(0)
    model = backend.to(nn.Sequential(
        nn.Conv2d(3, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        BasicBlock(32, 32, 1), BasicBlock(32, 64, 2), BasicBlock(64, 128, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10)).to(memory_format=memory_format))
    forward = backend.wrap(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    images = torch.randn(batch, 3, 32, 32).contiguous(memory_format=memory_format)
    x, y = backend.to(images), backend.to(torch.randint(10, (batch,)))

    @backend.wrap_step
    def step():
        loss = F.cross_entropy(forward(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


class RecurrentLM(nn.Module):
    def __init__(self, rnn, vocab, dim, layers):
        super().__init__()
        self.embed, self.rnn, self.head = nn.Embedding(vocab, dim), rnn(dim, dim, layers), nn.Linear(dim, vocab)

    def forward(self, tokens):
        return self.head(self.rnn(self.embed(tokens))[0])


def recurrent_lm(backend, rnn=nn.LSTM, vocab=1000, dim=256, batch=16, seq=64):
    """A 2-layer recurrent language model (sequence-first tokens), Adam."""
    torch.manual_seed(0)
    model = backend.to(RecurrentLM(rnn, vocab, dim, 2))
    forward = backend.wrap(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=backend.capturable)
    tokens = backend.to(torch.randint(vocab, (seq + 1, batch)))

    @backend.wrap_step
    def step():
        loss = F.cross_entropy(forward(tokens[:-1]).flatten(0, 1), tokens[1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def bert_inference(backend, batches=(8, 6), seq=128):
    """BERT-style encoder inference (4 layers, d=256) with a padding mask, alternating batch sizes."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
    model = backend.to(BertModel(config).eval())
    forward = backend.wrap(model)
    inputs = []
    for b in batches:
        lengths = torch.randint(seq // 2, seq + 1, (b,))
        mask = (torch.arange(seq)[None, :] < lengths[:, None]).long()
        inputs.append((backend.to(torch.randint(config.vocab_size, (b, seq))), backend.to(mask)))
    batches = itertools.cycle(inputs)

    @backend.wrap_step
    def infer(ids, mask):
        with torch.no_grad():
            return forward(input_ids=ids, attention_mask=mask).last_hidden_state.sum()

    return lambda: infer(*next(batches))


def demo_gpt(backend):
    """The README demo's GPT (examples/train_gpt.py: 2 layers, d=64, batch 16 x 32, AdamW, clipping)."""
    return backend.wrap_step(gpt_step(backend.device, vocab=65, block_size=32, dim=64, heads=4, layers=2,
                                      batch=16, compile=backend.wrap, capturable=backend.capturable))


# name: (make(backend) -> step, steps per timing, what it is)
MODELS = {
    "demo_gpt": (demo_gpt, 10, "README demo GPT (2 layers, d=64, 16x32, AdamW)"),
    "gpt2_d256": (hf_gpt2(4, 256, 4, batch=8), 2, "HF GPT-2 config, 4 layers, d=256, 8x128, AdamW"),
    "gpt2_d768": (hf_gpt2(4, 768, 12, batch=4), 1, "HF GPT-2 config, 4 layers, d=768, 4x128, AdamW"),
    "resnet_cnn": (resnet_cnn, 5, "ResNet-style CNN (3 stages, 16x3x32x32, SGD momentum)"),
    "resnet_cnn_cl": (lambda b: resnet_cnn(b, memory_format=torch.channels_last), 5,
                      "the same CNN, channels-last"),
    "lstm_lm": (recurrent_lm, 4, "2-layer LSTM LM (d=256, vocab 1000, 16x64, Adam)"),
    "gru_lm": (lambda b: recurrent_lm(b, nn.GRU), 4, "2-layer GRU LM (d=256, vocab 1000, 16x64, Adam)"),
    "bert_infer": (bert_inference, 4, "BERT-style inference (4 layers, d=256, padding mask, batch 8/6 x 128)"),
}


def timed_steps(backend, step, k):
    start = time.perf_counter()
    for _ in range(k):
        loss = step()
        backend.sync()
    elapsed = (time.perf_counter() - start) / k
    assert torch.isfinite(loss.detach().cpu()).all()
    return elapsed


def gemm_floor(step, k):
    """Seconds per step of the GEMM/convolution/attention kernels in a profile of eager, and their names."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(k):
            step()
    floor, kernels = 0.0, {}
    for e in prof.key_averages():
        if e.key in GEMM_KERNELS:
            floor += e.self_cpu_time_total / 1e6 / k
            kernels[e.key] = round(e.self_cpu_time_total / 1e3 / k, 2)
    return floor, kernels


def lazyplus_compiles():
    import torch_lazyplus

    return torch_lazyplus.metrics.counters().get("UncachedCompile", 0)


def worker(name, backend_name, conn):
    """One backend in a process of its own: builds the model's step, warms it up, then answers the
    parent's requests: ("time", k) -> seconds per step; ("floor", k) -> the GEMM floor; ("compiles",)."""
    try:
        backend = backend_named(backend_name)
        make, _, _ = MODELS[name]
        step = make(backend)
        timed_steps(backend, step, 4)  # compiles, warms the caches and pools; a captured step replays from call 4
        conn.send(("ready", None))
    except Exception as e:  # a backend that cannot run the model is reported, not fatal
        conn.send(("failed", f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"))
        return
    for request in iter(conn.recv, ("stop",)):
        if request[0] == "time":
            conn.send(timed_steps(backend, step, request[1]))
        elif request[0] == "floor":
            conn.send(gemm_floor(step, request[1]))
        elif request[0] == "why_not_replayed":
            conn.send(backend.captured[-1].why_not_replayed)
        else:
            conn.send(lazyplus_compiles() if backend_name == "lazyplus" else None)


def run_rounds(name, backend_names, rounds):
    """Each backend runs in a process of its own (two OpenMP teams in one process slow each other: see
    torch_lazyplus/csrc/backend/backend.cpp), the processes taking turns in each round. Returns the
    seconds per step of every round by backend, the failures, and what the workers report besides."""
    _, k, _ = MODELS[name]
    context = multiprocessing.get_context("spawn")
    workers, failed, extra = {}, {}, {}
    for b in backend_names:  # started one after the other, so that warm-ups do not overlap
        parent, child = context.Pipe()
        process = context.Process(target=worker, args=(name, b, child), daemon=True)
        process.start()
        status, detail = parent.recv()
        if status == "ready":
            workers[b] = (process, parent)
        else:
            failed[b] = detail
            process.join()

    def ask(b, *request):
        workers[b][1].send(request)
        return workers[b][1].recv()

    compiles_before = ask("lazyplus", "compiles") if "lazyplus" in workers else 0
    times = {b: [] for b in workers}
    for _ in range(rounds):
        for b in workers:
            times[b].append(ask(b, "time", k))
    if "lazyplus" in workers:
        extra["lazyplus_recompiles_in_rounds"] = ask("lazyplus", "compiles") - compiles_before
    if "lazyplus_capture" in workers:  # None: every timed step replayed
        extra["lazyplus_capture_why_not_replayed"] = ask("lazyplus_capture", "why_not_replayed")
    if "eager" in workers:
        extra["gemm_floor"] = ask("eager", "floor", k)
    for b, (process, conn) in workers.items():
        conn.send(("stop",))
        process.join()
    return times, failed, extra


def measure(name, backend_names, rounds, processes):
    """`rounds` interleaved rounds, split between `processes` sets of fresh worker processes one after
    the other: a process can run a whole run slower than the next one does (on 2026-12-06 the demo's
    plain lazyplus process took 1.41x eager in one run, 0.98-1.03x in the next two), and one process
    per backend would carry that into every round."""
    _, k, what = MODELS[name]
    times, sets = {}, []
    result = {"model": what, "steps_per_timing": k, "rounds": rounds, "processes": processes, "failed": {},
              "backends": {}}
    for p in range(processes):
        share = rounds // processes + (p < rounds % processes)
        set_times, failed, extra = run_rounds(name, backend_names, share)
        result["failed"].update(failed)
        if "lazyplus_recompiles_in_rounds" in extra:
            result["lazyplus_recompiles_in_rounds"] = (result.get("lazyplus_recompiles_in_rounds", 0)
                                                       + extra["lazyplus_recompiles_in_rounds"])
        if "lazyplus_capture_why_not_replayed" in extra:  # None: every timed step of every set replayed
            result["lazyplus_capture_why_not_replayed"] = (result.get("lazyplus_capture_why_not_replayed")
                                                           or extra["lazyplus_capture_why_not_replayed"])
        if "gemm_floor" in extra and "gemm_floor_ms" not in result:
            floor, result["gemm_kernels_ms"] = extra["gemm_floor"]
            result["gemm_floor_ms"] = floor * 1e3
        sets.append(set_times)
        for b, t in set_times.items():
            times.setdefault(b, []).extend(t)
    # A backend that failed in any process set is reported as failed, its other rounds dropped.
    eager = times.get("eager") if "eager" not in result["failed"] else None
    for b, t in times.items():
        if b in result["failed"]:
            continue
        entry = {"median_ms": statistics.median(t) * 1e3, "min_ms": min(t) * 1e3,
                 "median_ms_per_process": [statistics.median(s[b]) * 1e3 for s in sets if s.get(b)]}
        if eager:
            entry["ratio_to_eager"] = statistics.median(x / e for x, e in zip(t, eager))
            entry["outside_floor_ms"] = entry["median_ms"] - result["gemm_floor_ms"]
        result["backends"][b] = entry
    return result


def print_table(results):
    names = sorted({b for r in results.values() for b in r["backends"]},
                   key=["eager", "lazyplus", "lazyplus_capture", "inductor", "ltc_ts"].index)
    print(f"\n| model | GEMM floor | " + " | ".join(names) + " | outside floor: " + " / ".join(names) + " |")
    print("|---|---|" + "---|" * (len(names) + 1))
    for r in results.values():
        cells, outside = [], []
        for n in names:
            e = r["backends"].get(n)
            if e is None:
                cells.append("failed" if n in r["failed"] else "-")
                outside.append("-")
                continue
            ratio = f" ({e['ratio_to_eager']:.2f}x)" if "ratio_to_eager" in e and n != "eager" else ""
            cells.append(f"{e['median_ms']:.1f} ms{ratio}")
            outside.append(f"{e.get('outside_floor_ms', float('nan')):.1f}")
        floor = f"{r.get('gemm_floor_ms', float('nan')):.1f} ms"
        print(f"| {r['model']} | {floor} | " + " | ".join(cells) + " | " + " / ".join(outside) + " |")


def chart(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["eager", "lazyplus", "lazyplus_capture", "inductor", "ltc_ts"]
    colors = {"eager": "#888888", "lazyplus": "#1f77b4", "lazyplus_capture": "#17becf", "inductor": "#ff7f0e",
              "ltc_ts": "#2ca02c"}
    fig, ax = plt.subplots(figsize=(12, 4.5))
    width = 0.16
    labeled = set()
    for i, (model, r) in enumerate(results.items()):
        eager = r["backends"].get("eager", {}).get("median_ms")
        for j, n in enumerate(names):
            e = r["backends"].get(n)
            if not e or not eager:
                continue
            x = i + (j - 2) * width
            floor = r["gemm_floor_ms"] / eager
            ax.bar(x, floor, width, color="#dddddd", edgecolor="black", linewidth=0.3)
            ax.bar(x, e["ratio_to_eager"] - floor, width, bottom=floor, color=colors[n],
                   label=None if n in labeled else n)
            labeled.add(n)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(results)), list(results), rotation=15)
    ax.set_ylabel("step time / eager (grey: GEMM floor)")
    ax.set_title(f"Model steps, {platform_line()}", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def platform_line():
    import torch_lazyplus

    return (f"{cpu_model()}, {os.cpu_count()} CPUs, tile ISA {torch_lazyplus._C._tile_isa()}, "
            f"torch {torch.__version__}")


# -- peak memory and first step: one fresh process per model and backend --------------------------------
def rss_peak_of_steady_steps(name, backend_name, steps=3):
    """In this (fresh) process: seconds of the first step (the model built, its compiles included), of a
    steady step, and the host high-water mark (VmHWM, MiB) over `steps` steady steps, reset after warm-up
    (clear_refs 5)."""
    backend = backend_named(backend_name)
    make, _, _ = MODELS[name]
    step = make(backend)
    first = timed_steps(backend, step, 1)
    timed_steps(backend, step, 2)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    steady = timed_steps(backend, step, steps)
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    return {"first_step_s": first, "steady_step_s": steady, "peak_mib": hwm}


def first_step_after_eager(name, backend_name, steps=5):
    """In this (fresh) process, after two eager steps of the same model: seconds of the backend's first
    step and its fastest of `steps` steady ones. Eager's steps pay the process's one-time costs every
    backend shares (oneDNN creating its kernels, MKL's and the autograd engine's threads), which make
    eager's own first step 2-8x its steady one; what is left is the backend's own first-step cost."""
    eager = backend_named("eager")
    timed_steps(eager, MODELS[name][0](eager), 2)
    backend = backend_named(backend_name)
    step = MODELS[name][0](backend)
    first = timed_steps(backend, step, 1)
    timed_steps(backend, step, 2)
    return {"first_step_after_eager_s": first,
            "steady_step_after_eager_s": min(timed_steps(backend, step, 1) for _ in range(steps))}


def memory(names, backend_names):
    out = {}
    for name in names:
        out[name] = {}
        for b in backend_names:
            out[name][b] = {}
            for child in ("--_memory_child", "--_first_child"):
                proc = subprocess.run([sys.executable, __file__, child, name, b], capture_output=True, text=True)
                line = proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 else None
                out[name][b].update(json.loads(line) if line else {"failed": proc.stderr.strip().splitlines()[-1:]})
            print(name, b, out[name][b], flush=True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--processes", type=int, default=2,
                        help="fresh sets of worker processes, the rounds split between them")
    parser.add_argument("--only", default=",".join(MODELS))
    parser.add_argument("--backends", default="eager,lazyplus,lazyplus_capture,inductor,ltc_ts")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--json", default=os.path.join(HERE, "models.json"))
    parser.add_argument("--_memory_child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--_first_child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._memory_child:
        print(json.dumps(rss_peak_of_steady_steps(*args._memory_child)))
        return
    if args._first_child:
        print(json.dumps(first_step_after_eager(*args._first_child)))
        return
    print(platform_line(), flush=True)
    names, wanted = args.only.split(","), args.backends.split(",")
    if args.memory:
        result = {"platform": platform_line(), "memory": memory(names, wanted)}
        path = args.json.replace(".json", "_memory.json")
    else:
        models = {}
        for name in names:
            models[name] = measure(name, wanted, args.rounds, args.processes)
            print(name, json.dumps(models[name]), flush=True)
        print_table(models)
        result = {"platform": platform_line(), "models": models}
        chart(models, args.json.replace(".json", ".png"))
        path = args.json
    with open(path, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
