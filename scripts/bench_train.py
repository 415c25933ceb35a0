"""Training throughput of rnnviz.train: optimiser steps per second for each cell.

Usage: python scripts/bench_train.py [--task adding] [--T 50] [--hidden 64] [--batch 64]
       [--chunk 25] [--repeats 5] [--cells rnn,lstm,gru]

The first chunk (compilation included) is timed separately; the rate is the median over
`repeats` chunks of `chunk` steps after that warm-up, and the probe (the gradient profile
taken at each snapshot) is timed on its own.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402

from rnnviz.train import TrainConfig, init_state, probe_profile, train_chunk  # noqa: E402


def bench_cell(config: TrainConfig, repeats: int) -> dict:
    """Compile time, median steps/s over `repeats` chunks, and the probe's time."""
    state, probe = init_state(config)
    k = config.snapshot_every
    t0 = time.perf_counter()
    state, rec = train_chunk(config, state, k)
    jax.block_until_ready(rec)
    first = time.perf_counter() - t0
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        state, rec = train_chunk(config, state, k)
        jax.block_until_ready(rec)
        rates.append(k / (time.perf_counter() - t0))
    probe_profile(config, state.params, probe)  # compile
    t0 = time.perf_counter()
    for _ in range(repeats):
        probe_profile(config, state.params, probe)
    probe_s = (time.perf_counter() - t0) / repeats
    rate = statistics.median(rates)
    return {"compile_s": first - k / rate, "steps_per_s": rate, "probe_ms": 1e3 * probe_s,
            "min": min(rates), "max": max(rates)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="adding")
    parser.add_argument("--T", type=int, default=50)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cells", default="rnn,lstm,gru")
    parser.add_argument("--optimizer", default="adam")
    args = parser.parse_args(argv)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs; "
          f"task={args.task} T={args.T} H={args.hidden} batch={args.batch} "
          f"chunk={args.chunk} optimizer={args.optimizer}, median of {args.repeats} chunks")
    print(f"{'cell':6} {'compile s':>10} {'steps/s':>9} {'(min-max)':>15} {'probe ms':>9}"
          f" {'500 steps s':>12}")
    for cell in args.cells.split(","):
        config = TrainConfig(task=args.task, T=args.T, cell=cell, hidden_size=args.hidden,
                             batch_size=args.batch, snapshot_every=args.chunk,
                             optimizer=args.optimizer)
        r = bench_cell(config, args.repeats)
        total = 500 / r["steps_per_s"] + (500 / args.chunk + 1) * r["probe_ms"] / 1e3
        print(f"{cell:6} {r['compile_s']:10.2f} {r['steps_per_s']:9.0f} "
              f"{r['min']:7.0f}-{r['max']:<7.0f} {r['probe_ms']:9.1f} {total:12.2f}")


if __name__ == "__main__":
    main()
