"""examples/train_ddp.py (the README demo's GPT under DDP, or FSDP) on lazyplus and on CPU gloo, with 1, 2
and 4 processes started by torchrun, in interleaved rounds: each round runs every configuration once, so
a noisy neighbour slows all of them alike. Reports the median step time over rounds (each run's median
after 5 warm-up steps), lazyplus's ratio to CPU gloo with as many processes, and lazyplus's graphs per
step. Every process runs one intra-op thread (torchrun's default with several processes).

    python benchmarks/ddp.py [--rounds 3] [--steps 40] [--procs 1,2,4]

Writes benchmarks/ddp.json.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from models import platform_line  # noqa: E402

SCRIPT = os.path.join(HERE, "..", "examples", "train_ddp.py")


def run(device, procs, sharding, steps):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run.json")
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}", SCRIPT,
               "--device", device, "--steps", str(steps), "--json", out] + (["--fsdp"] if sharding == "fsdp" else [])
        subprocess.run(cmd, check=True, capture_output=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
        with open(out) as f:
            result = json.load(f)
    times = sorted(result["step_times"][5:])
    return {"ms": 1e3 * times[len(times) // 2], "graphs_per_step": result["graphs_per_step"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--procs", default="1,2,4")
    args = parser.parse_args()
    configs = [(sharding, procs, device) for procs in map(int, args.procs.split(","))
               for sharding in (["ddp", "fsdp"] if procs > 1 else ["ddp"]) for device in ("cpu", "lazyplus")]
    runs = {c: [] for c in configs}
    for r in range(args.rounds):
        for config in configs:
            sharding, procs, device = config
            runs[config].append(run(device, procs, sharding, args.steps))
            print(f"round {r + 1}: {sharding} {procs} × {device}: {runs[config][-1]['ms']:.1f} ms", flush=True)
    rows = []
    for sharding, procs, device in configs:
        if device != "lazyplus":
            continue
        lazy, cpu = runs[(sharding, procs, "lazyplus")], runs[(sharding, procs, "cpu")]
        rows.append({"sharding": sharding, "processes": procs,
                     "cpu_gloo_ms": statistics.median(x["ms"] for x in cpu),
                     "lazyplus_ms": statistics.median(x["ms"] for x in lazy),
                     "ratio": statistics.median(a["ms"] / b["ms"] for a, b in zip(lazy, cpu)),
                     "graphs_per_step": statistics.median(x["graphs_per_step"] for x in lazy)})
    print(f"\n{platform_line()}")
    print("| parallelism | processes | CPU gloo | lazyplus | ratio | lazyplus graphs/step |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['sharding'].upper()} | {row['processes']} | {row['cpu_gloo_ms']:.1f} ms | "
              f"{row['lazyplus_ms']:.1f} ms | {row['ratio']:.2f}× | {row['graphs_per_step']:.2f} |")
    with open(os.path.join(HERE, "ddp.json"), "w") as f:
        json.dump({"platform": platform_line(), "steps": args.steps,
                   "rounds": args.rounds, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
