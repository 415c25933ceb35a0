"""Engine benchmark of rnnviz: one-pass per-step gradients, Jacobian profiles, FLOP rate.

Usage:
  python scripts/benchmark.py                 # full run, a few minutes on 2 CPU cores
  python scripts/benchmark.py --quick         # smoke run: small sizes, few repeats
  python scripts/benchmark.py --only grads,jacobian,flops --cells rnn,lstm,gru

Sections (every figure is a median over repeated calls after a warm-up call that compiles;
every comparison is a ratio of two figures measured in the same run):

grads     dL/dh_t for every t by rnnviz's one reverse pass (jit of `bptt.flow`'s grads,
          `readout_loss` with placement "all") against the naive way, one jax.grad per
          timestep: ONE jitted function that takes t as a traced argument, adds a zero
          perturbation eps * (step == t) to h inside the scan and returns the gradient with
          respect to that single (B, H) perturbation -- a full forward and backward pass per
          t, compiled once. At the small size all T calls are timed; at the large size a
          sample of timesteps spread over [0, T) is timed and the per-call median is
          multiplied by T. Also: one pass against plain jax.grad of the same loss with
          respect to the params (which must also form dW, so it does more work).
jacobian  rnnviz.jacobian_norms(ord="fro"): time, as a multiple of the one-pass gradient
          time, and peak resident memory, measured in a fresh subprocess per cell (this
          script re-invoked with a hidden flag) from /proc/self/status: the baseline is
          VmRSS after importing jax and building params and inputs; VmHWM is reset to it
          (write "5" to /proc/self/clear_refs); the first call (compile + run) gives the
          peak including compilation; VmHWM is reset again and a second, compiled call
          gives the steady-state peak above the RSS just before it.
flops     achieved FLOP rate of the one-pass gradients against (a) a jitted lax.scan of T
          sequential matmuls of the same shapes, (B,H)@(H,G*H) then (B,G*H)@(G*H,H), the
          machine's matmul rate at these shapes, and (b) a large square matmul, its peak.
profile   (not run by default) where the one-pass time goes, from a jax.profiler trace:
          per step, the XLA:CPU kernels ("thunks") doing matmuls and all the others,
          against the same-shape matmul scan.
train     training steps per second, side by side in one run: rnnviz.engine.train (one jitted
          lax.scan of k Adam steps on the adding problem, batches drawn inside, exactly
          what the Training lab runs) against the PyTorch loop a user would write instead
          (nn.RNN / nn.LSTM / nn.GRU + nn.Linear + torch.optim.Adam, the same adding
          problem drawn by torch each step, torch.set_num_threads(2)), at the Training
          lab's size (T, H, B = 50, 64, 64) and at (200, 128, 64). Chunks of k steps are
          timed alternately and the ratio taken per round. torch is imported only if
          installed (it is not a requirement: `pip install torch==2.13.0` for this
          benchmark); otherwise the column is skipped with a note.
"""
import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import rnnviz  # noqa: E402
from rnnviz.engine.bptt import _carry0, _scan, flow, readout_loss  # noqa: E402
from rnnviz.engine.cells import GATE_BLOCKS, STEPS  # noqa: E402

SECTIONS = ("grads", "jacobian", "flops", "profile", "train")
DEFAULT_SECTIONS = ("grads", "jacobian", "flops", "train")
TORCH_THREADS = 2
FLOP_TARGET = 0.45  # of the same-shape matmul rate
TORCH_TARGET = 1.5  # rnnviz steps/s over torch's
DEFAULT_CELLS = ("rnn", "lstm", "gru")

# Sizes and repeats. "small"/"large" are (T, H, B) for the gradient section; the large one
# is also used by the Jacobian and FLOP sections.
FULL = dict(small=(100, 64, 16), large=(1000, 128, 16), repeats=7, naive_sweeps=5,
            naive_sample=20, naive_sample_repeats=3, jac_repeats=3, flops_repeats=15,
            square=1024, train_sizes=((50, 64, 64), (200, 128, 64)), train_rounds=7,
            train_chunk=25)
