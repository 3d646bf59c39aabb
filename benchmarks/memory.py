"""Resident memory over a long training run of the README's language model (examples/train_gpt.py) on
lazyplus: RSS after warm-up and every 100 steps after it, and the growth. Run: python benchmarks/memory.py
[--steps 1000] [--device lazyplus|cpu]"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import train_gpt  # noqa: E402


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--device", default="lazyplus")
    args = parser.parse_args()

    samples = []

    def on_step(step):
        if step == args.warmup or (step > args.warmup and step % 100 == 0) or step == args.steps:
            samples.append((step, round(rss_mib(), 1)))

    train_gpt.train(args.device, steps=args.steps, on_step=on_step)
    base = samples[0][1]
    for step, rss in samples:
        print(f"step {step:5d}: RSS {rss:7.1f} MiB ({rss - base:+.1f} since step {args.warmup})")
    growth = samples[-1][1] - base
    print(f"growth after warm-up over {args.steps - args.warmup} steps: {growth:+.1f} MiB "
          f"(device {args.device}, torch {torch.__version__})")
    print(json.dumps({"device": args.device, "samples": samples, "growth_mib": growth}))


if __name__ == "__main__":
    main()
