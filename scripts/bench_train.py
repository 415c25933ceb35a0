"""Training throughput of rnnviz.engine.train: optimiser steps per second for each cell.

Usage: python scripts/bench_train.py [--task adding] [--T 50] [--hidden 64] [--batch 64]
       [--chunk 25] [--repeats 5] [--cells rnn,lstm,gru]

The first chunk (compilation included) is timed separately; the rate is the median over
`repeats` chunks of `chunk` steps after that warm-up, and the probe (the gradient profile
taken at each snapshot) is timed on its own. The last column is a whole `run()` of
`--steps` steps with a snapshot every `--chunk` steps, programs already compiled.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402

from rnnviz.engine.train import TrainConfig, init_state, probe_profile, run, train_chunk  # noqa: E402


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
    t0 = time.perf_counter()
    probe_profile(config, state.params, probe)  # compile
    probe_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(repeats):
        probe_profile(config, state.params, probe)
    probe_s = (time.perf_counter() - t0) / repeats
    rate = statistics.median(rates)
    t0 = time.perf_counter()
    run(config)
    return {"compile_s": first - k / rate, "steps_per_s": rate, "probe_ms": 1e3 * probe_s,
            "probe_compile_s": probe_compile - probe_s, "min": min(rates), "max": max(rates),
            "run_s": time.perf_counter() - t0}


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
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args(argv)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs; "
          f"task={args.task} T={args.T} H={args.hidden} batch={args.batch} "
          f"chunk={args.chunk} optimizer={args.optimizer}, median of {args.repeats} chunks")
    print(f"{'cell':6} {'compile s':>9} {'steps/s':>8} {'(min-max)':>12} {'probe ms':>9}"
          f" {'probe compile s':>15} {f'run({args.steps}) s':>11}")
    for cell in args.cells.split(","):
        config = TrainConfig(task=args.task, T=args.T, cell=cell, hidden_size=args.hidden,
                             batch_size=args.batch, snapshot_every=args.chunk,
                             optimizer=args.optimizer, steps=args.steps)
        r = bench_cell(config, args.repeats)
        print(f"{cell:6} {r['compile_s']:9.2f} {r['steps_per_s']:8.0f} "
              f"{r['min']:6.0f}-{r['max']:<5.0f} {r['probe_ms']:9.1f} "
              f"{r['probe_compile_s']:15.2f} {r['run_s']:11.2f}")


if __name__ == "__main__":
    main()