QUICK = dict(small=(30, 32, 8), large=(200, 64, 8), repeats=3, naive_sweeps=3,
             naive_sample=5, naive_sample_repeats=1, jac_repeats=1, flops_repeats=3,
             square=512, train_sizes=((50, 64, 64),), train_rounds=2, train_chunk=10)
ONE_PASS_BLOCK = 10  # at the small size one pass takes ~1 ms: time blocks of 10 calls


# --- timing helpers --------------------------------------------------------------------------

def _run(fn, *args):
    return jax.block_until_ready(fn(*args))


def time_rounds(fns, rounds, warmup=1):
    """Time several zero-argument callables in alternation, `rounds` times each.

    The machine is shared and its load drifts, so things that are compared are timed in
    the same rounds (A B A B ...), and a ratio is taken per round before the median.
    Returns {name: [seconds per round]}.
    """
    for _ in range(warmup):
        for f in fns.values():
            _run(f)
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t0 = time.perf_counter()
            _run(f)
            times[k].append(time.perf_counter() - t0)
    return times


def med(xs):
    return statistics.median(xs)


def ratio(times, a, b, scale=1.0):
    """Median over rounds of scale * a / b."""
    return med([scale * x / y for x, y in zip(times[a], times[b])])


def setup(cell, T, H, B, input_size, seed=0):
    k_p, k_x = jax.random.split(jax.random.PRNGKey(seed))
    params = rnnviz.init_params(k_p, cell, input_size, H, scheme="pytorch")
    xs = rnnviz.make_inputs(k_x, "noise", T, B, input_size)
    return params, jax.block_until_ready(xs)


@functools.lru_cache(maxsize=None)
def loss_for(T, placement):
    # One object per (T, placement): the loss is a static (hashed-by-identity) jit argument.
    return functools.partial(readout_loss, length=T, placement=placement)


# --- the three ways of getting gradients ---------------------------------------------------

@functools.partial(jax.jit, static_argnames=("cell", "loss_fn"))
def one_pass_grads(cell, params, xs, loss_fn):
    """rnnviz's way: every dL/dh_t (and dL/dc_t for the LSTM) in one reverse pass."""
    return flow(cell, params, xs, loss_fn)[3]


@functools.partial(jax.jit, static_argnames=("cell", "loss_fn"))
def naive_grad_at(cell, params, xs, t, loss_fn):
    """The naive way: dL/dh_t for ONE t (traced), by a zero perturbation at step t only.

    One full forward and backward pass per call; t is traced, so it compiles once.
    """
    step = STEPS[cell]
    carry0 = _carry0(cell, params, xs)
    steps = jnp.arange(xs.shape[0])

    def loss_of(e):
        def body(carry, inputs):
            x, s = inputs
            e_t = e * (s == t).astype(e.dtype)
            eps = (e_t, None) if cell == "lstm" else (e_t,)  # perturb h only (c held)
            return step(params, carry, x, eps)

        _, outs = jax.lax.scan(body, carry0, (xs, steps))
        return loss_fn(outs["h"])

    return jax.grad(loss_of)(jnp.zeros_like(carry0[0]))


@functools.partial(jax.jit, static_argnames=("cell", "loss_fn"))
def param_grads(cell, params, xs, loss_fn):
    """Plain jax.grad of the same loss with respect to the params (the usual training pass)."""
    carry0 = _carry0(cell, params, xs)
    return jax.grad(lambda p: loss_fn(_scan(STEPS[cell], p, xs, carry0)[1]["h"]))(params)


# --- FLOP counts and the reference matmul loops ----------------------------------------------

def grad_flops(cell, T, H, B, I):
    """Flops of one_pass_grads, counting the dominant matmuls only (2 flops per multiply-add).

    forward, per step:  x_t @ W_ih^T  (B,I)@(I,GH)  -> 2·B·I·GH
                        h   @ W_hh^T  (B,H)@(H,GH)  -> 2·B·H·GH
    backward, per step: dA  @ W_hh    (B,GH)@(GH,H) -> 2·B·GH·H   (the cotangent of h_{t-1})
    The backward needs no dA @ W_ih (xs is not differentiated) and no dW = h^T dA (params
    are not differentiated); XLA removes both. Total: T · 2·B·G·H · (I + 2H).
    Elementwise work (gates, tanh, sigmoid, their derivatives) is O(B·G·H) per step and not
    counted, so the rate below is a lower bound on the work done.
    """
    G = GATE_BLOCKS[cell]
    return T * 2 * B * G * H * (I + 2 * H)


@functools.partial(jax.jit, static_argnames=("T",))
def matmul_chain(h0, w, T):
    """T sequential steps of (B,H)@(H,GH) then (B,GH)@(GH,H): the same matmul shapes as the
    forward and backward steps of a cell with G gate blocks, each step waiting on the last."""
    wt = w.T

    def body(h, _):
        a = h @ w  # (B, GH), the forward h @ W_hh^T shape
        h = jnp.tanh(a @ wt)  # (B, H), the backward dA @ W_hh shape; tanh keeps it bounded
        return h, None

    return jax.lax.scan(body, h0, None, length=T)[0]


def matmul_chain_flops(T, H, B, G):
    return T * 2 * (2 * B * H * G * H)


@jax.jit
def square_matmul(a, b):
    return a @ b


# --- where the time goes: XLA:CPU thunks in a profiler trace -------------------------------

def thunk_profile(fn, steps, calls=5):
    """Per-step thunk counts and times of fn() from a jax.profiler trace.

    Returns {"matmul": (count, us), "other": (count, us), "largest_matmul_us": us}, all per
    scan step (count x median duration of each kernel); "matmul" are the dot kernels (named ynn_fusion / dot by XLA:CPU), "other"
    every other kernel (elementwise fusions, dynamic-(update-)slices, copies). Profiling
    slows every kernel a little, so compare these with each other, not with the timings.
    """
    import glob
    import tempfile

    _run(fn)
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d):
            for _ in range(calls):
                _run(fn)
        files = glob.glob(os.path.join(d, "**", "*.xplane.pb"), recursive=True)
        data = jax.profiler.ProfileData.from_file(files[0])
    per_op = {}
    for plane in data.planes:
        for line in plane.lines:
            if "python" in line.name.lower():
                continue
            for ev in line.events:
                name = ev.name
                if name.startswith(("ThunkExecutor", "while", "end:", "Threadpool", "$")):
                    continue  # containers and markers, not kernels
                per_op.setdefault(name, []).append(ev.duration_ns)
    # count per step x median duration: robust to the thread being preempted now and then
    norm = calls * steps
    is_mm = lambda n: "ynn" in n or "dot" in n or "gemm" in n  # noqa: E731
    cost = {n: (len(d) / norm, len(d) / norm * statistics.median(d) / 1e3)
            for n, d in per_op.items()}
    mm = [v for n, v in cost.items() if is_mm(n)]
    other = [v for n, v in cost.items() if not is_mm(n)]
    total = lambda xs: (sum(x[0] for x in xs), sum(x[1] for x in xs))  # noqa: E731
    return {"matmul": total(mm), "other": total(other),
            "largest_matmul_us": max((x[1] for x in mm), default=0.0)}


# --- memory probe (run in a fresh subprocess) -----------------------------------------------

def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_probe(cell, T, H, B, I):
    """Peak RSS increase of jacobian_norms, in MB, measured in this (fresh) process."""
    params, xs = setup(cell, T, H, B, I)
    jax.block_until_ready(params)
    base = _status_kb("VmRSS")
    reset_ok = _reset_peak()
    rnnviz.jacobian_norms(cell, params, xs, ord="fro")  # compile + run
    first_peak = _status_kb("VmHWM")
    after_first = _status_kb("VmRSS")
    steady = None
    if reset_ok:
        _reset_peak()
        rnnviz.jacobian_norms(cell, params, xs, ord="fro")  # compiled: the steady state
        steady = (_status_kb("VmHWM") - after_first) / 1024.0
    return {
        "baseline_mb": base / 1024.0,
        # Without the reset, VmHWM may still hold an older, higher peak: then this is an
        # upper bound.
        "peak_incl_compile_mb": (first_peak - base) / 1024.0,
        "retained_after_first_mb": (after_first - base) / 1024.0,
        "peak_steady_mb": steady,
        "reset_ok": reset_ok,
    }


def run_memory_probe(cell, T, H, B, I):
    cmd = [sys.executable, os.path.abspath(__file__), "--_memprobe",
           f"{cell},{T},{H},{B},{I}"]
    env = dict(os.environ)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- sections --------------------------------------------------------------------------------

class Bench:
    def __init__(self, cfg, cells, I, log):
        self.cfg, self.cells, self.I, self.log = cfg, cells, I, log
        self.rows = []  # (section, metric, {cell: text}, target, status)

    def add(self, section, metric, values, target="", ok=None):
        status = "" if ok is None else (
            "PASS" if all(ok.values()) else
            "MISS (" + ",".join(c for c, v in ok.items() if not v) + ")")
        self.rows.append((section, metric, values, target, status))

    def grads(self):
        cfg, I = self.cfg, self.I
        # Small size: every one of the T naive calls is timed, a sweep per round.
        T, H, B = cfg["small"]
        loss = loss_for(T, "all")
        one, naive, rat, check = {}, {}, {}, {}
        for cell in self.cells:
            self.log(f"grads {cell} T={T}")
            params, xs = setup(cell, T, H, B, I)
            naive_fn = functools.partial(naive_grad_at, cell, params, xs, loss_fn=loss)
            ts = [jnp.asarray(t, jnp.int32) for t in range(T)]
            g_one = np.asarray(one_pass_grads(cell, params, xs, loss)["h"])
            err = max(float(np.max(np.abs(np.asarray(_run(naive_fn, ts[t])) - g_one[t])))
                      for t in (0, T // 2, T - 1))  # the naive grads agree with the one pass
            check[cell] = err <= 1e-5 * max(1.0, float(np.max(np.abs(g_one))))

            # Both are dispatched back to back and waited for at the end (jax dispatches
            # asynchronously), as a user's loop would run them.
            def sweep():
                return [naive_fn(t) for t in ts]

            def one_block():
                return [one_pass_grads(cell, params, xs, loss) for _ in range(ONE_PASS_BLOCK)]

            times = time_rounds({"one": one_block, "naive": sweep}, cfg["naive_sweeps"])
            one[cell] = med(times["one"]) / ONE_PASS_BLOCK
            naive[cell] = med(times["naive"])
            rat[cell] = ratio(times, "naive", "one", scale=ONE_PASS_BLOCK)
        tag = f"T,H,B={T},{H},{B}"
        self.add("grads", f"one pass, all dL/dh_t [ms] ({tag})",
                 {c: f"{1e3 * one[c]:.2f}" for c in one})
        self.add("grads", f"naive, all T jax.grad calls timed [ms] ({tag})",
                 {c: f"{1e3 * naive[c]:.1f}" for c in naive})
        self.add("grads", f"naive / one pass ({tag})", {c: f"{rat[c]:.0f}x" for c in rat})
        self.add("grads", "naive grad at t == one-pass grads[t] (t=0,T/2,T-1)",
                 {c: "yes" if check[c] else "NO" for c in check}, "agree", check)

        # Large size: time a sample of timesteps, extrapolate the per-call median to T.
        T, H, B = cfg["large"]
        loss = loss_for(T, "all")
        one, per_call, rat, plain, rel = {}, {}, {}, {}, {}
        sample = np.unique(np.linspace(0, T - 1, cfg["naive_sample"]).round().astype(int))
        for cell in self.cells:
            self.log(f"grads {cell} T={T}")
            params, xs = setup(cell, T, H, B, I)
            one_fn = lambda: one_pass_grads(cell, params, xs, loss)  # noqa: E731
            ts = [jnp.asarray(t, jnp.int32) for t in sample]
            _run(naive_grad_at, cell, params, xs, ts[0], loss)  # compile
            _run(one_fn)
            t_one, t_naive = [], []
            for _ in range(cfg["naive_sample_repeats"]):
                for t in ts:  # rounds: one pass, then the naive call at one sampled t
                    r = time_rounds({"one": one_fn,
                                     "naive": lambda: naive_grad_at(cell, params, xs, t, loss)},
                                    1, warmup=0)
                    t_one += r["one"]
                    t_naive += r["naive"]
            one[cell], per_call[cell] = med(t_one), med(t_naive)
            rat[cell] = ratio({"n": t_naive, "o": t_one}, "n", "o", scale=T)
            times = time_rounds({"one": one_fn,
                                 "plain": lambda: param_grads(cell, params, xs, loss)},
                                cfg["repeats"])
            plain[cell] = med(times["plain"])
            rel[cell] = ratio(times, "one", "plain")
        tag = f"T,H,B={T},{H},{B}"
        n = len(sample) * cfg["naive_sample_repeats"]
        self.add("grads", f"one pass, all dL/dh_t [ms] ({tag})",
                 {c: f"{1e3 * one[c]:.1f}" for c in one})
        self.add("grads", f"naive, one jax.grad call [ms] (median of {n}, {len(sample)} t's)",
                 {c: f"{1e3 * per_call[c]:.1f}" for c in per_call})
        self.add("grads", "naive, all T calls [s] (T x per call)",
                 {c: f"{T * per_call[c]:.1f}" for c in per_call})
        self.add("grads", f"naive / one pass ({tag})", {c: f"{rat[c]:.0f}x" for c in rat},
                 f">= {T // 2}x", {c: rat[c] >= T / 2 for c in rat})
        self.add("grads", f"plain jax.grad wrt params [ms] ({tag})",
                 {c: f"{1e3 * plain[c]:.1f}" for c in plain})
        self.add("grads", "one pass / plain jax.grad wrt params",
                 {c: f"{rel[c]:.2f}x" for c in rel}, "<= 1.2x",
                 {c: rel[c] <= 1.2 for c in rel})

    def jacobian(self):
        cfg, I = self.cfg, self.I
        T, H, B = cfg["large"]
        loss = loss_for(T, "all")
        t_jac, mult, mem = {}, {}, {}
        for cell in self.cells:
            self.log(f"jacobian {cell} T={T}")
            params, xs = setup(cell, T, H, B, I)
            times = time_rounds(
                {"jac": lambda: rnnviz.jacobian_norms(cell, params, xs, ord="fro"),
                 "one": lambda: one_pass_grads(cell, params, xs, loss)},
                cfg["jac_repeats"])
            t_jac[cell] = med(times["jac"])
            mult[cell] = ratio(times, "jac", "one")
            self.log(f"jacobian {cell} memory (subprocess)")
            mem[cell] = run_memory_probe(cell, T, H, B, I)
        tag = f"T,H,B={T},{H},{B}"
        self.add("jacobian", f"jacobian_norms(ord='fro') [s] ({tag})",
                 {c: f"{t_jac[c]:.2f}" for c in t_jac})
        self.add("jacobian", "  / one-pass gradients (matmul flops: ~H/2 = "
                 f"{H // 2}x)", {c: f"{mult[c]:.0f}x" for c in mult})
        self.add("jacobian", "  subprocess RSS before the call [MB] (jax+inputs)",
                 {c: f"{mem[c]['baseline_mb']:.0f}" for c in mem})
        self.add("jacobian", "  peak RSS above that, 1st call = compile+run [MB]",
                 {c: f"{mem[c]['peak_incl_compile_mb']:.0f}" for c in mem},
                 "< 300 MB", {c: mem[c]["peak_incl_compile_mb"] < 300 for c in mem})
        if all(mem[c]["peak_steady_mb"] is not None for c in mem):
            self.add("jacobian", "  peak RSS above pre-call, 2nd call (compiled) [MB]",
                     {c: f"{mem[c]['peak_steady_mb']:.0f}" for c in mem},
                     "< 300 MB", {c: mem[c]["peak_steady_mb"] < 300 for c in mem})
        avoided = T * B * H * H * 4 / 1e9
        self.add("jacobian", "  avoided: all T Jacobians, T*B*H^2 float32 [GB]",
                 {c: f"{avoided:.2f}" for c in self.cells})

    def flops(self):
        cfg, I = self.cfg, self.I
        T, H, B = cfg["large"]
        loss = loss_for(T, "all")
        n = cfg["square"]
        a = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
        b = jax.random.normal(jax.random.PRNGKey(2), (n, n), jnp.float32)
        achieved, chain, frac, frac_peak, count, peak = {}, {}, {}, {}, {}, {}
        for cell in self.cells:
            self.log(f"flops {cell} T={T}")
            G = GATE_BLOCKS[cell]
            params, xs = setup(cell, T, H, B, I)
            count[cell] = grad_flops(cell, T, H, B, I)
            w = jax.random.normal(jax.random.PRNGKey(3), (H, G * H), jnp.float32) / np.sqrt(H)
            h0 = jax.random.normal(jax.random.PRNGKey(4), (B, H), jnp.float32)
            times = time_rounds({"one": lambda: one_pass_grads(cell, params, xs, loss),
                                 "chain": lambda: matmul_chain(h0, w, T=T),
                                 "square": lambda: square_matmul(a, b)},
                                cfg["flops_repeats"])
            achieved[cell] = count[cell] / med(times["one"])
            chain[cell] = matmul_chain_flops(T, H, B, G) / med(times["chain"])
            # Fractions per round (same load), then the median.
            frac[cell] = med([count[cell] / o / (matmul_chain_flops(T, H, B, G) / c)
                              for o, c in zip(times["one"], times["chain"])])
            peaks = [2 * n ** 3 / s for s in times["square"]]
            frac_peak[cell] = med([count[cell] / o / p for o, p in zip(times["one"], peaks)])
            peak[cell] = med(peaks)
        tag = f"T,H,B,I={T},{H},{B},{I}"
        self.add("flops", f"one-pass matmul flops 2TBGH(I+2H) [MFLOP] ({tag})",
                 {c: f"{count[c] / 1e6:.0f}" for c in count})
        self.add("flops", "  achieved by one pass [GFLOP/s]",
                 {c: f"{achieved[c] / 1e9:.1f}" for c in achieved})
        self.add("flops", "  same-shape matmul scan (B,H)@(H,GH),(B,GH)@(GH,H) [GFLOP/s]",
                 {c: f"{chain[c] / 1e9:.1f}" for c in chain})
        self.add("flops", "  one pass / same-shape matmul rate",
                 {c: f"{100 * frac[c]:.1f}%" for c in frac}, f">= {FLOP_TARGET:.0%}",
                 {c: frac[c] >= FLOP_TARGET for c in frac})
        self.add("flops", f"  {n}x{n} square matmul, machine peak [GFLOP/s]",
                 {c: f"{peak[c] / 1e9:.0f}" for c in peak})
        self.add("flops", "  one pass / square-matmul peak",
                 {c: f"{100 * frac_peak[c]:.1f}%" for c in frac_peak})


def _profile_section(self):
    cfg, I = self.cfg, self.I
    T, H, B = cfg["large"]
    loss = loss_for(T, "all")
    one, chain = {}, {}
    for cell in self.cells:
        self.log(f"profile {cell} T={T}")
        G = GATE_BLOCKS[cell]
        params, xs = setup(cell, T, H, B, I)
        w = jax.random.normal(jax.random.PRNGKey(3), (H, G * H), jnp.float32) / np.sqrt(H)
        h0 = jax.random.normal(jax.random.PRNGKey(4), (B, H), jnp.float32)
        one[cell] = thunk_profile(lambda: one_pass_grads(cell, params, xs, loss), T)
        chain[cell] = thunk_profile(lambda: matmul_chain(h0, w, T=T), T)
    fmt = lambda cu: f"{cu[0]:.0f}: {cu[1]:.1f}"  # noqa: E731
    self.add("profile", f"one pass, per step: matmul thunks: us (T,H,B={T},{H},{B})",
             {c: fmt(one[c]["matmul"]) for c in one})
    self.add("profile", "one pass, per step: other thunks: us",
             {c: fmt(one[c]["other"]) for c in one})
    self.add("profile", "same-shape scan, per step: matmul thunks: us",
             {c: fmt(chain[c]["matmul"]) for c in chain})
    self.add("profile", "same-shape scan, per step: other thunks: us",
             {c: fmt(chain[c]["other"]) for c in chain})
    self.add("profile", "largest matmul thunk [us]: one pass / same-shape scan",
             {c: f"{one[c]['largest_matmul_us']:.1f} / {chain[c]['largest_matmul_us']:.1f}"
              for c in one})
    # The Training lab's loop: per time step of a training step (its forward and backward
    # scans, the loss, Adam), at the lab's size.
    T, H, B = cfg["train_sizes"][0]
    k = cfg["train_chunk"]
    train = {}
    for cell in self.cells:
        self.log(f"profile train {cell} T,H,B={T},{H},{B}")
        train[cell] = thunk_profile(rnnviz_trainer(cell, T, H, B, k), k * T)
    self.add("profile", f"training, per time step: matmul thunks: us (T,H,B={T},{H},{B})",
             {c: fmt(train[c]["matmul"]) for c in train})
    self.add("profile", "training, per time step: other thunks: us",
             {c: fmt(train[c]["other"]) for c in train})


Bench.profile = _profile_section


# --- training: rnnviz.engine.train against the PyTorch loop ----------------------------------------

def rnnviz_trainer(cell, T, H, B, k):
    """A callable running k Training-lab steps (adding problem, Adam), compiled."""
    from rnnviz.engine.train import TrainConfig, init_state, train_chunk

    config = TrainConfig(task="adding", T=T, cell=cell, hidden_size=H, batch_size=B,
                         snapshot_every=k, steps=max(k, 1), chrono_tmax=None)
    box = {"state": init_state(config)[0]}

    def chunk():
        box["state"], record = train_chunk(config, box["state"], k)
        return record.losses

    return chunk


def torch_trainer(torch, cell, T, H, B, k, lr=2e-2):
    """A callable running k steps of the loop a PyTorch user writes: nn.RNN/LSTM/GRU +
    nn.Linear on the last hidden state, MSE, Adam; a fresh adding-problem batch each step
    (as rnnviz.engine.tasks.adding_problem: values U[0,1], one marker in each half)."""
    nn = torch.nn
    torch.manual_seed(0)
    rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](input_size=2, hidden_size=H)
    head = nn.Linear(H, 1)
    opt = torch.optim.Adam([*rnn.parameters(), *head.parameters()], lr=lr)
    batch = torch.arange(B)

    def sample():
        values = torch.rand(T, B)
        markers = torch.zeros(T, B)
        markers[torch.randint(0, T // 2, (B,)), batch] = 1.0
        markers[torch.randint(T // 2, T, (B,)), batch] = 1.0
        return torch.stack([values, markers], dim=-1), (values * markers).sum(0)

    def chunk():
        for _ in range(k):
            xs, ys = sample()
            out, _ = rnn(xs)
            loss = torch.mean((head(out[-1]).squeeze(-1) - ys) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return loss.item()

    return chunk


def _train_section(self):
    cfg = self.cfg
    k, rounds = cfg["train_chunk"], cfg["train_rounds"]
    try:
        import torch
    except ImportError:
        torch = None
        print("torch not installed: column skipped", file=sys.stderr)
    if torch is not None:
        torch.set_num_threads(TORCH_THREADS)
    for T, H, B in cfg["train_sizes"]:
        ours, theirs, rel = {}, {}, {}
        for cell in self.cells:
            self.log(f"train {cell} T,H,B={T},{H},{B}")
            fns = {"rnnviz": rnnviz_trainer(cell, T, H, B, k)}
            if torch is not None:
                fns["torch"] = torch_trainer(torch, cell, T, H, B, k)
            times = time_rounds(fns, rounds, warmup=2)
            ours[cell] = k / med(times["rnnviz"])
            if torch is not None:
                theirs[cell] = k / med(times["torch"])
                rel[cell] = ratio(times, "torch", "rnnviz")
        tag = f"T,H,B={T},{H},{B}"
        self.add("train", f"rnnviz.engine.train, adding problem, Adam [steps/s] ({tag})",
                 {c: f"{ours[c]:.0f}" for c in ours})
        if torch is None:
            self.add("train", "PyTorch loop [steps/s]: torch not installed: column skipped",
                     {c: "-" for c in ours})
            continue
        self.add("train", f"PyTorch loop, {TORCH_THREADS} threads [steps/s] ({tag})",
                 {c: f"{theirs[c]:.0f}" for c in theirs})
        self.add("train", "  rnnviz / PyTorch steps per second", {c: f"{rel[c]:.2f}x" for c in rel},
                 f">= {TORCH_TARGET}x", {c: rel[c] >= TORCH_TARGET for c in rel})


Bench.train = _train_section


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def torch_version():
    try:
        import torch
    except ImportError:
        return "torch not installed"
    return f"torch {torch.__version__} ({TORCH_THREADS} threads)"


def render(rows, cells):
    head = ["section", "metric"] + list(cells) + ["target", "result"]
    table = [head] + [[s, m] + [v.get(c, "") for c in cells] + [t, st]
                      for s, m, v, t, st in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(x.ljust(w) for x, w in zip(r, widths)) + " |"  # noqa
    out = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in table[1:]]
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--only", default=",".join(DEFAULT_SECTIONS),
                        help=f"comma-separated sections out of {','.join(SECTIONS)}")
    parser.add_argument("--cells", default=",".join(DEFAULT_CELLS))
    parser.add_argument("--input-size", type=int, default=2,
                        help="I, input channels (the app's tasks use 1-10)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--_memprobe", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._memprobe:
        cell, T, H, B, I = args._memprobe.split(",")
        print(json.dumps(memory_probe(cell, int(T), int(H), int(B), int(I))))
        return 0

    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in sections if s not in SECTIONS]
    if bad:
        parser.error(f"unknown section(s) {bad}; choose from {','.join(SECTIONS)}")
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    for c in cells:
        rnnviz.engine.cells.check_cell(c)
    cfg = QUICK if args.quick else FULL
    start = time.perf_counter()
    log = (lambda msg: None) if args.quiet else (
        lambda msg: print(f"[{time.perf_counter() - start:6.1f}s] {msg}", file=sys.stderr,
                          flush=True))
    bench = Bench(cfg, cells, args.input_size, log)
    for s in SECTIONS:
        if s in sections:
            getattr(bench, s)()

    print(f"machine: {cpu_model()}, {platform.machine()} "
          f"{platform.system()} {platform.release()}, os.cpu_count()={os.cpu_count()}, "
          f"python {platform.python_version()}, jax {jax.__version__} "
          f"({jax.devices()[0].platform}), numpy {np.__version__}, {torch_version()}")
    print(f"mode: {'quick' if args.quick else 'full'}; float32; inputs N(0,1) with "
          f"I={args.input_size}; init 'pytorch'; loss readout_loss(placement='all'); "
          f"times are medians after a compiling warm-up call "
          f"(rounds: {cfg['repeats']}, naive sweeps {cfg['naive_sweeps']}, jacobian "
          f"{cfg['jac_repeats']}, flops {cfg['flops_repeats']}; compared figures are "
          f"timed alternately, ratios taken per round); "
          f"total {time.perf_counter() - start:.0f} s")
    print()
    print(render(bench.rows, cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
